#!/usr/bin/env bash
# Download the official pretrained files the recipes use (never called by the tests):
#
#   tools/download_pretrained.sh [--dest DIR] [--list] [ITEM|GROUP ...]   (default: gslm)
#
# Groups: gslm (HuBERT-base + GSLM hubert100 k-means + unit LM: the classification, ASR and SF
# recipes), s2st_gslm (gslm + the HuBERT-100 unit HiFi-GAN: the covost2 and
# fisher_callhome_spanish runs with GSLM), s2st (mHuBERT + its k-means 1000 + Unit mBART + the
# mHuBERT unit HiFi-GAN: their Unit mBART setting, pending), wav2seq (the Wav2Seq HuBERT-base
# backbone of the librispeech_100 and snips --input speech runs; then make its dict.txt with
# bin/numbered_dict), all. --dest defaults to <repo>/downloads/pretrained, which is PRETRAINED
# in egs2/TEMPLATE/speechprompt1/db.sh.
#
# Checks. The publishers give no sha256 for any of these files, so none is hard-coded here
# (the SHA256 table below stays empty until a value is published): each download is checked for
# a minimum size and its format (torch zip/pickle, gzip tar with the expected members, json,
# dict.txt lines), then its sha256 is recorded in DEST/SHA256SUMS; later runs verify every
# present file against that record (trust on first use). Put a published sha256 in the table
# to check the first download too.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
dest=${repo}/downloads/pretrained
fb=https://dl.fbaipublicfiles.com
w2s=https://public-dataset-model-store.awsdev.asapp.com/fwu/wav2seq/public

# item -> "relative path|url|minimum bytes|format"
declare -A ITEMS=(
  [hubert_base]="hubert/hubert_base_ls960.pt|${fb}/hubert/hubert_base_ls960.pt|300000000|torch"
  [gslm_km100]="gslm/hubert_km100/km.bin|${fb}/textless_nlp/gslm/hubert/km100/km.bin|100000|pickle"
  [gslm_hubert100_lm]="gslm/hubert100_lm.tgz|${fb}/textless_nlp/gslm/hubert/lm_km100/hubert100_lm.tgz|250000000|lm_tgz"
  [mhubert]="mhubert/mhubert_base_vp_en_es_fr_it3.pt|${fb}/hubert/mhubert_base_vp_en_es_fr_it3.pt|300000000|torch"
  [mhubert_km1000]="mhubert/mhubert_base_vp_en_es_fr_it3_L11_km1000.bin|${fb}/hubert/mhubert_base_vp_en_es_fr_it3_L11_km1000.bin|1000000|pickle"
  [unit_mbart]="unit_mbart/checkpoint.pt|${fb}/fairseq/speech_to_speech/s2st_finetuning/unit_mBART/checkpoint.pt|1000000000|torch"
  [unit_mbart_dict]="unit_mbart/dict.txt|${fb}/fairseq/speech_to_speech/s2st_finetuning/dict.txt|2000|dict"
  [vocoder_mhubert_km1000_lj]="vocoder/mhubert_km1000_lj/g_00500000|${fb}/fairseq/speech_to_speech/vocoder/code_hifigan/mhubert_vp_en_es_fr_it3_400k_layer11_km1000_lj/g_00500000|40000000|torch"
  [vocoder_mhubert_km1000_lj_config]="vocoder/mhubert_km1000_lj/config.json|${fb}/fairseq/speech_to_speech/vocoder/code_hifigan/mhubert_vp_en_es_fr_it3_400k_layer11_km1000_lj/config.json|100|json"
  [vocoder_hubert100_lj]="vocoder/hubert100_lj/g_00500000|${fb}/fairseq/speech_to_speech/vocoder/code_hifigan/hubert_base_100_lj/g_00500000|40000000|torch"
  [vocoder_hubert100_lj_config]="vocoder/hubert100_lj/config.json|${fb}/fairseq/speech_to_speech/vocoder/code_hifigan/hubert_base_100_lj/config.json|100|json"
  [wav2seq_hubert_base]="wav2seq/wav2seq-hubert-base-25k.pt|${w2s}/pt/wav2seq-hubert-base-25k.pt|300000000|torch"
)
# Published sha256 of an item (none known: see the header). Format: [item]=<64 hex digits>.
declare -A SHA256=()
ORDER=(hubert_base gslm_km100 gslm_hubert100_lm mhubert mhubert_km1000 unit_mbart unit_mbart_dict
  vocoder_mhubert_km1000_lj vocoder_mhubert_km1000_lj_config vocoder_hubert100_lj
  vocoder_hubert100_lj_config wav2seq_hubert_base)
GROUP_gslm=(hubert_base gslm_km100 gslm_hubert100_lm)
GROUP_s2st_gslm=("${GROUP_gslm[@]}" vocoder_hubert100_lj vocoder_hubert100_lj_config)
GROUP_s2st=(mhubert mhubert_km1000 unit_mbart unit_mbart_dict vocoder_mhubert_km1000_lj
  vocoder_mhubert_km1000_lj_config)

die() { echo "error: $*" >&2; exit 1; }
field() { local IFS='|'; read -ra parts <<<"${ITEMS[$1]}"; echo "${parts[$2]}"; }

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  echo "Items (--list shows their URLs): ${ORDER[*]}"
}

list() {
  local item
  for item in "${ORDER[@]}"; do
    printf '%-34s %s\n    -> %s (sha256: %s)\n' "${item}" "$(field "${item}" 1)" \
      "$(field "${item}" 0)" "${SHA256[${item}]:-unknown, recorded on first download}"
  done
}

