#!/bin/sh
# Sets up and builds (scripts/setup.sh), then runs the main job: training a
# small CNN on Fashion-MNIST (examples/train_cnn.lua: about 92.6% test
# accuracy in under 3 minutes of training on 2 cores). Extra arguments go to the example
# script (--epochs N, --batch-size N, --data DIR, --full, ...).
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/dnnlua examples/train_cnn.lua "$@"
