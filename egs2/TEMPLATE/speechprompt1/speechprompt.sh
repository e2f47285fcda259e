#!/usr/bin/env bash
# SpeechPrompt recipe stages: prompt a frozen speech unit LM for one task. Run it from a recipe
# dir (egs2/<corpus>/speechprompt1, through its run.sh). Every stage is a short call into a
# Python entry point (python -m espnet2_speechprompt.bin.<name>); the commands a stage ran are
# in <logs>/stage<N>.cmd (bash that file to re-run them) and their output in
# <logs>/stage<N>.log, <logs> being ${expdir}/logs for stages 1-5 and the experiment's logs/
# for stages 6-11.
# shellcheck source-path=SCRIPTDIR  # path.sh, cmd.sh and utils/ are linked beside it
set -euo pipefail

help_message="Usage: $0 --train_set <set> --valid_set <set> [options]

Stages (--stage N --stop_stage M runs N..M):
   1  data preparation: local/data.sh → data/<set>/{wav.scp,label,utt2spk,spk2utt}
   2  format audio (16 kHz mono wav) → \${dumpdir}/raw/<set>
   3  units: learn k-means (--learn_kmeans true), dump units → \${dumpdir}/units/<set>/units;
      with --tgt_units true also the target speech's units (tgt_wav.scp) → <set>/label;
      the labels → <set>/label (with --input speech only the labels); with
      --speechgen_task continuation|inpainting the pairs → <set>/speechgen/{source,target,
      spans}, the target units → <set>/label
   4  label list (+ candidate list): union of the train and valid labels, or
      --fixed_label_list (checked) → \${dumpdir}/label_list
   5  pre-train a small unit LM (only without --backbone_checkpoint; on --unit_lm_train_set)
      → \${expdir}/unit_lm
