#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# ctest amalgamation: build VexDB as one translation unit and use it.
#   1. tools/amalgamate writes WORK/out/vexdb.c + vexdb.h; it fails first
#      when two sources share a file-local name (static function or
#      variable, type, or a macro not #undef-ed), naming both files.
#   2. vexdb.c compiles with -O2 -Wall -Wextra -Werror (plus the project's
#      prototype and format warnings) with CC and with the other of gcc
#      and clang when it is installed, and at -O0 with
#      -DVEX_NO_SIMD_KERNELS (the scalar fallback for other compilers).
#   3. With CC's object (and -DVEX_HAVE_ZSTD=1 -lzstd when ZSTD is 1):
#      tests/test_public_api.c and tests/test_abi.c (the public header
#      only, the amalgamation's copy of it), tests/test_simd.c (every
#      kernel table against the scalar one: the target regions that
#      replace the CMake build's per-file -m flags), and the programs of
#      examples/, each run twice on a fresh database (create, reopen).
#   4. A program printing vex_simd_name() and which kernel sets are
#      supported prints the same linked with the amalgamation as with
#      LIBVEXDB (the CMake build's static library): the target regions
#      lose no kernel set the per-file flags give.
# Usage: amalgamation.sh SRC WORK PYTHON3 CC ZSTD(0|1) LIBVEXDB
set -eu
src=$1 work=$2 py=$3 cc=$4 zstd=$5 libvexdb=$6

rm -rf "$work"
mkdir -p "$work"
out=$work/out
echo "-- $py tools/amalgamate --out $out"
(cd "$src" && "$py" tools/amalgamate --out "$out")

warn="-Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes
      -Wpointer-arith -Wformat=2 -Wvla"
zdef="" zlib=""
if [ "$zstd" = 1 ]; then
    zdef="-DVEX_HAVE_ZSTD=1" zlib="-lzstd"
fi
# shellcheck disable=SC2086 # word splitting of the flag lists is meant
compile() { # COMPILER OBJECT FLAGS...
    c=$1 o=$2
    shift 2
    echo "-- $c $* -c vexdb.c"
    "$c" "$@" -c "$out/vexdb.c" -o "$o"
}
# shellcheck disable=SC2086
compile "$cc" "$work/vexdb.o" -O2 $warn $zdef
other=""
case $("$cc" --version 2>/dev/null | head -n 1) in
*clang*) other=gcc ;;
*) other=clang ;;
esac
if command -v "$other" >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    compile "$other" "$work/vexdb_$other.o" -O2 $warn
else
    echo "-- skipped: $other is not installed (only $cc compiled vexdb.c)"
fi
# shellcheck disable=SC2086
compile "$cc" "$work/vexdb_scalar.o" -O0 $warn -DVEX_NO_SIMD_KERNELS

build() { # NAME SOURCE EXTRA-INCLUDES...
    n=$1 s=$2
    shift 2
    echo "-- $n: $cc $s vexdb.o"
    # shellcheck disable=SC2086
    "$cc" -O1 $warn -I"$out" "$@" "$s" "$work/vexdb.o" -o "$work/$n" \
        $zlib -lpthread -lm
}
build test_public_api "$src/tests/test_public_api.c" -I"$src/tests"
build test_abi "$src/tests/test_abi.c" -I"$src/tests" -I"$src/src"
build test_simd "$src/tests/test_simd.c" -I"$src/tests" -I"$src/src"
for t in test_public_api test_abi test_simd; do
    echo "-- run $t"
    "$work/$t"
done
for ex in quickstart filtered standalone_index; do
    build "example_$ex" "$src/examples/$ex.c"
    for run in create reopen; do
        echo "-- run example_$ex ($run)"
        "$work/example_$ex" "$work/db_$ex"
    done
    rm -rf "$work/db_$ex"
done
cat >"$work/simd_choice.c" <<'EOF'
#include <stdio.h>

#include "vexdb.h"

int main(void)
{
    printf("in use %s; scalar %d avx2 %d avx512 %d neon %d\n",
           vex_simd_name(), vex_simd_supported("scalar"),
           vex_simd_supported("avx2"), vex_simd_supported("avx512"),
           vex_simd_supported("neon"));
    return 0;
}
EOF
for v in amalg lib; do
    obj=$work/vexdb.o
    [ "$v" = lib ] && obj=$libvexdb
    # shellcheck disable=SC2086
    "$cc" -I"$out" "$work/simd_choice.c" "$obj" -o "$work/simd_$v" \
        $zlib -lpthread -lm
done
a=$(env -u VEX_SIMD "$work/simd_amalg")
l=$(env -u VEX_SIMD "$work/simd_lib")
echo "-- kernels, amalgamation: $a"
echo "-- kernels, libvexdb.a:   $l"
if [ "$a" != "$l" ]; then
    echo "amalgamation: its SIMD kernels differ from the CMake build's"
    exit 1
fi
echo "amalgamation: ok"
