#!/usr/bin/env bash
# Where a training step's time goes: perf samples of bench/profile.lua (the MLP
# or the CNN on random data), summed into GEMM (OpenBLAS), im2col/col2im, our
# element-wise and other kernels, the Lua interpreter and the bindings, the
# OpenMP runtime (threads waiting), libc (memset, memcpy, malloc) and the
# kernel (page faults, scheduling). Needs perf (linux-perf) and
# kernel.perf_event_paranoid <= 2; prints nothing else without them.
# Usage: bench/profile.sh mlp|cnn [STEPS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:?usage: bench/profile.sh mlp|cnn [STEPS] [THREADS]}
steps=${2:-100}
threads=${3:-$(nproc)}
dnnlua=${DNNLUA:-build/dnnlua}
if ! command -v perf >/dev/null; then
  echo "profile $which: perf is not installed (apt-get install linux-perf)"
  exit 0
fi
data=$(mktemp)
trap 'rm -f "$data"' EXIT
if ! perf record -q -F 999 -o "$data" "$dnnlua" bench/profile.lua "$which" "$steps" "$threads" >/dev/null 2>&1; then
  echo "profile $which: perf record failed (kernel.perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid))"
  exit 0
fi
perf report -i "$data" --no-children --sort dso,sym --stdio 2>/dev/null | awk -v which="$which" -v threads="$threads" '
  /^#/ || !/%/ { next }
  {
    share = $1; sub("%", "", share); dso = $2; sym = $NF
    if (dso ~ /openblas/ || sym ~ /gemm/) cat = "GEMM (OpenBLAS)"
    else if (sym ~ /im2col|col2im/) cat = "im2col/col2im"
    else if (dso ~ /liblua/) cat = "Lua interpreter"
    else if (sym ~ /^l_|^ldnn_/) cat = "Lua bindings"
    else if (dso ~ /libgomp/) cat = "OpenMP runtime (waiting)"
    else if (dso ~ /kernel/) cat = "kernel (page faults, scheduling)"
    else if (dso ~ /libc/) cat = "libc (memset, memcpy, malloc)"
    else if (dso ~ /dnnlua/) cat = "element-wise and other kernels"
    else cat = "other (" dso ")"
    if (!(cat in total)) order[++n] = cat
    total[cat] += share
  }
  END {
    printf "profile %s training step, %d threads (perf samples, share of the run):\n", which, threads
    for (i = 1; i <= n; i++) # largest first
      for (j = i + 1; j <= n; j++)
        if (total[order[j]] > total[order[i]]) { t = order[i]; order[i] = order[j]; order[j] = t }
    for (i = 1; i <= n; i++) printf "  %-36s %5.1f%%\n", order[i], total[order[i]]
  }'
