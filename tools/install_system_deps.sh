#!/usr/bin/env bash
# Debian packages the recipes and tests use: espeak-ng (the mini corpus is synthesized with it),
# sox (audio checks); with --test also shellcheck (the script tests), chromium and
# chromium-driver (the server's web UI is tested in a headless browser) and Slurm (slurmctld,
# slurmd, slurm-client, munge: the Slurm backend's tests start a one-node cluster with
# tools/slurm_local.sh); with --slurm only Slurm. Installs only what is missing; needs root (or
# sudo) for apt-get. Idempotent.
set -euo pipefail

want=() slurm=()
want_slurm() {  # (installed without the recommended packages: no mail server)
    command -v slurmctld >/dev/null 2>&1 || slurm+=(slurmctld)
    command -v slurmd >/dev/null 2>&1 || slurm+=(slurmd)
    command -v sbatch >/dev/null 2>&1 || slurm+=(slurm-client)
    command -v munged >/dev/null 2>&1 || slurm+=(munge)
}
if [[ "${1:-}" == "--slurm" ]]; then
    want_slurm
else
    command -v espeak-ng >/dev/null 2>&1 || want+=(espeak-ng)
    command -v sox >/dev/null 2>&1 || want+=(sox)
fi
if [[ "${1:-}" == "--test" ]]; then
    command -v shellcheck >/dev/null 2>&1 || want+=(shellcheck)
    command -v chromium >/dev/null 2>&1 || want+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || want+=(chromium-driver)
    want_slurm
fi
if [[ ${#want[@]} -eq 0 && ${#slurm[@]} -eq 0 ]]; then
    exit 0
fi
sudo=()
if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install_system_deps.sh: please install: ${want[*]} ${slurm[*]} (e.g. apt-get install ${want[*]} ${slurm[*]})" >&2
        exit 1
    fi
    sudo=(sudo)
fi
echo "install_system_deps.sh: installing ${want[*]} ${slurm[*]}"
"${sudo[@]}" apt-get update -qq
if [[ ${#want[@]} -gt 0 ]]; then
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${want[@]}" >/dev/null
fi
if [[ ${#slurm[@]} -gt 0 ]]; then
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${slurm[@]}" >/dev/null
fi
