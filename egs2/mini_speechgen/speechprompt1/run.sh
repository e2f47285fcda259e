#!/usr/bin/env bash
# The mini speech generation recipe: sentences synthesized here (espeak-ng, many voices), MFCC
# k-means units, two small backbones pre-trained here and frozen, prompts tuned for speech
# continuation and inpainting, sampling, text-free scores beside the frozen backbones without
# prompts, and a page to listen to the results.
#   ./run.sh            # everything: exp/RESULTS.md, exp/listen/index.html
#   ./run.sh --debug    # the same on a tenth of the corpus, short training (CI): exp/debug/
# The backbones are pre-trained on their own corpus (pretrain: the same words in any combination), the
# prompts on the task's sentences (train). Two chains run side by side after the shared stages
# 1-4 (a core each):
#   decoder-only: a unit LM (GSLM layout) → continuation prompts, decoded greedily and sampled
#   encoder-decoder: a denoiser (mBART text infilling, Unit mBART layout) → inpainting prompts
#     (masked units read as its <mask>) and continuation prompts
# Other options go to every speechprompt.sh call (e.g. --python).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. ./path.sh  # the venv and PYTHONPATH for the python3 calls below

exp=exp data=data dump=dump lm_conf=conf/unit_lm.yaml denoiser_conf=conf/unit_mbart.yaml
debug=()
if [ "${1:-}" = --debug ]; then
  shift
  exp=exp/debug data=data/debug dump=dump/debug lm_conf=conf/unit_lm_debug.yaml
  denoiser_conf=conf/unit_mbart_debug.yaml
  debug=(--local_data_opts "--debug true --data_dir ${data}" --train_args "--max_epoch 3")
fi
cores=$(env -u OMP_NUM_THREADS nproc 2>/dev/null || echo 2)
common=(--train_set train --valid_set dev --test_sets test --unit_feature mfcc --dedup true
  --unit_lm_train_set pretrain --datadir "${data}" --expdir "${exp}" "${debug[@]}")
continuation=(--dumpdir "${dump}/continuation" --speechgen_task continuation
  --speechgen_opts "--ratio 0.5")
inpainting=(--dumpdir "${dump}/inpainting" --speechgen_task inpainting
  --speechgen_opts "--span_seconds 0.3 --units_per_second 50 --skip_short")  # 50: measured
lm=(--unit_lm_config "${lm_conf}" --metrics speechgen)
denoiser=(--unit_lm_config "${denoiser_conf}" --unit_lm_objective denoising --metrics speechgen)

# stages 1-4 once: the corpus, its units (k-means learnt here) and the continuation pairs
./speechprompt.sh "${common[@]}" "${continuation[@]}" --learn_kmeans true --n_clusters 100 \
  --nj "${cores}" --stop_stage 4 "$@"
shared=(--learn_kmeans false --kmeans "${exp}/kmeans/km.npy" --nj 1)
decoder_only() {  # stages 5-9: the unit LM, continuation prompts, greedy and sampled decoding
  local -a run=(./speechprompt.sh "${common[@]}" "${continuation[@]}" "${shared[@]}" "${lm[@]}"
    --speechprompt_config conf/train_continuation_lm.yaml "$@")
  "${run[@]}" --stage 5 --stop_stage 9 --inference_config conf/decode_greedy.yaml
  "${run[@]}" --stage 8 --stop_stage 9 --inference_config conf/decode_sample.yaml
}
encoder_decoder() {  # the inpainting pairs, the denoiser, inpainting and continuation prompts
  mkdir -p "${dump}/inpainting" && ln -sfn ../continuation/raw "${dump}/inpainting/raw"
  ./speechprompt.sh "${common[@]}" "${inpainting[@]}" "${shared[@]}" "${denoiser[@]}" \
    --speechprompt_config conf/train_inpainting.yaml \
    --inference_config conf/decode_inpainting.yaml --stage 3 --stop_stage 9 "$@"
  ./speechprompt.sh "${common[@]}" "${continuation[@]}" "${shared[@]}" "${denoiser[@]}" \
    --speechprompt_config conf/train_continuation.yaml \
    --inference_config conf/decode_greedy.yaml --stage 6 --stop_stage 9 "$@"
}
decoder_only "$@" 2>&1 | sed -u 's/^/[decoder-only] /' &
job=$!
encoder_decoder "$@" 2>&1 | sed -u 's/^/[encoder-decoder] /'
wait "${job}" || { echo "error: the decoder-only chain failed (lines marked [decoder-only])" >&2; exit 1; }

# the frozen backbones without prompts on the same test inputs, the page, RESULTS.md
local/unprompted.sh --expdir "${exp}" --dumpdir "${dump}"
python3 local/listen.py --kmeans "${exp}/kmeans/km.npy" --output_dir "${exp}/listen" \
  --train_wav_scp "${dump}/continuation/raw/train/wav.scp" \
  --test_wav_scp "${dump}/continuation/raw/test/wav.scp" \
  --task inpainting "${dump}/inpainting/units/test/speechgen/source" \
  "${exp}/speechprompt_train_inpainting/decode_inpainting_speechprompt_model_valid.acc.best/test/text" \
  "${dump}/inpainting/units/test/label" \
  --task continuation "${dump}/continuation/units/test/speechgen/source" \
  "${exp}/speechprompt_train_continuation_lm/decode_sample_speechprompt_model_valid.acc.best/test/text" \
  "${dump}/continuation/units/test/label"
python3 local/results.py --expdir "${exp}" --output "${exp}/RESULTS.md"
echo "$0: done in $((SECONDS / 60)) min $((SECONDS % 60)) s"
