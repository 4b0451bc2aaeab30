# SPDX-License-Identifier: Apache-2.0
# Sourced by run.sh with the cluster running: four sessions insert rows
# one statement at a time, two search (each search must return its LIMIT
# rows, in distance order), and one deletes and vacuums, all at once on one
# vexhnsw index. Afterwards the index is whole (vexhnsw_check), holds
# exactly the table's rows after a final VACUUM, and recall@10 against the
# exact order is still high. VEXPG_QUANT (none, sq8) is the quant option;
# the second and third VACUUM free the slots of the one before while the
# inserts reuse them.
db() { sql -d conc "$@"; }
vec="ARRAY(SELECT random() FROM generate_series(1, 8) WHERE g > 0)::real[]"
sql -d postgres -c "CREATE DATABASE conc"
db -c "CREATE EXTENSION vexdb" \
   -c "CREATE TABLE t (id serial PRIMARY KEY, v vexvector(8))" \
   -c "INSERT INTO t (v) SELECT $vec FROM generate_series(1, 1000) g" \
   -c "CREATE INDEX t_v ON t USING vexhnsw (v) WITH (m = 8, ef_construction = 32, quant = ${VEXPG_QUANT:-none})"
psql_bg() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U vextest -d conc -At "$@"; }
pids=""
for w in 1 2 3 4; do
  i=0
  while [ $i -lt 400 ]; do
    echo "INSERT INTO t (v) SELECT $vec FROM generate_series(1, 1) g;"
    i=$((i + 1))
  done > "$tmp/ins$w.sql"
  psql_bg -f "$tmp/ins$w.sql" >/dev/null &
  pids="$pids $!"
done
for r in 1 2; do
  {
    echo "SET enable_seqscan = off;"
    i=0
    while [ $i -lt 300 ]; do
      echo "SELECT cardinality(ds), ds = ARRAY(SELECT unnest(ds) ORDER BY 1) FROM (SELECT ARRAY(SELECT random() FROM generate_series(1, 8))::real[]::vexvector AS qv) q, LATERAL (SELECT array_agg(d) AS ds FROM (SELECT v <-> q.qv AS d FROM t ORDER BY v <-> q.qv LIMIT 10) x) s;"
      i=$((i + 1))
    done
  } > "$tmp/search$r.sql"
  psql_bg -f "$tmp/search$r.sql" > "$tmp/search$r.out" &
  pids="$pids $!"
done
{
  for i in 1 2 3; do
    echo "DELETE FROM t WHERE id % 7 = $i;"
    echo "VACUUM t;"
    echo "SELECT pg_sleep(0.2);"
  done
} > "$tmp/vacuum.sql"
psql_bg -f "$tmp/vacuum.sql" >/dev/null &
pids="$pids $!"
plan=$(db -c "SET enable_seqscan = off" -c "EXPLAIN (COSTS OFF) $(tail -1 "$tmp/search1.sql")")
echo "$plan" | grep -q "Index Scan using t_v" || { echo "FAIL: searches do not use the index: $plan"; exit 1; }
fail=0
for p in $pids; do wait "$p" || fail=1; done
[ $fail = 0 ] || { echo "FAIL: a session failed"; tail -20 "$tmp/server.log"; exit 1; }
bad=$(cat "$tmp/search1.out" "$tmp/search2.out" | grep -v -c '^10|t$' || true)
total=$(cat "$tmp/search1.out" "$tmp/search2.out" | wc -l)
echo "searches: $total, short or out of order: $bad"
[ "$total" = 600 ] && [ "$bad" = 0 ] || { echo "FAIL: searches"; exit 1; }
db -c "VACUUM (INDEX_CLEANUP ON) t"
rows=$(db -c "SELECT count(*) FROM t")
got=$(db -F' ' -c "SELECT live, deleted, unreachable FROM vexhnsw_check('t_v')")
echo "rows $rows; live deleted unreachable = $got"
set -- $got
[ "$1" = "$rows" ] || { echo "FAIL: $1 live elements for $rows rows"; exit 1; }
[ "$3" -le $((rows / 100)) ] || { echo "FAIL: $3 elements unreachable"; exit 1; }
recall=$(db -c "SET vexdb.ef_search = 64" -c "
  CREATE TEMP TABLE q AS SELECT i AS qid, ARRAY(SELECT random() FROM generate_series(1, 8) WHERE i > 0)::real[]::vexvector AS v FROM generate_series(1, 30) i;
  SET enable_indexscan = off;
  CREATE TEMP TABLE exact AS SELECT q.qid, x.id FROM q, LATERAL (SELECT id FROM t ORDER BY t.v <-> q.v LIMIT 10) x;
  RESET enable_indexscan;
  SET enable_seqscan = off;
  SET enable_sort = off;
  SELECT count(*) FROM q CROSS JOIN LATERAL (SELECT id FROM t ORDER BY t.v <-> q.v LIMIT 10) x JOIN exact e ON e.qid = q.qid AND e.id = x.id;")
echo "recall@10 hits: $recall of 300"
[ "$recall" -ge 270 ] || { echo "FAIL: recall"; exit 1; }
echo "concurrent: ok"
