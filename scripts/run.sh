#!/bin/sh
# Sets up and builds (scripts/setup.sh), then runs the main job: training a
# classifier on Fashion-MNIST. Extra arguments go to the example script.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/dnnlua examples/train_mlp.lua "$@"
