#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# ctest install_consumers: install this build to a temporary prefix and
# build every program of examples/ (not the demo) against it the three
# ways a program can use VexDB, running each program:
#   1. pkg-config: cc $(pkg-config --cflags --libs vexdb) (shared, run with
#      LD_LIBRARY_PATH) and --static (against a copy of the prefix without
#      the shared library, so the link must get -lzstd & co. from
#      Libs.private);
#   2. find_package(VexDB): tests/consumer with VexDB::vexdb and
#      VexDB::vexdb_static;
#   3. add_subdirectory(<source tree>): tests/consumer again, which checks
#      that VexDB builds only its library then (and rebuilds it: only the
#      library targets, -j2).
# Usage: install_consumers.sh SRC BUILD WORK CC CMAKE LIBDIR VERSION
# Exits 77 (skipped) after parts 2 and 3 when pkg-config is missing.
set -eu
src=$1 build=$2 work=$3 cc=$4 cmake=$5 libdir=$6 version=$7
# every examples/*.c but the demo (the README's first command, which has
# a ctest of its own and takes longer)
examples="" sources=""
for f in "$src"/examples/*.c; do
    ex=$(basename "$f" .c)
    [ "$ex" = demo ] && continue
    examples="$examples $ex"
    sources="${sources:+$sources;}$f"
done
[ -n "$examples" ] || { echo "install_consumers: no examples in $src/examples" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log"

# needed BIN LIB: whether BIN's dynamic section needs LIB (1/0, or - when
# readelf is not there to say)
needed() {
    if command -v readelf >/dev/null 2>&1; then
        if readelf -d "$1" | grep -q "NEEDED.*\[$2"; then echo 1; else echo 0; fi
    else
        echo -
    fi
}
# run NAME BIN: run an example in a fresh database directory
run() {
    rm -rf "$work/db-$1"
    echo "-- $1"
    "$2" "$work/db-$1"
    rm -rf "$work/db-$1"
}
fail() {
    echo "install_consumers: $*" >&2
    exit 1
}

skipped=""
# 1. pkg-config
if command -v pkg-config >/dev/null 2>&1; then
    export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
    v=$(pkg-config --modversion vexdb)
    [ "$v" = "$version" ] || fail "pkg-config --modversion vexdb: $v, expected $version"
    for ex in $examples; do
        # shellcheck disable=SC2046
        "$cc" -std=c11 -Wall -Wextra -Werror -o "$work/pc_shared_$ex" \
            "$src/examples/$ex.c" $(pkg-config --cflags --libs vexdb) -pthread
        [ "$(needed "$work/pc_shared_$ex" libvexdb.so)" != 0 ] ||
            fail "pkg-config shared build of $ex does not link libvexdb.so"
        LD_LIBRARY_PATH="$prefix/$libdir" run "pc_shared_$ex" "$work/pc_shared_$ex"
    done

    # static: a prefix with libvexdb.a only, so -lvexdb must be the archive
    cp -R "$prefix" "$work/prefix-static"
    rm -f "$work/prefix-static/$libdir"/libvexdb.so*
    sed "s|^prefix=.*|prefix=$work/prefix-static|" "$prefix/$libdir/pkgconfig/vexdb.pc" \
        >"$work/prefix-static/$libdir/pkgconfig/vexdb.pc"
    export PKG_CONFIG_PATH="$work/prefix-static/$libdir/pkgconfig"
    for ex in $examples; do
        # shellcheck disable=SC2046
        "$cc" -std=c11 -Wall -Wextra -Werror -o "$work/pc_static_$ex" \
            "$src/examples/$ex.c" $(pkg-config --cflags --libs --static vexdb)
        [ "$(needed "$work/pc_static_$ex" libvexdb)" != 1 ] ||
            fail "pkg-config --static build of $ex needs libvexdb.so"
        run "pc_static_$ex" "$work/pc_static_$ex"
    done
    unset PKG_CONFIG_PATH
else
    skipped="pkg-config not found: the pkg-config builds were skipped (apt-get install pkg-config)"
    echo "$skipped"
fi

# 2. find_package(VexDB)
"$cmake" -S "$src/tests/consumer" -B "$work/pkg" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" -DVEXDB_CONSUMER_MODE=package \
    -DVEXDB_EXAMPLES="$sources" -DVEXDB_EXPECT_VERSION="$version" >"$work/pkg.log" ||
    { cat "$work/pkg.log"; fail "find_package consumer: configure failed"; }
"$cmake" --build "$work/pkg" -j2 >>"$work/pkg.log" 2>&1 ||
    { cat "$work/pkg.log"; fail "find_package consumer: build failed"; }
for ex in $examples; do
    [ "$(needed "$work/pkg/${ex}_shared" libvexdb.so)" != 0 ] ||
        fail "VexDB::vexdb does not link libvexdb.so ($ex)"
    [ "$(needed "$work/pkg/${ex}_static" libvexdb)" != 1 ] ||
        fail "VexDB::vexdb_static needs libvexdb.so ($ex)"
    run "pkg_shared_$ex" "$work/pkg/${ex}_shared"
    run "pkg_static_$ex" "$work/pkg/${ex}_static"
done

# 3. add_subdirectory(VexDB): no build type given, as a parent might
"$cmake" -S "$src/tests/consumer" -B "$work/sub" -DCMAKE_C_COMPILER="$cc" \
    -DVEXDB_CONSUMER_MODE=subdir -DVEXDB_SOURCE_DIR="$src" \
    -DVEXDB_EXAMPLES="$sources" >"$work/sub.log" ||
    { cat "$work/sub.log"; fail "add_subdirectory consumer: configure failed"; }
"$cmake" --build "$work/sub" -j2 >>"$work/sub.log" 2>&1 ||
    { cat "$work/sub.log"; fail "add_subdirectory consumer: build failed"; }
for ex in $examples; do
    run "sub_static_$ex" "$work/sub/${ex}_static"
done

rm -rf "$work"
if [ -n "$skipped" ]; then
    echo "$skipped"
    exit 77
fi
echo "install_consumers: pkg-config, find_package and add_subdirectory builds ran"
