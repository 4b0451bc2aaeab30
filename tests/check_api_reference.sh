#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# ctest check_api_reference_{check,selftest}: build the API reference
# (docs/api/Doxyfile.in, as the `docs` target does) into WORK and read
# Doxygen's warnings:
#   - an undocumented function ("Member vex_x(...) (function) ... is not
#     documented") fails: every public function has a comment (above it,
#     above the run of declarations it belongs to, or after it on its
#     line; docs/api/header_filter.py);
#   - any other warning that is not "is not documented" (a bad command, an
#     unbalanced group, an HTML-looking tag) fails: the pages would be
#     wrong;
#   - undocumented fields, types, enums and macros are counted, not
#     failed: the header documents them in their struct's or section's
#     comment, which Doxygen cannot attach to each one.
# It also checks that the HTML index and a man(3) page were written.
# selftest: the same on a copy of HEADER with one undocumented function
# added, which must fail naming it (the test passes when it does).
# Usage: check_api_reference.sh check|selftest DOXYGEN DOXYFILE HEADER WORK
set -eu
mode=$1 doxygen=$2 doxyfile=$3 header=$4 work=$5

rm -rf "$work"
mkdir -p "$work"
input=$header
if [ "$mode" = selftest ]; then
    input=$work/vexdb.h
    cp "$header" "$input"
    printf '%s\n' 'VEX_API int vex_selftest_undocumented(int x);' >>"$input"
fi
# Doxygen reads the configuration from stdin: later lines win.
{
    cat "$doxyfile"
    echo "INPUT = $input"
    echo "OUTPUT_DIRECTORY = $work"
    echo "WARN_LOGFILE = $work/warnings.log"
} | "$doxygen" - >"$work/doxygen.out" 2>&1 || {
    cat "$work/doxygen.out"
    echo "check_api_reference: doxygen failed"
    exit 1
}

log=$work/warnings.log
functions=$(grep -c '(function) of file .* is not documented' "$log" || true)
errors=$(grep -E 'warning:|error:' "$log" | grep -vc 'is not documented' || true)
others=$(grep 'is not documented' "$log" | grep -vc '(function) of file' || true)
status=0
if [ "$functions" -gt 0 ]; then
    echo "undocumented functions ($functions):"
    grep '(function) of file .* is not documented' "$log"
    status=1
fi
if [ "$errors" -gt 0 ]; then
    echo "documentation errors ($errors):"
    grep -E 'warning:|error:' "$log" | grep -v 'is not documented'
    status=1
fi
for f in "$work/html/index.html" "$work/man/man3/vex_db_open.3"; do
    if [ ! -s "$f" ]; then
        echo "missing: $f"
        status=1
    fi
done
echo "$functions undocumented functions, $errors documentation errors;" \
    "$others fields, types and macros documented only by their section"

if [ "$mode" = selftest ]; then
    if [ "$status" -ne 0 ] && grep -q 'vex_selftest_undocumented' "$log"; then
        echo "selftest: the undocumented function was reported, as it must be"
        exit 0
    fi
    echo "selftest: an undocumented function was NOT reported"
    exit 1
fi
exit "$status"
