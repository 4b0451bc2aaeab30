#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# check_spdx.sh - every source file the project wrote carries the line
# "SPDX-License-Identifier: Apache-2.0" in its first 3 lines (LICENSE).
#   sh check_spdx.sh <source dir>
# Source files: *.c *.h *.cpp *.sh *.py *.cmake *.cmake.in CMakeLists.txt,
# .ci/run, and any other file that starts with "#!" (a script without a
# suffix). Not the fuzz corpora (inputs, not code).
# When <source dir> is the top of a git checkout, the files are git's:
# tracked ones plus new ones not ignored, so a file not yet added is caught
# too and a build directory inside the tree is not. Otherwise (an unpacked
# tarball, no git) find walks the tree and skips every directory that holds
# a CMakeCache.txt (a build tree) and .git.
# Exit 0 when all files have the line; 1 naming each one that does not.
set -eu
export LC_ALL=C # one collation for sort and comm
root="${1:?usage: check_spdx.sh <source dir>}"
cd "$root"
here=$(pwd -P)

list_files() {
  top=""
  if command -v git >/dev/null 2>&1; then
    top=$(git rev-parse --show-toplevel 2>/dev/null || true)
  fi
  if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$here" ]; then
    git ls-files --cached --others --exclude-standard
  else
    find . \( -name .git -o -type d -exec test -e '{}/CMakeCache.txt' \; \) \
      -prune -o -type f -print | sed 's|^\./||'
  fi
}

# One awk reads the first 3 lines of every listed file (a process per
# file is slow on a loaded machine) and prints "S file" for a file that
# starts with "#!" and "L file" for one with the licence line. Source
# files are those named like sources plus the scripts; the ones without an
# L line fail.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
list_files | grep -v -e '^fuzz/corpus/' -e '/fuzz/corpus/' | sort -u |
  while IFS= read -r f; do
    if [ -f "$f" ]; then printf '%s\n' "$f"; fi # git lists deleted files too
  done > "$work/all"
while IFS= read -r f; do
  case "$f" in
    *.c | *.h | *.cpp | *.sh | *.py | *.cmake | *.cmake.in) echo "$f" ;;
    CMakeLists.txt | */CMakeLists.txt | .ci/run) echo "$f" ;;
  esac
done < "$work/all" > "$work/named"
tr '\n' '\000' < "$work/all" |
  xargs -0 awk '
    FNR == 1 && /^#!/ { print "S " FILENAME }
    FNR <= 3 && /SPDX-License-Identifier: Apache-2\.0/ { print "L " FILENAME; nextfile }
    FNR >= 3 { nextfile }' > "$work/seen" || true
sed -n 's/^S //p' "$work/seen" | cat "$work/named" - | sort -u > "$work/sources"
sed -n 's/^L //p' "$work/seen" | sort -u > "$work/licensed"
n=$(wc -l < "$work/sources" | tr -d ' ')
comm -23 "$work/sources" "$work/licensed" > "$work/missing"
status=0
while IFS= read -r f; do
  echo "no 'SPDX-License-Identifier: Apache-2.0' in the first 3 lines: $f"
  status=1
done < "$work/missing"
if [ "$n" -eq 0 ]; then
  echo "no source files found under $root"
  status=1
fi
[ $status -eq 0 ] && echo "spdx ok: $n source files"
exit $status
