#!/usr/bin/env bash
# Every stage of the recipe for real, on the small corpus (local/data.sh --debug: 6
# utterances per class and split) with a tiny unit LM and short warm-up (the CI check of the
# plumbing, not of the numbers). Writes data/debug, dump/debug and exp/debug (the full run's
# directories are left alone); the results are in exp/debug/speechprompt_train_icl/RESULTS.md.
#   local/run_debug.sh [icl.sh options]
set -euo pipefail
cd "$(dirname "$0")/.."
./run.sh --datadir data/debug --dumpdir dump/debug --expdir exp/debug \
  --local_data_opts "--debug --data-dir data/debug --corpus-dir downloads/mini_icl_debug" \
  --n_clusters 50 --unit_lm_config conf/unit_lm_debug.yaml \
  --num_episodes 64 --num_valid_episodes 16 --train_args "--max_epoch 1" --seeds "0 1" \
  --inference_args "--prompt_tuning_steps 2" "$@"
