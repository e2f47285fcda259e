#!/usr/bin/env bash
# Keep the lines of a Kaldi-style list whose id (first field) is in another list.
#
#   utils/filter_scp.sh [--exclude] <id_list> <in> > <out>
#
# Ids are the first field of each line of <id_list> (a plain id list or any scp). The order of
# <in> is kept. With --exclude, the lines whose ids are NOT in <id_list> are kept instead.
set -euo pipefail

exclude=0
if [ "${1:-}" = --exclude ]; then
  exclude=1
  shift
fi
if [ $# -ne 2 ]; then
  echo "usage: ${0##*/} [--exclude] <id_list> <in>" >&2
  exit 2
fi
for f in "$1" "$2"; do
  [ -f "${f}" ] || { echo "error: ${f}: no such file" >&2; exit 1; }
done
awk -v exclude="${exclude}" '
  FNR == NR { if (NF) keep[$1] = 1; next }
  NF && (($1 in keep) != exclude)
' "$1" "$2"
