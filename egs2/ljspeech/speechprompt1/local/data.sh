#!/usr/bin/env bash
# Stage 1 of ljspeech: speech continuation (no labels; stage 3 makes the pairs)
# → data/{train,dev,eval}/{wav.scp,text,utt2spk,spk2utt}.
# The corpus root comes from db.sh (LJSPEECH); an unset or wrong one stops with the variable.
#   local/data.sh [--num_dev N --num_eval N] [--data_dir DIR]   (--help lists every option)
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir: db.sh, path.sh, utils/
set -euo pipefail

data_dir=data   # where the <set>/ dirs go
num_dev=250     # dev: the num_dev utterances before the evaluation ones
num_eval=250    # eval: the last num_eval utterances of metadata.csv
. utils/parse_options.sh
[ $# -eq 0 ] || { echo "$0: unexpected argument '$1' (--help lists the options)" >&2; exit 1; }

. ./db.sh
. ./path.sh

python3 -m espnet2_speechprompt.data.ljspeech --root "${LJSPEECH}" --data_dir "${data_dir}" \
  --num_dev "${num_dev}" --num_eval "${num_eval}"
