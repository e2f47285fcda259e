#!/usr/bin/env bash
# The mini recipe: keyword classification on a corpus synthesized here (espeak-ng), MFCC
# k-means units, a small unit LM pre-trained on them (stage 5), then prompt tuning.
#   ./run.sh              # the whole recipe: stages 1-5, then the fixed (frequency)
#                         # verbalizer in exp/frequency, then the learnable one in exp/, whose
#                         # RESULTS.md also lists the frequency run and the GRU baseline
#   ./run.sh --stage 7    # with options: one speechprompt.sh run (learnable), e.g. resume
#   ./run.sh --stage 6 --speechprompt_config conf/train_frequency.yaml --tag frequency
set -euo pipefail

common=(
  --train_set train --valid_set valid --test_sets "valid test"
  --unit_feature mfcc --learn_kmeans true --n_clusters 100 --dedup true
  --unit_lm_config conf/unit_lm.yaml --inference_config conf/decode.yaml
  --nj "$(nproc 2>/dev/null || echo 2)"   # jobs = cores: startup, not compute, dominates
)
learnable=(--speechprompt_config conf/train_learnable.yaml --baseline true)

if [ $# -gt 0 ]; then
  ./speechprompt.sh "${common[@]}" "${learnable[@]}" "$@"
  exit 0
fi
./speechprompt.sh "${common[@]}" --stop_stage 5
./speechprompt.sh "${common[@]}" --stage 6 --stop_stage 9 --tag frequency \
  --speechprompt_config conf/train_frequency.yaml
./speechprompt.sh "${common[@]}" "${learnable[@]}" --stage 6
