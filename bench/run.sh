#!/usr/bin/env bash
# Runs the MLP, CNN, LSTM and transformer-encoder benchmarks in dnnlua and in PyTorch (Debian's
# python3-torch) at the same thread count and prints both with their ratios;
# then startup time.
# Usage: bench/run.sh [STEPS] [THREADS] [CNN_STEPS]   (build first: scripts/setup.sh --test, which installs PyTorch)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-300}
threads=${2:-$(nproc)}
cnn_steps=${3:-60}
dnnlua=${DNNLUA:-build/dnnlua}
py=/usr/bin/python3 # Debian's, where python3-torch lives

value() { awk -v k="$1" '$1 == k { print $2 }' <<<"$2"; }

echo "== dnnlua, $threads threads"
ours=$("$dnnlua" bench/mlp.lua "$steps" "$threads")
echo "$ours"

torch_best=""
if "$py" -c 'import torch' 2>/dev/null; then
  # PyTorch at its best setting here: 1 torch thread + $threads OpenBLAS
  # threads, or $threads of each (which oversubscribes); keep the faster.
  for torch_threads in 1 "$threads"; do
    echo "== PyTorch $("$py" -c 'import torch; print(torch.__version__)'), torch threads $torch_threads, OpenBLAS threads $threads"
    out=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$torch_threads "$py" bench/mlp_torch.py "$steps" "$torch_threads")
    echo "$out"
    if [ -z "$torch_best" ] || awk -v a="$(value mlp_train_samples_per_s "$out")" \
      -v b="$(value mlp_train_samples_per_s "$torch_best")" 'BEGIN { exit !(a > b) }'; then
      torch_best=$out
    fi
  done
  echo "== ratios (dnnlua / best PyTorch; above 1 means dnnlua is faster, for times below 1 means faster)"
  awk -v a="$(value mlp_train_samples_per_s "$ours")" -v b="$(value mlp_train_samples_per_s "$torch_best")" \
    'BEGIN { printf "mlp training speed ratio: %.2fx (samples/s %.0f vs %.0f)\n", a / b, a, b }'
  for k in tiny_add_us tiny_add_grad_us peak_rss_mb; do
    awk -v k="$k" -v a="$(value "$k" "$ours")" -v b="$(value "$k" "$torch_best")" \
      'BEGIN { printf "%s: %.3f vs %.3f (ratio %.2f)\n", k, a, b, a / b }'
  done
else
  echo "PyTorch not installed (apt-get install python3-torch): no comparison"
fi

# The CNN of examples/train_cnn.lua: training and inference samples/s, peak RSS, GEMM share.
echo "== CNN: dnnlua, $threads threads"
cnn_ours=$("$dnnlua" bench/cnn.lua "$cnn_steps" "$threads")
echo "$cnn_ours"
cnn_best=""
if "$py" -c 'import torch' 2>/dev/null; then
  for torch_threads in 1 "$threads"; do
    echo "== CNN: PyTorch, torch threads $torch_threads, OpenBLAS threads $threads"
    out=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$torch_threads "$py" bench/cnn_torch.py "$cnn_steps" "$torch_threads")
    echo "$out"
    if [ -z "$cnn_best" ] || awk -v a="$(value cnn_train_samples_per_s "$out")" \
      -v b="$(value cnn_train_samples_per_s "$cnn_best")" 'BEGIN { exit !(a > b) }'; then
      cnn_best=$out
    fi
  done
  echo "== CNN ratios (dnnlua / best PyTorch by training speed; above 1 means dnnlua is faster, for memory below 1 means smaller)"
  for k in cnn_train_samples_per_s cnn_infer_samples_per_s cnn_train_peak_rss_mb cnn_infer_peak_rss_mb; do
    awk -v k="$k" -v a="$(value "$k" "$cnn_ours")" -v b="$(value "$k" "$cnn_best")" \
      'BEGIN { printf "%s: %.1f vs %.1f (ratio %.2f)\n", k, a, b, a / b }'
  done
