#!/usr/bin/env bash
# Data preparation of the mini in-context-learning corpus: synthesize the tasks of
# conf/tasks.yaml with espeak-ng (no download) and write data/<task>_<split>/ (wav.scp, label,
# text, utt2spk, spk2utt, utt2num_samples), data/tasks, data/train_tasks and data/test_tasks.
# Idempotent: nothing is redone when the corpus and the data dirs are complete for the settings.
#
#   local/data.sh [--nj N] [--debug] [--corpus-dir DIR] [--data-dir DIR] [--seed N]
#                 [-- options of local/synthesize.py]
set -euo pipefail

log() {
    echo "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*"
}

recipe=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091  # the recipe's links to the template
. "${recipe}/db.sh"
# shellcheck disable=SC1091
. "${recipe}/path.sh"

# the cores: nproc obeys OMP_NUM_THREADS, which path.sh sets to 1
nj=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 1)
debug=false
corpus_dir=${MINI_ICL}
data_dir=data
seed=0
extra=()

usage() {
    cat <<EOF
Usage: $0 [options] [-- extra options of local/synthesize.py]
  --nj N            parallel synthesis processes (default: ${nj})
  --debug           a small corpus for CI: 6 utterances per class and split
  --corpus-dir DIR  where the wav files go (default: ${corpus_dir}, MINI_ICL in db.sh)
  --data-dir DIR    where the <task>_<split>/ dirs go (default: ${data_dir})
  --seed N          corpus seed (default: ${seed})
The tasks and their split into training and test tasks: conf/tasks.yaml.
Environment: PYTHON (default: python, else python3).
EOF
}

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
$0: espeak-ng is not installed; the mini ICL corpus is synthesized with it. Install it with
    sudo apt-get install -y espeak-ng        (Debian/Ubuntu)
or  tools/install_system_deps.sh
EOF
    exit 1
fi

args=(--corpus-dir "${corpus_dir}" --data-dir "${data_dir}" --seed "${seed}" --nj "${nj}")
if "${debug}"; then
    args+=(--per-class 6)
fi
args+=("${extra[@]}")

if "${PYTHON}" "${recipe}/local/synthesize.py" "${args[@]}" --check; then
    log "corpus and data dirs are complete (${data_dir}/<task>_<split>): skipped"
    exit 0
fi

log "synthesizing the corpus into ${corpus_dir} (${nj} processes)"
"${PYTHON}" "${recipe}/local/synthesize.py" "${args[@]}"

while read -r task family languages; do
    for split in train valid pool test; do
        dir=${data_dir}/${task}_${split}
        [ -f "${dir}/wav.scp" ] || continue
        log "${dir}: ${family} (${languages}), $(wc -l <"${dir}/wav.scp") utterances," \
            "$(wc -l <"${dir}/spk2utt") speakers"
    done
done <"${data_dir}/tasks"
log "successfully finished"
