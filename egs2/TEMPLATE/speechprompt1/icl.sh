#!/usr/bin/env bash
# In-context learning recipe stages: warm up prompts once on episodes of training tasks, then
# solve unseen test tasks from a few demonstrations each, with no training. Run it from a
# recipe dir (egs2/<corpus>/speechprompt1, through its run.sh). Every stage is a short call
# into a Python entry point; the commands a stage ran are in <logs>/stage<N>.cmd (bash that
# file to re-run them) and their output in <logs>/stage<N>.log, <logs> being ${expdir}/logs
# for stages 1-5 and the experiment's logs/ for stages 6-9.
# shellcheck source-path=SCRIPTDIR  # path.sh, cmd.sh and utils/ are linked beside it
set -euo pipefail

help_message="Usage: $0 [options]

Tasks are data dirs <datadir>/<task>_<split> (wav.scp, label, utt2spk), as a classification
recipe has them: training tasks with --train_split and --valid_split, test tasks with
--pool_split (the demonstrations) and --test_split (the queries).

Stages (--stage N --stop_stage M runs N..M):
   1  data preparation: local/data.sh → <datadir>/<task>_<split>/ (and, when --train_tasks or
      --test_tasks is empty, <datadir>/train_tasks and test_tasks, one task a line)
   2  format audio (16 kHz mono wav) → \${dumpdir}/raw/<task>_<split>
   3  units: learn k-means on the training tasks' --train_split audio (--learn_kmeans true),
      dump the units of every task dir → \${dumpdir}/units/<task>_<split>/{units,label}
   4  pre-train a small unit LM (only without --backbone_checkpoint) on documents of
      --lm_document_size utterances of one training task, some said again → \${expdir}/unit_lm;
      with --unit_lm_pairs_config it then goes on, on key-value documents (pairs of an
      utterance and a stretch of another, then the pairs again with keys by other voices)
   5  warm-up episodes of the training tasks → \${dumpdir}/icl_episodes
Stages 6-9 write to the experiment dir <exp> = \${expdir}/speechprompt_<name>, <name> being
--tag or else the --icl_config file's name without .yaml:
   6  warm-up: train the prompts on the episodes (resumes) → <exp>/{config.yaml,*.pth}
   7  in-context learning on the test tasks (and --seen_tasks on their --seen_split, with
      their --train_split as the pool), beside the baselines, over --seeds →
      <exp>/<decode>/<task>/{result.json,seed<s>/} and <exp>/RESULTS.md, <decode> being
      --inference_tag or else icl_<model file name>
   8  pack → <exp>/<exp name>_<model file name>.zip
   9  upload the pack to the Hugging Face Hub (only with --hf_repo)
--skip_data_prep skips 1-3, --skip_train 4-6, --skip_eval 7, --skip_packing 8,
--skip_upload (or --skip_upload_hf) 9. Options take --foo_bar or --foo-bar."

# general
stage=1                 # first stage to run
stop_stage=100          # last stage to run
ngpu=0                  # GPUs per node for warm-up (0: CPU); one process per GPU
num_nodes=1             # nodes for warm-up (more than 1: cmd_backend=slurm in cmd.sh)
nproc_per_node=1        # warm-up processes per node with --ngpu 0 (gloo)
nj=4                    # parallel jobs for formatting and unit dumping; threads for the
                        # one-process steps (k-means, unit LM, warm-up, evaluation)
gpu_inference=false     # stage 7 on cuda
python=python3          # the Python that runs the entry points (may be several words)
expdir=exp              # experiment outputs
datadir=data            # Kaldi-style data dirs written by local/data.sh (stage 1)
dumpdir=dump            # formatted audio, units, episodes
tag=                    # experiment name (default: the --icl_config file's name)
local_data_opts=        # options for local/data.sh
skip_data_prep=false    # skip stages 1-3
skip_train=false        # skip stages 4-6
skip_eval=false         # skip stage 7
skip_packing=false      # skip stage 8
skip_upload=false       # skip stage 9
skip_upload_hf=false    # skip stage 9 (the Hugging Face upload), as --skip_upload
# tasks
train_tasks=            # warm-up tasks (default: the lines of <datadir>/train_tasks)
test_tasks=             # unseen test tasks (default: the lines of <datadir>/test_tasks)
seen_tasks=             # training tasks also evaluated (queries of --seen_split, the
                        # demonstrations from --train_split), marked seen
