#!/usr/bin/env bash
# Stage 1 of fisher_callhome_spanish: Fisher Es→En S2ST (Lee et al. 2021); English target speech
# synthesized from the reference translations by the TTS of conf/tts.yaml (espeak-ng)
# → data/fisher_{train,dev,dev2,test}/{wav.scp,tgt_wav.scp,text,tgt_text[.1-3],utt2spk,spk2utt}.
# Corpus roots come from db.sh; an unset or wrong one stops with the variable to set.
#   local/data.sh [--n_shot N --seed S] [--data_dir DIR]   (--help lists every option)
# --n_shot N also writes data/<train>_<N>shot_seed<S> (N training utterances per class).
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir: db.sh, path.sh, utils/
set -euo pipefail

data_dir=data   # where the <set>/ dirs go
n_shot=0        # few-shot subset: N training utterances per class (0: none)
seed=0          # seed of the few-shot draw
sets="train dev dev2 test"  # Fisher sets (first: training)
tts_conf=conf/tts.yaml    # the TTS command that synthesizes the target speech
tts=true                  # synthesize the target speech (false: text only)
nj=4                      # parallel TTS processes
. utils/parse_options.sh
[ $# -eq 0 ] || { echo "$0: unexpected argument '$1' (--help lists the options)" >&2; exit 1; }

. ./db.sh
. ./path.sh

read -ra set_list <<<"${sets}"
opts=(--tts_conf "${tts_conf}" --nj "${nj}")
if [ "${tts}" = false ]; then opts+=(--no_tts); fi
python3 -m espnet2_speechprompt.data.fisher --fisher "${FISHER}" \
  --translations "${FISHER_TRANSLATIONS}" --sets "${set_list[@]}" --data_dir "${data_dir}" \
  --n_shot "${n_shot}" --seed "${seed}" "${opts[@]}"
