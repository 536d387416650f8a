# job_pool.sh (sourced): side-by-side jobs, in the spirit of Kaldi's run.pl.
#   pool_run LOG COMMAND...   start COMMAND (a program or a shell function) as soon as fewer than
#                             pool_jobs run, with OMP_NUM_THREADS = cores / pool_jobs and its output in LOG
#   pool_wait                 wait for every started job
# With pool_jobs=1 the command runs in the foreground, its output on the terminal as well as in LOG.
# A failed job stops the caller with the job's exit status and the last lines of its LOG, and the jobs
# still running are stopped. Why side by side: two tiny trainings with one thread each do 1.2x the work
# of one with both cores (README, "Time of the recipe").
pool_jobs=${pool_jobs:-1}
pool_pids=()
pool_logs=()

pool_threads() {
  local threads=$(( $(nproc) / pool_jobs ))
  [ "$threads" -ge 1 ] || threads=1
  echo "$threads"
}

pool_wait_any() {  # wait for whichever job ends first: a free slot is filled at once
  local status=0 index
  # bash reaps a finished child at once (keeping its status for `wait PID`), so `kill -0` fails for it.
  while true; do
    for index in "${!pool_pids[@]}"; do kill -0 "${pool_pids[$index]}" 2>/dev/null || break 2; done
    sleep 0.2
  done
  wait "${pool_pids[$index]}" || status=$?
  local log=${pool_logs[$index]}
  unset 'pool_pids[index]' 'pool_logs[index]'
  pool_pids=("${pool_pids[@]}")
  pool_logs=("${pool_logs[@]}")
  if [ "$status" -ne 0 ]; then
    echo "job_pool.sh: a job failed (exit $status); the last lines of $log:" >&2
    tail -n 20 "$log" >&2
    [ ${#pool_pids[@]} -eq 0 ] || kill "${pool_pids[@]}" 2>/dev/null || true
    pool_pids=()
    pool_logs=()
    return "$status"
  fi
}

pool_run() {
  local log=$1
  shift
  mkdir -p "$(dirname "$log")"
  if [ "$pool_jobs" -le 1 ]; then
    "$@" 2>&1 | tee "$log"
    return
  fi
  while [ ${#pool_pids[@]} -ge "$pool_jobs" ]; do pool_wait_any; done
  echo "$(date '+%Y-%m-%d %H:%M:%S') (job_pool.sh) started, output in $log: $*"
  OMP_NUM_THREADS=$(pool_threads) "$@" > "$log" 2>&1 &
  pool_pids+=($!)
  pool_logs+=("$log")
}

pool_wait() {
  while [ ${#pool_pids[@]} -gt 0 ]; do pool_wait_any; done
}
