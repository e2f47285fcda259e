#!/usr/bin/env bash
# Speech continuation on LJSpeech (SpeechGen's continuation setting): the first --ratio of each
# utterance's units is the source, the rest the target; prompted GSLM samples the continuation
# (temperature 0.7, as fairseq's GSLM), scored without text (unit BLEU, Auto-/Self-BLEU).
#   ./run.sh                                   # stages 1-11 (11 only with --hf_repo)
#   ./run.sh --speechgen_opts "--ratio 0.25"   # another conditional ratio (0.25 / 0.5 / 0.75)
# Pretrained files: tools/download_pretrained.sh (PRETRAINED in db.sh); corpus: db.sh.
# Options given to run.sh override these (./run.sh --help lists them all).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. ./db.sh

./speechprompt.sh \
  --train_set train --valid_set dev --test_sets "dev eval" \
  --unit_feature hubert --feature_checkpoint "${PRETRAINED}/hubert/hubert_base_ls960.pt" \
  --feature_layer 6 --kmeans "${PRETRAINED}/gslm/hubert_km100/km.bin" --dedup true \
  --backbone_checkpoint "${PRETRAINED}/gslm/hubert100_lm/checkpoint_best.pt" \
  --speechgen_task continuation --speechgen_opts "--ratio 0.5" \
  --speechprompt_config conf/train_continuation.yaml --inference_config conf/decode.yaml \
  --metrics speechgen "$@"
