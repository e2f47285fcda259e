# shellcheck shell=bash disable=SC2154  # globals shared with speechprompt.sh
# Stage 8 of speechprompt.sh per test set: inference split into jobs, their outputs merged
# (n-best dirs too), the generated units vocoded, the decode dir put in place whole. Sourced
# by speechprompt.sh after utils/stage_lib.sh; reads its options and settings (decode_dir,
# inference_nj, decode_job, config_opts, vocoder_opts, ...).

decode_set() {  # decode_set <set>: → ${decode_dir}/<set> (locked), assembled in a work dir
  local dset=$1 dir work inputs n jobs job name lock  # beside it, put in place when complete
  local -a parts  # (a failed run's work dir stays: the next run redoes only the failed jobs)
  dir=${decode_dir}/${dset}
  work=${decode_dir}/.${dset}.work
  mkdir -p "${decode_dir}"
  exec {lock}>>"${dir}.lock"  # the lock file of espnet2_speechprompt.fileio.directory_lock
  flock -n "${lock}" || die "${dir} is in use by another run (lock ${dir}.lock): wait for it" \
    "to finish or decode into another --inference_tag"
  inputs=$(input_file "${dset}")
  n=$(count_lines "${inputs}")
  jobs=$(min "${inference_nj}" "${n}")
  parts=()
  for ((job = 1; job <= jobs; job++)); do parts+=("${work}/log/${input}.${job}"); done
  run mkdir -p "${work}/log"
  run utils/split_scp.sh "${inputs}" "${parts[@]}"
  run "${decode_job[@]}" --inputs "${work}/log/${input}.JOB ${train_dir}/config.yaml
    ${train_dir}/${inference_model}" --outputs "${work}/log/output.JOB/text" \
    "JOB=1:${jobs}" "${work}/log/inference.JOB.log" \
    "${py[@]}" -m "${bin}.speechprompt_inference" --output_dir "${work}/log/output.JOB" \
    --speechprompt_train_config "${train_dir}/config.yaml" \
    --speechprompt_model_file "${train_dir}/${inference_model}" \
    --data_path_and_name_and_type "${work}/log/${input}.JOB,${input},${input_type}" \
    --batch_size 16 "${device[@]}" "${config_opts[@]}" "${inference_args_words[@]}"
  for name in score token text; do
    parts=()
    for ((job = 1; job <= jobs; job++)); do parts+=("${work}/log/output.${job}/${name}"); done
    run_to "${work}/${name}" cat "${parts[@]}"
  done
  merge_nbest "${work}" "${jobs}"
  if [ -n "${vocoder_checkpoint}" ]; then
    vocode "${work}" "${jobs}" "${dir}" text wav
    if [ "${speechgen_task}" = inpainting ]; then  # the corrupted input, as a reference point
      # shellcheck disable=SC2016  # an awk program: the units without the masked ones (-1)
      run_to "${work}/input_units" awk '{ printf "%s", $1; for (i = 2; i <= NF; i++)
        if ($i != -1) printf " %s", $i; print "" }' "${dumpdir}/units/${dset}/speechgen/source"
      vocode "${work}" "${jobs}" "${dir}" input_units input_wav
    fi
  fi
  replace_dir "${work}" "${dir}"
  exec {lock}>&-
}

merge_nbest() {  # merge_nbest <work dir> <jobs>: the jobs' <n>best_recog/ (--nbest N)
  local rank name job
  local -a parts
  for rank in "$1/log/output.1/"*best_recog; do
    [ -d "${rank}" ] || continue
    run mkdir -p "$1/${rank##*/}"
    for name in score token text; do
      parts=()
      for ((job = 1; job <= $2; job++)); do
        if [ -f "$1/log/output.${job}/${rank##*/}/${name}" ]; then
          parts+=("$1/log/output.${job}/${rank##*/}/${name}")
        fi
      done
      run_to "$1/${rank##*/}/${name}" cat "${parts[@]}"
    done
  done
}

vocode() {  # vocode <work dir> <jobs> <decode dir> <units file> <wav dir>: the units of
  # <work dir>/<units file> (the generated ones: text) → <work dir>/<wav dir>/
  run "${decode_job[@]}" "JOB=1:$2" "$1/log/units_to_wav_$5.JOB.log" \
    "${py[@]}" -m "${bin}.units_to_wav" --units "$1/$4" "${vocoder_opts[@]}" \
    --out-dir "$1/$5" --skip_empty --nj "$2" --job JOB "${device[@]}"
  if [ "$2" -gt 1 ]; then
    run "${py[@]}" -m "${bin}.units_to_wav" --out-dir "$1/$5" --nj "$2" --merge
  fi
  # wav.scp names the wavs where the decode dir will be
  # shellcheck disable=SC2016  # an awk program
  run_to "$1/$5/wav.scp" awk -v work="$1/" -v dir="$3/" \
    '{ if (index($2, work) == 1) $2 = dir substr($2, length(work) + 1); print }' "$1/$5/wav.scp"
}

asr_reference() {  # asr_reference <set>: what the vocoded speech's transcripts are scored
  # against: the target speech's text (translation), else the utterance's transcript
  if [ -f "${dumpdir}/raw/$1/tgt_text" ]; then echo "${dumpdir}/raw/$1/tgt_text"
  else echo "${dumpdir}/raw/$1/text"; fi
}

score_asr() {  # score_asr <set> <decode dir of the set>: ASR-BLEU/WER of the vocoded speech
  # → <dir>/asr_bleu/, and of the vocoded corrupted input (inpainting) → <dir>/asr_input/
  local ref name
  local -a extra=()
  ref=$(asr_reference "$1")
  for name in "${ref}".[1-9]; do
    if [ -f "${name}" ]; then extra+=(--extra_ref "${name}"); fi
  done
  for name in wav:asr_bleu input_wav:asr_input; do
    [ -f "$2/${name%%:*}/wav.scp" ] || continue
    run "${py[@]}" -m "${bin}.asr_bleu" --wav_scp "$2/${name%%:*}/wav.scp" --ref "${ref}" \
      "${extra[@]}" --output_dir "$2/${name#*:}" "${device[@]}" "${config_opts[@]}"
    log "  $1 (${name#*:}): $(tr -s ' \n' ' ' <"$2/${name#*:}/result.json")"
  done
}
