#!/usr/bin/env bash
# Instructions per update for the `wire/shapes` cases of benches/merge.rs,
# counted by callgrind (repeatable where wall-clock time is not).
#
# usage: bash benches/peers/instructions.sh [case ...]
#   a case is {shape}/{path}/{size}, e.g. quote_ts/strict/1MB; none: all 27.
# knobs (environment): STEPS=2000 CARGO_TARGET_DIR=..
# Each case runs STEPS and 2*STEPS updates; the difference of the two totals
# over STEPS is one update's instructions, the set-up (the dashboard) cancelled.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
steps=${STEPS:-2000}
bench=$(cd "$root" && cargo bench --no-run --bench merge --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*merge-[^"]*\)".*/\1/p' | tail -1)

cases=("$@")
if [[ ${#cases[@]} -eq 0 ]]; then
  for size in 1KB 100KB 1MB; do
    for shape in price price_ts quote_ts; do
      for path in baseline strict lazy; do cases+=("$shape/$path/$size"); done
    done
  done
fi

total() {
  local out
  out=$(mktemp)
  MERGE_STEPS=$1 valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" "$2" 2>/dev/null
  sed -n 's/^totals: \([0-9]*\).*/\1/p' "$out"
  rm -f "$out"
}

for case in "${cases[@]}"; do
  one=$(total "$steps" "wire/shapes/$case")
  two=$(total $((2 * steps)) "wire/shapes/$case")
  echo "$case $(((two - one) / steps))"
done