fi
echo "cnn share of a dnnlua training step in GEMM (matmul alone on the step's shapes): $(value cnn_gemm_share "$cnn_ours")"

# LSTM(256) on 64 x 100 x 128 (issue 12): training and inference samples/s and peak RSS; the aim is 1.5x PyTorch's
# training speed at its best thread setting.
lstm_steps=${LSTM_STEPS:-20}
echo "== LSTM: dnnlua, $threads threads"
lstm_ours=$("$dnnlua" bench/lstm.lua "$lstm_steps" "$threads")
echo "$lstm_ours"
lstm_best=""
if "$py" -c 'import torch' 2>/dev/null; then
  for torch_threads in 1 "$threads"; do
    echo "== LSTM: PyTorch, torch threads $torch_threads, OpenBLAS threads $threads"
    out=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$torch_threads "$py" bench/lstm_torch.py "$lstm_steps" "$torch_threads")
    echo "$out"
    if [ -z "$lstm_best" ] || awk -v a="$(value lstm_train_samples_per_s "$out")" \
      -v b="$(value lstm_train_samples_per_s "$lstm_best")" 'BEGIN { exit !(a > b) }'; then
      lstm_best=$out
    fi
  done
  echo "== LSTM ratios (dnnlua / best PyTorch by training speed; above 1 means dnnlua is faster, for memory below 1 means smaller)"
  for k in lstm_train_samples_per_s lstm_infer_samples_per_s lstm_train_peak_rss_mb lstm_infer_peak_rss_mb; do
    awk -v k="$k" -v a="$(value "$k" "$lstm_ours")" -v b="$(value "$k" "$lstm_best")" \
      'BEGIN { printf "%s: %.1f vs %.1f (ratio %.2f)\n", k, a, b, a / b }'
  done
fi

# One TransformerEncoder block (d 128, 4 heads, intermediate 512) on 32 x 128 steps (issue 13): training and
# inference samples/s and peak RSS; the aim is 1.5x PyTorch's training speed at its best thread setting.
xf_steps=${TRANSFORMER_STEPS:-20}
echo "== transformer encoder: dnnlua, $threads threads"
xf_ours=$("$dnnlua" bench/transformer.lua "$xf_steps" "$threads")
echo "$xf_ours"
xf_best=""
if "$py" -c 'import torch' 2>/dev/null; then
  for torch_threads in 1 "$threads"; do
    echo "== transformer encoder: PyTorch, torch threads $torch_threads, OpenBLAS threads $threads"
    out=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$torch_threads "$py" bench/transformer_torch.py "$xf_steps" \
      "$torch_threads")
    echo "$out"
    if [ -z "$xf_best" ] || awk -v a="$(value transformer_train_samples_per_s "$out")" \
      -v b="$(value transformer_train_samples_per_s "$xf_best")" 'BEGIN { exit !(a > b) }'; then
      xf_best=$out
    fi
  done
  echo "== transformer encoder ratios (dnnlua / best PyTorch by training speed; above 1 means dnnlua is faster, for memory below 1 means smaller)"
  for k in transformer_train_samples_per_s transformer_infer_samples_per_s transformer_train_peak_rss_mb \
    transformer_infer_peak_rss_mb; do
    awk -v k="$k" -v a="$(value "$k" "$xf_ours")" -v b="$(value "$k" "$xf_best")" \
      'BEGIN { printf "%s: %.1f vs %.1f (ratio %.2f)\n", k, a, b, a / b }'
  done
fi

# Selecting every time step of a (32, T, 64) input, then backward: linear in T.
echo "== slicing: dnnlua, $threads threads"
slice_ours=$("$dnnlua" bench/slicing.lua "$threads")
echo "$slice_ours"
if "$py" -c 'import torch' 2>/dev/null; then
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
if "$py" -c 'import torch' 2>/dev/null; then
  torch_ms=$(startup_ms "$py" -c 'import torch')
  echo "startup python3 -c 'import torch': ${torch_ms} ms"
fi
