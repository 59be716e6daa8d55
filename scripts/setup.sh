#!/bin/sh
# Installs what dnnlua needs on a fresh Debian 12 (with gcc, make and CMake)
# and builds it in build/. Run as root, or as a user who may sudo. The apt
# step is skipped when every package is already installed.
#   scripts/setup.sh          what the library and the main job need
#   scripts/setup.sh --test   also what only the tests need
set -eu
cd "$(dirname "$0")/.."

# Build deps, the Fashion-MNIST files (the main job trains on them) and
# lua-argparse (the examples' command lines). libopenmpi-dev builds
# dnn.distributed (MPI) into the binaries; a run without mpirun needs only its
# libraries (libopenmpi3, which it brings). ONNX files: protobuf-c and
# protoc-c over libonnx-dev's onnx.proto. JPEG: libjpeg-turbo. The font and
# the word list of dnn.datasets.text_lines: fonts-dejavu-core, wamerican.
PACKAGES="pkg-config liblua5.4-dev libopenblas-openmp-dev libopenblas0-openmp zlib1g-dev libpng-dev libjpeg62-turbo-dev
libstb-dev libedit-dev dataset-fashion-mnist lua-argparse libopenmpi-dev libprotobuf-c-dev protobuf-c-compiler
libonnx-dev fonts-dejavu-core wamerican"
# The tests: busted for the Lua specs, a stock lua5.4 for dnn.so, PyTorch
# and NumPy for the cross-checks and benchmarks, groff to check the man page,
# fortunes (English text) for the sequence examples, clang-format for the
# style check, the packaging tools that scripts/luarocks_test.sh and
# scripts/deb_test.sh build packages with; openmpi-bin (mpirun) for the
# distributed tests (tests/distributed/run.sh); python3-onnx (onnx.checker)
# and node (ONNX Runtime from npm: scripts/setup_onnxruntime.sh, where npm
# is) for tests/lua/onnx_spec.lua; clang with its libFuzzer runtime and
# OpenMP for the fuzz targets (tests/fuzz).
TEST_PACKAGES="lua5.4 lua-busted python3-torch python3-numpy groff-base fortunes clang-format
luarocks dpkg-dev debhelper fakeroot lintian openmpi-bin python3-onnx nodejs clang libclang-rt-14-dev libomp-dev"
testing=""
case "${1:-}" in
  --test) PACKAGES="$PACKAGES $TEST_PACKAGES" testing=1 ;;
  "") ;;
  *)
    echo "usage: scripts/setup.sh [--test]" >&2
    exit 2
    ;;
esac

missing=""
for p in $PACKAGES; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing="$missing $p"
done

# npm, for ONNX Runtime in the tests: Debian's npm package where no npm is on
# PATH (a node from elsewhere that ships its own npm would conflict with it).
if [ -n "$testing" ] && ! command -v npm >/dev/null 2>&1; then
  missing="$missing npm"
  PACKAGES="$PACKAGES npm"
fi

if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
  elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "setup: missing packages:$missing; run this script as root (sudo is not installed)" >&2
    exit 1
  fi
  $SUDO apt-get update
  # shellcheck disable=SC2086 # one word per package
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES
fi

# Test data and tools outside apt's reach: the sunspot numbers and three photographs (from Debian packages, not
# installed), ONNX Runtime (npm).
if [ -n "$testing" ]; then
  scripts/fetch_sunspots.sh || echo "setup: no sunspot data: examples/timeseries.lua will not be tested" >&2
  scripts/fetch_sample_images.sh || echo "setup: no sample photographs: examples/style_transfer.lua will not be tested" >&2
  scripts/setup_onnxruntime.sh || echo "setup: no ONNX Runtime: tests/lua/onnx_spec.lua will skip it" >&2
fi

mkdir -p build
cd build
cmake .. -DCMAKE_BUILD_TYPE=Release
make -j"$(nproc)"
