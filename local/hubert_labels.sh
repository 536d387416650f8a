#!/usr/bin/env bash
# HuBERT labels: features in --nj shards -> k-means fitted on the training features ->
# labels for the training and the validation data dirs ($out/train, $out/valid).
# MFCC features by default; with --checkpoint and --layer, that layer of a pre-trained model.
set -euo pipefail
train_data=
valid_data=
feats=                 # feature root: $feats/train, $feats/valid
out=
clusters=100
percent=0.5
seed=1
nj=2
checkpoint=
layer=
. local/parse_options.sh
. local/log.sh
if [ -z "$train_data" ] || [ -z "$valid_data" ] || [ -z "$feats" ] || [ -z "$out" ]; then
  echo "usage: $0 --train-data DIR --valid-data DIR --feats DIR --out DIR [--checkpoint DIR --layer L]" >&2
  exit 1
fi

if [ -n "$checkpoint" ]; then
  feature_command=(speechssl features layer --checkpoint "$checkpoint" --layer "$layer")
else
  feature_command=(speechssl features mfcc)
fi
log "features: $train_data -> $feats/train ($nj shards in parallel), $valid_data -> $feats/valid"
# Share the cores between the parallel jobs instead of oversubscribing them.
threads=$(( $(nproc) / nj )); [ "$threads" -ge 1 ] || threads=1
pids=()
for rank in $(seq 0 $((nj - 1))); do
  OMP_NUM_THREADS=$threads \
    "${feature_command[@]}" --data "$train_data" --out "$feats/train" --nshard "$nj" --rank "$rank" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
"${feature_command[@]}" --data "$valid_data" --out "$feats/valid"

kmeans_model=$out/kmeans.safetensors
log "k-means K=$clusters on a fraction $percent of the training frames -> $kmeans_model"
[ -f "$kmeans_model" ] || \
  speechssl kmeans fit --feats "$feats/train" --k "$clusters" --percent "$percent" --seed "$seed" \
    --out "$kmeans_model"
for part in train valid; do
  [ $part = train ] && part_data=$train_data || part_data=$valid_data
  log "labels of $part_data -> $out/$part"
  local/run_once.sh "$out/$part" \
    speechssl kmeans assign --feats "$feats/$part" --model "$kmeans_model" --data "$part_data" \
      --out "$out/$part"
done
