#!/usr/bin/env bash
# Stage 1 of speechcommands: Speech Commands v0.01, 12 classes, the SUPERB (s3prl) split
# → data/{train,valid,test}/{wav.scp,label,utt2spk,spk2utt}.
# Corpus roots come from db.sh; an unset or wrong one stops with the variable to set.
#   local/data.sh [--n_shot N --seed S] [--data_dir DIR]   (--help lists every option)
# --n_shot N also writes data/<train>_<N>shot_seed<S> (N training utterances per class).
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir: db.sh, path.sh, utils/
set -euo pipefail

data_dir=data   # where the <set>/ dirs go
n_shot=0        # few-shot subset: N training utterances per class (0: none)
seed=0          # seed of the few-shot draw

. utils/parse_options.sh
[ $# -eq 0 ] || { echo "$0: unexpected argument '$1' (--help lists the options)" >&2; exit 1; }

. ./db.sh
. ./path.sh

python3 -m espnet2_speechprompt.data.speechcommands --root "${SPEECHCOMMANDS}" \
  --test_root "${SPEECHCOMMANDS_TEST}" --data_dir "${data_dir}" --n_shot "${n_shot}" --seed "${seed}"
