#!/usr/bin/env bash
# The reference points: the frozen backbones without prompts decode the same test inputs with
# the same settings as the prompted runs (bin/speechgen_unprompted), scored the same way
# (bin/speechgen_score) → <expdir>/unprompted/<name>/test/{text,speechgen.json}.
#   local/unprompted.sh [--expdir exp] [--dumpdir dump]
# shellcheck source-path=SCRIPTDIR/..  # run from the recipe dir: path.sh, utils/
set -euo pipefail
. ./path.sh

expdir=exp  # where stage 5 put the backbones and the results go
dumpdir=dump  # holding continuation/ and inpainting/ (the speechgen pairs)
. utils/parse_options.sh

unprompted() {  # unprompted <name> <backbone> <checkpoint> <dumpdir> <options of the decoder...>
  local name=$1 backbone=$2 checkpoint=$3 units=$4/units/test
  shift 4
  local out=${expdir}/unprompted/${name}/test
  local -a extra=(--source "${units}/speechgen/source" --backbone "${backbone}"
    --backbone_checkpoint "${checkpoint}")  # the source: perplexity (and the copy baseline)
  rm -rf "${out}"
  python3 -m espnet2_speechprompt.bin.speechgen_unprompted --backbone "${backbone}" \
    --backbone_checkpoint "${checkpoint}" --source "${units}/speechgen/source" \
    --output_dir "${out}" "$@"
  if [ -f "${units}/speechgen/spans" ]; then extra+=(--spans "${units}/speechgen/spans"); fi
  if [ -d "${out}/2best_recog" ]; then extra+=(--nbest_dir "${out}"); fi
  python3 -m espnet2_speechprompt.bin.speechgen_score --ref "${units}/label" \
    --hyp "${out}/text" "${extra[@]}" --output "${out}/speechgen.json"
}

lm=${expdir}/unit_lm/checkpoint_best.pt
denoiser=${expdir}/unit_mbart/checkpoint.pt
unprompted continuation_lm_greedy gslm "${lm}" "${dumpdir}/continuation" --max_len_a 1.5 \
  --max_len_b 10
unprompted continuation_lm_sample gslm "${lm}" "${dumpdir}/continuation" --max_len_a 1.5 \
  --max_len_b 10 --decoding sample --temperature 0.7 --nbest 3
unprompted inpainting unit_mbart "${denoiser}" "${dumpdir}/inpainting" --max_len_a 1.2 \
  --max_len_b 10
unprompted continuation_denoiser_greedy unit_mbart "${denoiser}" "${dumpdir}/continuation" \
  --max_len_a 1.5 --max_len_b 10
