#!/bin/sh
# Installs ONNX Runtime for node (npm's onnxruntime-node 1.30.0, its prebuilt
# library, install scripts not run) into build/onnxruntime/, where
# tests/lua/onnx_spec.lua runs dnn.onnx.export's files in it. Test-only: the
# library itself never needs it. scripts/setup.sh --test calls this; without
# node and npm it says so and the spec skips its ONNX Runtime checks.
#   scripts/setup_onnxruntime.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/.."
dir="${1:-build}/onnxruntime"
if [ -f "$dir/node_modules/onnxruntime-node/package.json" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "setup_onnxruntime: npm is not installed: the ONNX Runtime checks will be skipped" >&2
  exit 0
fi
mkdir -p "$dir"
cd "$dir"
npm install --ignore-scripts --no-audit --no-fund --no-save onnxruntime-node@1.30.0
