#!/usr/bin/env bash
# The local job backend: run a command as N parallel jobs on this machine (the "JOB=1:N"
# convention of the recipes' *_cmd; the options are utils/job_lib.sh's).
#
#   utils/run_jobs.sh [--max_jobs_run P] JOB=1:N exp/log/x.JOB.log command args...
#   utils/run_jobs.sh exp/log/x.log command args...          # a single job
#
# In the log path and in every argument, each "JOB" is replaced by the job number. Arguments
# are passed to the command as they are (no shell); for pipes or redirection give one argument
# such as  bash -c 'a JOB | b > out.JOB'. Each job's output goes to its log, which starts with
# the command and ends with its exit status (utils/run_logged.sh). Up to P jobs (default: all N)
# run at once; --mem, --num_threads, --gpu and --time are accepted and ignored. If any job
# fails, the failing logs' last lines are printed and the exit status is 1.
set -euo pipefail
utils=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=job_lib.sh
. "${utils}/job_lib.sh"

parse_jobs "$@"
[ "${#extra_options[@]}" -eq 0 ] || job_error "unknown option --${extra_options[0]}"
max_parallel=${max_jobs_run}
[ "${max_parallel}" -gt 0 ] || max_parallel=$((last - first + 1))

declare -A pid_job=()
failed=()
trap 'kill "${!pid_job[@]}" 2>/dev/null; exit 130' INT TERM

reap() {  # wait for one job to end; remember it if it failed
  local pid status=0
  wait -n -p pid "${!pid_job[@]}" || status=$?
  [ "${status}" -eq 0 ] || failed+=("${pid_job[${pid}]}:status ${status}")
  unset "pid_job[${pid}]"
}

for ((job = first; job <= last; job++)); do
  while [ "${#pid_job[@]}" -ge "${max_parallel}" ]; do reap; done
  set_logged_options "${job}"
  "${utils}/run_logged.sh" "${logged_options[@]}" "${log_pattern}" "${cmd[@]}" &
  pid_job[$!]=${job}
done
while [ "${#pid_job[@]}" -gt 0 ]; do reap; done
if [ "${#failed[@]}" -gt 0 ]; then report_failures "${failed[@]}"; fi
