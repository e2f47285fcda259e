#!/usr/bin/env bash
# Character ASR on LibriSpeech train-clean-100, prompted GSLM (labels: characters, | = space).
#   ./run.sh                                   # stages 1-11 (11 only with --hf_repo)
# Pretrained files: tools/download_pretrained.sh (PRETRAINED in db.sh); corpus: db.sh.
# Options given to run.sh override these (./run.sh --help lists them all).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. ./db.sh

./speechprompt.sh \
  --train_set train_clean_100 --valid_set dev_clean \
  --test_sets "dev_clean test_clean test_other" \
  --unit_feature hubert --feature_checkpoint "${PRETRAINED}/hubert/hubert_base_ls960.pt" \
  --feature_layer 6 --kmeans "${PRETRAINED}/gslm/hubert_km100/km.bin" --dedup true \
  --backbone_checkpoint "${PRETRAINED}/gslm/hubert100_lm/checkpoint_best.pt" \
  --speechprompt_config conf/train_gslm.yaml --inference_config conf/decode.yaml \
  --metrics "char_wer char_cer" "$@"
