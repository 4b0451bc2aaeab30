#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# run_shell.sh - the sqlite_shell test: runs shell.sql through the sqlite3
# shell with the extension loaded, in a fresh work directory, and compares
# its standard output with shell.expected and its error lines with
# shell.errors (kept apart because the shell buffers one and not the
# other; error prefixes, which differ between shell versions, become
# "error: ").
#   sh run_shell.sh <sqlite3> <vexdb_sqlite.so> <this dir> <work dir>
set -eu
shell="$1"
ext="$2"
dir="$3"
work="$4"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
status=0
"$shell" -batch -cmd ".load ${ext%.so}" :memory: < "$dir/shell.sql" \
  > out.txt 2> err.raw || status=$?
sed -E -e 's/^(Runtime error|Parse error|Error)( near line [0-9]+)?: /error: /' -e 's/ \([0-9]+\)$//' \
  err.raw > err.txt
fail=0
diff -u "$dir/shell.expected" out.txt || fail=1
diff -u "$dir/shell.errors" err.txt || fail=1
if [ "$fail" -ne 0 ]; then
  echo "run_shell.sh: output differs (sqlite3 exit status $status)" >&2
  exit 1
fi
echo "run_shell.sh: ok ($(wc -l < out.txt) lines, $(wc -l < err.txt) errors as expected)"
