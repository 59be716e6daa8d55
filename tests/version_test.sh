#!/bin/sh
# The version is written once, in CMakeLists.txt's project(VERSION). What
# takes it from there must say it (dnnlua -v, the man page, libdnnlua's file
# name), and the files that have to repeat it must agree: CHANGELOG.md's
# newest release, debian/changelog's top entry and the rockspec's name and
# version.
#   version_test.sh <build dir> <source dir>
set -eu
build=$1
src=$2
fail() {
  echo "version_test: $*" >&2
  exit 1
}
version=$(sed -n 's/^project(dnnlua VERSION \([0-9]*\.[0-9]*\.[0-9]*\) .*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || fail "no project(dnnlua VERSION x.y.z ...) in CMakeLists.txt"

"$build/dnnlua" -v | grep -q "^dnnlua $version (" || fail "dnnlua -v says '$("$build/dnnlua" -v)', not $version"
grep -q "^\\.TH DNNLUA 1 \"[^\"]*\" \"dnnlua $version\"" "$build/dnnlua.1" || fail "the man page's .TH is not of $version"
[ -e "$build/libdnnlua.so.$version" ] || fail "no $build/libdnnlua.so.$version"

newest=$(sed -n 's/^## \[\([0-9][0-9.]*\)\].*/\1/p' "$src/CHANGELOG.md" | head -n 1)
[ "$newest" = "$version" ] || fail "CHANGELOG.md's newest release is '$newest', not $version"

debian=$(sed -n '1s/^dnnlua (\([^)]*\)).*/\1/p' "$src/debian/changelog")
[ "$debian" = "$version" ] || fail "debian/changelog's top entry is '$debian', not $version (a native package)"

rockspec=$src/rockspecs/dnnlua-$version-1.rockspec
[ -f "$rockspec" ] || fail "no rockspecs/dnnlua-$version-1.rockspec"
grep -q "^version = \"$version-1\"$" "$rockspec" || fail "$rockspec does not say version = \"$version-1\""
echo "version_test: $version everywhere"
