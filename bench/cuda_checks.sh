#!/usr/bin/env bash
# Everything that needs a GPU, in one run sized for a short loan of a GPU machine:
#   1. the CUDA tests (tests/gpu: objectives on the GPU, pretrain -> finetune -> decode on cuda);
#   2. BASE training-step throughput against the references (4 x 15.6 s, bf16 autocast), eager;
#   3. MFU over the measured bf16 matmul peak;
#   4. a profile of one step (device time per op group);
#   5. the same throughput with torch.compile (the wav2vec 2.0 and HuBERT pairs).
# Usage: bench/cuda_checks.sh OUT_DIR   (results json + logs go to OUT_DIR; copy the json files
# to bench/results/ and run `python -m bench.report`). Each step has its own time limit so one
# slow step cannot take the others with it.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/cuda_checks.sh OUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
[ -f path.sh ] && [ -d .venv ] && . ./path.sh

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to OUT_DIR/NAME.log
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  echo "== $name (limit ${limit}s)"
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "== $name: rc $rc in $((SECONDS - start))s"
  tail -n 4 "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch, torchaudio, transformers; print(torch.__version__, torchaudio.__version__, transformers.__version__)"
step pytest_cuda 120 python -m pytest -q -p no:cacheprovider tests/gpu
step throughput_cuda 130 python -m bench.throughput --device cuda --out "$out/throughput_cuda.json"
step mfu_cuda 80 python -m bench.mfu --device cuda --out "$out/mfu_cuda.json"
step profile_cuda 60 python -m bench.profile_step --device cuda --out "$out/profile_cuda.json"
step throughput_compile_cuda 170 python -m bench.throughput --device cuda --compile --reps 6 \
  --models ours:wav2vec2 ours:hubert torchaudio_hubert hf_wav2vec2 --out "$out/throughput_compile_cuda.json"
