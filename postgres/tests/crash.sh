# SPDX-License-Identifier: Apache-2.0
# Sourced by run.sh with the cluster running: writers add rows to a table
# with a vexhnsw index, the server is stopped with -m immediate in the
# middle (no checkpoint, shared buffers lost), restarted (WAL replay), and
# the index must be whole: every element and link readable
# (vexhnsw_check), every row of a committed transaction in it (after a
# VACUUM removes the elements of transactions that died with the server,
# with INDEX_CLEANUP ON since a plain one skips the indexes for a few
# dead rows, the live elements are exactly the table's rows), each row
# found by a
# search for its own vector, and the index still takes inserts.
# VEXPG_QUANT (none, sq8) is the index's quant option. Half the rows are
# deleted and two VACUUMs run before the writers start, so the index has
# free slots and the writers' inserts reuse them while the server dies.
db() { sql -d crash "$@"; }
quant=${VEXPG_QUANT:-none}
vec="ARRAY(SELECT random() FROM generate_series(1, 8) WHERE g > 0)::real[]"
sql -d postgres -c "CREATE DATABASE crash"
db -c "CREATE EXTENSION vexdb" \
   -c "CREATE TABLE t (id serial PRIMARY KEY, v vexvector(8))" \
   -c "INSERT INTO t (v) SELECT $vec FROM generate_series(1, 4000) g" \
   -c "CREATE INDEX t_v ON t USING vexhnsw (v) WITH (m = 8, ef_construction = 32, quant = $quant)" \
   -c "DELETE FROM t WHERE id % 2 = 0" -c "VACUUM t" -c "VACUUM t" \
   -c "CHECKPOINT"
echo "quant $quant; before the writers: $(db -F' ' -c "SELECT pg_relation_size('t_v'), live, deleted FROM vexhnsw_check('t_v')") (bytes, live, deleted or free)"
writers=""
for w in 1 2 3; do
  i=0
  while [ $i -lt 3000 ]; do
    echo "INSERT INTO t (v) SELECT $vec FROM generate_series(1, 1 + $i % 7) g;"
    i=$((i + 1))
  done > "$tmp/writer$w.sql"
  "$bindir/psql" -X -q -h "$tmp" -p "$port" -U vextest -d crash \
    -f "$tmp/writer$w.sql" >/dev/null 2>&1 &
  writers="$writers $!"
done
sleep 3
before=$(db -c "SELECT count(*) FROM t")
stop immediate
for p in $writers; do wait "$p" || true; done
start
after=$(db -c "SELECT count(*) FROM t")
echo "rows: 2000 at the checkpoint, $before seen before the crash, $after after"
[ "$after" -ge "$before" ] || { echo "FAIL: committed rows lost"; exit 1; }
[ "$after" -gt 2000 ] || { echo "FAIL: the writers wrote nothing before the crash"; exit 1; }
echo "index after replay: $(db -c "SELECT pg_relation_size('t_v')") bytes"
db -c "SELECT 'check before vacuum', * FROM vexhnsw_check('t_v')"
db -c "VACUUM (INDEX_CLEANUP ON) t"
got=$(db -F' ' -c "SELECT live, deleted, unreachable FROM vexhnsw_check('t_v')")
echo "after vacuum: live deleted unreachable = $got"
set -- $got
[ "$1" = "$after" ] || { echo "FAIL: $1 live elements for $after rows"; exit 1; }
[ "$3" -le $((after / 100)) ] || { echo "FAIL: $3 elements unreachable"; exit 1; }
found=$(db -c "SET enable_seqscan = off" -c "SET vexdb.ef_search = 100" -c "
  SELECT count(*) FROM (SELECT id, v FROM t ORDER BY id DESC LIMIT 300) s
  WHERE (SELECT t2.id FROM t t2 ORDER BY t2.v <-> s.v LIMIT 1) = s.id")
echo "newest 300 rows found by their own vector: $found"
[ "$found" -ge 297 ] || { echo "FAIL: only $found of 300 found"; exit 1; }
db -c "INSERT INTO t (v) SELECT $vec FROM generate_series(1, 500) g"
got=$(db -F' ' -c "SELECT live FROM vexhnsw_check('t_v')")
[ "$got" = $((after + 500)) ] || { echo "FAIL: $got live after 500 more inserts"; exit 1; }
echo "crash: ok"

# Damaged pages give an error naming the element, never a crash: overwrite
# the elements of block 1 (its line pointers kept) and read through them.
rel=$(db -c "SELECT pg_relation_filepath('t_v')")
stop fast
as_owner dd if=/dev/urandom of="$data/$rel" bs=1 seek=$((8192 + 2048)) \
  count=4096 conv=notrunc status=none
start
out=$(db -c "SELECT * FROM vexhnsw_check('t_v')" 2>&1 || true)
echo "check of the damaged index: $out"
echo "$out" | grep -q 'index "t_v": element (1,' || { echo "FAIL: no corruption error"; exit 1; }
db -c "SELECT 1" >/dev/null || { echo "FAIL: the server did not survive"; exit 1; }
db -c "REINDEX INDEX t_v"
got=$(db -c "SELECT live FROM vexhnsw_check('t_v')")
[ "$got" = $((after + 500)) ] || { echo "FAIL: $got live after REINDEX"; exit 1; }
echo "corruption: ok"
