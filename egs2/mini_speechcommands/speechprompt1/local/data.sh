#!/usr/bin/env bash
# Data preparation of the mini keyword corpus: synthesize it with espeak-ng (no download) and
# write data/{train,valid,test}/ (wav.scp, text, label, utt2spk, spk2utt) + data/keywords.txt.
# Idempotent: nothing is redone when the corpus and the data dirs are complete for the settings.
#
#   local/data.sh [--nj N] [--debug] [--corpus-dir DIR] [--data-dir DIR] [-- synthesize options]
set -euo pipefail

log() {
    echo "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*"
}

usage() {
    cat <<EOF
Usage: $0 [options] [-- extra options of local/synthesize.py]
  --nj N            parallel synthesis processes (default: ${nj})
  --debug           a small corpus for CI: 4 keywords x 24 voices (18/3/3) x 2 accents x 2 speeds
  --corpus-dir DIR  where the wav files go (default: ${corpus_dir})
  --data-dir DIR    where train/ valid/ test/ go (default: ${data_dir})
  --seed N          corpus seed (default: ${seed})
Environment: PYTHON (default: python, else python3).
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091  # the recipe's link to the template: PYTHONPATH, the venv
. "${here}/../path.sh"

# the cores: nproc obeys OMP_NUM_THREADS, which path.sh sets to 1
nj=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 1)
debug=false
corpus_dir=downloads/mini_speechcommands
data_dir=data
seed=0
extra=()

while [ $# -gt 0 ]; do
    case "$1" in
        --nj) nj=$2; shift 2 ;;
        --debug) debug=true; shift ;;
        --corpus-dir) corpus_dir=$2; shift 2 ;;
        --data-dir) data_dir=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$0: unknown option $1" >&2; usage >&2; exit 1 ;;
    esac
done

if [ -z "${PYTHON:-}" ]; then
    if command -v python >/dev/null 2>&1; then PYTHON=python; else PYTHON=python3; fi
fi

if ! command -v espeak-ng >/dev/null 2>&1; then
    cat >&2 <<EOF
$0: espeak-ng is not installed; the mini corpus is synthesized with it. Install it with
    sudo apt-get install -y espeak-ng        (Debian/Ubuntu)
or  tools/install_system_deps.sh
EOF
    exit 1
fi

args=(--corpus-dir "${corpus_dir}" --data-dir "${data_dir}" --seed "${seed}" --nj "${nj}")
if "${debug}"; then
    args+=(--num-keywords 4 --num-voices 24 --accents-per-voice 2 --speeds 150 200 --pitches 50
        --split 18 3 3)
fi
args+=("${extra[@]}")

if "${PYTHON}" "${here}/synthesize.py" "${args[@]}" --check; then
    log "corpus and data dirs are complete (${data_dir}/{train,valid,test}): skipped"
    exit 0
fi

log "synthesizing the corpus into ${corpus_dir} (${nj} processes)"
"${PYTHON}" "${here}/synthesize.py" "${args[@]}"

for split in train valid test; do
    log "${data_dir}/${split}: $(wc -l <"${data_dir}/${split}/wav.scp") utterances," \
        "$(wc -l <"${data_dir}/${split}/spk2utt") voices"
done
log "successfully finished"
