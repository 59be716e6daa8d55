#!/bin/sh
# Builds the Debian packages (debian/) with dpkg-buildpackage -us -uc -b in a
# copy of the source tree, checks what each one holds, extracts them all into
# a temporary root with dpkg -x (nothing is installed on the system) and runs
# them from there: the dnnlua program, dnn.so from a stock lua5.4, and a C
# host built with the -dev package's pkg-config file against the shared
# library. lintian must report no errors (its warnings are printed).
# Needs dpkg-dev, debhelper, fakeroot, lintian and the build deps
# (scripts/setup.sh --test). About 2 minutes on 2 cores.
#   scripts/deb_test.sh [source dir]
set -eu
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
version=$(sed -n 's/^project(dnnlua VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "deb_test: $*" >&2
  exit 1
}

# dpkg-buildpackage writes the packages into the folder above the source
"$src/scripts/copy_source.sh" "$src" "$tmp/dnnlua-$version"
(cd "$tmp/dnnlua-$version" &&
  DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 || {
  tail -n 60 "$tmp/build.log"
  fail "dpkg-buildpackage failed"
}

[ -n "${DEB_TEST_KEEP_LOG:-}" ] && cp "$tmp/build.log" "$DEB_TEST_KEEP_LOG"

# each package holds its files (paths as dpkg-deb -c lists them)
check_holds() { # <package> <path>...
  package=$1
  shift
  deb=$tmp/${package}_${version}_$arch.deb
  [ -f "$deb" ] || fail "$package was not built ($(cd "$tmp" && ls ./*.deb))"
  dpkg-deb -c "$deb" | awk '{print $6}' >"$tmp/$package.list"
  for path; do
    grep -q "^\\./$path\$" "$tmp/$package.list" || fail "$package lacks /$path"
  done
}
lib=usr/lib/$multiarch
check_holds dnnlua usr/bin/dnnlua usr/share/man/man1/dnnlua.1.gz
check_holds libdnnlua0 "$lib/libdnnlua.so.0" "$lib/libdnnlua.so.$version"
check_holds libdnnlua-dev usr/include/dnnlua.h usr/include/dnn/tensor.h "$lib/libdnnlua.so" "$lib/libdnnlua.a" \
  "$lib/pkgconfig/dnnlua.pc" "$lib/cmake/dnnlua/dnnluaConfig.cmake" "$lib/cmake/dnnlua/dnnluaConfigVersion.cmake"
check_holds lua-dnn "$lib/lua/5.4/dnn.so"
# the runner and the module carry the library in themselves
grep -q "libdnnlua\|\.so\|usr/include" "$tmp/dnnlua.list" && fail "dnnlua holds library files"
grep -q "libdnnlua\|usr/include" "$tmp/lua-dnn.list" && fail "lua-dnn holds libdnnlua or headers"

root=$tmp/root
for p in dnnlua libdnnlua0 libdnnlua-dev lua-dnn; do
  dpkg -x "$tmp/${p}_${version}_$arch.deb" "$root"
done
export LD_LIBRARY_PATH="$root/$lib"
out=$("$root/usr/bin/dnnlua" -e 'print(dnn.version, dnn.ones(2, 3):sum():item())')
[ "$out" = "$version	6.0" ] || fail "the packaged dnnlua printed '$out'"
"$root/usr/bin/dnnlua" --version | grep -q "^dnnlua $version " || fail "dnnlua --version does not say $version"
out=$(LUA_CPATH="$root/$lib/lua/5.4/?.so" lua5.4 -e 'local dnn = require "dnn"; print(dnn.version, package.searchpath("dnn", package.cpath))')
[ "$out" = "$version	$root/$lib/lua/5.4/dnn.so" ] || fail "lua5.4 with lua-dnn's dnn.so printed '$out'"

# a host built against the -dev package (its .pc is relocatable) runs on libdnnlua0's library
export PKG_CONFIG_PATH="$root/$lib/pkgconfig"
# shellcheck disable=SC2046 # one word per flag
${CC:-cc} $(pkg-config --cflags dnnlua) "$src/examples/embed/train.c" -o "$tmp/train" $(pkg-config --libs dnnlua)
ldd "$tmp/train" | grep -q "libdnnlua.so.0 => $root/$lib/libdnnlua.so.0" || fail "the host does not load libdnnlua0's library"
"$tmp/train" "$src/examples/embed/quadrants.lua" "$tmp/quadrants.dnn" | grep -q "epoch 8/8" ||
  fail "the host built with libdnnlua-dev did not train"

# lintian: errors fail, warnings and notes are shown
lintian --fail-on error --display-info --tag-display-limit 0 "$tmp/dnnlua_${version}_$arch.changes" >"$tmp/lintian.log" 2>&1 ||
  { cat "$tmp/lintian.log"; fail "lintian reports errors"; }
sed 's/^/deb_test: lintian: /' "$tmp/lintian.log"
echo "deb_test: dnnlua, libdnnlua0, libdnnlua-dev and lua-dnn $version built, extracted and run"
