# SPDX-License-Identifier: Apache-2.0
# Sourced by run.sh with the cluster running: deleted elements' space is
# reused. For quant = none and sq8, a table of 4000 rows (24-d, seeded)
# goes through 12 cycles of deleting a quarter of its rows, VACUUM and
# inserting as many new rows; the index size is printed per cycle and
# must stop growing (cycle 12 at most 5 % above cycle 4: a tombstone is
# freed by the VACUUM after the one that removed its row, so the size
# settles after two cycles), every cycle's vexhnsw_check must pass, and
# recall@10 against the exact order after the churn must stay >= 0.9.
db() { sql -d churn "$@"; }
sql -d postgres -c "CREATE DATABASE churn"
db -c "CREATE EXTENSION vexdb"
vec="ARRAY(SELECT random() - 0.5 FROM generate_series(1, 24) WHERE g > 0)::real[]"
for quant in none sq8; do
  db -c "SELECT setseed(0.125)" \
     -c "CREATE TABLE t (id int PRIMARY KEY, v vexvector(24))" \
     -c "INSERT INTO t SELECT g, $vec FROM generate_series(1, 4000) g" \
     -c "CREATE INDEX t_v ON t USING vexhnsw (v) WITH (m = 8, ef_construction = 32, quant = $quant)" \
     -c "CREATE TABLE q AS SELECT g AS qid, $vec::vexvector(24) AS v FROM generate_series(1, 50) g"
  sizes=""
  next=4001 c=1
  while [ $c -le 12 ]; do
    db -c "DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY hashint4(id + $c) LIMIT 1000)" \
       -c "VACUUM t" \
       -c "INSERT INTO t SELECT g, $vec FROM generate_series($next, $((next + 999))) g"
    next=$((next + 1000))
    got=$(db -F' ' -c "SELECT pg_relation_size('t_v'), live, deleted, unreachable FROM vexhnsw_check('t_v')")
    set -- $got
    echo "quant $quant cycle $c: index $1 bytes, live $2, deleted or free $3, unreachable $4"
    [ "$2" = 4000 ] || { echo "FAIL: $2 live elements for 4000 rows"; exit 1; }
    [ "$4" -le 40 ] || { echo "FAIL: $4 unreachable"; exit 1; }
    [ $c = 4 ] && at4=$1
    [ $c = 12 ] && at12=$1
    c=$((c + 1))
  done
  [ $((at12 * 100)) -le $((at4 * 105)) ] || {
    echo "FAIL: quant $quant index grew from $at4 to $at12 bytes over cycles 4..12"; exit 1; }
  # the exact order: l2_distance() is no index operator, so a sort
  recall=$(db -c "SET vexdb.ef_search = 64" -c "SET enable_seqscan = off" -c "
    SELECT round(avg(hits) / 10, 3) FROM (
      SELECT (SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> q.v LIMIT 10) a
              WHERE a.id IN (SELECT id FROM t ORDER BY l2_distance(v, q.v) LIMIT 10)) AS hits
      FROM q) s")
  echo "quant $quant recall@10 after churn (ef_search 64): $recall"
  awk -v r="$recall" 'BEGIN { exit !(r >= 0.9) }' || { echo "FAIL: recall $recall"; exit 1; }
  db -c "DROP TABLE t, q"
done
echo "churn: ok"
