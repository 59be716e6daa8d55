#!/bin/sh
# libdnnlua's exported symbols are its public headers' functions and nothing
# else (cmake/version_script.cmake): no binding helper (ldnn_*), no private
# core function, no protobuf-c code (onnx__*); and every function of the
# embedding API (dnnlua.h) is exported.
#   exports_test.sh <libdnnlua.so> <source dir>
set -eu
lib=$1
src=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "W" { print $3 }' | sed 's/@.*//' | sort -u)
bad=$(printf '%s\n' "$exported" | grep -Ev '^dnn(lua)?_' || true)
if [ -n "$bad" ]; then
  echo "exports_test: $lib exports symbols outside the public API:"
  printf '%s\n' "$bad" | head -20
  exit 1
fi
missing=""
for f in $(grep -o 'dnnlua_[a-z_]*(' "$src/bindings/include/dnnlua.h" | tr -d '(' | sort -u); do
  printf '%s\n' "$exported" | grep -qx "$f" || missing="$missing $f"
done
if [ -n "$missing" ]; then
  echo "exports_test: dnnlua.h functions not exported:$missing"
  exit 1
fi
private=$(grep -ho 'dnn_[a-z0-9_]*(' "$src"/core/src/*.h | tr -d '(' | sort -u)
for f in $private; do
  if printf '%s\n' "$exported" | grep -qx "$f"; then
    echo "exports_test: the private function $f (core/src/) is exported"
    exit 1
  fi
done
echo "exports_test: $(printf '%s\n' "$exported" | wc -l) functions exported, all from the public headers"
