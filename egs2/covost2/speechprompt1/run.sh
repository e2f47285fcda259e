#!/usr/bin/env bash
# CoVoST 2 Es→En speech-to-speech translation (CVSS targets). Only stages 1-3 (data, audio,
# source units: mHuBERT L11 + k-means 1000) run yet: target units, Unit mBART and the vocoder
# stage are pending (README.md), hence --stop_stage 3 (the last --stop_stage given wins).
#   ./run.sh
# Pretrained files: tools/download_pretrained.sh (PRETRAINED in db.sh); corpus: db.sh.
# Options given to run.sh override these (./run.sh --help lists them all).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. ./db.sh

./speechprompt.sh \
  --train_set train --valid_set dev --test_sets "dev test" \
  --unit_feature hubert \
  --feature_checkpoint "${PRETRAINED}/mhubert/mhubert_base_vp_en_es_fr_it3.pt" --feature_layer 11 \
  --kmeans "${PRETRAINED}/mhubert/mhubert_base_vp_en_es_fr_it3_L11_km1000.bin" --dedup true \
  --speechprompt_config conf/train_gslm.yaml --inference_config conf/decode.yaml \
  --metrics bleu --stop_stage 3 "$@"
