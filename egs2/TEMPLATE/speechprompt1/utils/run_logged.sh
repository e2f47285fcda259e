#!/usr/bin/env bash
# Run one job of a recipe's *_cmd with its log (run_jobs.sh and slurm_jobs.sh start jobs with it):
#
#   utils/run_logged.sh [--job JOB=3] [--inputs "FILE..."] [--outputs "FILE..."] \
#       <log> <command> [args...]
#
# Each "JOB" (the name before "=") in the log path, the inputs, the outputs and every argument
# becomes the job's number. Arguments are passed as they are (no shell). The log starts with
# the command, the job's key and where it runs, and ends with "# ended <time> with status <n>";
# the exit status is the command's.
# With --outputs, a job is not run again when its log ended with status 0 under the same key
# (the command and its --inputs: contents of files up to 64 MB, size and time of larger ones)
# and every output exists: a re-run recomputes only missing, failed or outdated jobs.
set -euo pipefail

usage="usage: ${0##*/} [--job NAME=N] [--inputs FILES] [--outputs FILES] <log> <command> [args...]"
var='' value='' inputs='' outputs=''
while [ $# -gt 0 ]; do
  case $1 in
    --job) [[ ${2:-} =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+)$ ]] || { echo "${usage}" >&2; exit 2; }
      var=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}; shift 2 ;;
    --inputs) inputs=${2?${usage}}; shift 2 ;;
    --outputs) outputs=${2?${usage}}; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "${usage}" >&2; exit 2; }

job() { if [ -n "${var}" ]; then echo "${1//${var}/${value}}"; else echo "$1"; fi; }
log=$(job "$1")
shift
argv=()
for arg in "$@"; do argv+=("$(job "${arg}")"); done
read -ra input_files <<<"$(job "${inputs}")"
read -ra output_files <<<"$(job "${outputs}")"

job_key() {  # the command and the state of its inputs, as one sha256
  local file
  {
    printf '%s\0' "${argv[@]}"
    for file in "${input_files[@]}"; do
      if [ ! -e "${file}" ]; then echo "missing ${file}"
      elif [ "$(stat -L -c %s "${file}")" -le $((64 << 20)) ]; then sha256sum <"${file}"
      else stat -L -c '%n %s %Y' "${file}"; fi
    done
  } | sha256sum | cut -d' ' -f1
}

up_to_date() {  # the log shows a success under this key and every output exists
  local file
  [ "${#output_files[@]}" -gt 0 ] && [ -f "${log}" ] || return 1
  grep -qx "# key $1" "${log}" && tail -n 1 "${log}" | grep -q ' with status 0$' || return 1
  for file in "${output_files[@]}"; do [ -e "${file}" ] || return 1; done
}

key=$(job_key)
if up_to_date "${key}"; then
  echo "${log}: up to date (succeeded with the same command and inputs), not run again" >&2
  exit 0
fi
mkdir -p "$(dirname "${log}")"
{
  printf '#'
  for arg in "${argv[@]}"; do  # plain where safe, else single-quoted
    if [[ ${arg} =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then printf ' %s' "${arg}"
    else printf ' %s' "${arg@Q}"; fi
  done
  echo
  echo "# key ${key}"
  printf '# started %s on %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$(hostname)"
} >"${log}"
status=0
"${argv[@]}" >>"${log}" 2>&1 </dev/null || status=$?
printf '# ended %s with status %d\n' "$(date '+%Y-%m-%d %H:%M:%S')" "${status}" >>"${log}"
exit "${status}"
