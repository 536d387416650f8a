#!/usr/bin/env bash
# LibriSpeech / Libri-light: BASE pre-trained on LibriSpeech 960 h or LARGE on Libri-light 60k h,
# CTC fine-tuning on Libri-light 10 min / 1 h / 10 h or train-clean-100, 4-gram decoding, as in the papers.
#   ./run.sh --objective hubert --finetune-split 10h --ngpu 8
#   ./run.sh --objective wav2vec2 --model large --librilight-hours 60k --ngpu 8
#   ./run.sh --pretrained exp/official/hubert_base --finetune-split 10h --stage 6   # a converted checkpoint
#   ./run.sh --smoke true --mirror DIR ...    every stage in minutes on CPU (tiny backbone, 2 updates)
# Stages: 0 download | 1 data dirs (LARGE: Libri-light VAD chunks) | 2 labels of iteration 1
#         | 3 pre-train (iteration 1) | 4 labels of iteration 2 | 5 iteration 2 | 6 fine-tune
#         | 7 4-gram LM | 8 decode dev/test clean/other | 9 report
# Labels and iterations follow what the objective declares (speechssl pretrain --list-objectives).
# Multi-node: stages 3, 5 and 6 run on every node at once (--nnodes N --node-rank i --master-addr
# HOST, data/ and exp/ on a shared filesystem); the other stages run once, on one node.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=9
objective=wav2vec2          # any name of 'speechssl pretrain --list-objectives'
model=base                  # base: BASE on LibriSpeech 960 h | large: LARGE on Libri-light unlabelled
                            # | xlsr_300m: XLS-R 300M's config (wav2vec2 only, pre-LN 24 x 1024, docs/xlsr.md)
librilight_hours=60k        # model=large: Libri-light unlabelled set 600 (small) | 6k (+ medium) | 60k (+ large)
hubert_base=""              # model=large with labels: BASE final-iteration model whose layer
                            # $large_label_layer is clustered (default $exp/pretrain/$objective)
large_label_layer=9         # HuBERT LARGE: layer 9 of the BASE iteration-2 model (paper)
pretrained=""               # fine-tune this checkpoint folder (e.g. 'speechssl convert' of an
                            # official model) instead of pre-training: stages 2-5 are skipped
finetune_split=10h          # 10m | 1h | 10h | 100h
fold=0                      # which 10-minute fold of Libri-light the 10m split uses
dl_dir=downloads            # archives + extracted corpus (~120 GB with --remove-archives false)
mirror=""                   # URL or folder holding the official file names
checksums=""                # md5sum-style file replacing the published checksums (re-packed mirror)
remove_archives=false       # delete each archive after a verified extraction
device=auto                 # auto (cuda when this machine has one) | cpu | cuda: training, features, decoding
ngpu=""                     # processes per node (default 8; 1 with --smoke true); >1 launches torchrun
nnodes=1
node_rank=0
master_addr=localhost
master_port=29500
nj=16                       # feature shards for the label stages, workers for the VAD cut
kmeans_streaming=false      # true: k-means draws each minibatch off the shards (memory flat in the
                            # corpus; 10 % of 960 h is 5.4 GB of MFCC, 53 GB of 768-d layer features)
mfcc_clusters=100           # iteration-1 labels (BASE): k-means of 39-d MFCC
layer_clusters=500          # iteration-2 labels (and LARGE's): k-means of a Transformer layer
label_layer=6               # iteration-2 labels: layer of the iteration-1 model (BASE: 6 of 12)
kmeans_percent=0.1          # fraction of the training features k-means is fitted on (fairseq: 10 %)
lm_weights=0,0.5,1,1.5,2,3  # LM weight grid, tuned once per model on dev_other
word_scores=-1,0,1,2        # word insertion score grid
pretrain_set=""             # "KEY=VALUE ..." passed as --set to every pre-training run (stages 3, 5)
finetune_set=""             # "KEY=VALUE ..." passed as --set to fine-tuning (stage 6)
smoke=false                 # true: tiny backbone, 2 updates, fp32, small k-means and LM grid (tests)
data=data
exp=exp

