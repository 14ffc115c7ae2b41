#!/usr/bin/env bash
# Benchmark: passeur-pst (examples/pst-dump) against readpst on one PST, same run.
# Reports items/s and peak RSS (/usr/bin/time -v). Usage: bench/pst_vs_readpst.sh [FILE] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=${1:-../shared/corpus/pst/PstReader__simiden_pst2john_2003_compressable-encryption_quickbrownfox.pst}
ROUNDS=${2:-5}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p passeur-pst --example pst-dump
BIN=$CARGO_TARGET_DIR/release/examples/pst-dump
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

measure() { # label, items, command...
  local label=$1 items=$2; shift 2
  local best_wall=999999 best_rss=0
  for _ in $(seq "$ROUNDS"); do
    rm -rf "$OUT/run" && mkdir -p "$OUT/run"
    local t0 t1 wall rss
    t0=$(date +%s%N)
    /usr/bin/time -v "$@" > /dev/null 2> "$OUT/time.txt"
    t1=$(date +%s%N)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print (b-a)/1e9}')
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$OUT/time.txt")
    best_wall=$(awk -v a="$wall" -v b="$best_wall" 'BEGIN{print (a<b)?a:b}')
    best_rss=$(awk -v a="$rss" -v b="$best_rss" 'BEGIN{print (a>b)?a:b}')
  done
  awk -v l="$label" -v n="$items" -v w="$best_wall" -v r="$best_rss" \
    'BEGIN{printf "%-28s items=%-5d best wall=%.4fs  items/s=%.0f  peak RSS=%.1f MiB\n", l, n, w, (w>0)?n/w:0, r/1024}'
}

ITEMS=$("$BIN" "$FILE" --quiet | tail -1 | sed -n 's/.* items=\([0-9]*\) .*/\1/p')
echo "file: $FILE ($(stat -c %s "$FILE") bytes), $ROUNDS rounds"
measure "passeur pst-dump (no output)" "$ITEMS" "$BIN" "$FILE" --quiet
measure "passeur pst-dump (write files)" "$ITEMS" "$BIN" "$FILE" "$OUT/run" --quiet
# readpst's items: .eml files plus the VCARD/VEVENT/VJOURNAL components it writes.
rm -rf "$OUT/run" && mkdir -p "$OUT/run"
readpst -q -e -D -8 -o "$OUT/run" "$FILE" > /dev/null 2>&1 || true
RP_ITEMS=$(( $(find "$OUT/run" -name '*.eml' | wc -l) + $(find "$OUT/run" -type f ! -name '*.eml' -print0 | xargs -0 cat /dev/null | grep -c -E '^BEGIN:(VCARD|VEVENT|VJOURNAL)' || true) ))
rm -rf "$OUT/run" && mkdir -p "$OUT/run"
measure "readpst -e -D -8 (write files)" "$RP_ITEMS" readpst -q -e -D -8 -o "$OUT/run" "$FILE"
