#!/usr/bin/env bash
# The mini recipe: keyword classification on a corpus synthesized here (espeak-ng), MFCC
# k-means units, a small unit LM pre-trained on them (stage 5), then prompt tuning.
#   ./run.sh                          # every stage
#   ./run.sh --stage 6 --stop_stage 9 --speechprompt_config conf/train_debug.yaml
set -euo pipefail

./speechprompt.sh \
  --train_set train --valid_set valid --test_sets "valid test" \
  --unit_feature mfcc --learn_kmeans true --n_clusters 100 --dedup true \
  --speechprompt_config conf/train_learnable.yaml --unit_lm_config conf/unit_lm.yaml \
  --inference_config conf/decode.yaml --baseline true "$@"