. ../../path.sh
. ../../local/parse_options.sh
. ../../local/log.sh

# What the objective needs comes from the objective registry, not from its name.
objective_table=$(speechssl pretrain --list-objectives)
objective_row=$(awk -v name="$objective" '$1 == name' <<<"$objective_table")
if [ -z "$objective_row" ]; then
  echo "$0: --objective must be one of: $(cut -d' ' -f1 <<<"$objective_table" | xargs)" >&2
  exit 1
fi
read -r _ needs_labels iterations <<<"$objective_row"
case $model in
  base) pt_train=$data/train_960; train_parts=train-960 ;;
  large) pt_train=$data/ll_$librilight_hours; train_parts="train-clean-100 librilight-$librilight_hours"
         iterations=1 ;;  # LARGE trains once, on labels of the BASE model's final iteration
  xlsr_300m) pt_train=$data/train_960; train_parts=train-960
         [ "$objective" = wav2vec2 ] || { echo "$0: --model xlsr_300m needs --objective wav2vec2" >&2; exit 1; } ;;
  *) echo "$0: --model must be base, large or xlsr_300m" >&2; exit 1 ;;
esac
[ -n "$pretrained" ] && iterations=0  # nothing to pre-train

if [ "$smoke" = true ]; then
  ngpu=${ngpu:-1}; nj=2; mfcc_clusters=8; layer_clusters=8; label_layer=2; large_label_layer=2
  kmeans_percent=1.0; lm_weights=0,1; word_scores=0
  smoke_trainer="trainer.precision=fp32 trainer.num_workers=0 trainer.max_updates=2 trainer.update_freq=1
    trainer.save_interval_updates=0 trainer.validate_interval_updates=0 trainer.min_sample_size=0
    schedule.warmup_updates=1"
  pretrain_set="model=tiny trainer.max_tokens=40000 trainer.max_sample_size=16000 $smoke_trainer $pretrain_set"
  finetune_set="trainer.max_tokens=60000 ctc.freeze_updates=1 $smoke_trainer $finetune_set"
fi
ngpu=${ngpu:-8}
world=$((ngpu * nnodes))
# fairseq's batches were written for a number of GPUs (conf/reference_gpus.txt); fewer GPUs
# accumulate more batches: update_freq = reference / world.
update_freq() {  # update_freq CONFIG_STEM
  local ref; ref=$(awk -v c="$1" '$1 == c {print $2}' conf/reference_gpus.txt)
  [ -n "$ref" ] || { echo "$0: $1 is not listed in conf/reference_gpus.txt" >&2; return 1; }
  if [ $(( ref % world )) -ne 0 ]; then
    echo "$0: the reference batch is $ref GPU-batches; use a GPU count dividing it (got $world)" >&2
    return 1
  fi
  echo $(( ref / world ))
}
as_sets() { local kv; for kv in $1; do printf -- '--set\n%s\n' "$kv"; done; }  # "a=1 b=2" -> --set a=1 --set b=2
mapfile -t pt_extra < <(as_sets "trainer.device=$device $pretrain_set")
mapfile -t ft_extra < <(as_sets "trainer.device=$device $finetune_set")

if [ "$world" -gt 1 ]; then
  launch="torchrun --nproc-per-node $ngpu --nnodes $nnodes --node-rank $node_rank
          --master-addr $master_addr --master-port $master_port -m speechssl.cli.main"
else
  launch="speechssl"
fi
run_once=../../local/run_once.sh
[ "$remove_archives" = true ] && archive_opt=--remove-archives || archive_opt=""
if [ -n "$pretrained" ]; then
  pt_dir=$pretrained
elif [ "$model" != base ]; then
  pt_dir=$exp/pretrain/${objective}_$model
else
  pt_dir=$exp/pretrain/$objective
