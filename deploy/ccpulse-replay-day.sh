#!/usr/bin/env bash
# Replays one NDJSON export through ccpulse and writes the figures beside it
# as FILE.figures.json; the summary goes to FILE.summary.txt. Exits non-zero
# (and leaves no partial JSON) if ccpulse fails.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 EVENTS.ndjson [CONFIG.yaml]" >&2
  exit 2
fi
in=$1
cfg=${2:-}
bin=${CCPULSE_BIN:-ccpulse}
out="${in%.ndjson}.figures.json"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
args=(replay "$in" --json "$tmp")
if [ -n "$cfg" ]; then args+=(-c "$cfg"); fi
"$bin" "${args[@]}" > "${in%.ndjson}.summary.txt"
mv "$tmp" "$out"
echo "$out"
