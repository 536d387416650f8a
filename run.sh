#!/usr/bin/env bash
# speechssl mini recipe: one backbone, every registered self-supervised objective and a scratch
# baseline, compared on an offline synthetic corpus, end to end on a 2-core CPU.
#   ./run.sh                               everything (install, data, labels, pre-train, fine-tune, probes, report)
#   ./run.sh --stage 5 --stop-stage 5      one stage
#   ./run.sh --objective hubert            one objective (plus the scratch baseline it is compared to)
# Every stage skips outputs that are complete (.done markers): re-running is cheap and safe.
# Stages: 0 install | 1 synthesise the corpus | 2 validate | 3 KenLM + lexicon | 4 HuBERT MFCC labels
#   | 5 pre-train, objectives side by side | 6 HuBERT iteration 2 (inside its stage-5 job) | 7 CTC fine-tuning
#   | 8 decode | 9 HuBERT label quality | 10 probes (pr, abx; pc on request) of every pre-trained model,
#   random and fbank | 11 ASR probes | 12 report
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=100
nj=2                   # jobs side by side (one thread each of 2 cores): data, features, training, decoding, probes
seed=1
plan=mini              # corpus size plan: mini (default) or smoke (seconds, for trying the recipe)
objective=all          # a name listed by 'speechssl pretrain --list-objectives', or all
data=data
exp=exp
model=tiny             # backbone config: conf/model/$model.yaml
mfcc_clusters=100      # HuBERT iteration 1: k-means on MFCC
layer_clusters=100     # HuBERT iteration 2: k-means on a layer of the iteration-1 model
label_layer=2          # iterations 2+: layer of the previous model to cluster (BASE: 6 of 12; tiny: 2 of 4)
kmeans_percent=0.2     # fraction of the training frames used to fit k-means
lm_order=3
lm_weights=0.5,1,2     # LM weight grid tuned on dev
word_scores=-1,0,1     # word insertion score grid tuned on dev
pretrain_gflops=7750   # training GFLOPs of every objective (HuBERT: both iterations, half each): docs/budgets.md
pretrain_updates=      # also cap every pre-training run's updates (empty: no cap; the FLOPs decide)
finetune_updates=      # override the fine-tuning max_updates (empty: config value)
device=auto            # auto (cuda when available) | cpu | cuda: every training run and probe
pretrain_set=          # extra "a.b=c ..." overrides of every pre-training run (bench/gpu_study.sh: bf16, batch)
finetune_set=          # extra "a.b=c ..." overrides of every fine-tuning run
scratch_seeds=3        # scratch baselines with seeds 1..N: their spread is the table's noise level
random_seeds=3         # probed random-weight upstreams with seeds 1..N: the probes' noise level
probe_seeds=1          # probe seeds 1..N of every trained probe (their spread is reported too)
probe_tasks=pr         # trained probes of every upstream, probe seeds 1..probe_seeds ("pr pc": also frame phones)
untrained_probes=abx   # probes without training (one run per upstream; empty: none)
probe_updates=1500     # updates of the pr and pc probes (linear heads)
asr_updates=30         # updates of the ASR probe (BiLSTM head, 2.4 CPU-s an update: docs/probes.md)
asr_hidden=128         # BiLSTM units per direction of the ASR probe head (SUPERB 1024)

. local/parse_options.sh
. local/log.sh
pool_jobs=$nj
. local/job_pool.sh

# Pre-training on the mini corpus skips the validation loss (it costs more than it tells here).
# Equal compute: every objective stops at the same analytic training FLOPs, on any machine.
pretrain_overrides=(--set "data.train=$data/pretrain" --set 'data.valid=""'
  --set "trainer.max_updates=${pretrain_updates:-0}")
finetune_overrides=(--set "data.train=$data/train" --set "data.valid=$data/dev")
pretrain_overrides+=(--set "trainer.device=$device")
finetune_overrides+=(--set "trainer.device=$device")
for override in $pretrain_set; do pretrain_overrides+=(--set "$override"); done
for override in $finetune_set; do finetune_overrides+=(--set "$override"); done
[ -n "$finetune_updates" ] && finetune_overrides+=(--set "trainer.max_updates=$finetune_updates")
# The scratch baseline's own settings, chosen on dev (docs/mini_diagnosis.md, section 6): random
# weights stay on the CTC plateau under the pre-trained models' lr 5e-4 and fairseq's masks, and
# leave it with lr 1e-3 and no masking; same updates, batches and data as every other model.
scratch_overrides=(--set optim.lr=1e-3 --set ctc.mask_prob=0.0 --set ctc.mask_channel_prob=0.0)

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: install the environment (.venv, Debian packages, KenLM tools)"
  local/install.sh
fi

. ./path.sh