fi
iter1_dir=$pt_dir; [ "$iterations" -ge 2 ] && iter1_dir=$exp/pretrain/${objective}_iter1
pt_config() {  # pt_config ITERATION: the config stem of that pre-training run
  if [ "$model" = large ]; then echo "${objective}_large_ll60k"
  elif [ "$model" = xlsr_300m ]; then echo "${objective}_xlsr_300m"
  elif [ "$iterations" -ge 2 ]; then echo "${objective}_base_iter$1"
  else echo "${objective}_base"; fi
}
# Data and label paths follow --data/--exp instead of the configs' defaults (data/, exp/).
pt_data=(--set "data.train=$pt_train" --set "data.valid=$data/dev_other")
pt_split=$(basename "$pt_train")
label_opts() {  # label_opts ARRAY NAME K: ARRAY = options pointing pre-training at label dir NAME of K classes
  local -n opts=$1
  opts=(--set "data.labels=$exp/labels/$2/$pt_split" --set "data.valid_labels=$exp/labels/$2/dev_other"
        --set "objective_config.num_classes=$3")
}
ft_dir=$exp/finetune/$(basename "$pt_dir")_${finetune_split}

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: download LibriSpeech ($train_parts), Libri-light limited supervision and the LM files to $dl_dir"
  speechssl librispeech download --parts $train_parts dev-test libri-light lm --dest "$dl_dir" \
    ${mirror:+--mirror "$mirror"} ${checksums:+--checksums "$checksums"} $archive_opt
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: validated Kaldi data dirs in $data/ (+ fairseq manifests in $data/manifests)"
  prep() {  # prep NAME PART...
    $run_once "$data/$1" speechssl librispeech prep --src "$dl_dir" --part "${@:2}" --fold "$fold" \
      --out "$data/$1" --tsv-dir "$data/manifests"
  }
  for part in dev-clean dev-other test-clean test-other; do prep "${part//-/_}" "$part"; done
  [ "$model" = base ] && prep train_960 train-clean-100 train-clean-360 train-other-500
  prep train_100h train-clean-100
  prep train_10h 10h
  prep train_1h 1h
  prep train_10m 10m
  if [ "$model" = large ]; then
    log "Stage 1: Libri-light unlab-$librilight_hours cut at energy-VAD silences into <= 30 s chunks -> $pt_train"
    $run_once "$pt_train" speechssl librispeech segment --src "$dl_dir" --hours "$librilight_hours" \
      --audio-out "$dl_dir/chunks" --out "$pt_train" --tsv-dir "$data/manifests" --nj "$nj"
  fi
fi

labels() {  # labels FEAT_NAME K LABEL_NAME FEATURE_COMMAND...: features, k-means, label dirs
  local feats=$1 k=$2 name=$3 split; shift 3
  for split in "$pt_split" dev_other; do
    $run_once "$exp/features/$feats/$split" speechssl features "$@" --data "$data/$split" \
      --out "$exp/features/$feats/$split" --nshard "$nj"
  done
  # Like fairseq's README, k-means sees a fraction (10 %) of the training features.
  local streaming=(); [ "$kmeans_streaming" = true ] && streaming=(--streaming)
  [ -f "$exp/kmeans/$name.safetensors" ] || speechssl kmeans fit \
    --feats "$exp/features/$feats/$pt_split" --k "$k" --percent "$kmeans_percent" \
    "${streaming[@]}" --out "$exp/kmeans/$name.safetensors"
  for split in "$pt_split" dev_other; do
    [ -f "$exp/labels/$name/$split/labels.txt" ] || speechssl kmeans assign \
      --feats "$exp/features/$feats/$split" --model "$exp/kmeans/$name.safetensors" \
      --data "$data/$split" --out "$exp/labels/$name/$split"
  done
}
# Iteration-1 labels: MFCC for BASE; for LARGE, a layer of the BASE model's final iteration.
if [ "$model" = large ]; then
  base_model=${hubert_base:-$exp/pretrain/$objective}
  label1=(large_l${large_label_layer}_k$layer_clusters $layer_clusters)
