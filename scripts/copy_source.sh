#!/bin/sh
# Copies the source tree <src> to <dest> as a clean clone has it: the files
# git tracks and the new ones it does not ignore (so uncommitted work is
# tested too), without build folders. Outside a git checkout, every file but
# the build*/ folders.
#   copy_source.sh <src> <dest>
set -eu
src=$1
dest=$2
mkdir -p "$dest"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # deleted but uncommitted files are listed by ls-files and no longer exist: skip them
  # shellcheck disable=SC2016 # $f is the inner shell's
  git -C "$src" ls-files -z --cached --others --exclude-standard |
    (cd "$src" && xargs -0 sh -c 'for f; do if [ -e "$f" ]; then printf "%s\n" "$f"; fi; done' sh) |
    tar -C "$src" -cf - -T - | tar -C "$dest" -xf -
else
  tar -C "$src" --exclude='./build*' -cf - . | tar -C "$dest" -xf -
fi
