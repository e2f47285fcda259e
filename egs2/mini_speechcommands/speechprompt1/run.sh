#!/usr/bin/env bash
# The mini recipe: keyword classification on a corpus synthesized here (espeak-ng), MFCC
# k-means units, a small unit LM pre-trained on them (stage 5), then prompt tuning.
#   ./run.sh              # the whole recipe: stages 1-5; then, side by side (a core each),
#                         # the fixed (frequency) verbalizer in exp/speechprompt_train_frequency
#                         # and the learnable one in exp/speechprompt_train_learnable with the
#                         # GRU baseline, whose RESULTS.md lists all three
#   ./run.sh --all [--learnable_config F] [--frequency_config F] OPTS
#                         # the same, OPTS added to every call (local/run_debug.sh)
#   ./run.sh --stage 7    # other options: one speechprompt.sh run (learnable), e.g. resume
#   ./run.sh --stage 6 --speechprompt_config conf/train_frequency.yaml   # one config's run
set -euo pipefail

common=(
  --train_set train --valid_set valid --test_sets "valid test"
  --unit_feature mfcc --learn_kmeans true --n_clusters 100 --dedup true
  --unit_lm_config conf/unit_lm.yaml --inference_config conf/decode.yaml
  --nj "$(env -u OMP_NUM_THREADS nproc 2>/dev/null || echo 2)"  # jobs = cores
)
learnable_config=conf/train_learnable.yaml
frequency_config=conf/train_frequency.yaml

if [ $# -gt 0 ] && [ "$1" != --all ]; then
  ./speechprompt.sh "${common[@]}" --speechprompt_config "${learnable_config}" --baseline true "$@"
  exit 0
fi
[ $# -eq 0 ] || shift  # --all [--learnable_config F] [--frequency_config F] [options]
while [ $# -gt 1 ]; do
  case $1 in
    --learnable_config | --learnable-config) learnable_config=$2; shift 2 ;;
    --frequency_config | --frequency-config) frequency_config=$2; shift 2 ;;
    *) break ;;
  esac
done
learnable=(--speechprompt_config "${learnable_config}" --baseline true)
frequency=(--speechprompt_config "${frequency_config}")
./speechprompt.sh "${common[@]}" "$@" --stop_stage 5
# stages 6-9 of the frequency run in the background, its lines marked [frequency]
./speechprompt.sh "${common[@]}" "${frequency[@]}" "$@" --stage 6 --stop_stage 9 2>&1 \
  | sed -u 's/^/[frequency] /' &
frequency_job=$!
status=0
./speechprompt.sh "${common[@]}" "${learnable[@]}" "$@" --stage 6 --stop_stage 8 || status=$?
wait "${frequency_job}" || { echo "error: the frequency run failed (lines marked [frequency])" >&2; exit 1; }
[ "${status}" -eq 0 ] || exit "${status}"
# scoring last: the learnable run's RESULTS.md also lists the frequency run
./speechprompt.sh "${common[@]}" "${learnable[@]}" "$@" --stage 9
echo "$0: every stage done in $((SECONDS / 60)) min $((SECONDS % 60)) s"
