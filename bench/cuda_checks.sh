#!/usr/bin/env bash
# Everything that needs a GPU, in one run of at most 9 minutes (a lent machine's call):
#   1. the CUDA tests (tests/gpu: objectives on the GPU, the HuBERT step with no host synchronisation,
#      compiled / CUDA-graphed steps equal to eager over 20 updates, pretrain -> finetune -> decode);
#   2. BASE training-step throughput against the references, bf16 autocast, eager, at fairseq's
#      per-GPU batch (7 x 12.5 s = 1.4M samples) on an 80+ GB GPU;
#   3. the HuBERT pair with the whole module compiled in reduce-overhead mode (CUDA graphs);
#   4. MFU over the measured bf16 matmul peak, eager, then HuBERT compiled (reduce-overhead);
#   5. a profile of one step (device time per op group);
#   6. the eager throughput again at the smaller 4 x 15.6 s batch (its own results file).
# Usage: bench/cuda_checks.sh OUT_DIR. OUT_DIR receives the results json files and one combined
# log (at most 8 files: what a lent machine sends back); copy the json files to bench/results/ and
# run `python -m bench.report`. On a lent machine (no network, its own python3 with torch,
# torchaudio and transformers): carry the wheels it lacks in .whl/ (e.g. local/gpu_pack.sh), e.g.
#   run(command="bash bench/cuda_checks.sh $OUT", carry=[".whl"], timeout_s=600)
# Each step has its own time limit, cut to what is left of the 9 minutes, so one slow step cannot
# take the others with it.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/cuda_checks.sh OUT_DIR}
mkdir -p "$out"
work=$(mktemp -d)
export PYTHONUNBUFFERED=1
[ -f path.sh ] && [ -f .venv/bin/activate ] && . ./path.sh
python=${PYTHON:-python3}
if [ -d .whl ] && compgen -G ".whl/*.whl" >/dev/null; then
  $python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "cuda_checks: installing .whl failed"; exit 1; }
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
budget=${CUDA_CHECKS_SECONDS:-540}

step() {  # step NAME SECONDS COMMAND...: run with a time limit (within the budget), log to NAME.log
  local name=$1 limit=$2
  shift 2
  local left=$((budget - SECONDS))
  if [ "$left" -lt 20 ]; then
    echo "== $name: skipped, ${left}s of the ${budget}s budget left"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local start=$SECONDS
  echo "== $name (limit ${limit}s)"
  timeout "$limit" "$@" >"$work/$name.log" 2>&1
  local rc=$?
  echo "== $name: rc $rc in $((SECONDS - start))s"
  tail -n 4 "$work/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$python -c "import torch, torchaudio, transformers; print(torch.__version__, torchaudio.__version__, transformers.__version__)"
step pytest_cuda 140 $python -m pytest -q -p no:cacheprovider tests/gpu
step throughput_cuda 90 $python -m bench.throughput --device cuda --reps 6 --out "$work/throughput_cuda.json"
step throughput_compile_cuda 150 $python -m bench.throughput --device cuda --compile-mode reduce-overhead --reps 6 \
  --models ours:hubert torchaudio_hubert --out "$work/throughput_compile_cuda.json"
step mfu_cuda 60 $python -m bench.mfu --device cuda --out "$work/mfu_cuda.json"
step mfu_compile_cuda 90 $python -m bench.mfu --device cuda --compile-mode reduce-overhead --objectives hubert \
  --out "$work/mfu_compile_cuda.json"
step profile_cuda 50 $python -m bench.profile_step --device cuda --out "$work/profile_cuda.json"
step throughput_small_cuda 60 $python -m bench.throughput --device cuda --reps 6 --batch-size 4 --seconds 15.6 \
  --out "$work/throughput_small_cuda.json"
cp "$work"/*.json "$out"/ 2>/dev/null
for log in "$work"/*.log; do
  printf '\n===== %s\n' "$(basename "$log")"
  cat "$log"
done >"$out/cuda_checks.log"
rm -rf "$work"
echo "== done in ${SECONDS}s: $(ls "$out" | tr '\n' ' ')"
