#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# campaign.sh - the fuzzing budget: build every libFuzzer target (clang,
# ASan+UBSan), run each for a set time on its corpus, merge the inputs that
# found new coverage back into fuzz/corpus/<corpus>, and print one JSON line
# per target (executions, new corpus entries, crashes). Crashing inputs are
# kept in the work directory and named in the output; the exit status is 1
# when any target crashed. docs/TESTING.md records the latest run.
#
# Usage: fuzz/campaign.sh [-t SECONDS] [-b BUILD_DIR] [-w WORK_DIR] [TARGET...]
#   -t SECONDS    time per target (default 1800, the budget of a release)
#   -b BUILD_DIR  the fuzz build (default build-fuzz; configured if missing)
#   -w WORK_DIR   where new inputs and crashes go (default a mktemp -d)
#   TARGET        names without the fuzz_ prefix (default: every target)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
secs=1800
build="$here/build-fuzz"
work=""
while getopts t:b:w: o; do
  case $o in
    t) secs=$OPTARG ;;
    b) build=$OPTARG ;;
    w) work=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [-b BUILD_DIR] [-w WORK_DIR] [TARGET...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=${*:-"readers csv json import dump index index_mutate quant diskann segment manifest wal db_log logrec meta_decode meta_columns filter postings ops"}
[ -n "$work" ] || work=$(mktemp -d /tmp/vex-fuzz-XXXXXX)
mkdir -p "$work"
command -v clang >/dev/null || { echo "campaign.sh: clang is needed (libFuzzer)" >&2; exit 2; }

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVEX_FUZZ=ON -DVEX_SANITIZE=address,undefined -DVEX_BUILD_BENCH=OFF \
    -DVEX_BUILD_EXAMPLES=OFF >"$work/configure.log" 2>&1 ||
    { echo "campaign.sh: configure failed, see $work/configure.log" >&2; exit 2; }
fi
status=0
for t in $targets; do
  bin="$build/fuzz/fuzz_$t"
  corpus=$t
  [ "$t" = logrec ] && corpus=db_log # the same input format
  quiet=""
  # fuzz_import prints vex import's messages (a line per bad record) on
  # stderr: gigabytes of log in minutes. libFuzzer keeps its own and the
  # sanitizers' reports on a copy of stderr when it closes it.
  [ "$t" = import ] && quiet=-close_fd_mask=2
  seed="$here/fuzz/corpus/$corpus"
  cmake --build "$build" --target "fuzz_$t" -j "$(nproc)" >"$work/build-$t.log" 2>&1 ||
    { echo "campaign.sh: building fuzz_$t failed, see $work/build-$t.log" >&2; status=1; continue; }
  mkdir -p "$seed" "$work/new-$t" "$work/crash-$t"
  before=$(ls "$seed" | wc -l)
  # -fork would use every core; one process keeps the figures comparable
  "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=30 $quiet \
    -artifact_prefix="$work/crash-$t/" "$work/new-$t" "$seed" \
    >"$work/run-$t.log" 2>&1 || true
  "$bin" -merge=1 "$seed" "$work/new-$t" >"$work/merge-$t.log" 2>&1 || true
  after=$(ls "$seed" | wc -l)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/run-$t.log" | grep -o '[0-9]*$' || echo 0)
  crashes=$(ls "$work/crash-$t" | wc -l)
  [ "$crashes" -eq 0 ] || status=1
  printf '{"target":"%s","seconds":%s,"executions":%s,"corpus_before":%s,"corpus_after":%s,"crashes":%s,"crash_dir":"%s"}\n' \
    "$t" "$secs" "${execs:-0}" "$before" "$after" "$crashes" "$work/crash-$t"
done
exit $status
