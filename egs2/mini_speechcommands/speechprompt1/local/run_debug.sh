#!/usr/bin/env bash
# Every stage of the recipe for real, on a small corpus with short training (the CI check):
# 4 keywords x 24 voices, k-means 50, a 2-layer unit LM, a few epochs of prompt tuning; the
# frequency and learnable verbalizers and the GRU baseline, as in ./run.sh. Writes data/debug,
# dump/debug and exp/debug (the full run's directories are left alone); the results are in
# exp/debug/speechprompt_train_debug/RESULTS.md.
#   local/run_debug.sh [speechprompt.sh options for every call]
set -euo pipefail
cd "$(dirname "$0")/.."
./run.sh --all --learnable_config conf/train_debug.yaml \
  --frequency_config conf/train_debug_frequency.yaml \
  --datadir data/debug --dumpdir dump/debug --expdir exp/debug \
  --local_data_opts "--debug --data-dir data/debug --corpus-dir downloads/mini_speechcommands_debug" \
  --n_clusters 50 --unit_lm_config conf/unit_lm_debug.yaml "$@"
