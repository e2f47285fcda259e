#!/usr/bin/env bash
# In-context learning on the paper's real corpora with GSLM (HuBERT units, k-means 100,
# hubert100_lm): warm-up on a task group's training tasks, ICL on its test tasks.
#   ./run.sh                                  # task group 1 (conf/group1.yaml)
#   ./run.sh --group conf/group2.yaml         # task group 2
#   ./run.sh --stage 7 --seeds "0 1 2"        # any icl.sh option may follow
# Pretrained files: tools/download_pretrained.sh (PRETRAINED in db.sh); corpora: db.sh.
# Every task has train, valid and test splits: the test tasks' demonstrations come from their
# train split and the queries from test; the seen tasks' queries from test as well.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. ./db.sh

group=conf/group1.yaml
if [ $# -gt 1 ] && [ "$1" = --group ]; then group=$2; shift 2; fi
[ -f "${group}" ] || { echo "error: --group ${group}: no such file" >&2; exit 1; }
train_tasks=$(python3 -m espnet2_speechprompt.data.tasklist --group "${group}" --which train)
test_tasks=$(python3 -m espnet2_speechprompt.data.tasklist --group "${group}" --which test)

./icl.sh \
  --local_data_opts "--group ${group}" \
  --train_tasks "${train_tasks}" --test_tasks "${test_tasks}" --seen_tasks "${train_tasks}" \
  --pool_split train --test_split test --seen_split test \
  --unit_feature hubert --feature_checkpoint "${PRETRAINED}/hubert/hubert_base_ls960.pt" \
  --feature_layer 6 --kmeans "${PRETRAINED}/gslm/hubert_km100/km.bin" --dedup true \
  --backbone_checkpoint "${PRETRAINED}/gslm/hubert100_lm/checkpoint_best.pt" \
  --num_episodes 10000 --num_valid_episodes 500 \
  --icl_config conf/train_icl.yaml --tag "icl_$(basename "${group}" .yaml)" "$@"
