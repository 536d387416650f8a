#!/usr/bin/env bash
# run_once.sh DIR COMMAND...: run COMMAND unless DIR/.done exists; mark DIR done when it succeeds.
# A killed or failed command leaves no marker, so the next run of the stage picks it up again.
set -euo pipefail
dir=$1; shift
if [ -f "$dir/.done" ]; then
  echo "$(date '+%Y-%m-%d %H:%M:%S') (run_once.sh) $dir is done, skipping"
  exit 0
fi
"$@"
mkdir -p "$dir"
touch "$dir/.done"
