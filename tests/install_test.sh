#!/bin/sh
# cmake --install the build into a temporary prefix, then build examples/embed
# on its own against that prefix, with find_package(dnnlua) (shared and
# static) and with pkg-config (shared and static), and run what was built:
# train a model from a Lua configuration, save it, classify float inputs with
# it. The hosts built with CMake are installed into a second prefix and run
# from there (their RPATH finds libdnnlua); the build tree must hold no
# package file that find_package or pkg-config would take.
#   install_test.sh <build dir> <source dir> [extra C flags, e.g. the sanitizers']
set -eu
build=$1
src=$2
cflags=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
for f in include/dnnlua.h include/dnn/dnn.h include/dnn/tensor.h bin/dnnlua share/man/man1/dnnlua.1; do
  test -e "$prefix/$f" || { echo "install_test: $f was not installed"; exit 1; }
done
# the man page is installed and renders without troff warnings
if command -v groff >/dev/null 2>&1; then
  warnings=$(groff -man -Tutf8 -ww -z "$prefix/share/man/man1/dnnlua.1" 2>&1)
  [ -z "$warnings" ] || { echo "install_test: the man page: $warnings"; exit 1; }
fi
"$prefix/bin/dnnlua" --help | grep -q "^usage: " || { echo "install_test: dnnlua --help printed no usage"; exit 1; }
libdir=$(dirname "$(find "$prefix" -name libdnnlua.a | head -n 1)")
for f in libdnnlua.so libdnnlua.a pkgconfig/dnnlua.pc cmake/dnnlua/dnnluaConfig.cmake lua/5.4/dnn.so; do
  test -e "$libdir/$f" || { echo "install_test: $libdir/$f was not installed"; exit 1; }
done
# dnnlua carries the library in itself: no RPATH, no LD_LIBRARY_PATH needed
if ldd "$prefix/bin/dnnlua" | grep -q libdnnlua; then echo "install_test: dnnlua needs libdnnlua.so"; exit 1; fi
unset LD_LIBRARY_PATH
# the installed dnn.so, from a stock lua5.4 (not under the sanitizers: lua5.4 would need their runtimes preloaded)
if [ -z "$cflags" ] && command -v lua5.4 >/dev/null 2>&1; then
  version=$(LUA_CPATH="$libdir/lua/5.4/?.so" lua5.4 -e 'local dnn = require "dnn"; io.write(dnn.version)')
  "$prefix/bin/dnnlua" -v | grep -q "^dnnlua $version " ||
    { echo "install_test: dnn.so says version '$version', dnnlua -v does not"; exit 1; }
fi

# The build tree: no dnnluaConfig.cmake or dnnlua.pc there (they would point at the wrong prefix)
if PKG_CONFIG_PATH="$build" pkg-config --exists dnnlua; then
  echo "install_test: pkg-config finds a dnnlua.pc in the build tree $build"; exit 1
fi
for hint in -Ddnnlua_DIR="$build" -DCMAKE_PREFIX_PATH="$build"; do
  if cmake -S "$src/examples/embed" -B "$tmp/build-tree-config" "$hint" >"$tmp/build-tree.log" 2>&1; then
    echo "install_test: find_package(dnnlua) found a config in the build tree ($hint)"; exit 1
  fi
  grep -q 'Could not find a package configuration file provided by "dnnlua"' "$tmp/build-tree.log" ||
    { cat "$tmp/build-tree.log"; exit 1; }
  rm -rf "$tmp/build-tree-config"
done

# the installed dnnlua runs from anywhere: write three points to classify
(cd "$tmp" && "$prefix/bin/dnnlua" -e "
  local f = assert(io.open('points.f32', 'wb'))
  f:write(string.pack('<ffffff', 1, 1, -1, 1, 1, -1))
  f:close()")

check_run() { # <train program> <classify program> <tag>
  "$1" "$src/examples/embed/quadrants.lua" "$tmp/$3.dnn" >"$tmp/$3.train.log"
  grep -q "epoch 8/8" "$tmp/$3.train.log" || { cat "$tmp/$3.train.log"; exit 1; }
  "$2" "$tmp/$3.dnn" "$tmp/points.f32" >"$tmp/$3.out"
  grep -q "points.f32\[1\]: class 1" "$tmp/$3.out" && grep -q "points.f32\[2\]: class 2" "$tmp/$3.out" &&
    grep -q "points.f32\[3\]: class 3" "$tmp/$3.out" || { echo "install_test ($3):"; cat "$tmp/$3.out"; exit 1; }
  echo "install_test: $3 ok"
}

# 1. CMake: find_package(dnnlua), dnnlua::dnnlua and dnnlua::dnnlua_static
cmake -S "$src/examples/embed" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$cflags" >"$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
check_run "$tmp/cmake-build/dnnlua_train" "$tmp/cmake-build/dnnlua_classify" find_package
if ldd "$tmp/cmake-build/dnnlua_classify_static" | grep -q libdnnlua; then
  echo "install_test: dnnlua::dnnlua_static links libdnnlua.so"; exit 1
fi
check_run "$tmp/cmake-build/dnnlua_train" "$tmp/cmake-build/dnnlua_classify_static" find_package_static
# installed hosts run from their prefix: INSTALL_RPATH_USE_LINK_PATH keeps libdnnlua's folder
cmake --install "$tmp/cmake-build" --prefix "$tmp/hosts" >"$tmp/install-hosts.log"
readelf -d "$tmp/hosts/bin/dnnlua_classify" | grep -q "R.*PATH.*$libdir" ||
  { echo "install_test: the installed host has no RPATH to $libdir"; readelf -d "$tmp/hosts/bin/dnnlua_classify"; exit 1; }
check_run "$tmp/hosts/bin/dnnlua_train" "$tmp/hosts/bin/dnnlua_classify" installed_hosts

# 2. pkg-config, the shared library
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc=${CC:-cc}
# shellcheck disable=SC2046,SC2086
$cc $cflags $(pkg-config --cflags dnnlua) "$src/examples/embed/train.c" -o "$tmp/train_pc" \
  $(pkg-config --libs dnnlua) -Wl,-rpath,"$libdir"
# shellcheck disable=SC2046,SC2086
$cc $cflags $(pkg-config --cflags dnnlua) "$src/examples/embed/classify.c" -o "$tmp/classify_pc" \
  $(pkg-config --libs dnnlua) -Wl,-rpath,"$libdir"
check_run "$tmp/train_pc" "$tmp/classify_pc" pkg-config

# 3. pkg-config --static, the static library (no libdnnlua.so needed at run time)
static_libs=$(pkg-config --static --libs dnnlua | sed 's/-ldnnlua//')
# shellcheck disable=SC2046,SC2086
$cc $cflags $(pkg-config --cflags dnnlua) "$src/examples/embed/classify.c" -o "$tmp/classify_static" \
  -Wl,-Bstatic -L"$libdir" -ldnnlua -Wl,-Bdynamic $static_libs
# shellcheck disable=SC2046,SC2086
$cc $cflags $(pkg-config --cflags dnnlua) "$src/examples/embed/train.c" -o "$tmp/train_static" \
  -Wl,-Bstatic -L"$libdir" -ldnnlua -Wl,-Bdynamic $static_libs
if ldd "$tmp/classify_static" | grep -q libdnnlua; then echo "install_test: the static build needs libdnnlua.so"; exit 1; fi
check_run "$tmp/train_static" "$tmp/classify_static" static
