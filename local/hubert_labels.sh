#!/usr/bin/env bash
# HuBERT labels for one data dir: features in --nj shards -> k-means fit -> label assignment.
# MFCC features by default; with --checkpoint/--layer, features of that pre-trained layer.
set -euo pipefail
data=
feats=
out=
clusters=100
percent=0.5
seed=1
nj=2
checkpoint=
layer=
. local/parse_options.sh
. local/log.sh
[ -n "$data" ] && [ -n "$feats" ] && [ -n "$out" ] || { echo "usage: $0 --data DIR --feats DIR --out DIR" >&2; exit 1; }

if [ -n "$checkpoint" ]; then
  feature_command=(speechssl features layer --checkpoint "$checkpoint" --layer "$layer")
else
  feature_command=(speechssl features mfcc)
fi
log "features of $data -> $feats ($nj shards)"
pids=()
for rank in $(seq 0 $((nj - 1))); do
  "${feature_command[@]}" --data "$data" --out "$feats" --nshard "$nj" --rank "$rank" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

log "k-means K=$clusters on $percent of the frames -> $out/kmeans"
local/run_once.sh "$out/kmeans" \
  speechssl kmeans fit --feats "$feats" --k "$clusters" --percent "$percent" --seed "$seed" \
    --out "$out/kmeans"
log "labels -> $out"
local/run_once.sh "$out" \
  speechssl kmeans assign --feats "$feats" --model "$out/kmeans" --data "$data" --out "$out"
