# Kaldi-style option parsing, sourced by recipes after their defaults are set:
#   --stage 3 --nj 8 --stop-stage 5   sets the shell variables stage, nj, stop_stage.
# Only variables that already exist may be set (a typo is an error, not a silent no-op).
# Anything that is not an option is left in "$@" for the recipe.
while true; do
  [ -z "${1:-}" ] && break
  case "$1" in
    --help|-h)
      echo "usage: $0 [--option value ...]; options are the variables set at the top of $0" >&2
      exit 0 ;;
    --*=*)
      name=$(echo "${1%%=*}" | sed 's/^--//; s/-/_/g'); value="${1#*=}"; shift ;;
    --*)
      name=$(echo "$1" | sed 's/^--//; s/-/_/g')
      [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
      value="$2"; shift 2 ;;
    *) break ;;
  esac
  if ! declare -p "$name" >/dev/null 2>&1; then
    echo "$0: unknown option --${name//_/-} (no variable '$name' in the recipe)" >&2
    exit 1
  fi
  printf -v "$name" '%s' "$value"
done
true
