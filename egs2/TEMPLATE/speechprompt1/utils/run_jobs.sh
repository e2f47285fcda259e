#!/usr/bin/env bash
# Run a command as N local parallel jobs (the "JOB=1:N" convention of the recipes' *_cmd).
#
#   utils/run_jobs.sh [--max-parallel P] JOB=1:N exp/log/x.JOB.log command args...
#   utils/run_jobs.sh exp/log/x.log command args...          # a single job
#
# In the log path and in every argument, each "JOB" is replaced by the job number. Arguments
# are passed to the command as they are (no shell); for pipes or redirection give one argument
# such as  bash -c 'a JOB | b > out.JOB'. Each job's output goes to its log, which starts with
# the command and ends with its exit status. Up to P jobs (default: all N) run at once. If any
# job fails, the failing logs' last lines are printed and the exit status is 1.
set -euo pipefail

usage="usage: ${0##*/} [--max-parallel P] [NAME=FIRST:LAST] <log> <command> [args...]"
max_parallel=0
if [ "${1:-}" = --max-parallel ] || [ "${1:-}" = --max_parallel ]; then
  max_parallel=${2:?${usage}}
  shift 2
fi

var=JOB first=1 last=1
if [[ ${1:-} =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
  var=${BASH_REMATCH[1]} first=${BASH_REMATCH[2]} last=${BASH_REMATCH[3]}
  shift
fi
if [ $# -lt 2 ]; then
  echo "${usage}" >&2
  exit 2
fi
if [ "${first}" -gt "${last}" ]; then
  echo "error: empty job range ${var}=${first}:${last}" >&2
  exit 2
fi
log_pattern=$1
shift
if [ "${last}" -gt "${first}" ] && [[ ${log_pattern} != *"${var}"* ]]; then
  echo "error: the log path ${log_pattern} must contain ${var} (one log per job)" >&2
  exit 2
fi
[ "${max_parallel}" -gt 0 ] || max_parallel=$((last - first + 1))

run_one() {  # run_one <job>: the command with JOB replaced, output to that job's log
  local job=$1 log=${log_pattern//${var}/$1} arg
  local -a argv=()
  for arg in "${cmd[@]}"; do argv+=("${arg//${var}/${job}}"); done
  mkdir -p "$(dirname "${log}")"
  {
    printf '#'
    for arg in "${argv[@]}"; do  # plain where safe, else single-quoted
      if [[ ${arg} =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then printf ' %s' "${arg}"
      else printf ' %s' "${arg@Q}"; fi
    done
    echo
    printf '# started %s on %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$(hostname)"
  } >"${log}"
  local status=0
  "${argv[@]}" >>"${log}" 2>&1 </dev/null || status=$?
  printf '# ended %s with status %d\n' "$(date '+%Y-%m-%d %H:%M:%S')" "${status}" >>"${log}"
  return "${status}"
}

cmd=("$@")
declare -A pid_job=()
failed=()
trap 'kill "${!pid_job[@]}" 2>/dev/null; exit 130' INT TERM

reap() {  # wait for one job to end; remember it if it failed
  local pid status=0
  wait -n -p pid "${!pid_job[@]}" || status=$?
  [ "${status}" -eq 0 ] || failed+=("${pid_job[${pid}]}:${status}")
  unset "pid_job[${pid}]"
}

for ((job = first; job <= last; job++)); do
  while [ "${#pid_job[@]}" -ge "${max_parallel}" ]; do reap; done
  run_one "${job}" &
  pid_job[$!]=${job}
done
while [ "${#pid_job[@]}" -gt 0 ]; do reap; done

if [ "${#failed[@]}" -gt 0 ]; then
  for entry in "${failed[@]}"; do
    job=${entry%%:*}
    log=${log_pattern//${var}/${job}}
    echo "${0##*/}: job ${job} of ${first}:${last} failed (status ${entry#*:});" \
      "last lines of ${log}:" >&2
    tail -n 20 "${log}" | sed 's/^/    /' >&2
  done
  echo "${0##*/}: ${#failed[@]} of $((last - first + 1)) jobs failed" >&2
  exit 1
fi