# What each objective needs comes from the registry: NAME NEEDS_LABELS ITERATIONS per line.
objective_table=$(speechssl pretrain --list-objectives)
if [ "$objective" = all ]; then objectives=$(cut -d' ' -f1 <<<"$objective_table" | xargs); else objectives=$objective; fi
needs_labels() { [ "$(awk -v n="$1" '$1 == n {print $2}' <<<"$objective_table")" = true ]; }
iterations() { awk -v n="$1" '$1 == n {print $3}' <<<"$objective_table"; }
for obj in $objectives; do
  [ -n "$(iterations "$obj")" ] || { echo "$0: unknown objective '$obj': $(cut -d' ' -f1 <<<"$objective_table" | xargs)" >&2; exit 1; }
done
# Iteration i of an objective lives in exp/pretrain/NAME (i = 1) or NAME_iter<i>; equal compute: the
# iterations share the objective's budget. Its final model is what fine-tuning and the probes get.
run_name() { if [ "$2" -eq 1 ]; then echo "$1"; else echo "${1}_iter$2"; fi; }
final_model() { run_name "$1" "$(iterations "$1")"; }
budget() { echo "trainer.max_flops=$((pretrain_gflops / $(iterations "$1")))e9"; }
labelled=""
for obj in $objectives; do needs_labels "$obj" && labelled+=" $obj"; done

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: synthesise the $plan corpus into $data/{pretrain,train,dev,test} and $data/lm"
  speechssl data synth --plan "$plan" --seed "$seed" --nj "$nj" --out "$data"
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: validate every data dir"
  for split in pretrain train dev test; do
    local/run_once.sh "$data/local/validated_$split" speechssl data validate "$data/$split"
  done
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: ${lm_order}-gram KenLM and lexicon from $data/lm/text.txt -> $exp/lm"
  local/run_once.sh "$exp/lm" \
    speechssl lm build --text "$data/lm/text.txt" --order "$lm_order" --out "$exp/lm"
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ] && [ -n "$labelled" ]; then
  log "Stage 4: iteration-1 labels of ($labelled ): MFCC -> k-means (K=$mfcc_clusters) -> $exp/labels/mfcc"
  local/hubert_labels.sh --train-data "$data/pretrain" --valid-data "$data/dev" \
    --feats "$exp/features/mfcc" --clusters "$mfcc_clusters" --percent "$kmeans_percent" \
    --seed "$seed" --nj "$nj" --out "$exp/labels/mfcc"
fi

pretrain() {  # pretrain OBJECTIVE ITERATION [LABEL_DIR]: one pre-training run from scratch
  local labels=()
  [ -n "${3:-}" ] && labels=(--set "data.labels=$3/train")
  local/run_once.sh "$exp/pretrain/$(run_name "$1" "$2")" \
    speechssl pretrain --config "conf/pretrain/${1}_${model}.yaml" --exp-dir "$exp/pretrain/$(run_name "$1" "$2")" \
      "${labels[@]}" "${pretrain_overrides[@]}" --set "$(budget "$1")" --resume
}

later_iteration() {  # later_iteration OBJECTIVE ITERATION: labels of the previous model's layer, then a fresh model
  local previous label_dir=$exp/labels/${1}_iter$(($2 - 1))
  previous=$(run_name "$1" $(($2 - 1)))
  [ -f "$exp/pretrain/$(run_name "$1" "$2")/.done" ] && return 0
  log "$1 iteration $2: layer $label_layer of $previous -> k-means (K=$layer_clusters) -> pre-train"
  local/hubert_labels.sh --train-data "$data/pretrain" --valid-data "$data/dev" \
    --feats "$exp/features/${1}_iter$(($2 - 1))_layer$label_layer" \
    --checkpoint "$exp/pretrain/$previous" --layer "$label_layer" --clusters "$layer_clusters" \
    --percent "$kmeans_percent" --seed "$seed" --nj "$nj" --out "$label_dir"
  pretrain "$1" "$2" "$label_dir"
}

pretrain_objective() {  # pretrain_objective OBJECTIVE LAST_ITERATION: its iterations 1..LAST in turn
  local iteration labels=""
  needs_labels "$1" && labels=$exp/labels/mfcc
  pretrain "$1" 1 $labels
  for iteration in $(seq 2 "$2"); do later_iteration "$1" "$iteration"; done
}

# Objectives with more iterations (a longer chain of jobs) start first.
by_iterations=$(for obj in $objectives; do echo "$(iterations "$obj") $obj"; done | sort -s -k1,1nr | cut -d' ' -f2 | xargs)

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  # Side by side, one job per objective. As in the HuBERT paper, each later iteration trains a fresh
  # model on labels of the previous one's layer (stage 6, run inside the objective's job when this
  # invocation includes stage 6); the report counts the compute of all of them.
  log "Stage 5: pre-train ($by_iterations) with the $model backbone"
  for obj in $by_iterations; do
    last=1
    [ $stop_stage -ge 6 ] && last=$(iterations "$obj")
    pool_run "$exp/log/pretrain_$obj.log" pretrain_objective "$obj" "$last"
  done
  pool_wait
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: later iterations (done already when stage 5 ran in this invocation)"
  for obj in $objectives; do
    for iteration in $(seq 2 "$(iterations "$obj")"); do later_iteration "$obj" "$iteration"; done
  done
