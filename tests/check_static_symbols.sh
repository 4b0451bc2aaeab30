#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Every global symbol the static library defines is either public (vex_,
# declared in include/vexdb.h) or internal (vx_). A program that defines
# its own wal_open or seg_write then links against libvexdb.a without a
# clash, and a new internal function without the prefix fails here.
set -eu
lib="$1"
header="$2"
declared=$(grep -oE '^VEX_API [^(]*[ *](vex_[a-z0-9_]+)\(' "$header" |
           grep -oE 'vex_[a-z0-9_]+\($' | tr -d '(' | sort)
# nm on an archive prints "member:" lines and blank lines; keep symbols of
# defined, global kinds (text, data, bss, read-only, common, weak).
globals=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $2 ~ /^[TDBRCVWGS]$/ { print $3 }' | sort -u)
status=0
n=0
for s in $globals; do
  n=$((n + 1))
  case "$s" in
    vx_*) ;;
    vex_*) echo "$declared" | grep -qx "$s" ||
             { echo "global symbol with the public prefix but not in vexdb.h: $s"; status=1; } ;;
    *) echo "global symbol without the vex_ or vx_ prefix: $s"; status=1 ;;
  esac
done
[ "$n" -gt 0 ] || { echo "no global symbols found in $lib"; status=1; }
[ $status -eq 0 ] && echo "static symbols ok: $n global symbols"
exit $status
