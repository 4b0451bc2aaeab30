# SPDX-License-Identifier: Apache-2.0
# Sourced by run.sh with the cluster running: the index pages are
# untrusted bytes. A seeded loop (VEXPG_CORRUPT_SEED, _ROUNDS) overwrites
# a run of bytes of the index file (any block, the metapage included)
# with pseudo-random bytes,
# restarts the server, runs vexhnsw_check, ordered scans and an insert,
# and requires that every statement either works or fails with an error:
# no server process may die (the log must not say "terminated by
# signal"). The original file is put back before each round. VEXPG_QUANT
# (none, sq8) is the index's quant option (sq8: the quantizer on the
# metapage is untrusted bytes too).
db() { sql -d corrupt "$@"; }
rounds=${VEXPG_CORRUPT_ROUNDS:-25}
vec="ARRAY(SELECT random() FROM generate_series(1, 8) WHERE g > 0)::real[]"
sql -d postgres -c "CREATE DATABASE corrupt"
db -c "CREATE EXTENSION vexdb" \
   -c "CREATE TABLE t (id serial PRIMARY KEY, v vexvector(8))" \
   -c "INSERT INTO t (v) SELECT $vec FROM generate_series(1, 3000) g" \
   -c "CREATE INDEX t_v ON t USING vexhnsw (v) WITH (m = 4, ef_construction = 16, quant = ${VEXPG_QUANT:-none})" \
   -c "CHECKPOINT"
rel=$(db -c "SELECT pg_relation_filepath('t_v')")
size=$(db -c "SELECT pg_relation_size('t_v')")
stop fast
as_owner cp "$data/$rel" "$tmp/index.orig"
errors=0 round=1
seed=${VEXPG_CORRUPT_SEED:-7}
while [ $round -le $rounds ]; do
  # a small LCG in shell arithmetic: offset and length from the seed
  seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
  off=$(( seed % size ))
  seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
  len=$(( 1 + seed % 64 ))
  bytes="" i=0
  while [ $i -lt $len ]; do
    seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
    bytes="$bytes\\$(printf '%03o' $(( (seed / 65536) % 256 )))"
    i=$((i + 1))
  done
  printf "$bytes" > "$tmp/garbage"
  as_owner cp "$tmp/index.orig" "$data/$rel"
  as_owner dd if="$tmp/garbage" of="$data/$rel" bs=1 seek=$off count=$len \
    conv=notrunc status=none
  start
  for q in "SELECT * FROM vexhnsw_check('t_v')" \
           "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 50) s" \
           "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM t WHERE id % 10 = 0 ORDER BY v <-> '[0.1,0.9,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 20) s" \
           "INSERT INTO t (v) SELECT $vec FROM generate_series(1, 5) g" \
           "VACUUM t"; do
    db -c "$q" >/dev/null 2>"$tmp/err" || errors=$((errors + 1))
  done
  if grep -q "terminated by signal" "$tmp/server.log"; then
    echo "FAIL: round $round (offset $off, $len bytes) crashed a backend"
    grep -B2 -A6 "terminated by signal" "$tmp/server.log" | head -20
    exit 1
  fi
  stop fast
  round=$((round + 1))
done
as_owner cp "$tmp/index.orig" "$data/$rel"
start
echo "corrupt: $rounds rounds, $errors statements failed cleanly, no crash"
