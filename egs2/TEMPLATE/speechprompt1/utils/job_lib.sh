# shellcheck shell=bash disable=SC2034  # globals read by run_jobs.sh and slurm_jobs.sh
# The job interface shared by the recipes' job backends (run_jobs.sh, slurm_jobs.sh), sourced:
#
#   <backend> [options] [NAME=FIRST:LAST] <log with NAME> <command> [args...]
#
# Options (each also spelled with - for _):
#   --max_jobs_run N   at most N jobs at once (--max-parallel N is the same)
#   --mem SIZE, --num_threads N, --gpu N, --time T
#                      resources of each job (used by cluster backends; run_jobs.sh ignores them)
#   --inputs "FILES", --outputs "FILES"
#                      resume: a job that succeeded with the same command and inputs and whose
#                      outputs exist is not run again (utils/run_logged.sh)
# parse_jobs sets: var first last log_pattern cmd max_jobs_run inputs outputs and resources
# (an associative array: mem, num_threads, gpu, time → value). Backend-specific options are
# left to the backend: parse_jobs stops at the first one it does not know (extra_options).

job_usage="usage: ${0##*/} [--max_jobs_run N] [--mem SIZE] [--num_threads N] [--gpu N] [--time T]
       [--inputs FILES --outputs FILES] [NAME=FIRST:LAST] <log> <command> [args...]"

parse_jobs() {  # parse_jobs "$@" (see above)
  max_jobs_run=0 inputs='' outputs='' var=JOB first=1 last=1
  declare -gA resources=()
  extra_options=()
  while [ $# -gt 0 ] && [[ $1 == --* ]]; do
    local name=${1#--}
    name=${name//-/_}
    [ $# -ge 2 ] || job_error "option $1 needs a value"
    case ${name} in
      max_jobs_run | max_parallel) max_jobs_run=$2 ;;
      mem | num_threads | gpu | time) resources[${name}]=$2 ;;
      inputs) inputs=$2 ;;
      outputs) outputs=$2 ;;
      *) extra_options+=("${name}" "$2") ;;
    esac
    shift 2
  done
  [[ ${max_jobs_run} =~ ^[0-9]+$ ]] \
    || job_error "--max_jobs_run must be a number (got ${max_jobs_run})"
  if [[ ${1:-} =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
    var=${BASH_REMATCH[1]} first=${BASH_REMATCH[2]} last=${BASH_REMATCH[3]}
    shift
  fi
  [ $# -ge 2 ] || { echo "${job_usage}" >&2; exit 2; }
  [ "${first}" -le "${last}" ] || job_error "empty job range ${var}=${first}:${last}"
  log_pattern=$1
  shift
  if [ "${last}" -gt "${first}" ] && [[ ${log_pattern} != *"${var}"* ]]; then
    job_error "the log path ${log_pattern} must contain ${var} (one log per job)"
  fi
  cmd=("$@")
}

job_error() { echo "${0##*/}: error: $*" >&2; exit 2; }

set_logged_options() {  # logged_options=(the options of utils/run_logged.sh for job $1)
  logged_options=(--job "${var}=$1" --inputs "${inputs}" --outputs "${outputs}")
}

report_failures() {  # report_failures <job:status...>: each failed job's log tail; exits 1
  local entry job log
  for entry in "$@"; do
    job=${entry%%:*}
    log=${log_pattern//${var}/${job}}
    echo "${0##*/}: job ${job} of ${first}:${last} failed (${entry#*:}); last lines of ${log}:" >&2
    if [ -f "${log}" ]; then tail -n 20 "${log}" | sed 's/^/    /' >&2
    else echo "    (no log: the job did not start)" >&2; fi
  done
  echo "${0##*/}: $# of $((last - first + 1)) jobs failed" >&2
  exit 1
}