Stages 6-11 write to the experiment dir <exp> = \${expdir}/speechprompt_<name>, <name> being
--tag or else the --speechprompt_config file's name without .yaml (one experiment per config;
the units, k-means and unit LM are shared):
   6  collect stats → <exp>/stats
   7  prompt tuning (resumes; refuses a dir trained with another config) → <exp>/{config.yaml,
      *.pth}; --baseline true also trains a supervised GRU on the same units beside it (its own
      process) → <exp>/baseline/
   8  inference on --test_sets → <exp>/<decode>/<set>/{text,score,token}, <decode> being
      --inference_tag or else <inference config name>[<inference_args>]_speechprompt_model_
      <model file name> (e.g. decode_speechprompt_model_valid.acc.best); each set's dir appears
      complete or stays as it was; with --vocoder_checkpoint the generated units are vocoded
      → <set>/wav/{wav.scp,wav/}
   9  scoring (--metrics) → <exp>/<decode>/<set>/result.json (speechgen: unit BLEU, span unit
      error rate, Auto-BLEU → <set>/speechgen.json); asr_bleu transcribes the
      vocoded speech (--asr_bleu_config) → <set>/asr_bleu/; then <exp>/RESULTS.md
      (with the GRU baseline's results when --baseline true)
  10  pack → <exp>/<exp name>_<model file name>.zip
  11  upload the pack to the Hugging Face Hub (only with --hf_repo)
--skip_data_prep skips 1-4, --skip_train 5-7, --skip_eval 8-9, --skip_packing 10,
--skip_upload (or --skip_upload_hf) 11. Options take --foo_bar or --foo-bar."

# general
stage=1                 # first stage to run
stop_stage=100          # last stage to run
ngpu=0                  # GPUs per node for training (0: CPU); one process per GPU
num_nodes=1             # nodes for training (more than 1: cmd_backend=slurm in cmd.sh)
nproc_per_node=1        # training processes per node with --ngpu 0 (gloo)
nj=4                    # parallel jobs for formatting and unit dumping; threads for the
                        # one-process steps (k-means learning, unit LM pre-training)
inference_nj=           # parallel jobs for inference (stage 8; default: --nj)
gpu_inference=false     # inference and ASR-BLEU (stages 8-9) on cuda (whatever --ngpu); the
                        # inference jobs run through ${cuda_cmd} --gpu 1
python=python3          # the Python that runs the entry points (may be several words)
expdir=exp              # experiment outputs
datadir=data            # Kaldi-style data dirs written by local/data.sh (stage 1)
dumpdir=dump            # formatted audio, units, label list
tag=                    # experiment name: stages 6-11 go to ${expdir}/speechprompt_${tag}
                        # (default: the --speechprompt_config file's name)
local_data_opts=        # options for local/data.sh
skip_data_prep=false    # skip stages 1-4
skip_train=false        # skip stages 5-7
skip_eval=false         # skip stages 8-9
skip_packing=false      # skip stage 10
skip_upload=false       # skip stage 11
skip_upload_hf=false    # skip stage 11 (the Hugging Face upload), as --skip_upload
# data
train_set=              # training set name (<datadir>/<set>)
valid_set=              # validation set name
test_sets=              # sets to decode and score (default: the validation set)
# units
unit_feature=mfcc       # mfcc | hubert
feature_checkpoint=     # HuBERT checkpoint (--unit_feature hubert)
feature_layer=          # HuBERT layer, 1-based (e.g. 6 for GSLM)
kmeans=                 # an existing k-means file (.npy centres or joblib km.bin)
learn_kmeans=false      # learn k-means on the training set instead (stage 3)
n_clusters=100          # k-means size when learning it
dedup=true              # collapse repeated units (GSLM and Unit mBART expect it)
mfcc_smooth=1           # MFCC: average each frame over this many frames (odd; 1: none)
trim_db=                # MFCC: drop leading/trailing frames this many dB below the loudest
tgt_units=false         # stage 3: also the units of tgt_wav.scp, written as label (S2ST)
speechgen_task=         # stage 3: continuation | inpainting pairs from each set's units
                        # (SpeechGen): the source units the backbone reads and the label
                        # (target units) in <units dir>/speechgen (bin/speechgen_pairs)
speechgen_opts=         # options of bin/speechgen_pairs, e.g. "--ratio 0.5" or
                        # "--span_seconds 0.5 --units_per_second 25"
fixed_label_list=       # stage 4: use this label list instead of the train+valid union
# backbone
backbone_checkpoint=    # frozen unit LM checkpoint (dict.txt beside it); empty: stage 5 makes one
input=units             # what stages 6-8 feed the backbone: units, or speech (16 kHz audio of
                        # ${dumpdir}/raw/<set>/wav.scp, for a backbone that reads it: wav2seq)
unit_lm_config=         # stage 5 config (yaml)
unit_lm_train_set=      # stage 5: the set the backbone is pre-trained on (default: --train_set;
                        # a corpus apart from the task's, as a released backbone's is)
unit_lm_objective=lm    # stage 5: lm (a GSLM-layout unit LM) or denoising (an mBART-style
                        # encoder-decoder in the Unit mBART layout; backbone: unit_mbart)
# prompt tuning and inference
speechprompt_config=    # training config (yaml)
train_args=             # extra training options, e.g. "--max_epoch 1"
inference_config=       # flat yaml of inference options, e.g. "batch_size: 16"
inference_args=         # extra inference options
inference_model=valid.acc.best.pth  # checkpoint in the experiment dir to decode/pack
inference_tag=          # decode dir name (default: from the inference config and model)
metrics=acc             # scoring metrics: acc wer cer char_wer char_cer slot_f1 slot_cer
                        # slot_wer bleu (label text) asr_bleu asr_wer (vocoded speech's
                        # transcripts vs tgt_text, else text) speechgen (generated units:
                        # unit BLEU, span unit error rate, Auto-BLEU)
vocoder_checkpoint=     # unit HiFi-GAN for stage 8 (speech output), e.g. .../g_00500000
vocoder_config=         # its config.json (default: beside the checkpoint)
asr_bleu_config=        # flat yaml of bin/asr_bleu options, the ASR of asr_bleu/asr_wer
                        # (asr_model_tag: ..., or asr_train_config + asr_model_file, ...)
baseline=false          # stage 7 also trains a supervised GRU on the same units (classes)
hf_repo=                # Hugging Face Hub repo for stage 11, e.g. user/speechprompt_fsc
task_name=              # stage 10: the task's name in the package, for serving several tasks
                        # on one backbone (default: the corpus, i.e. egs2/<corpus>/...)

option_names=(
  stage stop_stage ngpu num_nodes nproc_per_node nj inference_nj gpu_inference python expdir
  datadir dumpdir tag
  local_data_opts skip_data_prep skip_train skip_eval skip_packing skip_upload skip_upload_hf
  train_set valid_set test_sets
  unit_feature feature_checkpoint feature_layer kmeans learn_kmeans n_clusters dedup
  mfcc_smooth trim_db tgt_units speechgen_task speechgen_opts fixed_label_list
  backbone_checkpoint input
  unit_lm_config unit_lm_train_set unit_lm_objective
  speechprompt_config train_args inference_config inference_args inference_model
  inference_tag metrics
  vocoder_checkpoint vocoder_config asr_bleu_config baseline hf_repo task_name
)
orig_args=("$@")
. utils/parse_options.sh

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

if [ $# -gt 0 ]; then
  die "unexpected argument '$1' ($0 --help lists the options)"
fi
for name in stage stop_stage ngpu nj n_clusters; do
  [[ ${!name} =~ ^[0-9]+$ ]] || die "--${name} must be a non-negative integer (got '${!name}')"
done
[ "${nj}" -ge 1 ] || die "--nj must be at least 1"
[ -n "${inference_nj}" ] || inference_nj=${nj}
[[ ${inference_nj} =~ ^[1-9][0-9]*$ ]] \
  || die "--inference_nj must be a positive integer (got '${inference_nj}')"
case "${unit_feature}" in
  mfcc | hubert) ;;
  *) die "--unit_feature must be mfcc or hubert (got '${unit_feature}')" ;;