train_split=train       # split names: <datadir>/<task>_<split>
valid_split=valid
pool_split=pool
test_split="test"
seen_split=             # the seen tasks' query split (default: --valid_split)
# units
unit_feature=mfcc       # mfcc | hubert
feature_checkpoint=     # HuBERT checkpoint (--unit_feature hubert)
feature_layer=          # HuBERT layer, 1-based (e.g. 6 for GSLM)
kmeans=                 # an existing k-means file (.npy centres or joblib km.bin)
learn_kmeans=false      # learn k-means on the training tasks instead (stage 3)
n_clusters=100          # k-means size when learning it
dedup=true              # collapse repeated units (GSLM expects it)
mfcc_smooth=1           # MFCC: average each frame over this many frames (odd; 1: none)
trim_db=                # MFCC: drop leading/trailing frames this many dB below the loudest
                        # (empty: keep every frame)
# backbone
backbone_checkpoint=    # frozen unit LM checkpoint (dict.txt beside it); empty: stage 4
unit_lm_config=         # stage 4 config (yaml)
lm_document_size=6      # stage 4: utterances of one task per pre-training document,
lm_document_distinct=3  # this many different ones, the rest said again (exact repeats),
lm_document_labels=2    # their labels drawn among this many (fewer labels than distinct
                        # utterances: some share one, near repeats); repeats teach the LM
                        # to use its context
lm_document_rounds=3    # stage 4: document slots per utterance, about
unit_lm_pairs_config=   # stage 4, second part (yaml; empty: none): go on pre-training on
                        # key-value documents → \${expdir}/unit_lm (the first part then
                        # goes to \${expdir}/unit_lm_repeats)
lm_pairs=3              # key-value pairs per document (utterances of different labels)
lm_pairs_near=0.5       # chance a key comes back as another utterance of its label
lm_pairs_value=3        # units of a value (a stretch of another utterance of the task)
# episodes and warm-up
num_demos=4             # demonstrations per episode
unit_length=50          # units per utterance (cut or padded)
num_episodes=4000       # warm-up episodes (balanced over tasks and labels)
num_valid_episodes=400  # validation episodes (of --valid_split)
episode_seed=0          # seed of the warm-up episodes
icl_config=             # warm-up config (yaml), e.g. conf/train_icl.yaml
train_args=             # extra warm-up options, e.g. "--max_epoch 1"
# evaluation
seeds="0 1 2 3 4"       # evaluation seeds (demonstrations and label mappings)
inference_args=         # extra icl_inference options, e.g. "--prompt_tuning_steps 100"
inference_model=valid.loss.best.pth  # checkpoint in the experiment dir to evaluate/pack
inference_tag=          # decode dir name (default: icl_<model file name>)
hf_repo=                # Hugging Face Hub repo for stage 9

option_names=(
  stage stop_stage ngpu num_nodes nproc_per_node nj gpu_inference python expdir datadir dumpdir
  tag local_data_opts
  skip_data_prep skip_train skip_eval skip_packing skip_upload skip_upload_hf
  train_tasks test_tasks seen_tasks train_split valid_split pool_split test_split seen_split
  unit_feature feature_checkpoint feature_layer kmeans learn_kmeans n_clusters dedup
  mfcc_smooth trim_db backbone_checkpoint unit_lm_config lm_document_size lm_document_distinct
  lm_document_labels lm_document_rounds unit_lm_pairs_config lm_pairs lm_pairs_near
  lm_pairs_value num_demos unit_length num_episodes num_valid_episodes episode_seed
  icl_config train_args seeds inference_args inference_model inference_tag hf_repo
)
orig_args=("$@")
. utils/parse_options.sh

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

