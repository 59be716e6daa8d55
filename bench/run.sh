#!/usr/bin/env bash
# Runs the MLP, CNN, LSTM and transformer-encoder benchmarks in dnnlua and in PyTorch (Debian's
# python3-torch) at the same thread count and prints both with their ratios; CNN inference at 1 thread; ONNX
# Runtime's inference beside ours (bench/infer.lua); the slowdown with one core taken by another process; start-up
# time and memory; then where a training step's time goes (bench/profile.sh, with perf).
# Usage: [BENCH_ROUNDS=2] bench/run.sh [STEPS] [THREADS] [CNN_STEPS]   (build first: scripts/setup.sh --test, which installs PyTorch)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-1000}
threads=${2:-$(nproc)}
cnn_steps=${3:-60}
rounds=${BENCH_ROUNDS:-2}
dnnlua=${DNNLUA:-build/dnnlua}
py=/usr/bin/python3 # Debian's, where python3-torch lives

# OPENBLAS_CORETYPE forces OpenBLAS's kernels for one CPU (some machines set it to Haswell, which on an AVX-512
# CPU costs dnnlua and PyTorch alike up to a third of their GEMM speed): it is left out of every run here unless
# BENCH_KEEP_CORETYPE=1, and the line below says which kernels OpenBLAS picked.
if [ -n "${OPENBLAS_CORETYPE:-}" ] && [ "${BENCH_KEEP_CORETYPE:-0}" != 1 ]; then
  echo "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE was set: unset for these runs (BENCH_KEEP_CORETYPE=1 keeps it)"
  unset OPENBLAS_CORETYPE
fi
"$dnnlua" -v

value() { awk -v k="$1" '$1 == k { print $2 }' <<<"$2"; }
have_torch() { "$py" -c 'import torch' 2>/dev/null; }

# better KEY NEW OLD: whether the run NEW has a higher KEY than OLD (or OLD is empty).
better() {
  [ -z "$3" ] || awk -v a="$(value "$1" "$2")" -v b="$(value "$1" "$3")" 'BEGIN { exit !(a > b) }'
}

# compare NAME SCRIPT STEPS BEST_KEY FORMAT KEYS...: runs bench/SCRIPT.lua in dnnlua and bench/SCRIPT_torch.py in
# PyTorch at its two settings (1 torch thread + $threads OpenBLAS threads, or $threads of each, which
# oversubscribes), $rounds times in turn, keeps each side's best run by BEST_KEY (a shared machine's other load
# may hit any one run; both sides get the same chances), and prints each KEY as "ours vs theirs (ratio)" with the
# printf FORMAT of one value.
compare() {
  local name=$1 script=$2 n=$3 best_key=$4 format=$5
  shift 5
  local ours="" best="" out torch_threads round
  for round in $(seq "$rounds"); do
    echo "== $name: dnnlua, $threads threads (round $round)"
    out=$("$dnnlua" "bench/$script.lua" "$n" "$threads")
    echo "$out"
    if better "$best_key" "$out" "$ours"; then ours=$out; fi
    have_torch || continue
    for torch_threads in 1 "$threads"; do
      echo "== $name: PyTorch $("$py" -c 'import torch; print(torch.__version__)'), torch threads $torch_threads," \
        "OpenBLAS threads $threads (round $round)"
      out=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$torch_threads "$py" "bench/${script}_torch.py" "$n" \
        "$torch_threads")
      echo "$out"
      if better "$best_key" "$out" "$best"; then best=$out; fi
    done
  done
  if ! have_torch; then
    echo "PyTorch not installed (apt-get install python3-torch): no comparison"
    return
  fi
  echo "== $name ratios (best dnnlua run / best PyTorch run by $best_key; for speeds above 1 means dnnlua is" \
    "faster, for times and memory below 1 means faster or smaller)"
  local k
  for k in "$@"; do
    awk -v k="$k" -v a="$(value "$k" "$ours")" -v b="$(value "$k" "$best")" \
      "BEGIN { printf \"%s: $format vs $format (ratio %.2f)\\n\", k, a, b, a / b }"
  done
}

compare MLP mlp "$steps" mlp_train_samples_per_s %.3f mlp_train_samples_per_s tiny_add_us tiny_add_grad_us peak_rss_mb
# The CNN of examples/train_cnn.lua: training and inference samples/s, peak RSS (dnnlua also prints cnn_gemm_share,
# the share of its training step in GEMM).
compare CNN cnn "$cnn_steps" cnn_train_samples_per_s %.1f cnn_train_samples_per_s cnn_infer_samples_per_s \
  cnn_train_peak_rss_mb cnn_infer_peak_rss_mb