esac
case "${input}" in
  units) input_type=text_int ;;
  speech) input_type=sound ;;
  *) die "--input must be units or speech (got '${input}')" ;;
esac
if [ "${input}" = speech ] && [ "${baseline}" = true ]; then
  die "--baseline true trains the GRU on units: not with --input speech"
fi
if [ -n "${speechgen_task}" ] && [ "${input}" != units ]; then
  die "--speechgen_task makes pairs of units: not with --input speech"
fi
if [ -z "${train_set}" ] || [ -z "${valid_set}" ]; then
  die "--train_set and --valid_set are required"
fi
[ -n "${test_sets}" ] || test_sets=${valid_set}
for file in path.sh cmd.sh utils/run_jobs.sh; do
  [ -e "${file}" ] || die "no ${file} here: run ${0##*/} from a recipe dir (see setup.sh)"
done

. ./path.sh
. ./cmd.sh
# quote yaml_str count_lines min stem set_config_opts need begin fail run run_to
# run_in_background temp_name replace_dir format_set dump_set_units copy_labels run_stages
# set_feature_opts
. utils/stage_lib.sh
# decode_set merge_nbest vocode: stage 8's jobs per test set (reads the options above)
. utils/decode_lib.sh
check_launch_options
check_mfcc_options

read -ra py <<<"${python}"
read -ra train_job <<<"${train_cmd}"
read -ra decode_job <<<"${decode_cmd}"
read -ra train_args_words <<<"${train_args}"
read -ra inference_args_words <<<"${inference_args}"
read -ra local_data_words <<<"${local_data_opts}"
read -ra test_set_list <<<"${test_sets}"
read -ra metric_list <<<"${metrics}"
text_metrics=()  # the metrics of speechprompt_score (all but asr_* and speechgen)
asr_bleu=false speechgen_metrics=false  # asr_bleu: transcribe the vocoded speech (stage 9)
read -ra speechgen_words <<<"${speechgen_opts}"
case "${speechgen_task}" in
  "" | continuation | inpainting) ;;
  *) die "--speechgen_task ${speechgen_task}: use continuation or inpainting" ;;
