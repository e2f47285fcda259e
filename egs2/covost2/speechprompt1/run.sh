#!/usr/bin/env bash
# CoVoST 2 Es→En speech-to-speech translation (CVSS targets), prompted GSLM (decoder-only,
# SpeechGen's decoder-only variant): the target speech's units follow the source units.
# Source and target units are GSLM's own (HuBERT-base L6 + k-means 100, deduplicated; stage 3
# with --tgt_units true); stage 8 vocodes the generated units with the HuBERT-100 unit HiFi-GAN,
# stage 9 scores ASR-BLEU with the ASR of conf/asr_bleu.yaml. The Unit mBART setting (mHuBERT
# L11 km1000) is conf/train_unit_mbart.yaml (README.md).
#   ./run.sh
# Pretrained files: tools/download_pretrained.sh s2st_gslm (PRETRAINED in db.sh); corpus: db.sh.
# Options given to run.sh override these (./run.sh --help lists them all).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. ./db.sh

./speechprompt.sh \
  --train_set train --valid_set dev --test_sets "dev test" \
  --unit_feature hubert --feature_checkpoint "${PRETRAINED}/hubert/hubert_base_ls960.pt" \
  --feature_layer 6 --kmeans "${PRETRAINED}/gslm/hubert_km100/km.bin" --dedup true \
  --tgt_units true \
  --backbone_checkpoint "${PRETRAINED}/gslm/hubert100_lm/checkpoint_best.pt" \
  --speechprompt_config conf/train_gslm.yaml --inference_config conf/decode.yaml \
  --vocoder_checkpoint "${PRETRAINED}/vocoder/hubert100_lj/g_00500000" \
  --vocoder_config "${PRETRAINED}/vocoder/hubert100_lj/config.json" \
  --asr_bleu_config conf/asr_bleu.yaml --metrics asr_bleu "$@"
