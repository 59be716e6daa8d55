#!/bin/sh
# Puts the yearly sunspot numbers (1700-2008) that Debian's python3-statsmodels
# ships (statsmodels/datasets/sunspots/sunspots.csv, public domain, from
# NOAA's NGDC) at $DNN_DATA_DIR/sunspots.csv (default ~/.cache/dnnlua), for
# examples/timeseries.lua, without installing statsmodels' dependencies
# (SciPy, pandas): see fetch_from_deb.sh.
set -eu
dir=${DNN_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dnnlua}
exec "$(dirname "$0")/fetch_from_deb.sh" python3-statsmodels "$dir" \
  usr/lib/python3/dist-packages/statsmodels/datasets/sunspots/sunspots.csv