fetch() {  # fetch <url> <file>
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    die "neither curl nor wget is installed"
  fi
}

check_format() {  # check_format <file> <format>: one line on stderr and non-zero if bad
  local file=$1 format=$2 magic listing
  magic=$(head -c 4 "${file}" | od -An -tx1 | tr -d ' \n')
  case "${format}" in
    torch) [[ ${magic} == 504b0304 || ${magic} == 80* ]] \
      || { echo "${file}: not a torch checkpoint (zip or pickle)" >&2; return 1; } ;;
    pickle) [[ ${magic} == 80* || ${magic} == 78* || ${magic} == 504b0304 ]] \
      || { echo "${file}: not a joblib/pickle file" >&2; return 1; } ;;
    lm_tgz)
      listing=$(tar -tzf "${file}") || { echo "${file}: not a tar.gz" >&2; return 1; }
      if ! grep -q 'checkpoint_best.pt$' <<<"${listing}" || ! grep -q 'dict.txt$' <<<"${listing}"; then
        echo "${file}: no checkpoint_best.pt and dict.txt in the archive" >&2
        return 1
      fi ;;
    json) python3 -m json.tool "${file}" >/dev/null \
      || { echo "${file}: not json" >&2; return 1; } ;;
    dict) ! grep -qvE '^[^ ]+ -?[0-9]+( #fairseq:overwrite)?$' "${file}" \
      || { echo "${file}: not a fairseq dict.txt (SYMBOL COUNT lines)" >&2; return 1; } ;;
    *) die "unknown format ${format}" ;;
  esac
}

recorded() {  # the sha256 recorded for a relative path in SHA256SUMS, if any
  [ -f "${dest}/SHA256SUMS" ] || return 0
  awk -v p="$1" '$2 == p { print $1 }' "${dest}/SHA256SUMS"
}

get() {  # get <item>
  local item=$1 rel url min format file sum want
  rel=$(field "${item}" 0) url=$(field "${item}" 1) min=$(field "${item}" 2)
  format=$(field "${item}" 3)
  file=${dest}/${rel}
  want=${SHA256[${item}]:-$(recorded "${rel}")}
  if [ -f "${file}" ]; then
    if [ -n "${want}" ]; then
      sum=$(sha256sum "${file}" | cut -d' ' -f1)
      [ "${sum}" = "${want}" ] || die "${file}: sha256 ${sum}, expected ${want}; delete it and re-run"
      echo "${item}: present, sha256 ok"
    else
      echo "${item}: present (no sha256 to check)"
    fi
  else
    mkdir -p "$(dirname "${file}")"
    echo "${item}: ${url}"
    fetch "${url}" "${file}.part" || die "download of ${url} failed"
    [ "$(stat -c %s "${file}.part")" -ge "${min}" ] \
      || die "${url}: only $(stat -c %s "${file}.part") bytes (expected >= ${min}); kept ${file}.part"
    check_format "${file}.part" "${format}" || die "${url}: unexpected content; kept ${file}.part"
    sum=$(sha256sum "${file}.part" | cut -d' ' -f1)
    if [ -n "${want}" ] && [ "${sum}" != "${want}" ]; then
      die "${url}: sha256 ${sum}, expected ${want}; kept ${file}.part"
    fi
    mv "${file}.part" "${file}"
    if [ -z "$(recorded "${rel}")" ]; then echo "${sum}  ${rel}" >>"${dest}/SHA256SUMS"; fi
    echo "${item}: ok (sha256 ${sum})"
  fi
  if [ "${format}" = lm_tgz ]; then unpack_lm "${file}" "${file%.tgz}"; fi
}

unpack_lm() {  # unpack_lm <tgz> <dir>: <dir>/{checkpoint_best.pt,dict.txt}, whatever the tgz's dirs
  local member depth
  [ -f "$2/checkpoint_best.pt" ] && [ -f "$2/dict.txt" ] && return 0
  member=$(tar -tzf "$1" | grep 'checkpoint_best.pt$' | head -n 1)
  depth=$(tr -cd / <<<"${member}" | wc -c)
  mkdir -p "$2"
  tar -xzf "$1" -C "$2" --strip-components="${depth}"
  echo "unpacked $1 -> $2"
}

items=()
while [ $# -gt 0 ]; do
  case $1 in
    --dest) [ $# -ge 2 ] || die "--dest needs a dir"; dest=$2; shift 2 ;;
    --dest=*) dest=${1#--dest=}; shift ;;
    --list) list; exit 0 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) items+=("$1"); shift ;;
  esac
done
[ ${#items[@]} -gt 0 ] || items=(gslm)
selected=()
for name in "${items[@]}"; do
  case ${name} in
    gslm) selected+=("${GROUP_gslm[@]}") ;;
    s2st) selected+=("${GROUP_s2st[@]}") ;;
    s2st_gslm) selected+=("${GROUP_s2st_gslm[@]}") ;;
    wav2seq) selected+=(wav2seq_hubert_base) ;;
    all) selected+=("${ORDER[@]}") ;;
    *)
      [ -n "${ITEMS[${name}]+x}" ] || { echo "error: unknown item '${name}' (--list)" >&2; exit 2; }
      selected+=("${name}")
      ;;
  esac
done
mkdir -p "${dest}"
dest=$(cd "${dest}" && pwd)
for item in "${selected[@]}"; do get "${item}"; done
echo "done: files under ${dest} (set PRETRAINED=${dest} in db.sh if it is not the default)"
