#!/usr/bin/env bash
# Create a new SpeechPrompt recipe dir, ESPnet style:
#
#   egs2/TEMPLATE/speechprompt1/setup.sh egs2/<corpus>/speechprompt1
#
# links speechprompt.sh, icl.sh (in-context learning), utils/, path.sh and db.sh to this
# template (relative links), copies cmd.sh and the conf/ skeleton, and creates local/ with a
# data.sh stub and a run.sh skeleton (both only where absent). Then write local/data.sh and
# edit run.sh and conf/.
set -euo pipefail

if [ $# -ne 1 ] || [[ $1 == -* ]]; then
  echo "usage: $0 <new recipe dir>   e.g. $0 egs2/fsc/speechprompt1" >&2
  exit 2
fi
template=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
target=$1
for name in speechprompt.sh icl.sh utils path.sh db.sh cmd.sh; do
  if [ -e "${target}/${name}" ] || [ -L "${target}/${name}" ]; then
    echo "error: ${target}/${name} exists: ${target} is already a recipe" >&2
    exit 1
  fi
done
mkdir -p "${target}/conf" "${target}/local"
target=$(cd "${target}" && pwd)
rel=$(realpath --relative-to="${target}" "${template}")  # ../../TEMPLATE/speechprompt1 in egs2
for name in speechprompt.sh icl.sh utils path.sh db.sh; do
  ln -s "${rel}/${name}" "${target}/${name}"
done
cp "${template}/cmd.sh" "${target}/cmd.sh"
cp -n "${template}"/conf/*.yaml "${template}/conf/slurm.conf" "${target}/conf/"

if [ ! -e "${target}/local/data.sh" ]; then
  cat >"${target}/local/data.sh" <<'STUB'
#!/usr/bin/env bash
# Stage 1: write data/{train,valid,test}/{wav.scp,label,utt2spk,spk2utt} (Kaldi style;
# label: "utt token [token ...]"). The corpus root comes from db.sh.
set -euo pipefail
. ./db.sh
. ./path.sh
echo "error: local/data.sh is a stub: write this recipe's data preparation" >&2
exit 1
STUB
  chmod +x "${target}/local/data.sh"
fi
if [ ! -e "${target}/run.sh" ]; then
  cat >"${target}/run.sh" <<'RUN'
#!/usr/bin/env bash
# ./run.sh [--stage N] [--stop_stage M] [speechprompt.sh options]
set -euo pipefail

./speechprompt.sh \
  --train_set train --valid_set valid --test_sets "valid test" \
  --unit_feature hubert --feature_checkpoint "<hubert_base_ls960.pt>" --feature_layer 6 \
  --kmeans "<km.bin>" --backbone_checkpoint "<checkpoint_best.pt>" \
  --speechprompt_config conf/train.yaml --inference_config conf/decode.yaml "$@"
RUN
  chmod +x "${target}/run.sh"
fi
echo "created recipe ${target} (links to ${rel}); next: local/data.sh, run.sh, conf/" >&2