esac
for name in "${metric_list[@]}"; do
  case "${name}" in
    asr_bleu | asr_wer) asr_bleu=true ;;
    speechgen) speechgen_metrics=true ;;
    acc | wer | cer | char_wer | char_cer | slot_f1 | slot_cer | slot_wer | bleu)
      text_metrics+=("${name}") ;;
    *) die "--metrics: unknown metric '${name}' (acc wer cer char_wer char_cer slot_f1 slot_cer slot_wer bleu asr_bleu asr_wer speechgen)" ;;
  esac
done
[ "${#metric_list[@]}" -gt 0 ] || die "--metrics needs at least one metric"
all_sets=()
unit_lm_train_set=${unit_lm_train_set:-${train_set}}
lm_sets=()  # the backbone's own training set, when stage 5 makes it
if [ -z "${backbone_checkpoint}" ]; then lm_sets=("${unit_lm_train_set}"); fi
for dset in "${train_set}" "${valid_set}" "${test_set_list[@]}" "${lm_sets[@]}"; do
  [[ " ${all_sets[*]} " == *" ${dset} "* ]] || all_sets+=("${dset}")
done
# the k-means and the unit LM made here are shared by every experiment
if [ "${learn_kmeans}" = true ]; then km=${expdir}/kmeans/km.npy; else km=${kmeans}; fi
case "${unit_lm_objective}" in
  lm) backbone=${backbone_checkpoint:-${expdir}/unit_lm/checkpoint_best.pt} ;;
  denoising) backbone=${backbone_checkpoint:-${expdir}/unit_mbart/checkpoint.pt} ;;
  *) die "--unit_lm_objective ${unit_lm_objective}: use lm or denoising" ;;
