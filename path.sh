# Sourced by every recipe: activates the environment and puts the built tools on PATH.
SPEECHSSL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export SPEECHSSL_ROOT
if [ -f "$SPEECHSSL_ROOT/.venv/bin/activate" ]; then
  # shellcheck disable=SC1091
  . "$SPEECHSSL_ROOT/.venv/bin/activate"
fi
export PATH="$SPEECHSSL_ROOT/tools/kenlm/bin:$PATH"
export SPEECHSSL_TEXT_DIR="$SPEECHSSL_ROOT/tools/debian-data"
export PYTHONUNBUFFERED=1
export LC_ALL=C
