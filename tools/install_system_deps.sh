#!/usr/bin/env bash
# Debian packages the recipes and tests use: espeak-ng (the mini corpus is synthesized with it),
# sox (audio checks) and shellcheck (the script tests). Installs only what is missing; needs
# root (or sudo) for apt-get. Idempotent.
set -euo pipefail

want=()
command -v espeak-ng >/dev/null 2>&1 || want+=(espeak-ng)
command -v sox >/dev/null 2>&1 || want+=(sox)
if [[ "${1:-}" == "--test" ]]; then
    command -v shellcheck >/dev/null 2>&1 || want+=(shellcheck)
fi
if [[ ${#want[@]} -eq 0 ]]; then
    exit 0
fi
sudo=()
if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install_system_deps.sh: please install: ${want[*]} (e.g. apt-get install ${want[*]})" >&2
        exit 1
    fi
    sudo=(sudo)
fi
echo "install_system_deps.sh: installing ${want[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${want[@]}" >/dev/null