esac
# the experiment dir of stages 6-11 (as ESPnet's exp/asr_<tag>): one per training config
if [ -z "${tag}" ] && [ -n "${speechprompt_config}" ]; then tag=$(stem "${speechprompt_config}"); fi
exp=${expdir}/speechprompt_${tag}
train_dir=${exp}  # config.yaml and the checkpoints
# the decode dir (as ESPnet's inference_tag): inference config, its extra args, model file
model_name=${inference_model//\//_}
model_name=${model_name%.*}
if [ -z "${inference_tag}" ]; then
  inference_tag=inference
  [ -z "${inference_config}" ] || inference_tag=$(stem "${inference_config}")
  args_name=${inference_args//--/_}
  inference_tag+=${args_name//[^A-Za-z0-9_.,+@-]/}_speechprompt_model_${model_name}
fi
decode_dir=${exp}/${inference_tag}
packed=${exp}/${exp##*/}_${model_name}.zip
for name in tag inference_tag; do
  [[ ${!name} =~ ^[A-Za-z0-9_.,+=@-]*$ ]] \
    || die "--${name} '${!name}' must be one plain name (letters, digits, _ . , + = @ -)"
done
bin=espnet2_speechprompt.bin  # "${py[@]}" -m "${bin}.<name>" runs an entry point
current=0
logs=${expdir}/logs

# ---- helpers ------------------------------------------------------------------------------
threaded=(env "OMP_NUM_THREADS=${nj}")  # a one-process step uses --nj threads (path.sh sets 1)

set_task_opts() {  # task_opts=(options of stages 6 and 7: config, backbone, labels, units, data)
  local part dset
  local -a feature_opts=() extractor_opts=()
  task_opts=(--config "${speechprompt_config}"
    --backbone_conf "checkpoint=$(yaml_str "${backbone}")"
    --label_list "${dumpdir}/label_list")
  if [ -f "${dumpdir}/candidate_list" ]; then
    task_opts+=(--candidate_list "${dumpdir}/candidate_list")
  fi
  task_opts+=(--input "${input}")
  if [ "${input}" = units ]; then
    task_opts+=(--unit_extractor_conf "kmeans=$(yaml_str "${km}")"
      --unit_extractor_conf "feature=${unit_feature}" --unit_extractor_conf "dedup=${dedup}")
    set_mfcc_opts
    task_opts+=("${extractor_opts[@]}")
    if [ "${unit_feature}" = hubert ]; then
      task_opts+=(--unit_extractor_conf "checkpoint=$(yaml_str "${feature_checkpoint}")"
        --unit_extractor_conf "layer=${feature_layer}")
    fi
  fi
  for part in train valid; do
    if [ "${part}" = train ]; then dset=${train_set}; else dset=${valid_set}; fi
    task_opts+=(
      --"${part}"_data_path_and_name_and_type "$(input_file "${dset}"),${input},${input_type}"
      --"${part}"_data_path_and_name_and_type "${dumpdir}/units/${dset}/label,label,text")
  done
}

input_file() {  # input_file <set>: what the backbone reads (--input): units (the pairs'
  # source with --speechgen_task), or wav.scp
  if [ -n "${speechgen_task}" ]; then echo "${dumpdir}/units/$1/speechgen/source"
  elif [ "${input}" = units ]; then echo "${dumpdir}/units/$1/units"
  else echo "${dumpdir}/raw/$1/wav.scp"; fi
}

need_input() {  # need_input <set>: its units (stage 3) or its formatted audio (stage 2)
  if [ "${input}" = units ]; then need "$(input_file "$1")" 3; else need "$(input_file "$1")" 2; fi
}

check_task_inputs() {  # the inputs of stages 6 and 7
  local dset
  for dset in "${train_set}" "${valid_set}"; do
    need_input "${dset}"
    need "${dumpdir}/units/${dset}/label" 3
  done
  need "${dumpdir}/label_list" 4
  if [ "${input}" = units ]; then
    if [ -z "${km}" ]; then
      die "stage ${current} needs a k-means file: --kmeans <file> or --learn_kmeans true"
    fi
    need "${km}" 3
  fi
  if [ -n "${backbone_checkpoint}" ]; then
    [ -f "${backbone}" ] || die "--backbone_checkpoint ${backbone}: no such file"
  else
    need "${backbone}" 5
  fi
  [ -f "${speechprompt_config}" ] || die "stage ${current} needs --speechprompt_config <yaml>"
}

# ---- stages ---------------------------------------------------------------------------------
stage1() {
  [ -x local/data.sh ] || die "stage 1 needs an executable local/data.sh (this recipe's data)"
  begin "data preparation"
  run local/data.sh "${local_data_words[@]}"
}

stage2() {
  local dset
  for dset in "${all_sets[@]}"; do need "${datadir}/${dset}/wav.scp" 1; done
  begin "format audio"
  for dset in "${all_sets[@]}"; do format_set "${datadir}/${dset}" "${dumpdir}/raw/${dset}"; done
}

stage3() {
  local dset raw out
  local -a dedup_opt=()
  set_feature_opts
  if [ "${dedup}" = true ]; then dedup_opt=(--dedup); fi
  for dset in "${all_sets[@]}"; do
    need "${dumpdir}/raw/${dset}/wav.scp" 2
    if [ "${tgt_units}" = true ]; then need "${dumpdir}/raw/${dset}/tgt_wav.scp" 2; fi
  done
  local units=true  # with --input speech, units only for speech targets (--tgt_units)
  if [ "${input}" = speech ] && [ "${tgt_units}" = false ]; then units=false; fi
  if "${units}" && [ "${learn_kmeans}" = false ]; then
    [ -n "${kmeans}" ] || die "stage 3 needs --kmeans <file> or --learn_kmeans true"
    [ -f "${kmeans}" ] || die "--kmeans ${kmeans}: no such file"
  fi
  begin "units"
  if "${units}" && [ "${learn_kmeans}" = true ]; then
    run mkdir -p "$(dirname "${km}")"
    run "${threaded[@]}" "${py[@]}" -m "${bin}.learn_kmeans" \
      --data-dir "${dumpdir}/raw/${train_set}" "${feature_opts[@]}" \
      --n-clusters "${n_clusters}" --out "${km}"
  fi
  for dset in "${all_sets[@]}"; do
    raw=${dumpdir}/raw/${dset}
    out=${dumpdir}/units/${dset}
    if [ "${input}" = units ]; then
      dump_set_units "${out}" "${raw}/wav.scp" "${dedup_opt[@]}"
    else
      run mkdir -p "${out}"
    fi
    copy_labels "${raw}" "${out}"
    if [ "${tgt_units}" = true ]; then  # the target speech's units are the label
      dump_set_units "${out}/tgt" "${raw}/tgt_wav.scp" "${dedup_opt[@]}"
      run cp "${out}/tgt/units" "${out}/label"
    fi
    if [ -n "${speechgen_task}" ]; then  # the pair's target units are the label
      run rm -rf "${out}/speechgen"
      run "${py[@]}" -m "${bin}.speechgen_pairs" --units "${out}/units" \
        --task "${speechgen_task}" --out_dir "${out}/speechgen" "${speechgen_words[@]}"
      run cp "${out}/speechgen/target" "${out}/label"
    fi
  done
}

stage4() {
  local -a fixed=()
  need "${dumpdir}/units/${train_set}/label" 3
  need "${dumpdir}/units/${valid_set}/label" 3
  if [ -n "${fixed_label_list}" ]; then
    [ -f "${fixed_label_list}" ] || die "--fixed_label_list ${fixed_label_list}: no such file"
    fixed=(--fixed "${fixed_label_list}")
  fi
  begin "label list"
  run "${py[@]}" -m "${bin}.make_label_list" --label "${dumpdir}/units/${train_set}/label" \
    --label "${dumpdir}/units/${valid_set}/label" "${fixed[@]}" \
    --output "${dumpdir}/label_list" --candidates "${dumpdir}/candidate_list"
}

stage5() {
  local -a n_units=()
  if [ -n "${backbone_checkpoint}" ]; then
    log "stage 5: skipped (the backbone is --backbone_checkpoint ${backbone_checkpoint})"
    return
  fi
  [ "${input}" = units ] || die "--input speech needs the backbone: --backbone_checkpoint <file>"
  need "${dumpdir}/units/${unit_lm_train_set}/units" 3
  need "${dumpdir}/units/${valid_set}/units" 3
  [ -f "${unit_lm_config}" ] \
    || die "stage 5 needs --unit_lm_config <yaml> (or give --backbone_checkpoint)"
  if [ "${learn_kmeans}" = true ]; then n_units=(--n_units "${n_clusters}"); fi
  begin "unit LM pre-training"
  run "${threaded[@]}" "${py[@]}" -m "${bin}.pretrain_unit_lm" --config "${unit_lm_config}" \
    --objective "${unit_lm_objective}" \
    --train_units "${dumpdir}/units/${unit_lm_train_set}/units" \
    --valid_units "${dumpdir}/units/${valid_set}/units" "${n_units[@]}" \
    --output_dir "$(dirname "${backbone}")"
}

stage6() {
  check_task_inputs
  set_task_opts
  begin "collect stats"
  run "${py[@]}" -m "${bin}.speechprompt_train" --collect_stats true "${task_opts[@]}" \
    --train_shape_file "$(input_file "${train_set}")" \
    --valid_shape_file "$(input_file "${valid_set}")" --output_dir "${exp}/stats"
}

stage7() {
  check_task_inputs
  need "${exp}/stats/train/${input}_shape" 6
  need "${exp}/stats/valid/${input}_shape" 6
  set_task_opts
  begin "prompt tuning"
  local gru=
  if [ "${baseline}" = true ]; then start_baseline; gru=$!; fi
  set_train_launch "${logs}" "${bin}.speechprompt_train" 1
  run "${train[@]}" "${task_opts[@]}" \
    --train_shape_file "${exp}/stats/train/${input}_shape" \
    --valid_shape_file "${exp}/stats/valid/${input}_shape" \
    --resume true --output_dir "${train_dir}" "${train_args_words[@]}"
  if [ -n "${gru}" ]; then
    wait "${gru}" || fail "${bin}.train_baseline (its log: ${exp}/baseline/train.log)"
    echo wait >>"${stage_cmd}"
  fi
}

start_baseline() {  # the GRU baseline in the background (one core): → ${exp}/baseline/
  local dset
  local -a test_dirs=()
  for dset in "${test_set_list[@]}"; do test_dirs+=("${dumpdir}/units/${dset}"); done
  run mkdir -p "${exp}/baseline"
  run rm -f "${exp}/baseline/result.json"
  run_in_background "${exp}/baseline/train.log" "${py[@]}" -m "${bin}.train_baseline" \
    --label_list "${dumpdir}/label_list" --train "${dumpdir}/units/${train_set}" \
    --valid "${dumpdir}/units/${valid_set}" --test "${test_dirs[@]}" \
    --output "${exp}/baseline/result.json"
}

stage8() {
  local dset
  local -a device=() vocoder_opts=()
  need "${train_dir}/config.yaml" 7
  need "${train_dir}/${inference_model}" 7
  for dset in "${test_set_list[@]}"; do need_input "${dset}"; done
  config_opts=()
  if [ -n "${inference_config}" ]; then
    [ -f "${inference_config}" ] || die "--inference_config ${inference_config}: no such file"
    set_config_opts "${inference_config}"
  fi
  if [ "${gpu_inference}" = true ]; then  # each job asks its backend for a GPU
    device=(--device cuda)
    read -ra decode_job <<<"${cuda_cmd} --gpu 1"
  fi
  if [ -n "${vocoder_checkpoint}" ]; then
    [ -f "${vocoder_checkpoint}" ] || die "--vocoder_checkpoint ${vocoder_checkpoint}: no such file"
    vocoder_opts=(--checkpoint "${vocoder_checkpoint}")
    if [ -n "${vocoder_config}" ]; then vocoder_opts+=(--config "${vocoder_config}"); fi
  fi
  begin "inference"
  for dset in "${test_set_list[@]}"; do decode_set "${dset}"; done
}

stage9() {
  local dset dir
  local -a extra device=()
  for dset in "${test_set_list[@]}"; do
    need "${decode_dir}/${dset}/text" 8
    if [ "${#text_metrics[@]}" -gt 0 ] || "${speechgen_metrics}"; then
      need "${dumpdir}/units/${dset}/label" 3
    fi
    if [ "${asr_bleu}" = true ]; then
      [ -f "${decode_dir}/${dset}/wav/wav.scp" ] \
        || die "stage 9 (asr_*) needs ${decode_dir}/${dset}/wav/wav.scp: run --stage 8 with --vocoder_checkpoint"
      need "$(asr_reference "${dset}")" 2
    fi
  done
  config_opts=()
  if [ "${asr_bleu}" = true ]; then
    [ -f "${asr_bleu_config}" ] || die "--metrics asr_bleu/asr_wer need --asr_bleu_config <yaml>"
    set_config_opts "${asr_bleu_config}"
  fi
  if [ "${gpu_inference}" = true ]; then device=(--device cuda); fi
  begin "scoring"
  for dset in "${test_set_list[@]}"; do
    dir=${decode_dir}/${dset}
    if [ "${#text_metrics[@]}" -gt 0 ]; then
      run "${py[@]}" -m "${bin}.speechprompt_score" --ref "${dumpdir}/units/${dset}/label" \
        --hyp "${dir}/text" --metrics "${text_metrics[@]}" --label_list "${dumpdir}/label_list" \
        --output "${dir}/result.json"
      log "  ${dset}: $(tr -s ' \n' ' ' <"${dir}/result.json")"
    fi
    if "${speechgen_metrics}"; then  # generated units against the true ones
      extra=()
      pairs=${dumpdir}/units/${dset}/speechgen
      if [ -f "${pairs}/spans" ]; then extra=(--spans "${pairs}/spans"); fi  # inpainting
      if [ -f "${pairs}/source" ] && [ "${input}" = units ]; then  # + the bare backbone's
        kind=$(sed -n 's/^backbone: *//p' "${train_dir}/config.yaml")   # perplexity
        extra+=(--source "${pairs}/source" --backbone "${kind:-gslm}"
          --backbone_checkpoint "${backbone}")
      fi
      if [ -d "${dir}/2best_recog" ]; then extra+=(--nbest_dir "${dir}"); fi  # Self-BLEU
      run "${py[@]}" -m "${bin}.speechgen_score" --ref "${dumpdir}/units/${dset}/label" \
        --hyp "${dir}/text" "${extra[@]}" --output "${dir}/speechgen.json"
      log "  ${dset} (speechgen): $(tr -s ' \n' ' ' <"${dir}/speechgen.json")"
    fi
    if [ "${asr_bleu}" = true ]; then score_asr "${dset}" "${dir}"; fi
  done
  local -a baseline_opts=()
  if [ "${baseline}" = true ]; then
    need "${exp}/baseline/result.json" "7 with --baseline true"
    baseline_opts=(--baseline "${exp}/baseline/result.json")
  fi
  run "${py[@]}" -m "${bin}.make_results" --expdir "${exp}" --dumpdir "${dumpdir}" \
    --inference_tag "${inference_tag}" --test_sets "${test_set_list[@]}" \
    --model_file "${inference_model}" --metrics "${metric_list[@]}" \
    --timings "${expdir}/logs/timings" "${logs}/timings" --output "${exp}/RESULTS.md" \
    "${baseline_opts[@]}"
}

stage10() {
  local -a images=()
  need "${train_dir}/config.yaml" 7
  need "${train_dir}/${inference_model}" 7
  need "${exp}/RESULTS.md" 9
  if [ -d "${train_dir}/images" ]; then images=(--images "${train_dir}/images"); fi
  if [ -z "${task_name}" ]; then  # the corpus: egs2/<corpus>/speechprompt1
    task_name=$(basename "$(dirname "${PWD}")" | tr -c 'A-Za-z0-9._\n-' '_')
  fi
  begin "pack"
  run "${py[@]}" -m "${bin}.pack" --train_config "${train_dir}/config.yaml" \
    --model_file "${train_dir}/${inference_model}" --results "${exp}/RESULTS.md" \
    "${images[@]}" --outpath "${packed}" --task_name "${task_name}"
}

stage11() {
  if [ -z "${hf_repo}" ]; then
    log "stage 11: skipped (no --hf_repo)"
    return
  fi
  need "${packed}" 10
  begin "upload to the Hugging Face Hub"
  run "${py[@]}" -m "${bin}.speechprompt_upload" --packed "${packed}" \
    --hf_repo "${hf_repo}"
}

skipped_by() {  # the --skip_* option that is true and covers stage $1, if any
  case $1 in
    1 | 2 | 3 | 4) if [ "${skip_data_prep}" = true ]; then echo --skip_data_prep; fi ;;
    5 | 6 | 7) if [ "${skip_train}" = true ]; then echo --skip_train; fi ;;
    8 | 9) if [ "${skip_eval}" = true ]; then echo --skip_eval; fi ;;
    10) if [ "${skip_packing}" = true ]; then echo --skip_packing; fi ;;
    *) if [ "${skip_upload}" = true ]; then echo --skip_upload
       elif [ "${skip_upload_hf}" = true ]; then echo --skip_upload_hf; fi ;;
  esac
}

set_logs() {  # set_logs <stage>: where its .cmd, .log and timings go
  logs=${expdir}/logs
  if [ "$1" -ge 6 ]; then
    [ -n "${tag}" ] || die "stage $1 needs --speechprompt_config <yaml> (its experiment" \
      "is ${expdir}/speechprompt_<config name>) or --tag <name>"
    logs=${exp}/logs
  fi
}

run_stages 11
