#!/usr/bin/env bash
# Stage 1 of vctk: speech inpainting (no labels; stage 3 makes the pairs)
# → data/{train,dev,eval}/{wav.scp,text,utt2spk,spk2utt}, by held-out speakers.
# The corpus root comes from db.sh (VCTK); an unset or wrong one stops with the variable.
#   local/data.sh [--eval_speakers "p244 p259 p280"] [--data_dir DIR]   (--help lists all)
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir: db.sh, path.sh, utils/
set -euo pipefail

data_dir=data                    # where the <set>/ dirs go
mic=mic1                         # release 0.92's microphone (mic1 | mic2)
dev_speakers="p225 p226"         # dev: these speakers' utterances
eval_speakers="p244 p259 p280"   # eval: these (SpeechGen's inpainting demo speakers)
. utils/parse_options.sh
[ $# -eq 0 ] || { echo "$0: unexpected argument '$1' (--help lists the options)" >&2; exit 1; }

. ./db.sh
. ./path.sh

read -ra dev <<<"${dev_speakers}"
read -ra evaluation <<<"${eval_speakers}"
python3 -m espnet2_speechprompt.data.vctk --root "${VCTK}" --data_dir "${data_dir}" \
  --mic "${mic}" --dev_speakers "${dev[@]}" --eval_speakers "${evaluation[@]}"
