# SPDX-License-Identifier: Apache-2.0
# Sourced by postgres/tests/run.sh for bench/pg_scale_bench.sh: three
# shard servers next to the coordinator, the same seeded rows in a local
# table, a table on one shard and a table over three, then interleaved
# passes of single-session latency and pgbench throughput.
nodes="1 2 3"
node_shared_buffers=256MB
. "$src/tests/nodes.sh"
rows=${BENCH_ROWS:-30000} dim=${BENCH_DIM:-64} nq=${BENCH_QUERIES:-100}
passes=${BENCH_PASSES:-3} ef=${BENCH_EF:-64} secs=${BENCH_SECONDS:-5}
# the local index again with a wider beam, for the recall three shards get
ef_hi=${BENCH_EF_HI:-256}
opts="m = 16, ef_construction = 64"
cols="id bigint NOT NULL, v vexvector($dim)"
co() { sql -d bench "$@"; }
sql -d postgres -c "CREATE DATABASE bench"
for n in $nodes; do sql -p "$(node_port "$n")" -d shard -c "CREATE EXTENSION vexdb"; done
co -c "CREATE EXTENSION vexdb" -c "CREATE EXTENSION postgres_fdw" -c "CREATE EXTENSION dblink"
for n in $nodes; do co -c "SELECT vex_add_shard('node$n', '$tmp', $(node_port "$n"), 'shard')" >/dev/null; done
co -c "CREATE TABLE single ($cols)" -c "SELECT setseed(0.125)" \
   -c "INSERT INTO single SELECT g, ARRAY(SELECT random() FROM generate_series(1, $dim) WHERE g > 0)::real[] FROM generate_series(1, $rows) g" \
   -c "CREATE INDEX ON single USING vexhnsw (v) WITH ($opts)" \
   -c "SELECT setseed(0.75)" \
   -c "CREATE TABLE q AS SELECT i AS qid, ARRAY(SELECT random() FROM generate_series(1, $dim) WHERE i > 0)::real[]::vexvector AS v FROM generate_series(1, $nq) i" \
   -c "SET enable_indexscan = off" \
   -c "CREATE TABLE exact AS SELECT q.qid, x.id FROM q, LATERAL (SELECT id FROM single ORDER BY single.v <-> q.v LIMIT 10) x"
co -c "SELECT vex_create_sharded_table('one', '$cols', 'id', 'v', '{node1}', index_options => '$opts')" \
   -c "SELECT vex_create_sharded_table('three', '$cols', 'id', 'v', '{node1,node2,node3}', index_options => '$opts')" >/dev/null
t0=$(date +%s)
co -c "INSERT INTO one SELECT * FROM single" -c "INSERT INTO three SELECT * FROM single" >/dev/null
echo "# rows $rows dim $dim queries $nq ef_search $ef passes $passes; loaded both sharded tables in $(( $(date +%s) - t0 )) s"
# config name -> a query on q.v giving ids
cfg_sql() {
  case $1 in
  local) echo "SELECT id FROM single ORDER BY single.v <-> q.v LIMIT 10" ;;
  local_hi) echo "SELECT id FROM single ORDER BY single.v <-> q.v LIMIT 10" ;;
  one_dblink) echo "SELECT id FROM vex_search_shards('one', q.v, 10, ef_search => $ef)" ;;
  three_dblink) echo "SELECT id FROM vex_search_shards('three', q.v, 10, ef_search => $ef)" ;;
  three_append) echo "SELECT id FROM vex_search_shards('three', q.v, 10, method => 'append')" ;;
  three_mergeappend) echo "SELECT id FROM three ORDER BY three.v <-> q.v LIMIT 10" ;;
  esac
}
# the session's vexdb.ef_search for a config
cfg_ef() { if [ "$1" = local_hi ]; then echo "$ef_hi"; else echo "$ef"; fi; }
configs="local local_hi one_dblink three_dblink three_append three_mergeappend"
# the shards' own ef_search for the SQL shapes: the servers' options
for n in $nodes; do co -c "SELECT vex_shard_server_option('node$n', 'options', '-c vexdb.ef_search=$ef')" >/dev/null; done
for c in $configs; do
  r=$(co -c "SET vexdb.ef_search = $(cfg_ef $c)" -c "SET jit = off" -c "SELECT round(count(e.id) / ($nq * 10.0), 4) FROM q CROSS JOIN LATERAL ($(cfg_sql $c)) x LEFT JOIN exact e ON e.qid = q.qid AND e.id = x.id")
  echo "recall $c $r"
done
cat > "$tmp/pgb.sql" <<'PGB'
\set qid random(1, :nq)
SELECT count(*) FROM q CROSS JOIN LATERAL (:cfg) x WHERE q.qid = :qid;
PGB
for p in $(seq 1 "$passes"); do
  for c in $configs; do
    # single session: per-query latencies in ms, server-side clock
    lat=$(co -c "SET vexdb.ef_search = $(cfg_ef $c)" -c "SET jit = off" -c "SET client_min_messages = warning" -c "
      DO \$\$ DECLARE t0 timestamptz; l double precision[] := '{}'; n bigint; qq record;
      BEGIN
        PERFORM count(*) FROM q CROSS JOIN LATERAL ($(cfg_sql $c)) x WHERE q.qid = 1;
        FOR qq IN SELECT qid FROM q ORDER BY qid LOOP
          t0 := clock_timestamp();
          SELECT count(*) INTO n FROM q CROSS JOIN LATERAL ($(cfg_sql $c)) x WHERE q.qid = qq.qid;
          l := l || extract(epoch FROM clock_timestamp() - t0) * 1000;
        END LOOP;
        RAISE WARNING '% %', (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 3) FROM unnest(l) x),
                             (SELECT round(percentile_cont(0.99) WITHIN GROUP (ORDER BY x)::numeric, 3) FROM unnest(l) x);
      END \$\$" 2>&1 | sed -n 's/.*WARNING: *//p')
    # throughput: 4 sessions for $secs seconds (pgbench, new plan per query)
    tps=$(PGOPTIONS="-c vexdb.ef_search=$(cfg_ef $c) -c jit=off" "$bindir/pgbench" -n -h "$tmp" -p "$port" -U vextest \
            -c 4 -j 2 -T "$secs" -D nq="$nq" -D cfg="$(cfg_sql $c)" -f "$tmp/pgb.sql" bench 2>/dev/null |
          sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    set -- $lat
    echo "result pass=$p config=$c p50_ms=$1 p99_ms=$2 qps4=$tps"
  done
done
