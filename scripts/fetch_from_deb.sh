#!/bin/sh
# Usage: scripts/fetch_from_deb.sh PACKAGE DEST_DIR FILE...
# Copies FILEs (paths inside Debian's PACKAGE, without the leading /) into
# DEST_DIR: from the installed package when it is there, otherwise from the
# package downloaded with apt-get download and unpacked with dpkg-deb -x, so
# that none of its dependencies is installed. Files already in DEST_DIR are
# kept. The data examples use this for files Debian ships inside larger
# packages (python3-statsmodels' sunspots, python3-skimage's photographs).
set -eu
[ $# -ge 3 ] || { echo "usage: fetch_from_deb.sh PACKAGE DEST_DIR FILE..." >&2; exit 2; }
package=$1 dest=$2
shift 2
mkdir -p "$dest"
work=""
trap '[ -z "$work" ] || rm -rf "$work"' EXIT
for inside in "$@"; do
  target=$dest/$(basename "$inside")
  [ -f "$target" ] && continue
  if [ -f "/$inside" ]; then
    cp "/$inside" "$target"
  else
    if [ -z "$work" ]; then
      work=$(mktemp -d)
      # apt-get download writes to the current folder; as root it warns that _apt cannot write there.
      (cd "$work" && apt-get download "$package" 2>/dev/null) || {
        echo "fetch_from_deb: apt-get download $package failed (run apt-get update?)" >&2
        exit 1
      }
      dpkg-deb -x "$work"/"$package"_*.deb "$work/x"
    fi
    cp "$work/x/$inside" "$target"
  fi
  echo "fetch_from_deb: wrote $target"
done
