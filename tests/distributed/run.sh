#!/bin/sh
# The 2- and 4-rank tests of dnn.distributed (issue 19), run by ctest when mpirun is found:
#   tests/distributed/run.sh DNNLUA [equivalence|resume|fault|all] (equivalence runs the custom loop's too,
#   resume the killed fit's resume from its backup)
#   tests/distributed/run.sh DNNLUA example examples/distributed/train_cnn_mpi.lua
# Each mpirun gets a timeout, so a hang fails the test instead of stalling ctest.
# What mpirun needs here (docs/distributed.md): --oversubscribe for 4 ranks on 2 cores, and
# --allow-run-as-root when run as root (containers).
set -eu
DNNLUA=$1
WHAT=${2:-all}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export DNN_NUM_THREADS=1 # the ranks share the cores; one thread each
T=${DIST_TIMEOUT:-60}     # seconds for one mpirun (the ASan build sets more)
MPIRUN="mpirun --oversubscribe"
[ "$(id -u)" -eq 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"

export DIST_TEST_DATA="$TMP/data.safetensors"
[ "$WHAT" = example ] || "$DNNLUA" "$HERE/data.lua" "$DIST_TEST_DATA"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

equivalence() {
  for model in mlp cnn; do
    for n in 2 4; do
      "$DNNLUA" "$HERE/equivalence.lua" reference $model $n 8 "$TMP/ref.safetensors"
      timeout $T $MPIRUN -np $n "$DNNLUA" "$HERE/equivalence.lua" distributed $model $n 8 "$TMP/ref.safetensors"
    done
  done
  # a smaller last global batch (shards of 4, 4 and 5 samples), with the exchanges during and after backward
  "$DNNLUA" "$HERE/equivalence.lua" reference cnn 3 8 "$TMP/ref.safetensors" 13
  timeout $T $MPIRUN -np 3 "$DNNLUA" "$HERE/equivalence.lua" distributed cnn 3 8 "$TMP/ref.safetensors" 13
  timeout $T $MPIRUN -np 3 -x DNN_DIST_OVERLAP=0 "$DNNLUA" "$HERE/equivalence.lua" distributed cnn 3 8 \
    "$TMP/ref.safetensors" 13
}

# DistributedOptimizer:backward in a custom loop, exchanges during and after backward.
custom() {
  "$DNNLUA" "$HERE/custom_loop.lua" reference 2 8 "$TMP/ref.safetensors"
  timeout $T $MPIRUN -np 2 "$DNNLUA" "$HERE/custom_loop.lua" distributed 2 8 "$TMP/ref.safetensors"
  timeout $T $MPIRUN -np 2 "$DNNLUA" "$HERE/custom_loop.lua" distributed 2 8 "$TMP/ref.safetensors" after
}

resume() {
  timeout $T $MPIRUN -np 2 "$DNNLUA" "$HERE/resume.lua" write 2 8 "$TMP/run.ckpt"
  "$DNNLUA" "$HERE/resume.lua" reference 4 8 "$TMP/run.ckpt" "$TMP/ref.safetensors"
  timeout $T $MPIRUN -np 4 "$DNNLUA" "$HERE/resume.lua" resume 4 8 "$TMP/run.ckpt" "$TMP/ref.safetensors"
}

# A 2-rank fit killed in its second epoch resumes from its backup to the weights of a run never killed, bit for bit.
backup() {
  timeout $T $MPIRUN -np 2 "$DNNLUA" "$HERE/backup.lua" full "$TMP/full" "$TMP/full.safetensors"
  if timeout $T $MPIRUN -np 2 "$DNNLUA" "$HERE/backup.lua" killed "$TMP/run" >"$TMP/out" 2>&1; then
    cat "$TMP/out"
    fail "backup: the killed run succeeded"
  fi
  grep -q "rank 1 fails on purpose" "$TMP/out" || {
    cat "$TMP/out"
    fail "backup: the killed run failed otherwise"
  }
  [ -s "$TMP/run/backup.safetensors" ] || fail "backup: the killed run left no backup"
  "$DNNLUA" "$HERE/backup.lua" one "$TMP/run"
  timeout $T $MPIRUN -np 2 "$DNNLUA" "$HERE/backup.lua" resume "$TMP/run" "$TMP/full.safetensors"
}

# A failing rank: the job must end (non-zero) within 20 s, with the rank's own message.
fault() {
  for how in error kill; do
    start=$(date +%s)
    if timeout $T $MPIRUN -np 2 "$DNNLUA" "$HERE/fault.lua" $how >"$TMP/out" 2>&1; then
      cat "$TMP/out"
      fail "fault $how: the job succeeded"
    fi
    took=$(($(date +%s) - start))
    grep -q "got past a barrier" "$TMP/out" && fail "fault $how: a rank went on"
    [ $took -lt 20 ] || fail "fault $how: the job took $took s to end"
    if [ $how = error ]; then
      grep -q "rank 1 of 2.*rank 1 fails on purpose" "$TMP/out" || {
        cat "$TMP/out"
        fail "fault error: rank 1's message is not in the output"
      }
    fi
    echo "fault $how: the job ended in $took s"
  done
}

# The example on 2 ranks, one short epoch ($3: examples/distributed/train_cnn_mpi.lua).
example() {
  timeout $((T + 40)) $MPIRUN -np 2 "$DNNLUA" "$1" --epochs 1 --limit 3000 --out "$TMP"
  [ -s "$TMP/train_cnn_mpi_curves.png" ] || fail "example: rank 0 wrote no curves"
}

case "$WHAT" in
  equivalence) equivalence && custom ;;
  resume) resume && backup ;;
  fault) fault ;;
  example) example "$3" ;;
  all) equivalence && custom && resume && backup && fault ;;
  *) fail "unknown test $WHAT" ;;
esac
