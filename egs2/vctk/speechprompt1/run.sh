#!/usr/bin/env bash
# Speech inpainting on VCTK (SpeechGen's inpainting setting): a span of each utterance's units
# is masked (the backbone dictionary's <mask>), the prompted frozen Unit mBART generates the
# whole utterance; scored without text (unit error rate inside the spans, next to copying the
# spans' neighbours) and, vocoded, by an English ASR's WER/CER against the transcript, next to
# the WER/CER of the corrupted input (SpeechGen's comparison).
#   ./run.sh                                          # stages 1-11 (11 only with --hf_repo)
#   ./run.sh --speechgen_opts "--span_seconds 1.0 --units_per_second 35 --seed 0"
# Pretrained files: tools/download_pretrained.sh s2st (PRETRAINED in db.sh); corpus: db.sh.
# Options given to run.sh override these (./run.sh --help lists them all).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. ./db.sh

./speechprompt.sh \
  --train_set train --valid_set dev --test_sets "dev eval" \
  --unit_feature hubert --feature_checkpoint "${PRETRAINED}/mhubert/mhubert_base_vp_en_es_fr_it3.pt" \
  --feature_layer 11 --kmeans "${PRETRAINED}/mhubert/mhubert_base_vp_en_es_fr_it3_L11_km1000.bin" \
  --backbone_checkpoint "${PRETRAINED}/unit_mbart/checkpoint.pt" \
  --speechgen_task inpainting --speechgen_opts "--span_seconds 0.5 --units_per_second 35 --skip_short" \
  --speechprompt_config conf/train_inpainting.yaml --inference_config conf/decode.yaml \
  --vocoder_checkpoint "${PRETRAINED}/vocoder/mhubert_km1000_lj/g_00500000" \
  --vocoder_config "${PRETRAINED}/vocoder/mhubert_km1000_lj/config.json" \
  --asr_bleu_config conf/asr.yaml --metrics "speechgen asr_wer" "$@"
