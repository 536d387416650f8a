#!/usr/bin/env bash
# LibriSpeech 960 h pre-training + Libri-light / LibriSpeech fine-tuning, as in the papers (BASE).
#   ./run.sh --objective hubert --finetune-split 10h --ngpu 8
# Stages: 0 download | 1 data dirs | 2 HuBERT MFCC labels | 3 pre-train (HuBERT: iteration 1)
#         | 4 HuBERT layer-6 labels | 5 HuBERT iteration 2 | 6 fine-tune | 7 4-gram LM
#         | 8 decode dev/test clean/other | 9 report
# Multi-node: stages 3, 5 and 6 run on every node at once (--nnodes N --node-rank i --master-addr
# HOST, data/ and exp/ on a shared filesystem); the other stages run once, on one node.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=9
objective=wav2vec2          # wav2vec2 | hubert | data2vec | data2vec2
model_size=base             # base | xlsr_300m (wav2vec2 only: pre-LN 24 x 1024, docs/xlsr.md)
finetune_split=10h          # 10m | 1h | 10h | 100h
fold=0                      # which 10-minute fold of Libri-light the 10m split uses
dl_dir=downloads            # archives + extracted corpus (~120 GB with --remove-archives false)
mirror=""                   # URL or folder holding the official file names
checksums=""                # md5sum-style file replacing the published checksums (re-packed mirror)
remove_archives=false       # delete each .tar.gz after a verified extraction
ngpu=8                      # GPUs per node
nnodes=1
node_rank=0
master_addr=localhost
master_port=29500
nj=16                       # feature shards for the HuBERT label stages
kmeans_streaming=false      # true: k-means draws each minibatch off the shards (memory flat in the
                            # corpus; 10 % of 960 h is 5.4 GB of MFCC, 53 GB of 768-d layer features)
data=data
exp=exp

. ../../path.sh
. ../../local/parse_options.sh
. ../../local/log.sh

world=$((ngpu * nnodes))
# fairseq's BASE batches were written for this many GPUs; fewer GPUs accumulate more batches.
case $objective in
  wav2vec2) ref_gpus=64 ;;
  hubert) ref_gpus=32 ;;
  data2vec) ref_gpus=16 ;;
  data2vec2) ref_gpus=8 ;;
  *) echo "$0: --objective must be wav2vec2, hubert, data2vec or data2vec2" >&2; exit 1 ;;
esac
pt_config=conf/pretrain/${objective}_base.yaml
if [ "$model_size" = xlsr_300m ]; then
  [ "$objective" = wav2vec2 ] || { echo "$0: --model-size xlsr_300m needs --objective wav2vec2" >&2; exit 1; }
  pt_config=conf/pretrain/wav2vec2_xlsr_300m.yaml
  ref_gpus=128  # fairseq's LARGE batch: 128 GPUs x 1.2M samples
elif [ "$model_size" != base ]; then
  echo "$0: --model-size must be base or xlsr_300m" >&2; exit 1
fi
ft_ref_gpus=8  # fine-tuning: 2 GPUs x update_freq 4 = 8 GPU-batches
update_freq() {  # update_freq REF: batches each of the $world GPUs accumulates to match REF GPU-batches
  if [ $(( $1 % world )) -ne 0 ]; then
    echo "$0: the reference batch is $1 GPU-batches; use a GPU count dividing it (got $world)" >&2
    return 1
  fi
  echo $(( $1 / world ))
}

if [ "$world" -gt 1 ]; then
  launch="torchrun --nproc-per-node $ngpu --nnodes $nnodes --node-rank $node_rank
          --master-addr $master_addr --master-port $master_port -m speechssl.cli.main"
else
  launch="speechssl"
fi
[ "$remove_archives" = true ] && archive_opt=--remove-archives || archive_opt=""
pt_name=$objective
[ "$model_size" = base ] || pt_name=${objective}_$model_size
# Data and label paths follow --data/--exp instead of the configs' defaults (data/, exp/).
pt_data="--set data.train=$data/train_960 --set data.valid=$data/dev_other"
label_opts() {  # label_opts NAME: the --set options pointing pre-training at label dir NAME
  echo "--set data.labels=$exp/labels/$1/train_960 --set data.valid_labels=$exp/labels/$1/dev_other"
}
ft_dir=$exp/finetune/${pt_name}_${finetune_split}

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: download LibriSpeech, Libri-light limited supervision and the LM files to $dl_dir"
  speechssl librispeech download --parts train-960 dev-test libri-light lm --dest "$dl_dir" \
    ${mirror:+--mirror "$mirror"} ${checksums:+--checksums "$checksums"} $archive_opt
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: validated Kaldi data dirs in $data/ (+ fairseq manifests in $data/manifests)"
  prep() {  # prep NAME PART...
    local name=$1; shift
    if [ ! -f "$data/$name/.done" ]; then
      speechssl librispeech prep --src "$dl_dir" --part "$@" --fold "$fold" --out "$data/$name" \
        --tsv-dir "$data/manifests"
      touch "$data/$name/.done"
    fi
  }
  for part in dev-clean dev-other test-clean test-other; do prep "${part//-/_}" "$part"; done
  prep train_960 train-clean-100 train-clean-360 train-other-500
  prep train_100h train-clean-100
  prep train_10h 10h
  prep train_1h 1h
  prep train_10m 10m
