#!/usr/bin/env bash
# The mini in-context-learning recipe: a multi-task corpus synthesized here (espeak-ng), MFCC
# k-means units and a small unit LM learnt from the training tasks only, prompts warmed up on
# their episodes, then in-context learning on the unseen test tasks beside the baselines.
#   ./run.sh                  # every stage (RESULTS.md: exp/speechprompt_train_icl/)
#   ./run.sh --stage 6        # from the warm-up on; any icl.sh option may follow
set -euo pipefail

./icl.sh \
  --unit_feature mfcc --mfcc_smooth 5 --trim_db 25 --learn_kmeans true --n_clusters 50 \
  --dedup true --unit_length 16 --num_episodes 16000 --unit_lm_config conf/unit_lm.yaml \
  --unit_lm_pairs_config conf/unit_lm_pairs.yaml --icl_config conf/train_icl.yaml \
  --seen_tasks "commands_en speaking_rate" \
  --nj "$(env -u OMP_NUM_THREADS nproc 2>/dev/null || echo 2)" "$@"
echo "$0: done in $((SECONDS / 60)) min $((SECONDS % 60)) s"
