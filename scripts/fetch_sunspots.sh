#!/bin/sh
# Puts the yearly sunspot numbers (1700-2008) that Debian's python3-statsmodels
# ships (statsmodels/datasets/sunspots/sunspots.csv, public domain, from
# NOAA's NGDC) at $DNN_DATA_DIR/sunspots.csv (default ~/.cache/dnnlua), for
# examples/timeseries.lua. The file is taken from the installed package when
# there is one; otherwise the package is downloaded with apt-get download and
# only that file is extracted (dpkg-deb -x), so statsmodels' dependencies
# (SciPy, pandas) are not installed. Does nothing when the file is there.
set -eu
dir=${DNN_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dnnlua}
target=$dir/sunspots.csv
inside=usr/lib/python3/dist-packages/statsmodels/datasets/sunspots/sunspots.csv
[ -f "$target" ] && exit 0
mkdir -p "$dir"
if [ -f "/$inside" ]; then
  cp "/$inside" "$target"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # apt-get download writes to the current folder; as root it warns that _apt cannot write there.
  (cd "$work" && apt-get download python3-statsmodels 2>/dev/null) || {
    echo "fetch_sunspots: apt-get download python3-statsmodels failed (run apt-get update?)" >&2
    exit 1
  }
  dpkg-deb -x "$work"/python3-statsmodels_*.deb "$work/x"
  cp "$work/x/$inside" "$target"
fi
echo "fetch_sunspots: wrote $target"