fi

labels() {  # labels FEAT_NAME K LABEL_NAME FEATURE_COMMAND...: features, k-means, label dirs
  local feats=$1 k=$2 name=$3; shift 3
  for split in train_960 dev_other; do
    [ -f "$exp/features/$feats/$split/.done" ] || {
      speechssl features "$@" --data "$data/$split" --out "$exp/features/$feats/$split" --nshard "$nj"
      touch "$exp/features/$feats/$split/.done"; }
  done
  # Like fairseq's README, k-means sees 10 % of the 960 h features.
  local streaming=(); [ "$kmeans_streaming" = true ] && streaming=(--streaming)
  [ -f "$exp/kmeans/$name.safetensors" ] || speechssl kmeans fit --feats "$exp/features/$feats/train_960" \
    --k "$k" --percent 0.1 "${streaming[@]}" --out "$exp/kmeans/$name.safetensors"
  for split in train_960 dev_other; do
    [ -f "$exp/labels/$name/$split/labels.txt" ] || speechssl kmeans assign \
      --feats "$exp/features/$feats/$split" --model "$exp/kmeans/$name.safetensors" \
      --data "$data/$split" --out "$exp/labels/$name/$split"
  done
}

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ] && [ "$objective" = hubert ]; then
  log "Stage 2: HuBERT iteration-1 targets: K=100 k-means of 39-d MFCC (100 Hz)"
  labels mfcc 100 mfcc_k100 mfcc
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  pt_update_freq=$(update_freq $ref_gpus)
  if [ "$objective" = hubert ]; then
    log "Stage 3: HuBERT BASE iteration 1 (250k updates) -> $exp/pretrain/hubert_iter1"
    $launch pretrain --config conf/pretrain/hubert_base_iter1.yaml --exp-dir "$exp/pretrain/hubert_iter1" \
      --set trainer.update_freq=$pt_update_freq $pt_data $(label_opts mfcc_k100) --resume
  else
    log "Stage 3: $objective $model_size pre-training ($pt_config) -> $exp/pretrain/$pt_name"
    $launch pretrain --config "$pt_config" --exp-dir "$exp/pretrain/$pt_name" \
      --set trainer.update_freq=$pt_update_freq $pt_data --resume
  fi
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ] && [ "$objective" = hubert ]; then
  log "Stage 4: HuBERT iteration-2 targets: K=500 k-means of layer 6 of iteration 1 (50 Hz)"
  labels hubert_iter1_l6 500 hubert_iter1_l6_k500 layer --checkpoint "$exp/pretrain/hubert_iter1" \
    --layer 6 --device cuda
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ] && [ "$objective" = hubert ]; then
  pt_update_freq=$(update_freq $ref_gpus)
  log "Stage 5: HuBERT BASE iteration 2 (400k updates) -> $exp/pretrain/$pt_name"
  $launch pretrain --config conf/pretrain/hubert_base_iter2.yaml --exp-dir "$exp/pretrain/$pt_name" \
    --set trainer.update_freq=$pt_update_freq $pt_data $(label_opts hubert_iter1_l6_k500) --resume
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  ft_update_freq=$(update_freq $ft_ref_gpus)
  log "Stage 6: CTC fine-tuning on $finetune_split -> $ft_dir"
  $launch finetune --config "conf/finetune/$finetune_split.yaml" --pretrained "$exp/pretrain/$pt_name" \
    --exp-dir "$ft_dir" --set trainer.update_freq=$ft_update_freq --set "data.train=$data/train_$finetune_split" \
    --set data.valid=$data/dev_other --resume
fi

if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: official LibriSpeech 4-gram + letter lexicon -> $data/lm_4gram"
  speechssl librispeech lm --src "$dl_dir" --out "$data/lm_4gram"
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: greedy and 4-gram decoding of dev/test clean/other (LM weights tuned on the dev set)"
  for split in dev_clean dev_other test_clean test_other; do
    speechssl decode --exp-dir "$ft_dir" --data "$data/$split" --out "$ft_dir/decode_$split" \
      --lm "$data/lm_4gram" --tune-on "$data/dev_${split#*_}"
  done
fi

if [ $stage -le 9 ] && [ $stop_stage -ge 9 ]; then
  log "Stage 9: RESULTS.md, results.json and plots in $exp"
  speechssl report --exp "$exp"
fi
