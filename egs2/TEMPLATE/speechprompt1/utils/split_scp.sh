#!/usr/bin/env bash
# Split a Kaldi-style list (wav.scp, units, ...) into N contiguous parts, one per output file.
#
#   utils/split_scp.sh <in> <out.1> <out.2> ... <out.N>
#
# Line order is kept; part sizes differ by at most one line (the first parts get the extra
# lines). Blank lines are dropped. It is an error to ask for more parts than there are lines.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: ${0##*/} <in> <out.1> [<out.2> ...]" >&2
  exit 2
fi
in=$1
shift
if [ ! -f "${in}" ]; then
  echo "error: ${in}: no such file" >&2
  exit 1
fi
lines=$(grep -c . "${in}" || true)
if [ "${lines}" -lt $# ]; then
  echo "error: cannot split ${in} (${lines} lines) into $# non-empty parts" >&2
  exit 1
fi
# part p (1-based) holds the non-blank lines first(p) .. first(p+1)-1
parts=$#
base=$((lines / parts))
extra=$((lines % parts))
first=1
p=0
for out in "$@"; do
  p=$((p + 1))
  size=$((base + (p <= extra ? 1 : 0)))
  mkdir -p "$(dirname "${out}")"
  awk -v a="${first}" -v b="$((first + size - 1))" 'NF && ++i >= a && i <= b' "${in}" >"${out}"
  first=$((first + size))
done
