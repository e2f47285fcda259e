# shellcheck shell=bash disable=SC2154,SC2034  # globals shared with speechprompt.sh
# The stage bookkeeping and small helpers of speechprompt.sh (sourced by it): every stage's commands go to
# ${logs}/stage<N>.cmd (re-runnable) and their output to ${logs}/stage<N>.log; outputs are
# written under temporary names unique to the process, then renamed. Uses the script's
# globals current, logs, orig_args and its log/die functions.

quote() {  # the words as shell input: plain where safe, else single-quoted
  local word
  local -a words=()
  for word in "$@"; do
    if [[ ${word} =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then words+=("${word}")
    else words+=("${word@Q}"); fi
  done
  echo "${words[*]}"
}
yaml_str() { printf "'%s'" "${1//\'/\'\'}"; }  # a yaml single-quoted string
count_lines() { grep -c . "$1" || true; }
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }
stem() { local name=${1##*/}; echo "${name%.*}"; }  # a file's name without dir and extension

set_config_opts() {  # set_config_opts <flat yaml>: config_opts=(--key value ... of its lines)
  local line key value
  config_opts=()
  while IFS= read -r line || [ -n "${line}" ]; do
    line=${line%%#*}
    [[ ${line} =~ ^[[:space:]]*$ ]] && continue
    [[ ${line} =~ ^([A-Za-z_][A-Za-z0-9_]*):[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] \
      || die "$1: only flat 'key: value' lines are supported (got '${line}')"
    key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    value=${value#[\"\']} value=${value%[\"\']}
    config_opts+=("--${key}" "${value}")
  done <"$1"
}

need() {  # need <path> <stage that makes it>
  [ -e "$1" ] || die "stage ${current} needs $1: run --stage $2 first"
}

begin() {  # begin <description>: start this stage's .cmd and .log files
  mkdir -p "${logs}"
  stage_name="${current}.${1// /_}"
  stage_cmd=${logs}/stage${current}.cmd
  stage_log=${logs}/stage${current}.log
  {
    echo "#!/usr/bin/env bash"
    echo "# stage ${current} (${1}) of ${0##*/}, $(date '+%Y-%m-%d %H:%M:%S'). Re-run the stage:"
    echo "#   ./${0##*/} $(quote "${orig_args[@]}" --stage "${current}") --stop_stage ${current}"
    echo "# or run the commands it ran: bash ${stage_cmd}"
    echo "set -euo pipefail"
    echo "cd $(quote "${PWD}")"
    echo ". ./path.sh"
  } >"${stage_cmd}"
  : >"${stage_log}"
  log "stage ${current}: ${1} (log: ${stage_log})"
}

fail() {
  local -a pids
  mapfile -t pids < <(jobs -p)  # a stage's background job (the GRU baseline) stops too
  if [ "${#pids[@]}" -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; fi
  {
    echo "error: stage ${current} failed running: $(quote "$@" | cut -c 1-300)"
    echo "last lines of ${stage_log}:"
    tail -n 15 "${stage_log}" | sed 's/^/    /'
  } >&2
  exit 1
}

run() {  # run <command...>: record it in stage<N>.cmd, its output goes to stage<N>.log
  quote "$@" >>"${stage_cmd}"
  echo "+ $(quote "$@")" >>"${stage_log}"
  "$@" >>"${stage_log}" 2>&1 </dev/null || fail "$@"
}

temp_name() {  # temp_name <path>: a hidden name beside <path>, unique to this process
  echo "$(dirname "$1")/.$(basename "$1").$$.tmp"
}

run_to() {  # run_to <file> <command...>: as run, with the command's stdout written to <file>
  local out=$1 tmp  # (through a temporary name: <file> appears complete or not at all)
  shift
  tmp=$(temp_name "${out}")
  echo "$(quote "$@") > $(quote "${out}")" >>"${stage_cmd}"
  echo "+ $(quote "$@") > ${out}" >>"${stage_log}"
  "$@" >"${tmp}" 2>>"${stage_log}" </dev/null || { rm -f "${tmp}"; fail "$@"; }
  mv "${tmp}" "${out}"
}

replace_dir() {  # replace_dir <new dir> <dir>: <new dir> takes the place of <dir>; an earlier
  local old  # <dir> is removed only then (as run: recorded in stage<N>.cmd)
  old=$(dirname "$2")/.$(basename "$2").$$.old
  if [ -e "$2" ]; then run mv -T "$2" "${old}"; fi
  run mv -T "$1" "$2"
  run rm -rf "${old}"
}

run_in_background() {  # run_in_background <log> <command...>: as run, but in the background
  local out=$1  # (the caller waits for $!); the command's output goes to <log>
  shift
  echo "$(quote "$@") >$(quote "${out}") 2>&1 &" >>"${stage_cmd}"
  echo "+ $(quote "$@") & (log: ${out})" >>"${stage_log}"
  "$@" >"${out}" 2>&1 </dev/null &
}

# ---- audio and units of one data dir (globals: nj, py, bin, train_job, feature_opts, km) ----
set_feature_opts() {  # feature_opts=(the options of learn_kmeans/dump_units for --unit_feature)
  feature_opts=(--feature "${unit_feature}")
  if [ "${unit_feature}" = hubert ]; then
    if [ -z "${feature_checkpoint}" ] || [ -z "${feature_layer}" ]; then
      die "--unit_feature hubert needs --feature_checkpoint and --feature_layer"
    fi
    [ -f "${feature_checkpoint}" ] || die "--feature_checkpoint ${feature_checkpoint}: no such file"
    feature_opts+=(--checkpoint "${feature_checkpoint}" --layer "${feature_layer}")
  fi
  set_mfcc_opts
}

check_mfcc_options() {  # --mfcc_smooth: an odd positive integer; --trim_db: dB or empty
  [[ ${mfcc_smooth} =~ ^[0-9]+$ ]] \
    || die "--mfcc_smooth must be a non-negative integer (got '${mfcc_smooth}')"
  [ $((mfcc_smooth % 2)) -eq 1 ] || die "--mfcc_smooth must be odd (got ${mfcc_smooth})"
  [[ ${trim_db} =~ ^([0-9]+([.][0-9]*)?)?$ ]] \
    || die "--trim_db must be a positive number of dB or empty (got '${trim_db}')"
}

set_mfcc_opts() {  # --mfcc_smooth and --trim_db → feature_opts, extractor_opts
  extractor_opts=()
  if [ "${mfcc_smooth:-1}" != 1 ]; then
    feature_opts+=(--smooth-frames "${mfcc_smooth}")
    extractor_opts+=(--unit_extractor_conf "smooth=${mfcc_smooth}")
  fi
  if [ -n "${trim_db:-}" ]; then
    feature_opts+=(--trim-db "${trim_db}")
    extractor_opts+=(--unit_extractor_conf "trim_db=${trim_db}")
  fi
}

format_set() {  # format_set <data dir> <out dir>: its audio as 16 kHz mono wavs → <out dir>
  local n jobs  # (resumable: a re-run redoes only the jobs that failed or whose inputs changed)
  n=$(count_lines "$1/wav.scp")
  [ "${n}" -gt 0 ] || die "$1/wav.scp is empty"
  jobs=$(min "${nj}" "${n}")
  if [ "${jobs}" -gt 1 ]; then run rm -f "$2/wav.scp" "$2/utt2num_samples"; fi
  run "${train_job[@]}" --inputs "$(existing "$1"/{wav.scp,segments,utt2spk})" \
    --outputs "$(job_parts "${jobs}" "$2/wav.scp" "$2/utt2num_samples")" \
    "JOB=1:${jobs}" "$2/log/format_audio.JOB.log" \
    "${py[@]}" -m "${bin}.format_audio" --data-dir "$1" --out-dir "$2" --nj "${jobs}" --job JOB
  if [ "${jobs}" -gt 1 ]; then
    run "${py[@]}" -m "${bin}.format_audio" --data-dir "$1" --out-dir "$2" --nj "${jobs}" --merge
  fi
}

existing() {  # the files given that exist (one word each)
  local file
  local -a found=()
  for file in "$@"; do if [ -e "${file}" ]; then found+=("${file}"); fi; done
  echo "${found[*]}"
}

job_parts() {  # job_parts <jobs> <file...>: what job JOB writes of each file (file.JOB; the
  local jobs=$1 file  # file itself for a single job), for --outputs
  local -a parts=()
  shift
  for file in "$@"; do
    if [ "${jobs}" -gt 1 ]; then parts+=("${file}.JOB"); else parts+=("${file}"); fi
  done
  echo "${parts[*]}"
}

dump_set_units() {  # dump_set_units <out dir> <wav.scp> <dump_units options...>: the units of
  local out=$1 scp=$2 n jobs  # <wav.scp> (k-means ${km}, in --nj jobs) → <out dir>/units
  shift 2
  n=$(count_lines "${scp}")
  jobs=$(min "${nj}" "${n}")
  run mkdir -p "${out}"
  if [ "${jobs}" -gt 1 ]; then run rm -f "${out}/units"; fi  # (one job replaces it)
  run "${train_job[@]}" --inputs "$(existing "${scp}" "$(dirname "${scp}")/utt2num_samples" \
    "${km}" "${feature_checkpoint:-}")" --outputs "$(job_parts "${jobs}" "${out}/units")" \
    "JOB=1:${jobs}" "${out}/log/dump_units.JOB.log" \
    "${py[@]}" -m "${bin}.dump_units" --wav-scp "${scp}" "${feature_opts[@]}" --km "${km}" \
    "$@" --out-dir "${out}" --nj "${jobs}" --job JOB
  if [ "${jobs}" -gt 1 ]; then
    run "${py[@]}" -m "${bin}.dump_units" --out-dir "${out}" --nj "${jobs}" --merge
  fi
}

copy_labels() {  # copy_labels <raw dir> <units dir>: the label, text and speaker files
  local file
  for file in label text utt2spk spk2utt; do
    if [ -f "$1/${file}" ]; then run cp "$1/${file}" "$2/${file}"; fi
  done
}

# ---- the stage loop (each script defines stage<N>, skipped_by <N> and set_logs <N>) --------
run_stages() {  # run_stages <last stage>: stages --stage..--stop_stage, each one's time
  local last=$1 flag started seconds timings  # recorded in <logs>/timings
  log "$0 $(quote "${orig_args[@]}")"
  for ((current = 1; current <= last; current++)); do
    if [ "${current}" -lt "${stage}" ] || [ "${current}" -gt "${stop_stage}" ]; then continue; fi
    flag=$(skipped_by "${current}")
    if [ -n "${flag}" ]; then
      log "stage ${current}: skipped (${flag} true)"
      continue
    fi
    set_logs "${current}"
    started=${SECONDS}
    stage_log=
    "stage${current}"
    if [ -n "${stage_log}" ]; then  # the stage ran: record its time (one line per stage)
      seconds=$((SECONDS - started))
      log "stage ${current}: done in ${seconds} s"
      timings=$(temp_name "${logs}/timings")
      { grep -v "^${stage_name} " "${logs}/timings" 2>/dev/null || true
        echo "${stage_name} ${seconds}"; } | sort -n >"${timings}"
      mv "${timings}" "${logs}/timings"
    fi
  done
  log "finished stages ${stage}..$(min "${stop_stage}" "${last}")"
}

# ---- prompt training on one or more processes (globals: ngpu num_nodes nproc_per_node nj py
# cmd_backend cuda_cmd) -------------------------------------------------------------------------
check_launch_options() {  # --num_nodes and --nproc_per_node: positive, multi-node on Slurm only
  local name
  for name in num_nodes nproc_per_node; do
    [[ ${!name} =~ ^[1-9][0-9]*$ ]] || die "--${name} must be a positive integer (got '${!name}')"
  done
  if [ "${num_nodes}" -gt 1 ] && [ "${cmd_backend}" != slurm ]; then
    die "--num_nodes ${num_nodes} needs a cluster backend: set cmd_backend=slurm (cmd.sh)"
  fi
}

set_train_launch() {  # set_train_launch <log dir> <module> <threads>: train=(the command that
  local procs=${nproc_per_node} world threads  # starts the ESPnet training module on every
  local -a dist=() launch=() cuda  # process, with ESPnet's distributed options); the threads
  # (OMP_NUM_THREADS) are shared by the processes of a node
  if [ "${ngpu}" -gt 0 ]; then procs=${ngpu}; fi  # one process per GPU
  world=$((num_nodes * procs))
  if [ "${world}" -gt 1 ]; then
    dist=(--ngpu "$((ngpu > 0 ? 1 : 0))" --multiprocessing_distributed false)
    if [ "${ngpu}" -eq 0 ]; then dist+=(--dist_backend gloo); fi
  else
    dist=(--ngpu "${ngpu}")
  fi
  threads=$(($3 / procs > 0 ? $3 / procs : 1))
  if [ "${cmd_backend}" = slurm ]; then  # one srun step: num_nodes x procs tasks
    read -ra cuda <<<"${cuda_cmd}"
    launch=("${cuda[@]}" --gpu "${ngpu}" --num_threads "${threads}" --num_nodes "${num_nodes}"
      --ntasks_per_node "${procs}" "$1/train.log")
    if [ "${world}" -gt 1 ]; then  # each task's rank from Slurm (expanded by the task); they
      # meet in a file beside the logs (a shared file system)
      # shellcheck disable=SC2016
      launch+=(bash -c 'export RANK=${SLURM_PROCID} LOCAL_RANK=${SLURM_LOCALID} \
        WORLD_SIZE=${SLURM_NTASKS}; exec "$@"' slurm_task)
      dist+=(--dist_init_method "file://$(cd "$1" && pwd)/.dist_init.$$")
    fi
    launch+=(env "OMP_NUM_THREADS=${threads}" "${py[@]}")
  elif [ "${world}" -gt 1 ]; then  # torchrun on this machine
    launch=(env "OMP_NUM_THREADS=${threads}" "${py[@]}" -m torch.distributed.run --standalone
      --nnodes 1 --nproc_per_node "${procs}")
  else
    launch=(env "OMP_NUM_THREADS=${threads}" "${py[@]}")
  fi
  train=("${launch[@]}" -m "$2" "${dist[@]}")
}
