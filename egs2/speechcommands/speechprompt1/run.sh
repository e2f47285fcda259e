#!/usr/bin/env bash
# Keyword spotting, Speech Commands v0.01 12 classes (SUPERB KS), prompted GSLM.
#   ./run.sh                                   # stages 1-11 (11 only with --hf_repo)
#   ./run.sh --stage 6 --speechprompt_config conf/train_gslm_fixed.yaml   # its own exp dir
#   ./run.sh --local_data_opts "--n_shot 10 --seed 0" --train_set train_10shot_seed0 --tag 10shot
# Pretrained files: tools/download_pretrained.sh (PRETRAINED in db.sh); corpus: db.sh.
# Options given to run.sh override these (./run.sh --help lists them all).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. ./db.sh

./speechprompt.sh \
  --train_set train --valid_set valid --test_sets "valid test" \
  --unit_feature hubert --feature_checkpoint "${PRETRAINED}/hubert/hubert_base_ls960.pt" \
  --feature_layer 6 --kmeans "${PRETRAINED}/gslm/hubert_km100/km.bin" --dedup true \
  --backbone_checkpoint "${PRETRAINED}/gslm/hubert100_lm/checkpoint_best.pt" \
  --speechprompt_config conf/train_gslm.yaml --inference_config conf/decode.yaml \
  --metrics acc "$@"
