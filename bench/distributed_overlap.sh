#!/bin/sh
# The gradient exchange overlapped with backward (issue 19) against started after it: train_cnn's model
# (examples/distributed/train_cnn_mpi.lua) on 2 processes x 1 thread, batch 2x32, taking turns REPS times with
# DNN_DIST_OVERLAP=1 and 0 so that the machine's load falls on both alike. Prints samples/s, the per-step times the
# example reports (backward, after backward, of which waiting for the exchange), how many exchanges ended during
# backward, and the job's CPU time (user + sys, both ranks). Each run holds /tmp/bench.lock; the load average is
# printed beside each figure.
#   bench/distributed_overlap.sh build/dnnlua [REPS=3] [LIMIT=6000]
set -eu
DNNLUA=$1
REPS=${2:-3}
LIMIT=${3:-6000}
EXAMPLE="$(dirname "$0")/../examples/distributed/train_cnn_mpi.lua"
MPIRUN="mpirun --oversubscribe"
[ "$(id -u)" -eq 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for _ in $(seq "$REPS"); do
  for overlap in 1 0; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    DNN_DIST_OVERLAP=$overlap DNN_NUM_THREADS=1 flock /tmp/bench.lock /usr/bin/time -f "cpu %U %S" $MPIRUN -np 2 \
      -x DNN_DIST_OVERLAP "$DNNLUA" "$EXAMPLE" --epochs 1 --limit "$LIMIT" --batch-size 32 --out /tmp >"$OUT" 2>&1
    rate=$(grep -a "samples/s" "$OUT" | sed 's/.*, \([0-9]*\) samples.*/\1/')
    steps=$(grep -a "^per step" "$OUT" | sed 's/per step: //')
    cpu=$(grep -a "^cpu " "$OUT" | awk '{printf "%.1f s", $2 + $3}')
    echo "overlap $overlap: $rate samples/s, cpu $cpu; $steps (load $load)"
  done
done
