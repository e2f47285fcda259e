#!/usr/bin/env bash
# Stage 1 of mini_speechgen: synthesize the sentence corpus with espeak-ng (no download) →
# data/{pretrain,train,dev,test}/{wav.scp,text,utt2spk,spk2utt}. Nothing is redone when the
# corpus and the data dirs are complete for the settings.
#   local/data.sh [--nj N] [--debug true] [--data_dir DIR] [--seed N]   (--help lists all)
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir: db.sh, path.sh, utils/
set -euo pipefail

data_dir=data   # where the <set>/ dirs go
nj=2            # parallel synthesis processes
seed=0          # corpus seed
debug=false     # a small corpus (a tenth) for CI
. utils/parse_options.sh
[ $# -eq 0 ] || { echo "$0: unexpected argument '$1' (--help lists the options)" >&2; exit 1; }

. ./db.sh
. ./path.sh

command -v espeak-ng >/dev/null 2>&1 || {
  echo "$0: espeak-ng is not installed: apt-get install espeak-ng (or tools/install_system_deps.sh)" >&2
  exit 1
}
args=(--corpus-dir "${MINI_SPEECHGEN}" --data-dir "${data_dir}" --seed "${seed}" --nj "${nj}")
if [ "${debug}" = true ]; then args+=(--scale 0.1); fi
if python3 local/synthesize.py "${args[@]}" --check; then
  echo "$0: the corpus and ${data_dir}/{pretrain,train,dev,test} are complete: skipped"
  exit 0
fi
python3 local/synthesize.py "${args[@]}"
