#!/bin/sh
# Puts three photographs that Debian's python3-skimage ships (scikit-image's
# sample data: astronaut.png, NASA, public domain; chelsea.png, a cat, CC0
# by Stefan van der Walt; coffee.png, a cup of coffee, CC0 by Rachel
# Michetti) in $DNN_DATA_DIR/skimage/ (default ~/.cache/dnnlua), for
# examples/style_transfer.lua, without installing scikit-image's dependencies
# (SciPy, matplotlib): see fetch_from_deb.sh.
set -eu
dir=${DNN_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dnnlua}
data=usr/lib/python3/dist-packages/skimage/data
exec "$(dirname "$0")/fetch_from_deb.sh" python3-skimage "$dir/skimage" \
  $data/astronaut.png $data/chelsea.png $data/coffee.png
