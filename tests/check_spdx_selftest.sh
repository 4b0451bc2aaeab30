#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# check_spdx_selftest.sh - check_spdx.sh must fail on a tree with unlicensed
# files and name exactly those: a header, a suffixless script and a
# CMakeLists.txt without the line fail; a licensed file, a fuzz corpus
# input and a build tree's generated file do not.
#   sh check_spdx_selftest.sh <path of check_spdx.sh>
set -eu
check="${1:?usage: check_spdx_selftest.sh <check_spdx.sh>}"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/src" "$d/tools" "$d/fuzz/corpus/x" "$d/build/gen"
printf '/* SPDX-License-Identifier: Apache-2.0 */\nint ok;\n' > "$d/src/good.c"
printf '#!/bin/sh\n# SPDX-License-Identifier: Apache-2.0\n' > "$d/tools/good"
printf '/* no licence line */\nint bad;\n' > "$d/src/bad.h"
printf '#!/bin/sh\necho unlicensed\n' > "$d/tools/script"
printf 'project(x)\n' > "$d/CMakeLists.txt"
printf 'int corpus_input;\n' > "$d/fuzz/corpus/x/seed.c"
: > "$d/build/CMakeCache.txt"
printf 'int generated;\n' > "$d/build/gen/CMakeCCompilerId.c"

status=0
out=$(sh "$check" "$d") && { echo "check_spdx passed a tree with unlicensed files"; status=1; }
echo "$out"
for f in src/bad.h tools/script CMakeLists.txt; do
  echo "$out" | grep -q ": $f\$" || { echo "not named: $f"; status=1; }
done
for f in src/good.c tools/good fuzz/corpus build/gen; do
  echo "$out" | grep -q ": $f" && { echo "named wrongly: $f"; status=1; }
done
# Licensing the three files makes the same tree pass.
for f in src/bad.h tools/script CMakeLists.txt; do
  { head -n 1 "$d/$f"; echo '# SPDX-License-Identifier: Apache-2.0'; tail -n +2 "$d/$f"; } > "$d/t"
  mv "$d/t" "$d/$f"
done
sh "$check" "$d" || { echo "check_spdx failed a licensed tree"; status=1; }
[ $status -eq 0 ] && echo "check_spdx selftest ok"
exit $status
