#!/usr/bin/env bash
# Runs every benchmark and regenerates the tables in bench/README.md.
# Usage: bench/run.sh [--device cpu|cuda] [--threads N] [--quick] [--with-compile] [--with-tta]
# Each step writes bench/results/<name>.json; time_to_accuracy needs exp/pretrain/<objective> runs.
set -euo pipefail
cd "$(dirname "$0")/.."

device=cpu
threads=1
quick=
with_compile=
with_tta=
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --quick) quick=--quick; shift ;;
    --with-compile) with_compile=1; shift ;;
    --with-tta) with_tta=1; shift ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -f path.sh ] && . ./path.sh
common=(--device "$device" --threads "$threads" $quick)

log() { echo "$(date -u '+%F %T') bench/run.sh: $*"; }

log "throughput (BASE, eager; tiny for the loader comparison)"
python -m bench.throughput "${common[@]}"
if [ -z "$quick" ]; then
  python -m bench.throughput "${common[@]}" --size tiny
fi
if [ -n "$with_compile" ]; then
  log "throughput with torch.compile (HuBERT pair; compiling takes minutes on CPU)"
  python -m bench.throughput "${common[@]}" --compile --models ours:hubert torchaudio_hubert
fi
log "profile of one step (where the time goes)"
python -m bench.profile_step "${common[@]}"
if [ -z "$quick" ]; then
  python -m bench.profile_step "${common[@]}" --size tiny
fi
log "MFU"
python -m bench.mfu "${common[@]}"
log "data loading"
python -m bench.data_loading "${common[@]}"
if [ -z "$quick" ]; then  # label_pipeline has no quick mode: its results file is the real one
  log "label pipeline"
  python -m bench.label_pipeline
fi
if [ -n "$with_tta" ]; then
  log "time to accuracy"
  python -m bench.time_to_accuracy "${common[@]}"
fi
log "README table"
python -m bench.report
