#!/usr/bin/env bash
# The Slurm job backend: the recipes' job interface (utils/job_lib.sh) as one Slurm array job.
#
#   utils/slurm_jobs.sh [--config conf/slurm.conf] [--mem 4G] [--num_threads N] [--gpu N]
#       [--max_jobs_run P] JOB=1:N exp/log/x.JOB.log command args...
#   utils/slurm_jobs.sh [options] --num_nodes M --ntasks_per_node P exp/log/train.log command...
#
# The first form submits "sbatch --array=1-N%P --wait" and waits for it; each array task runs
# the command with JOB replaced by its number ($SLURM_ARRAY_TASK_ID) through
# utils/run_logged.sh, so its log starts with the command and ends with its exit status.
# It fails (status 1) when any job fails, naming each failed job's log (or Slurm's own output,
# <log dir>/q/<name>.<job>.out, when the job was killed before it ended). Interrupted, it
# cancels the array job. The second form runs one "srun" step of M×P tasks in the foreground
# (distributed training: each task reads its rank from SLURM_PROCID).
# Resources map to sbatch/srun options through the config (default: conf/slurm.conf of the
# recipe, else the template's), ESPnet's format:
#   command sbatch --export=ALL        the submit command and options for every job
#   option mem=* --mem-per-cpu $0      --mem X becomes "--mem-per-cpu X"
#   option gpu=0 -p cpu                an exact value wins over *
#   default gpu=0                      the value when the option is not given
set -euo pipefail
utils=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=job_lib.sh
. "${utils}/job_lib.sh"

config='' num_nodes='' ntasks_per_node=''
parse_jobs "$@"
set -- "${extra_options[@]}"
while [ $# -gt 0 ]; do
  case $1 in
    config) config=$2 ;;
    num_nodes) num_nodes=$2 ;;
    ntasks_per_node) ntasks_per_node=$2 ;;
    *) job_error "unknown option --$1" ;;
  esac
  shift 2
done
if [ -z "${config}" ]; then
  config=conf/slurm.conf
  [ -f "${config}" ] || config=${utils}/../conf/slurm.conf
fi
[ -f "${config}" ] || job_error "no Slurm config ${config} (see the template's conf/slurm.conf)"
command -v sbatch >/dev/null || job_error "sbatch not found: this backend needs a Slurm client"

read_config() {  # submit=(command words), and the option map of ${config}
  local kind rest key value
  submit=(sbatch --export=ALL)
  declare -gA defaults=() exact=() any=()
  while read -r kind rest || [ -n "${kind}" ]; do
    case ${kind} in
      "" | "#"*) continue ;;
      command) read -ra submit <<<"${rest}" ;;
      default | option)
        [[ ${rest} =~ ^([a-z_]+)=([^[:space:]]+)[[:space:]]*(.*)$ ]] \
          || job_error "${config}: cannot read '${kind} ${rest}'"
        key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
        if [ "${kind}" = default ]; then defaults[${key}]=${value}
        elif [ "${value}" = "*" ]; then any[${key}]=${BASH_REMATCH[3]}
        else exact[${key}=${value}]=${BASH_REMATCH[3]}; fi ;;
      *) job_error "${config}: unknown line '${kind} ${rest}' (command, option or default)" ;;
    esac
  done <"${config}"
}

