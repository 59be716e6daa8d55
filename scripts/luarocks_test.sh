#!/bin/sh
# `luarocks make` of rockspecs/dnnlua-<version>-1.rockspec in a copy of the
# source tree, into a temporary tree (--tree) for the system's Lua 5.4; then a
# stock lua5.4 with that tree's paths must load dnn from there and compute.
# Needs luarocks, lua5.4 and the build deps (scripts/setup.sh --test). About a
# minute on 2 cores (the build of dnn.so alone).
#   scripts/luarocks_test.sh [source dir]
set -eu
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
version=$(sed -n 's/^project(dnnlua VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
rockspec=rockspecs/dnnlua-$version-1.rockspec
[ -f "$src/$rockspec" ] || { echo "luarocks_test: no $rockspec for version $version (CMakeLists.txt)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$src/scripts/copy_source.sh" "$src" "$tmp/src"
luarocks="luarocks --lua-version=5.4 --tree=$tmp/tree"
(cd "$tmp/src" && $luarocks make "$rockspec") >"$tmp/make.log" 2>&1 || {
  cat "$tmp/make.log"
  echo "luarocks_test: luarocks make failed" >&2
  exit 1
}
$luarocks list --porcelain | grep -q "^dnnlua	$version-1	installed" || {
  $luarocks list
  echo "luarocks_test: dnnlua $version-1 is not listed in the tree" >&2
  exit 1
}

# the tree's paths only: LUA_PATH/LUA_CPATH as luarocks path sets them (the defaults follow after ';;')
eval "$($luarocks path)"
out=$(cd "$tmp" && lua5.4 -e '
  local where = package.searchpath("dnn", package.cpath)
  local dnn = require "dnn"
  print(where)
  print(dnn.version)
  print(dnn.zeros(2, 2):sum():item(), dnn.ones(2, 3):sum():item())')
echo "$out"
expected="$tmp/tree/lib/lua/5.4/dnn.so
$version
0.0	6.0"
[ "$out" = "$expected" ] || {
  printf 'luarocks_test: expected\n%s\n' "$expected" >&2
  exit 1
}
echo "luarocks_test: dnnlua $version-1 installed and loaded from $tmp/tree"
