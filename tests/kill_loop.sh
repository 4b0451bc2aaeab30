#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# kill_loop.sh - the long kill -9 loop: acknowledged writes survive a real kill of the process.
#
# Runs tests/test_kill_loop (see the header of tests/test_kill_loop.c): a
# child process writes to a database with GROUP or FULL durability and
# reports each acknowledged write on a pipe; the parent kills it with
# SIGKILL at a random moment, reopens the database and checks that every
# acknowledged record is there and intact and that no unacknowledged
# write is half-present, cycle after cycle on the same database. ctest
# runs 120 cycles; this script runs as many as you like (default 10,000),
# printing a progress report every 100 cycles.
#
# Usage: tests/kill_loop.sh [-n CYCLES] [-s SEED] [-r RESET_EVERY] [-R]
#                           [-b BINARY] [DIR]
#   -n CYCLES       kill cycles (default 10000)
#   -s SEED         seed of every random choice (default: the time; the
#                   seed is printed, and a failure names it and its cycle)
#   -r RESET_EVERY  start a fresh database every this many cycles (default
#                   1000; segments are never compacted, so one database
#                   killed 10,000 times only grows and each reopen slows
#                   down); 0 = never
#   -R              the crash campaign: random options (durability GROUP,
#                   FULL or NONE, memtable and log file sizes, exact rows,
#                   compaction on or off, background threads) every cycle,
#                   and with every new database a random configuration of
#                   the second collection (HNSW or FLAT, L2 or inner
#                   product, no quantizer, SQ8, BQ, PQ or OPQ, hnsw_m,
#                   a schema, zstd columns); the report counts the draws
#   -b BINARY       the test binary (default build/tests/test_kill_loop
#                   next to this script's repository)
#   DIR             where the database lives (created if missing; default
#                   a new mktemp -d directory). The database is removed
#                   when the run passes and kept for inspection when it
#                   fails.
# Exit status: 0 when every cycle passed, 1 on a failure, 2 on bad usage.
#
# Example: cmake --build build && tests/kill_loop.sh -n 2000 /tmp/kl
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cycles=10000
seed=$(date +%s)
reset=1000
bin="$here/../build/tests/test_kill_loop"
random=""

while getopts n:s:r:Rb:h opt; do
    case $opt in
    n) cycles=$OPTARG ;;
    s) seed=$OPTARG ;;
    r) reset=$OPTARG ;;
    R) random=--random-options ;;
    b) bin=$OPTARG ;;
    *)
        sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
        exit 2
        ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -gt 1 ]; then
    echo "kill_loop.sh: one directory at most" >&2
    exit 2
fi
if [ ! -x "$bin" ]; then
    echo "kill_loop.sh: no test binary at $bin (build first, or -b)" >&2
    exit 2
fi
if [ $# -eq 1 ]; then
    dir=$1
    mkdir -p "$dir"
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vex_kill_loop.XXXXXX")
fi

echo "kill_loop.sh: $cycles cycles, seed $seed, reset every $reset${random:+, random options}, in $dir"
status=0
# shellcheck disable=SC2086 # $random is one flag or nothing
"$bin" --cycles "$cycles" --seed "$seed" --reset-every "$reset" \
    --progress 100 --dir "$dir" $random || status=$?
if [ $status -eq 0 ]; then
    echo "kill_loop.sh: PASS ($cycles cycles, seed $seed)"
    [ $# -eq 1 ] || rmdir "$dir" 2>/dev/null || true
else
    echo "kill_loop.sh: FAIL (seed $seed; the database is kept in $dir)" >&2
    status=1
fi
exit $status
