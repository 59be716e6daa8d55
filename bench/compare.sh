#!/usr/bin/env bash
# Before/after: runs the MLP, CNN and slicing benchmarks with two dnnlua
# binaries, alternating them for ROUNDS rounds (so that a change in the
# machine's load hits both), and prints each figure's median for both and
# their ratio (after / before).
# Usage: bench/compare.sh BEFORE_DNNLUA [AFTER_DNNLUA] [ROUNDS] [THREADS]
# (AFTER defaults to build/dnnlua; build the old commit in a worktree first.)
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?usage: bench/compare.sh BEFORE_DNNLUA [AFTER_DNNLUA] [ROUNDS] [THREADS]}
after=${2:-build/dnnlua}
rounds=${3:-3}
threads=${4:-$(nproc)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for r in $(seq "$rounds"); do
  for side in before after; do
    bin=${!side}
    {
      "$bin" bench/mlp.lua "${STEPS:-300}" "$threads"
      "$bin" bench/cnn.lua "${CNN_STEPS:-60}" "$threads"
      "$bin" bench/slicing.lua "$threads"
    } >"$out/$side.$r"
  done
done

# key value lines of every round -> median per key, side by side.
awk -v rounds="$rounds" '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  FNR == 1 { side = FILENAME ~ /before/ ? "before" : "after" }
  NF == 2 && $2 ~ /^[-0-9.e+]+$/ {
    if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
    values[side, $1] = values[side, $1] " " $2
  }
  END {
    printf "%-32s %12s %12s %8s   (median of %d rounds)\n", "figure", "before", "after", "ratio", rounds
    for (i = 1; i <= n; i++) {
      k = order[i]; b = median(values["before", k]); a = median(values["after", k])
      printf "%-32s %12.3f %12.3f %8.3f\n", k, b, a, b != 0 ? a / b : 0
    }
  }' "$out"/before.* "$out"/after.*
