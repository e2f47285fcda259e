#!/usr/bin/env bash
# ./run.sh [--stage N] [--stop_stage M] [speechprompt.sh options]
set -euo pipefail

./speechprompt.sh \
  --train_set train --valid_set valid --test_sets "valid test" \
  --unit_feature hubert --feature_checkpoint "<hubert_base_ls960.pt>" --feature_layer 6 \
  --kmeans "<km.bin>" --backbone_checkpoint "<checkpoint_best.pt>" \
  --speechprompt_config conf/train.yaml --inference_config conf/decode.yaml "$@"
