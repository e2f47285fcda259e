# shellcheck shell=bash
# The environment of the recipe scripts; sourced from a recipe dir (run.sh, speechprompt.sh).
# MAIN_ROOT is the repository root, found from this file's real location
# (egs2/TEMPLATE/speechprompt1/path.sh, which recipes link to).
MAIN_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)
export MAIN_ROOT
if [ -d "${MAIN_ROOT}/tools/venv/bin" ]; then  # the project's venv (tools/setup_venv.sh)
  export PATH="${MAIN_ROOT}/tools/venv/bin:${PATH}"
fi
export PYTHONPATH="${MAIN_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
export OMP_NUM_THREADS=1      # parallelism comes from jobs (--nj), not threads
export PYTHONIOENCODING=UTF-8
if [ -f local/path.sh ]; then  # a recipe's own additions
  # shellcheck disable=SC1091  # recipe-specific, absent in most recipes
  . local/path.sh
fi
