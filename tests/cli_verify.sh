#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# cli_verify.sh - end-to-end test of `vex verify`, `vex dump` and
# `vex backup`, run by ctest as: cli_verify.sh VEX WORKDIR
# A database is built with `vex bench --db` (HNSW, metadata), then: verify
# exits 0 and says ok (text and --json); dump lists every file kind and
# each file alone; backup makes a copy that verifies and refuses an
# existing destination; every command works while another process holds
# the database's writer lock; a flipped byte in a segment and in a
# manifest and a truncated segment make verify exit 1 naming the file and
# offset, dump say "damage:", and backup fail leaving nothing behind;
# usage errors exit 2.
set -u
VEX=$1
W=$2
rm -rf "$W"
mkdir -p "$W"
cd "$W" || exit 1
fails=0

fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}

# run EXPECTED_RC ARGS...: output in out/err
run() {
  want=$1
  shift
  "$VEX" "$@" >out 2>err
  rc=$?
  [ "$rc" -eq "$want" ] || fail "vex $*: exit $rc, wanted $want; stdout: $(head -c 2000 out); stderr: $(cat err)"
}

expect() { # FILE REGEX
  grep -Eq -- "$2" "$1" || fail "expected /$2/ in $1: $(head -c 2000 "$1")"
}

flip() { # FILE OFFSET
  printf '\132' | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

run 0 gen --n 1500 --dim 16 --queries 5 --seed 11 --out s
awk 'BEGIN { print "row\tcat"; for (i = 0; i < 1500; i++) print i "\t" i % 7 }' >m.tsv
run 0 bench --base s_base.fvecs --queries s_query.fvecs --metric l2 --index hnsw \
  --meta m.tsv --filter "cat = 3" --db db
# a typo in the filter is found before anything is loaded, and the --db
# directory the run made is removed again
run 2 bench --base s_base.fvecs --queries s_query.fvecs --metric l2 --index hnsw \
  --meta m.tsv --filter "cat == 3" --db typo
expect err "hint: write = instead of =="
[ ! -e typo ] || fail "a bench with a bad filter left its database behind"
C=collections/bench
SEG=$(cd db/$C && ls seg-*.vseg | head -n 1)
MAN=$(cd db/$C && ls MANIFEST-* | head -n 1)
WAL=$(cd db/$C/wal && ls wal-*.log | head -n 1)

# a clean database
run 0 verify db
expect out "^ok: 1 collections"
run 0 verify db --json
expect out '"summary":true,"status":"VEX_OK","errors":0'
run 0 verify db bench --verbose
expect out "info: $C/$SEG at offset [0-9]+: index: hnsw, 1500 vectors"
run 1 verify db nosuch
expect err "no collection \"nosuch\""

# dump: everything, and each kind alone
run 0 dump db
expect out "^== VEXDB"
expect out "^== $C/CURRENT"
expect out "^manifest $MAN"
expect out "^segment, [0-9]+ bytes, format version 4"
expect out "^write-ahead log file"
run 0 dump db $C/CURRENT
expect out "names MANIFEST-[0-9a-f]{16}, checksum [0-9a-f]{8}: ok"
run 0 dump db $C/$MAN
expect out "collection \"bench\": dim 16, f32, l2, index hnsw"
run 0 dump db $C/$SEG --max-items 3
expect out "\.\.\. 1497 more rows"
expect out "graph: 1500 nodes"
run 0 dump db $C/wal/$WAL
expect out "first sequence number"
run 0 dump db/VEXDB
expect out "database marker"
run 1 dump db $C/nosuch
expect out "^error: "
# --json: one object per file, every file of the database, each "ok"
run 0 dump db --json
expect out '^\{"file":"VEXDB","lines":\["database marker'
expect out "^\\{\"file\":\"$C/$SEG\",\"lines\":\\[\"segment, "
files=$(find db -type f ! -name LOCK | wc -l)
[ "$(wc -l <out)" -eq "$files" ] || fail "dump --json: $(wc -l <out) objects for $files files"
[ "$(grep -c '"status":"ok"}$' out)" -eq "$files" ] || fail "dump --json: not every file ok: $(cat out)"

# backup, and the copy verifies
run 0 backup db b1
expect out "backup of db in b1: 1 collections, 1 segments"
run 0 verify b1
expect out "^ok: 1 collections"
run 1 backup db b1
expect err "exists"
run 0 backup db b2 --hard-link --json
expect out '"linked":1'

# beside a process holding the writer's lock (flock on LOCK, as a writable
# vex_db_open holds it): the three commands take no lock
if command -v flock >/dev/null 2>&1; then
  flock db/LOCK sleep 30 &
  holder=$!
  sleep 1
  run 0 verify db
  run 0 dump db $C/CURRENT
  run 0 backup db b3
  run 0 verify b3
  kill "$holder" 2>/dev/null
  wait "$holder" 2>/dev/null
else
  echo "skipped: the lock-holder case (no flock(1) on this machine)"
fi

# damage
cp -a db d1
flip d1/$C/$SEG 4100
run 1 verify d1
expect out "^error: $C/$SEG at offset 4096: (.*: )?ids section checksum mismatch"
expect out "^DAMAGED: .* 1 errors"
run 1 dump d1 $C/$SEG
expect out "^damage: "
expect err "damaged"
run 1 dump d1 $C/$SEG --json
expect out '"status":"damaged"\}$'
expect out '"damage: '

run 1 backup d1 b4
expect err "does not verify"
[ ! -e b4 ] && [ ! -e b4.partial ] || fail "a failed backup left b4 or b4.partial"
cp -a db d2
flip d2/$C/$MAN 70
run 1 verify d2 --json
expect out "\"file\":\"$C/$MAN\",\"offset\":[0-9]+"
cp -a db d3
truncate -s 8192 d3/$C/$SEG 2>/dev/null || dd if=/dev/null of=d3/$C/$SEG bs=1 seek=8192 2>/dev/null
run 1 verify d3
expect out "^error: $C/$SEG at offset 72: "

# usage errors
run 2 verify
expect err "missing argument"
run 2 backup db
run 2 dump db --max-items x

if [ "$fails" -ne 0 ]; then
  echo "$fails failures" >&2
  exit 1
fi
echo "cli_verify: all passed"
cd / && rm -rf "$W"
