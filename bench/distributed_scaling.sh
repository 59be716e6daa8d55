#!/bin/sh
# samples/s of examples/distributed/train_cnn_mpi.lua (train_cnn's model) on this machine: one process with 2 threads
# against 2 processes (mpirun) with one thread each, at the same global batch (64), taking turns REPS times so that
# the machine's load falls on both alike; one process with one thread as the control. Each run holds
# /tmp/bench.lock; the load average is printed beside each figure.
#   bench/distributed_scaling.sh build/dnnlua [REPS=3] [LIMIT=6000]
set -eu
DNNLUA=$1
REPS=${2:-3}
LIMIT=${3:-6000}
EXAMPLE="$(dirname "$0")/../examples/distributed/train_cnn_mpi.lua"
MPIRUN="mpirun --oversubscribe"
[ "$(id -u)" -eq 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
run() {
  label=$1
  shift
  load=$(cut -d' ' -f1 /proc/loadavg)
  rate=$(flock /tmp/bench.lock "$@" --epochs 1 --limit "$LIMIT" --out /tmp 2>&1 | grep -a "samples/s" |
    sed 's/.*, \([0-9]*\) samples.*/\1/')
  echo "$label: $rate samples/s (load $load)"
}
for _ in $(seq "$REPS"); do
  run "1 process x 2 threads, batch 64" env DNN_NUM_THREADS=2 "$DNNLUA" "$EXAMPLE" --batch-size 64
  run "2 processes x 1 thread, batch 2x32" env DNN_NUM_THREADS=1 $MPIRUN -np 2 "$DNNLUA" "$EXAMPLE" --batch-size 32
  run "1 process x 1 thread, batch 64" env DNN_NUM_THREADS=1 "$DNNLUA" "$EXAMPLE" --batch-size 64
done
