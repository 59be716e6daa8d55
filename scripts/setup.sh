#!/bin/sh
# Installs what dnnlua needs on a fresh Debian 12 (with gcc, make and CMake)
# and builds it in build/. Run as root, or as a user who may sudo. The apt
# step is skipped when every package is already installed.
set -eu
cd "$(dirname "$0")/.."

# Build deps, the Fashion-MNIST files, busted for the Lua specs, and PyTorch
# and NumPy for the cross-check tests and benchmarks.
PACKAGES="pkg-config liblua5.4-dev lua5.4 libopenblas-openmp-dev libopenblas0-openmp zlib1g-dev libpng-dev
libstb-dev libedit-dev dataset-fashion-mnist lua-busted python3-torch python3-numpy fortunes"

missing=""
for p in $PACKAGES; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing="$missing $p"
done

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

mkdir -p build
cd build
cmake .. -DCMAKE_BUILD_TYPE=Release
make -j"$(nproc)"