set_resource_options() {  # resource_options=(sbatch/srun options of the resources, via config)
  local key value words
  resource_options=()
  for key in "${!defaults[@]}"; do
    [ -n "${resources[${key}]:-}" ] || resources[${key}]=${defaults[${key}]}
  done
  for key in "${!resources[@]}"; do
    value=${resources[${key}]}
    if [ -n "${exact[${key}=${value}]+set}" ]; then words=${exact[${key}=${value}]}
    elif [ -n "${any[${key}]+set}" ]; then words=${any[${key}]//\$0/${value}}
    else job_error "${config} has no 'option ${key}=...' line for --${key} ${value}"; fi
    read -ra words <<<"${words}"
    resource_options+=("${words[@]}")
  done
}

read_config
name=$(basename "${log_pattern}")
name=${name%.log}
name=${name%".${var}"}
resources[name]=${resources[name]:-${name}}
[ -n "${any[name]+set}" ] || unset "resources[name]"
set_resource_options

if [ -n "${num_nodes}${ntasks_per_node}" ]; then  # one srun step of M×P tasks
  [ "${first}" -eq "${last}" ] || job_error "--num_nodes runs one step: no ${var}=${first}:${last}"
  status=0
  "${utils}/run_logged.sh" "${log_pattern}" srun "${submit[@]:1}" "${resource_options[@]}" \
    --nodes "${num_nodes:-1}" --ntasks-per-node "${ntasks_per_node:-1}" --kill-on-bad-exit=1 \
    "${cmd[@]}" || status=$?
  if [ "${status}" -ne 0 ]; then report_failures "1:status ${status}"; fi
  exit 0
fi

write_job_script() {  # → ${queue}/${name}.sh: one array task (its exit status → <job>.status)
  local arg  # (the ${...} in single quotes expand when the job runs)
  # shellcheck disable=SC2016
  {
    echo "#!/usr/bin/env bash"
    echo "# ${name}: ${var}=${first}:${last}, submitted by ${0##*/} from $(hostname)"
    echo "job=\${SLURM_ARRAY_TASK_ID:?not in a Slurm array job}"
    printf 'status=0\n%q --job %q=${job}' "${utils}/run_logged.sh" "${var}"
    printf ' %q' --inputs "${inputs}" --outputs "${outputs}" "${log_pattern}"
    for arg in "${cmd[@]}"; do printf ' %q' "${arg}"; done
    echo ' || status=$?'
    printf 'echo "${status}" >%q.${job}.tmp\n' "${queue}/${name}"
    printf 'mv %q.${job}.tmp %q.${job}.status\n' "${queue}/${name}" "${queue}/${name}"
    echo 'exit "${status}"'
  } >"${queue}/${name}.sh"
}

cancel() {  # on INT/TERM: cancel the array job
  if [ -n "${job_id:-}" ]; then scancel "${job_id}" 2>/dev/null || true; fi
  echo "${0##*/}: interrupted; cancelled Slurm job ${job_id:-(not submitted)}" >&2
  exit 130
}

wait_for() {  # wait_for <job id>: until none of its array tasks is pending or running
  local pause=0.5 failures=0 left
  while true; do
    if left=$(squeue --noheader --jobs "$1" --format %i 2>/dev/null); then
      failures=0
      [ -n "${left}" ] || return 0
    elif [ $((failures += 1)) -ge 30 ]; then
      echo "${0##*/}: squeue keeps failing; job $1 left running (scancel $1)" >&2
      exit 1
    fi
    sleep "${pause}"
    pause=$(awk -v p="${pause}" 'BEGIN { p *= 1.5; print (p > 10 ? 10 : p) }')
  done
}

queue=$(dirname "${log_pattern}")/q
mkdir -p "${queue}"
rm -f "${queue}/${name}".*.status "${queue}/${name}".*.out
write_job_script
array=${first}-${last}
if [ "${max_jobs_run}" -gt 0 ]; then array+=%${max_jobs_run}; fi
trap cancel INT TERM
if ! job_id=$("${submit[@]}" "${resource_options[@]}" --parsable --array "${array}" \
  --output "${queue}/${name}.%a.out" "${queue}/${name}.sh" 2>"${queue}/${name}.submit.log"); then
  echo "${0##*/}: ${submit[0]} did not submit the jobs of ${log_pattern}:" >&2
  sed 's/^/    /' "${queue}/${name}.submit.log" >&2
  exit 1
fi
job_id=${job_id%%;*}
echo "${0##*/}: Slurm job ${job_id}: ${name} ${var}=${first}:${last} (logs ${log_pattern})" >&2
wait_for "${job_id}"
trap - INT TERM

failed=() skipped=0
for ((job = first; job <= last; job++)); do
  if grep -qs ': up to date' "${queue}/${name}.${job}.out"; then skipped=$((skipped + 1)); fi
  status_file=${queue}/${name}.${job}.status
  if [ ! -f "${status_file}" ]; then
    failed+=("${job}:ended by Slurm, see ${queue}/${name}.${job}.out")
    if [ -f "${queue}/${name}.${job}.out" ]; then
      tail -n 5 "${queue}/${name}.${job}.out" | sed "s/^/    job ${job}: /" >&2
    fi
  elif [ "$(cat "${status_file}")" != 0 ]; then
    failed+=("${job}:status $(cat "${status_file}")")
  fi
done
if [ "${skipped}" -gt 0 ]; then
  echo "${0##*/}: ${skipped} of $((last - first + 1)) jobs were up to date (not run again)" >&2
fi
if [ "${#failed[@]}" -gt 0 ]; then report_failures "${failed[@]}"; fi
