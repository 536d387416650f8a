#!/usr/bin/env bash
# Install everything speechssl needs on a fresh Debian machine; a second run does nothing in seconds.
#   .venv/                 Python environment with speechssl installed (editable)
#   tools/kenlm/bin/       lmplz, build_binary built from the kenlm sdist on PyPI
#   tools/debian-data/     unpacked text packages (Austen, Moby Dick, Harvard sentences, fortunes)
# Usage: local/install.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
force=false
[ "${1:-}" = "--force" ] && force=true

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') (install.sh) $*"; }
packages() { grep -v -E '^\s*(#|$)' "$1"; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Debian packages (synthesisers, sox, KenLM build dependencies).
missing=()
for p in $(packages local/debian_packages.txt); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. Text packages, unpacked only.
data_dir=tools/debian-data
if $force || [ ! -f $data_dir/.done ]; then
  log "unpacking text packages into $data_dir"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download $(packages "$root/local/debian_data_packages.txt") >/dev/null 2>&1) || {
    sudo_if_needed apt-get update -qq
    (cd "$tmp" && apt-get download $(packages "$root/local/debian_data_packages.txt"))
  }
  mkdir -p $data_dir
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" $data_dir; done
  rm -rf "$tmp"
  touch $data_dir/.done
fi

# 3. Python environment.
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if $force || [ ! -f "$stamp" ]; then
  # The environment is 5.3 GB (du -sh .venv) and pip unpacks wheels under TMPDIR first.
  need_gb=7
  for dir in "$root" "${TMPDIR:-/tmp}"; do
    free_gb=$(( $(df -Pk "$dir" | awk 'NR==2 {print $4}') / 1048576 ))
    if [ "$free_gb" -lt "$need_gb" ]; then
      echo "install.sh: only ${free_gb} GB free on $dir; the Python environment needs about ${need_gb} GB: free some space and rerun" >&2
      exit 1
    fi
  done
  log "creating .venv and installing speechssl (torch is a ~4.7 GB download the first time)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[test,bench]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# 4. KenLM binaries from the sdist (the wheel ships only the query module).
kenlm_bin=tools/kenlm/bin
if $force || [ ! -x $kenlm_bin/lmplz ] || [ ! -x $kenlm_bin/build_binary ]; then
  log "building KenLM lmplz and build_binary"
  tmp=$(mktemp -d)
  kenlm_version=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('kenlm'))")
  python3 local/fetch_sdist.py kenlm "$kenlm_version" "$tmp" >/dev/null
  tar -xzf "$tmp"/kenlm-*.tar.gz -C "$tmp"
  src=$(find "$tmp" -maxdepth 1 -type d -name 'kenlm-*' | head -n 1)
  cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; exit 1; }
  make -C "$tmp/build" -j"$(nproc)" lmplz build_binary >"$tmp/make.log" 2>&1 || { tail -n 40 "$tmp/make.log"; exit 1; }
  mkdir -p $kenlm_bin
  cp "$tmp/build/bin/lmplz" "$tmp/build/bin/build_binary" $kenlm_bin/
  rm -rf "$tmp"
fi
log "environment ready"
