#!/usr/bin/env bash
# probe_upstreams.sh [--nj N] [--tasks "pr pc"] [--seeds K] [--out DIR] NAME,SPEC,SEED... [-- PROBE_OPTIONS]
# Probes every upstream (run folder, `random` or `fbank`; SEED = random's initialisation seed) on
# every task with probe seeds 1..K into DIR/NAME-TASK-seed<k>, N upstreams at a time. One upstream's
# probes run one after another: they share its cached hidden states. PROBE_OPTIONS go to every
# `speechssl probe`. Finished probes are skipped (.done markers), so re-running is a no-op.
set -euo pipefail
nj=1
tasks=pr
seeds=1
out=exp/probe
. local/parse_options.sh
. local/log.sh

upstreams=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do upstreams+=("$1"); shift; done
[ $# -gt 0 ] && shift
if [ ${#upstreams[@]} -eq 0 ]; then
  echo "$0: no upstream given (NAME,SPEC,SEED, e.g. random2,random,2)" >&2
  exit 1
fi
pool_jobs=$nj
. local/job_pool.sh

probe_one() {  # NAME SPEC SEED PROBE_OPTIONS...: every task and probe seed of one upstream
  local name=$1 spec=$2 upstream_seed=$3 task seed dir
  shift 3
  for task in $tasks; do
    for seed in $(seq 1 "$seeds"); do
      dir=$out/$name-$task-seed$seed
      local/run_once.sh "$dir" \
        speechssl probe --upstream "$spec" --upstream-seed "$upstream_seed" --task "$task" \
          --seed "$seed" --out "$dir" "$@"
    done
  done
}

for entry in "${upstreams[@]}"; do
  IFS=, read -r name spec upstream_seed <<< "$entry"
  log "probe $name ($spec): $tasks, probe seeds 1..$seeds"
  pool_run "$out/log/$name-$(tr ' ' _ <<< "$tasks").log" probe_one "$name" "$spec" "${upstream_seed:-1}" "$@"
done
pool_wait