[ $# -eq 0 ] || die "unexpected argument '$1' ($0 --help lists the options)"
for name in stage stop_stage ngpu nj n_clusters lm_document_size lm_document_distinct \
  lm_document_labels lm_document_rounds lm_pairs lm_pairs_value num_demos \
  unit_length num_episodes num_valid_episodes episode_seed; do
  [[ ${!name} =~ ^[0-9]+$ ]] || die "--${name} must be a non-negative integer (got '${!name}')"
done
[ "${nj}" -ge 1 ] || die "--nj must be at least 1"
case "${unit_feature}" in
  mfcc | hubert) ;;
  *) die "--unit_feature must be mfcc or hubert (got '${unit_feature}')" ;;
esac
for file in path.sh cmd.sh utils/run_jobs.sh; do
  [ -e "${file}" ] || die "no ${file} here: run ${0##*/} from a recipe dir (see setup.sh)"
done

. ./path.sh
. ./cmd.sh
# quote yaml_str count_lines min stem need begin fail run run_to temp_name replace_dir
# format_set dump_set_units copy_labels run_stages set_feature_opts
. utils/stage_lib.sh
check_launch_options
check_mfcc_options

read -ra py <<<"${python}"
read -ra train_job <<<"${train_cmd}"
read -ra train_args_words <<<"${train_args}"
read -ra inference_args_words <<<"${inference_args}"
read -ra local_data_words <<<"${local_data_opts}"
read -ra seed_list <<<"${seeds}"
[ "${#seed_list[@]}" -gt 0 ] || die "--seeds needs at least one seed"
[ -n "${seen_split}" ] || seen_split=${valid_split}
if [ "${learn_kmeans}" = true ]; then km=${expdir}/kmeans/km.npy; else km=${kmeans}; fi
backbone=${backbone_checkpoint:-${expdir}/unit_lm/checkpoint_best.pt}
episodes=${dumpdir}/icl_episodes
if [ -z "${tag}" ] && [ -n "${icl_config}" ]; then tag=$(stem "${icl_config}"); fi
exp=${expdir}/speechprompt_${tag}
model_name=${inference_model//\//_}
model_name=${model_name%.*}
[ -n "${inference_tag}" ] || inference_tag=icl_${model_name}
decode_dir=${exp}/${inference_tag}
packed=${exp}/${exp##*/}_${model_name}.zip
for name in tag inference_tag; do
  [[ ${!name} =~ ^[A-Za-z0-9_.,+=@-]*$ ]] \
    || die "--${name} '${!name}' must be one plain name (letters, digits, _ . , + = @ -)"
done
bin=espnet2_speechprompt.bin
current=0
logs=${expdir}/logs
threaded=(env "OMP_NUM_THREADS=${nj}")  # a one-process step uses --nj threads

# ---- helpers ------------------------------------------------------------------------------
task_list() {  # task_list <option value> <kind>: the tasks given, else <datadir>/<kind>_tasks
  if [ -n "$1" ]; then
    echo "$1"
  else
    need "${datadir}/$2_tasks" 1
    grep -v '^[[:space:]]*$' "${datadir}/$2_tasks" | tr '\n' ' '
  fi
}

set_tasks() {  # train_task_list, test_task_list, seen_task_list (options or <datadir> lists)
  local name
  read -ra train_task_list <<<"$(task_list "${train_tasks}" train)"
  read -ra test_task_list <<<"$(task_list "${test_tasks}" test)"
  read -ra seen_task_list <<<"${seen_tasks}"
  [ "${#train_task_list[@]}" -gt 0 ] || die "no training tasks (--train_tasks)"
  [ "${#test_task_list[@]}" -gt 0 ] || die "no test tasks (--test_tasks)"
  for name in "${seen_task_list[@]}"; do
    [[ " ${train_task_list[*]} " == *" ${name} "* ]] \
      || die "--seen_tasks ${name} is not a training task (${train_task_list[*]})"
  done
  for name in "${test_task_list[@]}"; do
    [[ " ${train_task_list[*]} " != *" ${name} "* ]] \
      || die "task ${name} is both a training and a test task: warm-up must not see test tasks"
  done
  if [ -f "${datadir}/tasks" ]; then  # "<task> <family> <languages>" lines of local/data.sh
    local known
    known=" $(cut -d ' ' -f 1 "${datadir}/tasks" | tr '\n' ' ')"
    for name in "${train_task_list[@]}" "${test_task_list[@]}"; do
      [[ ${known} == *" ${name} "* ]] \
        || die "unknown task '${name}': ${datadir}/tasks lists${known% }"
    done
  fi
}

set_sets() {  # sets=(every <task>_<split> dir the stages use)
  local name
  set_tasks
  sets=()
  for name in "${train_task_list[@]}"; do
    sets+=("${name}_${train_split}" "${name}_${valid_split}")
  done
  for name in "${test_task_list[@]}"; do
    sets+=("${name}_${pool_split}" "${name}_${test_split}")
  done
  for name in "${seen_task_list[@]}"; do
    [[ " ${sets[*]} " == *" ${name}_${seen_split} "* ]] || sets+=("${name}_${seen_split}")
  done
}

units_dirs() {  # units_dirs <split> <task...>: the units dirs of those tasks' split
  local split=$1 name
  shift
  for name in "$@"; do echo "${dumpdir}/units/${name}_${split}"; done
}

# ---- stages ---------------------------------------------------------------------------------
stage1() {
  [ -x local/data.sh ] || die "stage 1 needs an executable local/data.sh (this recipe's data)"
  begin "data preparation"
  run local/data.sh "${local_data_words[@]}"
}

stage2() {
  local dset
  set_sets
  for dset in "${sets[@]}"; do need "${datadir}/${dset}/wav.scp" 1; done
  begin "format audio"
  for dset in "${sets[@]}"; do format_set "${datadir}/${dset}" "${dumpdir}/raw/${dset}"; done
}

stage3() {
  local dset name
  local -a dedup_opt=() scps=()
  set_sets
  set_feature_opts
  for dset in "${sets[@]}"; do need "${dumpdir}/raw/${dset}/wav.scp" 2; done
  if [ "${learn_kmeans}" = false ]; then
    [ -n "${kmeans}" ] || die "stage 3 needs --kmeans <file> or --learn_kmeans true"
    [ -f "${kmeans}" ] || die "--kmeans ${kmeans}: no such file"
  fi
  if [ "${dedup}" = true ]; then dedup_opt=(--dedup); fi
  begin "units"
  if [ "${learn_kmeans}" = true ]; then  # on the training tasks' audio only
    for name in "${train_task_list[@]}"; do
      scps+=("${dumpdir}/raw/${name}_${train_split}/wav.scp")
    done
    run mkdir -p "$(dirname "${km}")"
    run_to "$(dirname "${km}")/wav.scp" sort -u "${scps[@]}"
    run "${threaded[@]}" "${py[@]}" -m "${bin}.learn_kmeans" \
      --data-dir "$(dirname "${km}")" "${feature_opts[@]}" --n-clusters "${n_clusters}" \
      --out "${km}"
  fi
  for dset in "${sets[@]}"; do
    dump_set_units "${dumpdir}/units/${dset}" "${dumpdir}/raw/${dset}/wav.scp" "${dedup_opt[@]}"
    copy_labels "${dumpdir}/raw/${dset}" "${dumpdir}/units/${dset}"
  done
}

stage4() {
  local part split dset first
  local -a n_units=()
  if [ -n "${backbone_checkpoint}" ]; then
    log "stage 4: skipped (the backbone is --backbone_checkpoint ${backbone_checkpoint})"
    return
  fi
  set_tasks
  for part in train valid; do
    split=${part}_split
    for dset in $(units_dirs "${!split}" "${train_task_list[@]}"); do
      need "${dset}/units" 3
      need "${dset}/label" 3
    done
  done
  [ -f "${unit_lm_config}" ] \
    || die "stage 4 needs --unit_lm_config <yaml> (or --backbone_checkpoint)"
  if [ "${learn_kmeans}" = true ]; then n_units=(--n_units "${n_clusters}"); fi
  begin "unit LM pre-training"
  for part in train valid; do
    split=${part}_split
    # shellcheck disable=SC2046  # one dir a word
    run "${py[@]}" -m "${bin}.unit_documents" \
      --task_dirs $(units_dirs "${!split}" "${train_task_list[@]}") \
      --per_document "${lm_document_size}" --distinct "${lm_document_distinct}" \
      --labels "${lm_document_labels}" --rounds "${lm_document_rounds}" \
      --output "${dumpdir}/units/icl_lm_${part}/units"
  done
  first=$(dirname "${backbone}")
  if [ -n "${unit_lm_pairs_config}" ]; then first=${expdir}/unit_lm_repeats; fi
  run "${threaded[@]}" "${py[@]}" -m "${bin}.pretrain_unit_lm" --config "${unit_lm_config}" \
    --train_units "${dumpdir}/units/icl_lm_train/units" \
    --valid_units "${dumpdir}/units/icl_lm_valid/units" "${n_units[@]}" --output_dir "${first}"
  [ -n "${unit_lm_pairs_config}" ] || return 0
  for part in train valid; do
    split=${part}_split
    # shellcheck disable=SC2046  # one dir a word
    run "${py[@]}" -m "${bin}.unit_documents" --kind key_value \
      --task_dirs $(units_dirs "${!split}" "${train_task_list[@]}") --pairs "${lm_pairs}" \
      --near "${lm_pairs_near}" --value_length "${lm_pairs_value}" \
      --rounds "${lm_document_rounds}" --output "${dumpdir}/units/icl_lm_pairs_${part}/units"
  done
  run "${threaded[@]}" "${py[@]}" -m "${bin}.pretrain_unit_lm" \
    --config "${unit_lm_pairs_config}" --init_from "${first}" \
    --train_units "${dumpdir}/units/icl_lm_pairs_train/units" \
    --valid_units "${dumpdir}/units/icl_lm_pairs_valid/units" \
    --output_dir "$(dirname "${backbone}")"
}

stage5() {
  set_tasks
  need "$(dirname "${backbone}")/dict.txt" 4
  begin "warm-up episodes"
  # shellcheck disable=SC2046  # one dir a word
  run "${py[@]}" -m "${bin}.icl_episodes" \
    --train_tasks $(units_dirs "${train_split}" "${train_task_list[@]}") \
    --valid_tasks $(units_dirs "${valid_split}" "${train_task_list[@]}") \
    --dictionary "$(dirname "${backbone}")/dict.txt" --num_episodes "${num_episodes}" \
    --num_valid_episodes "${num_valid_episodes}" --num_demos "${num_demos}" \
    --unit_length "${unit_length}" --seed "${episode_seed}" --output_dir "${episodes}"
}

stage6() {
  local part name
  local -a data=() feature_opts=() extractor_opts=()
  set_mfcc_opts
  need "${episodes}/episodes.yaml" 5
  [ -f "${icl_config}" ] || die "stage 6 needs --icl_config <yaml>"
  [ -f "${backbone}" ] || die "stage 6 needs the backbone ${backbone}: run --stage 4 or" \
    "give --backbone_checkpoint"
  for part in train valid; do
    for name in episode target; do
      data+=(--"${part}"_data_path_and_name_and_type "${episodes}/${part}/${name},${name},text_int")
    done
    data+=(--"${part}"_shape_file "${episodes}/${part}/episode")
  done
  begin "warm-up"
  set_train_launch "${logs}" "${bin}.icl_train" "${nj}"
  run "${train[@]}" --config "${icl_config}" \
    --backbone_conf "checkpoint=$(yaml_str "${backbone}")" \
    --episode_conf "num_demos=${num_demos}" --episode_conf "unit_length=${unit_length}" \
    --unit_extractor_conf "kmeans=$(yaml_str "${km}")" \
    --unit_extractor_conf "feature=${unit_feature}" --unit_extractor_conf "dedup=${dedup}" \
    "${extractor_opts[@]}" "${data[@]}" --resume true --output_dir "${exp}" "${train_args_words[@]}"
}

stage7() {
  local name
  local -a tasks=() device=()
  set_tasks
  need "${exp}/config.yaml" 6
  need "${exp}/${inference_model}" 6
  for name in "${test_task_list[@]}"; do
    tasks+=(--task "${name}" --pool "${dumpdir}/units/${name}_${pool_split}"
      --test "${dumpdir}/units/${name}_${test_split}")
  done
  for name in "${seen_task_list[@]}"; do
    tasks+=(--task "${name}" --pool "${dumpdir}/units/${name}_${train_split}"
      --test "${dumpdir}/units/${name}_${seen_split}")
  done
  if [ "${gpu_inference}" = true ]; then device=(--device cuda); fi
  begin "in-context learning"
  run "${threaded[@]}" "${py[@]}" -m "${bin}.icl_inference" \
    --speechprompt_train_config "${exp}/config.yaml" \
    --speechprompt_model_file "${exp}/${inference_model}" "${tasks[@]}" \
    --seen_tasks "${seen_task_list[@]}" --seeds "${seed_list[@]}" "${device[@]}" \
    --output_dir "${decode_dir}" "${inference_args_words[@]}"
  run "${py[@]}" -m "${bin}.icl_results" --environment --timings "${expdir}/logs/timings" \
    "${logs}/timings" --output "${exp}/RESULTS.md" "${decode_dir}"/*/result.json
}

stage8() {
  need "${exp}/config.yaml" 6
  need "${exp}/${inference_model}" 6
  need "${exp}/RESULTS.md" 7
  begin "pack"
  run "${py[@]}" -m "${bin}.pack" --train_config "${exp}/config.yaml" \
    --model_file "${exp}/${inference_model}" --results "${exp}/RESULTS.md" --outpath "${packed}"
}

stage9() {
  if [ -z "${hf_repo}" ]; then
    log "stage 9: skipped (no --hf_repo)"
    return
  fi
  need "${packed}" 8
  begin "upload to the Hugging Face Hub"
  run "${py[@]}" -m "${bin}.speechprompt_upload" --packed "${packed}" --hf_repo "${hf_repo}"
}

skipped_by() {  # the --skip_* option that is true and covers stage $1, if any
  case $1 in
    1 | 2 | 3) if [ "${skip_data_prep}" = true ]; then echo --skip_data_prep; fi ;;
    4 | 5 | 6) if [ "${skip_train}" = true ]; then echo --skip_train; fi ;;
    7) if [ "${skip_eval}" = true ]; then echo --skip_eval; fi ;;
    8) if [ "${skip_packing}" = true ]; then echo --skip_packing; fi ;;
    *) if [ "${skip_upload}" = true ]; then echo --skip_upload
       elif [ "${skip_upload_hf}" = true ]; then echo --skip_upload_hf; fi ;;
  esac
}

set_logs() {  # set_logs <stage>: where its .cmd, .log and timings go
  logs=${expdir}/logs
  if [ "$1" -ge 6 ]; then
    [ -n "${tag}" ] || die "stage $1 needs --icl_config <yaml> (its experiment is" \
      "${expdir}/speechprompt_<config name>) or --tag <name>"
    logs=${exp}/logs
  fi
}

run_stages 9