fi

# Fine-tuning targets: the scratch baseline (one run per seed) and the final model of every objective.
finetune_names="scratch"
for seed_index in $(seq 2 "$scratch_seeds"); do finetune_names+=" scratch_seed$seed_index"; done
for obj in $objectives; do finetune_names+=" $(final_model "$obj")"; done

if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: CTC fine-tuning on letters, equal budget for: $finetune_names"
  for name in $finetune_names; do
    pretrained=none
    own_settings=("${scratch_overrides[@]}")
    case $name in
      scratch) ;;
      scratch_seed*) own_settings+=(--set "trainer.seed=${name#scratch_seed}") ;;
      *) pretrained="$exp/pretrain/$name"; own_settings=() ;;
    esac
    pool_run "$exp/log/finetune_$name.log" local/run_once.sh "$exp/finetune/$name" \
      speechssl finetune --config "conf/finetune/${model}_letters.yaml" --pretrained "$pretrained" \
        --exp-dir "$exp/finetune/$name" "${finetune_overrides[@]}" "${own_settings[@]}" --resume
  done
  pool_wait
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: decode test: greedy, and KenLM beam search with LM weight / word score tuned on dev"
  for name in $finetune_names; do
    pool_run "$exp/log/decode_$name.log" local/run_once.sh "$exp/finetune/$name/decode_test" \
      speechssl decode --exp-dir "$exp/finetune/$name" --data "$data/test" --tune-on "$data/dev" \
        --lm "$exp/lm" --lm-weights="$lm_weights" --word-scores="$word_scores" \
        --out "$exp/finetune/$name/decode_test"
  done
  pool_wait
fi

if [ $stage -le 9 ] && [ $stop_stage -ge 9 ] && [ -n "$labelled" ]; then
  log "Stage 9: label quality (PNMI, purity) on dev against its true phones ($data/dev/phones)"
  label_dirs=("$exp/labels/mfcc/valid")
  for obj in $labelled; do
    for iteration in $(seq 2 "$(iterations "$obj")"); do label_dirs+=("$exp/labels/${obj}_iter$((iteration - 1))/valid"); done
  done
  for labels in "${label_dirs[@]}"; do
    speechssl kmeans quality --labels "$labels" --phones "$data/dev"
  done
fi

# Probe upstreams (NAME,SPEC,SEED): the first model of every objective (HuBERT: iteration 1), every
# fine-tuned pre-trained model (HuBERT: iteration 2), random weights with seeds 1..N, and fbank.
probe_models=""
for name in $objectives $finetune_names; do
  case $name in scratch*) continue ;; esac
  [[ " $probe_models " == *" $name "* ]] || probe_models+=" $name"
done
probe_upstreams=()
for name in $probe_models; do probe_upstreams+=("$name,$exp/pretrain/$name,1"); done
for upstream_seed in $(seq 1 "$random_seeds"); do probe_upstreams+=("random$upstream_seed,random,$upstream_seed"); done
probe_upstreams+=("fbank,fbank,1")
probe_options=(--train "$data/train" --dev "$data/dev" --features-root "$exp/probe/features"
  --model-config "$model" --device "$device")

if [ $stage -le 10 ] && [ $stop_stage -ge 10 ]; then
  log "Stage 10: $probe_tasks $untrained_probes probes of${probe_models}, random 1..$random_seeds, fbank -> $exp/probe"
  local/probe_upstreams.sh --nj "$nj" --tasks "$probe_tasks" --seeds "$probe_seeds" --out "$exp/probe" \
    "${probe_upstreams[@]}" -- "${probe_options[@]}" --max-updates "$probe_updates"
  [ -z "$untrained_probes" ] || local/probe_upstreams.sh --nj "$nj" --tasks "$untrained_probes" \
    --out "$exp/probe" "${probe_upstreams[@]}" -- "${probe_options[@]}"
fi

if [ $stage -le 11 ] && [ $stop_stage -ge 11 ]; then
  best=$(speechssl report --exp "$exp" --best-upstream pr)
  log "Stage 11: ASR probes (BiLSTM 2 x $asr_hidden, $asr_updates updates, KenLM) of the PR-best $best and fbank"
  local/probe_upstreams.sh --nj "$nj" --tasks asr --seeds "$probe_seeds" --out "$exp/probe" \
    "$(basename "$best"),$best,1" fbank,fbank,1 -- "${probe_options[@]}" --max-updates "$asr_updates" \
    --lm "$exp/lm" --set "asr_hidden_size=$asr_hidden" --set "lm_weights=[$lm_weights]" \
    --set "word_scores=[$word_scores]"
fi

if [ $stage -le 12 ] && [ $stop_stage -ge 12 ]; then
  log "Stage 12: the comparison: $exp/RESULTS.md, $exp/results.json and plots"
  speechssl report --exp "$exp" --out "$exp"
  cat "$exp/RESULTS.md"
fi
