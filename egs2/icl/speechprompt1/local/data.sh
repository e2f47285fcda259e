#!/usr/bin/env bash
# Stage 1 of icl: the seven speech classification tasks of the in-context learning paper
# → data/<task>_{train,valid,test}/{wav.scp,label,utt2spk,spk2utt} and data/tasks
# ("<task> <family> <language>" per line). Corpus roots come from db.sh; an unset or wrong
# one stops with the variable to set.
#   local/data.sh [--tasks "gsc_v2 ar_sc ..."] [--group conf/group1.yaml] [--data_dir DIR]
# --group prepares the train and test tasks of a task group conf (instead of --tasks).
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir: db.sh, path.sh, utils/
set -euo pipefail

data_dir=data    # where the <task>_<split>/ dirs and the task list go
tasks="gsc_v2 lt_sc ar_sc dm_sc voxforge_lid iemocap_er mustard_sd"  # tasks to prepare
group=           # a task group conf (conf/group1.yaml, ...): its tasks instead of --tasks
split_seed=0     # seed of the splits a corpus does not fix (see the README)
dm_all_classes=false  # Dysarthric Mandarin SC: all 19 classes (default: the 13 of earlier work)
voxforge_per_language="1200 300 300"  # VoxForge utterances per language: train valid test

. utils/parse_options.sh
[ $# -eq 0 ] || { echo "$0: unexpected argument '$1' (--help lists the options)" >&2; exit 1; }

. ./db.sh
. ./path.sh

if [ -n "${group}" ]; then
  tasks=$(python3 -m espnet2_speechprompt.data.tasklist --group "${group}")
fi

lists=()
if [ -n "${SCR_SPLIT_LISTS}" ]; then
  lists=(--split_lists "${SCR_SPLIT_LISTS}")
fi
dm_classes=()
if "${dm_all_classes}"; then
  dm_classes=(--all_classes)
fi
common=(--data_dir "${data_dir}")
seeded=("${common[@]}" --split_seed "${split_seed}")

for task in ${tasks}; do
  echo "$0: preparing ${task}" >&2
  case "${task}" in
    gsc_v2)
      python3 -m espnet2_speechprompt.data.speechcommands --class_set words35 \
        --root "${SPEECHCOMMANDS_V2}" --task gsc_v2 "${common[@]}" ;;
    lt_sc)
      python3 -m espnet2_speechprompt.data.lt_speechcommands --root "${LT_SPEECHCOMMANDS}" \
        "${lists[@]}" "${common[@]}" ;;
    ar_sc)
      python3 -m espnet2_speechprompt.data.ar_speechcommands --root "${AR_SPEECHCOMMANDS}" \
        "${lists[@]}" "${seeded[@]}" ;;
    dm_sc)
      python3 -m espnet2_speechprompt.data.dm_speechcommands --root "${DM_SPEECHCOMMANDS}" \
        "${dm_classes[@]}" "${lists[@]}" "${seeded[@]}" ;;
    voxforge_lid)
      # shellcheck disable=SC2086  # three numbers
      python3 -m espnet2_speechprompt.data.voxforge --root "${VOXFORGE}" \
        --per_language ${voxforge_per_language} "${seeded[@]}" ;;
    iemocap_er)
      python3 -m espnet2_speechprompt.data.iemocap --root "${IEMOCAP}" "${seeded[@]}" ;;
    mustard_sd)
      python3 -m espnet2_speechprompt.data.mustard --root "${MUSTARD}" \
        --videos "${MUSTARD_VIDEOS}" "${seeded[@]}" ;;
    *)
      echo "error: unknown task '${task}' (known: gsc_v2 lt_sc ar_sc dm_sc voxforge_lid" \
        "iemocap_er mustard_sd)" >&2
      exit 1 ;;
  esac
done
