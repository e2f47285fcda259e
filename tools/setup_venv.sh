#!/usr/bin/env bash
# Create/refresh the project virtualenv at tools/venv (idempotent).
#
#   tools/setup_venv.sh          runtime requirements (tools/requirements.txt)
#   tools/setup_venv.sh --test   + test/lint requirements (tools/requirements-test.txt)
#
# A marker tools/venv/.installed-<sha256> records that the pinned files (and pip version)
# were installed; when it is present the slow install is skipped.
set -euo pipefail

start=$(date +%s)
tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(dirname "${tools_dir}")"
venv="${tools_dir}/venv"
python_bin="${PYTHON:-python3}"
# pip 26.x refuses espnet's dependency ci_sdr (direct URL dependency in an extra); 25.3 works.
pip_version="25.3"

with_test=0
for arg in "$@"; do
    case "${arg}" in
        --test) with_test=1 ;;
        -h | --help)
            sed -n '2,8p' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *)
            echo "setup_venv.sh: unknown argument: ${arg}" >&2
            exit 2
            ;;
    esac
done

req_files=("${tools_dir}/requirements.txt")
if [[ "${with_test}" == 1 ]]; then
    req_files+=("${tools_dir}/requirements-test.txt")
fi

# Hash of everything that determines the installed set.
hash_of() {
    {
        echo "pip==${pip_version}"
        cat "$@" "${repo_root}/setup.py"
    } | sha256sum | cut -c1-16
}
runtime_hash="$(hash_of "${tools_dir}/requirements.txt")"
test_hash="$(hash_of "${tools_dir}/requirements.txt" "${tools_dir}/requirements-test.txt")"
if [[ "${with_test}" == 1 ]]; then
    want_hash="${test_hash}"
else
    want_hash="${runtime_hash}"
fi

elapsed() {
    echo "setup_venv.sh: $1 in $(($(date +%s) - start)) s"
}

if [[ ! -x "${venv}/bin/python" ]]; then
    echo "setup_venv.sh: creating ${venv}"
    rm -rf "${venv}"
    "${python_bin}" -m venv "${venv}"
fi

# The test set is a superset of the runtime set, so its marker also satisfies a runtime call.
if [[ -f "${venv}/.installed-${want_hash}" || -f "${venv}/.installed-${test_hash}" ]]; then
    elapsed "venv up to date (${venv}), nothing to install"
    exit 0
fi

export PIP_PROGRESS_BAR=off
# pip -q still prints one harmless "Location 'file:///opt/pypi...' is ignored" warning per
# package on machines with a partial local index: drop those lines, keep everything else.
run_pip() {
    "${venv}/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 |
        { grep -v "is ignored: it is neither a file nor a directory" || true; }
}
echo "setup_venv.sh: installing ${req_files[*]##*/} into ${venv} (first time: several minutes)"
run_pip install -q "pip==${pip_version}"
req_args=()
for f in "${req_files[@]}"; do
    req_args+=(-r "${f}")
done
run_pip install -q "${req_args[@]}"
run_pip install -q --no-deps -e "${repo_root}"

rm -f "${venv}"/.installed-*
touch "${venv}/.installed-${want_hash}"
if [[ "${with_test}" == 1 ]]; then
    touch "${venv}/.installed-${runtime_hash}"
fi
elapsed "installed"