else
  label1=(mfcc_k$mfcc_clusters $mfcc_clusters)
fi
label2=(iter1_l${label_layer}_k$layer_clusters $layer_clusters)
label1_opts=(); label2_opts=()
if [ "$needs_labels" = true ]; then
  label_opts label1_opts "${label1[@]}"
  label_opts label2_opts "${label2[@]}"
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ] && [ "$needs_labels" = true ] && [ "$iterations" -ge 1 ]; then
  if [ "$model" = large ]; then
    log "Stage 2: LARGE targets: K=$layer_clusters k-means of layer $large_label_layer of $base_model"
    labels "base_l$large_label_layer" "${label1[1]}" "${label1[0]}" layer --checkpoint "$base_model" \
      --layer "$large_label_layer" --device "$device"
  else
    log "Stage 2: iteration-1 targets: K=$mfcc_clusters k-means of 39-d MFCC (100 Hz)"
    labels mfcc "${label1[1]}" "${label1[0]}" mfcc
  fi
fi

pretrain_iteration() {  # pretrain_iteration ITERATION EXP_DIR [LABEL_OPTIONS...]: one run of $objective
  local config freq exp=$2
  config=$(pt_config "$1"); freq=$(update_freq "$config")
  shift 2
  $run_once "$exp" $launch pretrain --config "conf/pretrain/$config.yaml" --exp-dir "$exp" \
    --set trainer.update_freq="$freq" "${pt_data[@]}" "$@" "${pt_extra[@]}" --resume
}

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ] && [ "$iterations" -ge 1 ]; then
  log "Stage 3: $objective pre-training ($(pt_config 1)) -> $iter1_dir"
  pretrain_iteration 1 "$iter1_dir" "${label1_opts[@]}"
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ] && [ "$iterations" -ge 2 ]; then
  log "Stage 4: iteration-2 targets: K=$layer_clusters k-means of layer $label_layer of $iter1_dir (50 Hz)"
  labels "iter1_l$label_layer" "${label2[1]}" "${label2[0]}" layer --checkpoint "$iter1_dir" \
    --layer "$label_layer" --device "$device"
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ] && [ "$iterations" -ge 2 ]; then
  log "Stage 5: $objective iteration 2 ($(pt_config 2)), a fresh model on the new targets -> $pt_dir"
  pretrain_iteration 2 "$pt_dir" "${label2_opts[@]}"
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  freq=$(update_freq finetune)
  log "Stage 6: CTC fine-tuning of $pt_dir on $finetune_split -> $ft_dir"
  $run_once "$ft_dir" $launch finetune --config "conf/finetune/$finetune_split.yaml" --pretrained "$pt_dir" \
    --exp-dir "$ft_dir" --set trainer.update_freq="$freq" \
    --set "data.train=$data/train_$finetune_split" --set "data.valid=$data/dev_other" "${ft_extra[@]}" --resume
fi

if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: official LibriSpeech 4-gram + letter lexicon -> $data/lm_4gram"
  $run_once "$data/lm_4gram" speechssl librispeech lm --src "$dl_dir" --out "$data/lm_4gram"
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: greedy and 4-gram decoding of dev/test clean/other (LM weights tuned once, on dev_other)"
  for split in dev_clean dev_other test_clean test_other; do
    $run_once "$ft_dir/decode_$split" speechssl decode --exp-dir "$ft_dir" --data "$data/$split" \
      --out "$ft_dir/decode_$split" --lm "$data/lm_4gram" --tune-on "$data/dev_other" \
      --lm-weights="$lm_weights" --word-scores="$word_scores" --device "$device"
  done
fi

if [ $stage -le 9 ] && [ $stop_stage -ge 9 ]; then
  log "Stage 9: RESULTS.md, results.json and plots in $exp"
  speechssl report --exp "$exp"
fi