# LSTM(256) on 64 x 100 x 128 (issue 12): the aim is 1.5x PyTorch's training speed at its best thread setting.
compare LSTM lstm "${LSTM_STEPS:-20}" lstm_train_samples_per_s %.1f lstm_train_samples_per_s lstm_infer_samples_per_s \
  lstm_train_peak_rss_mb lstm_infer_peak_rss_mb
# One TransformerEncoder block, batch 32, T 128, d 128, 4 heads (issue 13): the aim is 1.5x PyTorch in training.
compare "transformer encoder" transformer "${TRANSFORMER_STEPS:-20}" transformer_train_samples_per_s %.1f \
  transformer_train_samples_per_s transformer_infer_samples_per_s transformer_train_peak_rss_mb \
  transformer_infer_peak_rss_mb

# Selecting every time step of a (32, T, 64) input, then backward: linear in T.
echo "== slicing: dnnlua, $threads threads"
slice_ours=$("$dnnlua" bench/slicing.lua "$threads")
echo "$slice_ours"
if have_torch; then
  slice_torch=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=1 "$py" bench/slicing_torch.py 1)
  echo "== slicing: PyTorch, 1 torch thread"
  echo "$slice_torch"
  for T in 50 100 200 400; do
    awk -v T="$T" -v a="$(value "slice_T${T}_ms" "$slice_ours")" -v b="$(value "slice_T${T}_ms" "$slice_torch")" \
      'BEGIN { printf "slicing T=%d: %.2f ms vs %.2f ms (ratio %.2f)\n", T, a, b, a / b }'
  done
fi

# startup: mean of 20 runs
startup_ms() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq 20); do "$@" >/dev/null; done
  end=$(date +%s%N)
  echo $(((end - start) / 20 / 1000000))
}
ours_ms=$(startup_ms "$dnnlua" -e '')
echo "startup dnnlua -e '': ${ours_ms} ms"
echo "startup dnnlua -e '' peak RSS: $(/usr/bin/time -f %M "$dnnlua" -e '' 2>&1 >/dev/null | tail -1) KB"
if have_torch; then
  torch_ms=$(startup_ms "$py" -c 'import torch')
  echo "startup python3 -c 'import torch': ${torch_ms} ms"
fi

# CNN inference on one thread (the figure above is at $threads).
echo "== CNN inference: dnnlua, 1 thread"
"$dnnlua" bench/cnn.lua 8 1 | grep cnn_infer_samples_per_s

# Batch-256 inference of the CNN and the MLP beside ONNX Runtime (onnxruntime-node, scripts/setup_onnxruntime.sh)
# on the same weights, at $threads threads and at 1; bench/infer.lua prints dnnlua alone where ONNX Runtime is absent.
# 100 batches a round: 20 (40 ms of the MLP) gave 83,000 to 128,000 samples/s for the same binary.
for infer_threads in "$threads" 1; do
  echo "== inference beside ONNX Runtime: bench/infer.lua, $infer_threads thread(s)"
  "$dnnlua" bench/infer.lua 100 "$infer_threads" 3
done

# A busy machine (issue 16): the MLP and CNN training at $threads threads with one core taken by a busy loop,
# against the same run without it (the machine may be shared: its load average is printed with each).
# Two runs of each, alternating, keeping the better: on a shared machine one run may meet other load.
busy_pair() {
  local key=$1
  shift
  local quiet=0 busy=0 loop v
  for _ in 1 2; do
    v=$(value "$key" "$("$@")")
    quiet=$(awk -v a="$quiet" -v b="$v" 'BEGIN { print (b > a ? b : a) }')
    sh -c 'while :; do :; done' &
    loop=$!
    v=$(value "$key" "$("$@")")
    kill "$loop"
    busy=$(awk -v a="$busy" -v b="$v" 'BEGIN { print (b > a ? b : a) }')
  done
  echo "  $key without a busy loop: $quiet; with one core busy: $busy (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  awk -v a="$quiet" -v b="$busy" -v k="$key" 'BEGIN { printf "  %s slowdown with one core busy: %.2fx (aim: at most 2.5x)\n", k, a / b }'
}
echo "== one core busy: dnnlua, $threads threads"
busy_pair mlp_train_samples_per_s "$dnnlua" bench/mlp.lua "$((steps / 3))" "$threads"
busy_pair cnn_train_samples_per_s "$dnnlua" bench/cnn.lua "$((cnn_steps / 3))" "$threads"

# Where the time goes: GEMM, im2col, element-wise kernels, Lua, waiting, page faults.
echo "== profile (perf)"
DNNLUA=$dnnlua bench/profile.sh cnn "$cnn_steps" "$threads"
DNNLUA=$dnnlua bench/profile.sh mlp "$steps" "$threads"
