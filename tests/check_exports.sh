#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The shared library must export exactly the public API: every exported
# function starts with vex_ and is declared in include/vexdb.h, and every
# function the header declares is exported.
set -eu
lib="$1"
header="$2"
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort)
declared=$(grep -oE '^VEX_API [^(]*[ *](vex_[a-z0-9_]+)\(' "$header" |
           grep -oE 'vex_[a-z0-9_]+\($' | tr -d '(' | sort)
status=0
for s in $exported; do
  case "$s" in
    vex_*) ;;
    *) echo "exported symbol without the vex_ prefix: $s"; status=1 ;;
  esac
  echo "$declared" | grep -qx "$s" || { echo "exported but not in vexdb.h: $s"; status=1; }
done
for s in $declared; do
  echo "$exported" | grep -qx "$s" || { echo "declared in vexdb.h but not exported: $s"; status=1; }
done
[ -n "$declared" ] || { echo "no declarations found in $header"; status=1; }
[ $status -eq 0 ] && echo "exports ok: $(echo "$exported" | wc -l) symbols"
exit $status
