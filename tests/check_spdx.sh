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

# A source file by name, or a script by its first two bytes.
is_source() {
  case "$1" in
    fuzz/corpus/* | */fuzz/corpus/*) return 1 ;;
    *.c | *.h | *.cpp | *.sh | *.py | *.cmake | *.cmake.in) return 0 ;;
    CMakeLists.txt | */CMakeLists.txt | .ci/run) return 0 ;;
  esac
  [ "$(head -c 2 "$1" 2>/dev/null)" = '#!' ]
}

status=0
n=0
files=$(mktemp)
trap 'rm -f "$files"' EXIT
list_files | sort -u > "$files"
while IFS= read -r f; do
  [ -f "$f" ] || continue # listed by git but deleted in the work tree
  is_source "$f" || continue
  n=$((n + 1))
  if ! head -n 3 "$f" | grep -q 'SPDX-License-Identifier: Apache-2\.0'; then
    echo "no 'SPDX-License-Identifier: Apache-2.0' in the first 3 lines: $f"
    status=1
  fi
done < "$files"
if [ "$n" -eq 0 ]; then
  echo "no source files found under $root"
  status=1
fi
[ $status -eq 0 ] && echo "spdx ok: $n source files"
exit $status
