# SPDX-License-Identifier: Apache-2.0
# Sourced by run.sh with the cluster running: that cluster is the
# coordinator (and the single-node reference); this script starts three
# more servers in the same temporary directory (Unix sockets, ports next to
# the coordinator's) as shards, and checks the scale-out functions of
# extension version 0.2 (docs/scale-out.md):
#  - a fresh 0.2 and a 0.1 upgraded to 0.2 have the same objects
#  - a table sharded over two servers with vex_create_sharded_table, a
#    seeded dataset loaded through the coordinator, recall@10 of
#    vex_search_shards and of plain SQL against the exact order equal to
#    the single-node index with the same settings (within 0.02)
#  - EXPLAIN VERBOSE: the distance ORDER BY and the LIMIT in the remote SQL
#  - a third server added, partitions moved (vex_rebalance): every row
#    still there once, same answers
#  - vex_search_shards' latency below the sum of the servers' own
#  - a shard down: an error naming it, from vex_search_shards and SQL
#  - errors of the functions' bad arguments
# VEXPG_SCALE_ROWS (default 12000) and VEXPG_SCALE_DIM (16) size the data.
# VEXPG_NETNS=1 (root) puts each shard server in a network namespace behind
# a veth pair with a netem delay (tests/nodes.sh); the default is Unix
# sockets in the temporary directory.
rows=${VEXPG_SCALE_ROWS:-12000}
dim=${VEXPG_SCALE_DIM:-16}
nodes="1 2 3"
. "$src/tests/nodes.sh"
fail() { echo "FAIL: $*"; exit 1; }
# enable_seqscan = off below would make every query worth JIT compiling
export PGOPTIONS="-c jit=off"
co() { sql -d scale "$@"; }
# an error expected: the message must contain $1
co_err() {
  want=$1
  shift
  if out=$(co "$@" 2>&1); then fail "no error for: $* (wanted $want)"; fi
  echo "$out" | grep -q -- "$want" || fail "wrong error for: $*: $out (wanted $want)"
  echo "  error as expected: $(echo "$out" | grep ERROR | head -1)"
}

echo "== upgrade 0.1 -> 0.2 gives the objects of a fresh 0.2"
objects="SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
          WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
            AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vexdb')
          ORDER BY 1"
sql -d postgres -c "CREATE DATABASE up" -c "CREATE DATABASE fresh"
sql -d up -c "CREATE EXTENSION vexdb VERSION '0.1'" \
  -c "CREATE TABLE t (v vexvector(3))" -c "INSERT INTO t VALUES ('[1,2,3]')" \
  -c "CREATE INDEX ON t USING vexhnsw (v)" -c "ALTER EXTENSION vexdb UPDATE"
sql -d fresh -c "CREATE EXTENSION vexdb"
[ "$(sql -d up -c "SELECT extversion FROM pg_extension WHERE extname = 'vexdb'")" = 0.2 ] ||
  fail "upgrade did not reach 0.2"
sql -d up -c "$objects" > "$tmp/up.txt"
sql -d fresh -c "$objects" > "$tmp/fresh.txt"
diff "$tmp/up.txt" "$tmp/fresh.txt" || fail "upgraded 0.1 and fresh 0.2 differ"
[ "$(sql -d up -c "SET enable_seqscan = off" -c "SELECT v FROM t ORDER BY v <-> '[1,2,3]' LIMIT 1")" = "[1,2,3]" ] ||
  fail "the 0.1 index does not work after the upgrade"
# and the same definitions: 0.2's scale-out part is the upgrade script's text
sed -n '/^-- ---- layout catalog ----$/,$p' "$src/sql/vexdb--0.2.sql" > "$tmp/a.sql"
sed -n '/^-- ---- layout catalog ----$/,$p' "$src/sql/vexdb--0.1--0.2.sql" > "$tmp/b.sql"
[ -s "$tmp/a.sql" ] && cmp -s "$tmp/a.sql" "$tmp/b.sql" ||
  fail "vexdb--0.2.sql and vexdb--0.1--0.2.sql define the scale-out functions differently"
echo "  $(wc -l < "$tmp/up.txt") objects, same in both"
# without the contrib extensions the functions say which one is missing
out=$(sql -d fresh -c "SELECT vex_add_shard('n', '/tmp', 5432, 'x')" 2>&1) &&
  fail "vex_add_shard without postgres_fdw succeeded"
echo "$out" | grep -q "the postgres_fdw extension is not installed" || fail "wrong error: $out"
out=$(sql -d fresh -c "CREATE EXTENSION postgres_fdw" -c "SELECT vex_add_shard('n', '/tmp', 5432, 'x')" 2>&1) &&
  fail "vex_add_shard without dblink succeeded"
echo "$out" | grep -q "the dblink extension is not installed" || fail "wrong error: $out"

echo "== layout: $rows rows of dimension $dim sharded over node1 and node2"
for n in $nodes; do sql -p "$(node_port "$n")" -d shard -c "CREATE EXTENSION vexdb"; done
sql -d postgres -c "CREATE DATABASE scale"
co -c "CREATE EXTENSION vexdb" -c "CREATE EXTENSION postgres_fdw" -c "CREATE EXTENSION dblink"
co_err "no shard server \"node1\"" -c "SELECT vex_create_sharded_table('x', 'id bigint, v vexvector(2)', 'id', 'v', '{node1}')"
for n in 1 2; do
  co -c "SELECT vex_add_shard('node$n', '$(node_host "$n")', $(node_port "$n"), 'shard')" >/dev/null
done
[ "$(co -c "SELECT array_to_string(array(SELECT o FROM unnest(srvoptions) o WHERE o ~ '^(extensions|async_capable|batch_size)=' ORDER BY o), ' ') FROM pg_foreign_server WHERE srvname = 'node1'")" = "async_capable=true batch_size=100 extensions=vexdb" ] ||
  fail "node1's server options"
co_err "batch_size must be positive" -c "SELECT vex_add_shard('nodex', '$tmp', 1, 'x', batch_size => 0)"
echo "  coordinator reaches the shards at: $(co -c "SELECT string_agg(o, ' ' ORDER BY o) FROM pg_foreign_server, unnest(srvoptions) o WHERE o LIKE 'host=%'")"
cols="id bigint NOT NULL, cat integer, v vexvector($dim)"
opts="m = 12, ef_construction = 64"
co_err "unknown operator class" -c "SELECT vex_create_sharded_table('x', '$cols', 'id', 'v', '{node1}', opclass => 'foo')"
co -c "SELECT vex_create_sharded_table('items', '$cols', 'id', 'v', '{node1,node2}', partitions => 6, index_options => '$opts')" >/dev/null
co -c "SELECT part, remainder, server, remote_table FROM vex_shards('items')"
[ "$(co -c "SELECT count(DISTINCT server) || '/' || count(*) FROM vex_shards('items')")" = 2/6 ] ||
  fail "layout is not 6 partitions over 2 servers"
# the same seeded rows into the sharded table and the single-node one
gen="SELECT g AS id, g % 10 AS cat,
            ARRAY(SELECT random() FROM generate_series(1, $dim) WHERE g > 0)::real[]::vexvector AS v
       FROM generate_series(1, $rows) g"
t0=$(date +%s)
co -c "CREATE TABLE single ($cols)" -c "SELECT setseed(0.25)" -c "INSERT INTO single $gen" \
   -c "CREATE INDEX ON single USING vexhnsw (v) WITH ($opts)" \
   -c "INSERT INTO items SELECT * FROM single" >/dev/null
echo "  loaded in $(( $(date +%s) - t0 )) s"
[ "$(co -c "SELECT count(*), sum(id) FROM items")" = "$(co -c "SELECT count(*), sum(id) FROM single")" ] ||
  fail "the sharded table does not hold the rows"
for n in 1 2; do
  echo "  node$n: $(sql -p "$(node_port "$n")" -d shard -c "SELECT string_agg(relname || '=' || n_live_tup, ' ' ORDER BY relname) FROM pg_stat_user_tables")"
done

echo "== recall@10 of 40 seeded queries against the exact order"
co -c "SELECT setseed(0.5)" -c "CREATE TABLE q AS SELECT i AS qid, ARRAY(SELECT random() FROM generate_series(1, $dim) WHERE i > 0)::real[]::vexvector AS v FROM generate_series(1, 40) i" >/dev/null
co -c "SET enable_indexscan = off" -c "CREATE TABLE exact AS SELECT q.qid, x.id FROM q, LATERAL (SELECT id FROM single ORDER BY single.v <-> q.v LIMIT 10) x"
# recall SRC: SRC is a lateral subquery on q.v giving id
recall() {
  co -c "SET vexdb.ef_search = 40" -c "SET enable_seqscan = off" -c "
    SELECT round(count(e.id) / 400.0, 3) FROM q CROSS JOIN LATERAL ($1) x
      LEFT JOIN exact e ON e.qid = q.qid AND e.id = x.id"
}
r_single=$(recall "SELECT id FROM single ORDER BY single.v <-> q.v LIMIT 10")
r_dblink=$(recall "SELECT id FROM vex_search_shards('items', q.v, 10, ef_search => 40)")
r_append=$(recall "SELECT id FROM vex_search_shards('items', q.v, 10, method => 'append')")
r_sql=$(recall "SELECT id FROM items ORDER BY items.v <-> q.v LIMIT 10")
r_over=$(recall "SELECT id FROM vex_search_shards('items', q.v, 10, oversample => 2, ef_search => 40)")
echo "  single node $r_single; sharded: dblink $r_dblink, append $r_append, SQL $r_sql; oversample 2 of 6 partitions: $r_over"
for r in $r_dblink $r_append $r_sql; do
  awk -v a="$r" -v b="$r_single" 'BEGIN { exit !(a >= b - 0.02 && a <= b + 0.05) }' ||
    fail "sharded recall $r is not the single node's $r_single"
done
# 2 of 6 partitions' share: 4 rows each, some queries lose neighbours
awk -v a="$r_over" -v b="$r_dblink" 'BEGIN { exit !(a <= b) }' || fail "oversample 2 recall $r_over above the full $r_dblink"
# the merge keeps the k nearest of what the shards return, in order
[ "$(co -c "SELECT count(*) FROM q, LATERAL (SELECT array_agg(distance ORDER BY distance) = array_agg(distance) AS o, count(*) AS n FROM vex_search_shards('items', q.v, 10)) s WHERE o AND n = 10")" = 40 ] ||
  fail "vex_search_shards results are not 10 rows in order"

echo "== plans: the distance ORDER BY and LIMIT are pushed down"
qv=$(co -c "SELECT v FROM single WHERE id = 1")
co -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items_p0 ORDER BY v <-> '$qv' LIMIT 10" > "$tmp/plan1.txt"
grep -q "Remote SQL: SELECT id, v FROM public.items_p0 ORDER BY (v OPERATOR(public.<->) '.*') ASC NULLS LAST LIMIT 10" "$tmp/plan1.txt" ||
  { cat "$tmp/plan1.txt"; fail "ORDER BY/LIMIT not pushed down to one partition"; }
co -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items ORDER BY v <-> '$qv' LIMIT 10" > "$tmp/plan2.txt"
grep -q "Merge Append" "$tmp/plan2.txt" && [ "$(grep -c "Remote SQL: .* ORDER BY (v OPERATOR(public.<->) '.*') ASC NULLS LAST$" "$tmp/plan2.txt")" = 6 ] ||
  { cat "$tmp/plan2.txt"; fail "the partitioned table's ORDER BY is not pushed to the 6 partitions"; }
echo "  partitioned table: Merge Append, ORDER BY pushed to each partition, LIMIT not (PostgreSQL 15)"
stmt=$(co -c "
  SELECT string_agg(format('(SELECT id, v <-> %L AS d FROM %s ORDER BY v <-> %L LIMIT 10)', '$qv', part, '$qv'), ' UNION ALL ')
    FROM vex_shards('items')")
co -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM ($stmt) u ORDER BY d + 0 LIMIT 10" > "$tmp/plan3.txt"
[ "$(grep -c "Async Foreign Scan" "$tmp/plan3.txt")" = 6 ] &&
  [ "$(grep -c "Remote SQL: .* ORDER BY (v OPERATOR(public.<->) '.*') ASC NULLS LAST LIMIT 10" "$tmp/plan3.txt")" = 6 ] ||
  { cat "$tmp/plan3.txt"; fail "the UNION ALL shape is not 6 async scans with ORDER BY/LIMIT pushed"; }
echo "  UNION ALL of the partitions: 6 Async Foreign Scans with ORDER BY ... LIMIT 10 pushed"

echo "== a third server, partitions moved"
before=$(co -c "SELECT q.qid, array_agg(s.id ORDER BY s.distance, s.id) FROM q, LATERAL vex_search_shards('items', q.v, 10, ef_search => 400) s GROUP BY q.qid ORDER BY q.qid")
# through the shell wrapper tools/pg/vex-shard
vshard() { PATH="$bindir:$PATH" PGHOST=$tmp PGPORT=$port PGUSER=vextest PGDATABASE=scale sh "$src/../tools/pg/vex-shard" "$@"; }
vshard add-server node3 "$(node_host 3)" "$(node_port 3)" shard | sed 's/^/  /'
vshard rebalance items node1,node2,node3 2>&1 | sed 's/^/  /'
[ "$(co -c "SELECT string_agg(n::text, ',' ORDER BY server) FROM (SELECT server, count(*) n FROM vex_shards('items') GROUP BY server) s")" = 2,2,2 ] ||
  fail "not 2 partitions per server after the rebalance"
[ "$(co -c "SELECT count(*), count(DISTINCT id), sum(id) FROM items")" = "$rows|$rows|$(co -c "SELECT sum(id) FROM single")" ] ||
  fail "rows lost or doubled by the move"
# each shard holds exactly the tables of its partitions
for n in 1 2 3; do
  want=$(co -c "SELECT string_agg(part::text, ',' ORDER BY part::text) FROM vex_shards('items') WHERE server = 'node$n'")
  got=$(sql -p "$(node_port "$n")" -d shard -c "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'items%'")
  [ "$want" = "$got" ] || fail "node$n holds $got, the layout says $want"
done
after=$(co -c "SELECT q.qid, array_agg(s.id ORDER BY s.distance, s.id) FROM q, LATERAL vex_search_shards('items', q.v, 10, ef_search => 400) s GROUP BY q.qid ORDER BY q.qid")
[ "$before" = "$after" ] || fail "answers differ after the move"
[ "$(co -c "SELECT count(*) FROM (SELECT id FROM items WHERE id % 97 = 0) a")" = $((rows / 97)) ] || fail "lookups after the move"
co -c "INSERT INTO items SELECT id + $rows, cat, v FROM single WHERE id <= 30" >/dev/null
[ "$(co -c "SELECT id FROM vex_search_shards('items', (SELECT v FROM single WHERE id = 7), 2) ORDER BY id")" = "$(printf '7\n%s' $((rows + 7)))" ] ||
  fail "a row inserted after the move is not found"
echo "  2 partitions per server, every row once, the same answers, inserts routed"
[ "$(vshard search items "$(co -c "SELECT v FROM single WHERE id = 5")" 1 | grep -c '^ *5 |')" = 1 ] ||
  fail "vex-shard search does not find row 5 by its own vector"
if vshard move items_p0 2>/dev/null; then fail "vex-shard move with one argument succeeded"; fi

echo "== fan-out latency (3 servers)"
# fanout_latency NQUERIES: "SUM PAR" in ms per query, where SUM is the sum
# of the servers' own latencies (the same per-server query as the
# fan-out's, one server at a time, on the same kept dblink connections)
# and PAR is vex_search_shards searching them at once
fanout_latency() {
  co -c "SET client_min_messages = warning" -c "
  DO \$\$
  DECLARE t0 timestamptz; seq double precision := 0; par double precision := 0;
          srv name; qq vexvector; n integer; nq integer := 0;
  BEGIN
    PERFORM * FROM vex_search_shards('items', (SELECT v FROM q WHERE qid = 1), 10, ef_search => 400);
    FOR qq IN SELECT v FROM q ORDER BY qid LIMIT $1 LOOP
      FOR srv IN SELECT DISTINCT server FROM vex_shards('items') LOOP
        t0 := clock_timestamp();
        SELECT count(*) INTO n FROM dblink('vexdb_shard_' || srv, (
          SELECT string_agg(format('SELECT id FROM vex_shard_topk(%L, %L, %L, %L, %L, 10, 400)',
                                   remote_table, 'id', 'v', '<->', qq::text), ' UNION ALL ')
            FROM vex_shards('items') WHERE server = srv)) AS r(id bigint);
        seq := seq + extract(epoch FROM clock_timestamp() - t0);
      END LOOP;
      t0 := clock_timestamp();
      PERFORM * FROM vex_search_shards('items', qq, 10, ef_search => 400);
      par := par + extract(epoch FROM clock_timestamp() - t0);
      nq := nq + 1;
    END LOOP;
    RAISE WARNING '% %', round((seq * 1000 / nq)::numeric, 3), round((par * 1000 / nq)::numeric, 3);
  END \$\$" 2>&1 | sed -n 's/.*WARNING: *//p'
}
# CPU-bound: the three servers and the coordinator share this machine's
# cores (and whatever else runs), so the overlap is reported, not asserted
set -- $(fanout_latency 40)
if [ "$netns" = 1 ] && [ "$netem" != 0 ]; then
  # real round trips with the netem delay: they must overlap
  echo "  servers in network namespaces, $netem ms delay: sum of the servers' latencies $1 ms, vex_search_shards $2 ms per query"
  awk -v s="$1" -v p="$2" 'BEGIN { exit !(p < s) }' || fail "fan-out $2 ms is not below the sum $1 ms"
else
  echo "  search work only: sum of the servers' latencies $1 ms, vex_search_shards $2 ms per query"
fi
# What the fan-out must hide is each server's own latency (on real
# servers: the network round trip and the search on its own cores). A
# shard-side stand-in for it that does not need this machine's cores: a
# vex_shard_topk that first sleeps 20 ms, in a schema first on the
# search_path of the coordinator's connections (the servers' libpq
# options). Searched one after another the servers take 2 x 20 ms each
# (two partitions per server); at once, about 40 ms in all.
for n in 1 2 3; do
  sql -p "$(node_port "$n")" -d shard -c "CREATE SCHEMA slow" -c "
    CREATE FUNCTION slow.vex_shard_topk(tbl regclass, key_column name, vector_column name,
                                        op text, q vexvector, k integer, ef integer DEFAULT NULL)
    RETURNS TABLE (id bigint, distance double precision) LANGUAGE sql AS
    \$\$ SELECT pg_sleep(0.02); SELECT * FROM public.vex_shard_topk(tbl, key_column, vector_column, op, q, k, ef) \$\$"
  co -c "SELECT vex_shard_server_option('node$n', 'options', '-c search_path=slow,public')" >/dev/null
done
set -- $(fanout_latency 10)
echo "  with 20 ms per partition search: sum of the servers' latencies $1 ms, vex_search_shards $2 ms per query"
awk -v s="$1" -v p="$2" 'BEGIN { exit !(s >= 115 && p < s * 0.6) }' ||
  fail "fan-out $2 ms is not well below the sum $1 ms of the servers' latencies"
for n in 1 2 3; do co -c "ALTER SERVER node$n OPTIONS (DROP options)"; done

echo "== bad arguments"
co_err "k must be positive" -c "SELECT * FROM vex_search_shards('items', '$qv', 0)"
co_err "oversample must be positive" -c "SELECT * FROM vex_search_shards('items', '$qv', 10, oversample => 0)"
co_err "unknown method \"foo\"" -c "SELECT * FROM vex_search_shards('items', '$qv', 10, method => 'foo')"
co_err "cannot set ef_search" -c "SELECT * FROM vex_search_shards('items', '$qv', 10, ef_search => 10, method => 'append')"
co_err "single is not a sharded table" -c "SELECT * FROM vex_search_shards('single', '$qv', 10)"
co_err "different vector dimensions\|dimension" -c "SELECT * FROM vex_search_shards('items', '[1,2]', 10)"
co_err "no shard server \"nope\"" -c "CALL vex_move_partition('items_p0', 'nope')"
co_err "not a partition of a sharded table" -c "CALL vex_move_partition('single', 'node1')"
co_err "no shard server \"nope\"" -c "CALL vex_rebalance('items', '{node1,nope}')"
co_err "named twice" -c "CALL vex_rebalance('items', '{node1,node1}')"
co_err "already exists" -c "SELECT vex_create_sharded_table('items', '$cols', 'id', 'v', '{node1}')"

# bad index options: refused by the first server, nothing left there
co_err "shard server \"node1\": .*m" -c "SELECT vex_create_sharded_table('half', '$cols', 'id', 'v', '{node1}', index_options => 'm = 1')"
[ "$(sql -p "$(node_port 1)" -d shard -c "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'half%'")" = 0 ] ||
  fail "a remote table without its index was left behind"
# a server that cannot be reached half way through: the remote table
# already made on node1 is dropped again, nothing is left on the coordinator
co -c "CREATE SERVER ghost FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$tmp', port '1', dbname 'x')" \
   -c "CREATE USER MAPPING FOR CURRENT_USER SERVER ghost"
co_err "shard server \"ghost\"" -c "SELECT vex_create_sharded_table('half', '$cols', 'id', 'v', '{node1,ghost}')"
[ "$(sql -p "$(node_port 1)" -d shard -c "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'half%'")" = 0 ] ||
  fail "vex_create_sharded_table left a remote table behind"
[ "$(co -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'half%'") $(co -c "SELECT count(*) FROM vex_shard_layout")" = "0 1" ] ||
  fail "vex_create_sharded_table left a table or layout row behind"

echo "== a shard down"
# one session: its kept connection to node2 breaks, the next search says
# so, and once node2 is back the session reconnects; a restart between two
# searches costs the next one a new connection, not an error
if [ "$(id -u)" = 0 ]; then own="runuser -u postgres --"; else own=""; fi
cat > "$tmp/down.sql" <<SQL
\set ON_ERROR_STOP 0
SELECT 'up', count(*) FROM vex_search_shards('items', '$qv', 10);
\! $own $root$bindir/pg_ctl -D $tmp/node2 -m fast -w stop >/dev/null
SELECT 'down', count(*) FROM vex_search_shards('items', '$qv', 10);
SELECT 'down', count(*) FROM vex_search_shards('items', '$qv', 10, method => 'append');
SELECT 'down', count(*) FROM (SELECT id FROM items ORDER BY v <-> '$qv' LIMIT 10) s;
\! $(node_start_cmd 2) start >/dev/null
SELECT 'back', count(*) FROM vex_search_shards('items', '$qv', 10);
\! $(node_start_cmd 2) -m fast restart >/dev/null
SELECT 'restarted', count(*) FROM vex_search_shards('items', '$qv', 10);
SQL
"$bindir/psql" -X -q -h "$tmp" -p "$port" -U vextest -At -d scale -f "$tmp/down.sql" > "$tmp/down.out" 2>&1 || true
sed 's/^/  /' "$tmp/down.out"
[ "$(grep -c 'ERROR: .*node2' "$tmp/down.out")" = 3 ] || fail "a shard down did not give 3 errors naming node2"
grep -q '^up|10$' "$tmp/down.out" && grep -q '^back|10$' "$tmp/down.out" && ! grep -q '^down|' "$tmp/down.out" ||
  fail "answers while node2 was down, or none once it was back"
grep -q '^restarted|10$' "$tmp/down.out" || fail "the session's kept connection to a restarted node2 was not replaced"
echo "  errors name the server; answers again once it is back, also across a restart between two calls"

echo "== vex export --format csv: embedded -> COPY into the sharded cluster"
if [ -z "${VEX_BIN:-}" ] || ! command -v python3 >/dev/null 2>&1; then
  echo "  skipped: needs the vex tool (VEX_BIN, set by ctest when tools are built) and python3"
else
  python3 - "$tmp/emb.jsonl" "$dim" <<'PY'
import json, random, sys
rnd = random.Random(7)
langs = ['en', 'de', 'fr "quoted"', 'a,b', 'back\\slash', 'line\nbreak', 'tab\there', 'caf\u00e9']
with open(sys.argv[1], 'w') as f:
    for i in range(1, 401):
        r = {'id': i * 3, 'vector': [rnd.uniform(-1, 1) for _ in range(int(sys.argv[2]))],
             'year': 1990 + i % 30, 'lang': langs[i % len(langs)], 'score': rnd.random(),
             'tags': ['t%d' % (i % 5), 'x,y'] if i % 3 else []}
        if i % 4:
            r['payload'] = 'payload "%d", with, commas\n' % i
        f.write(json.dumps(r) + '\n')
PY
  emb="$tmp/emb.db"
  "$VEX_BIN" create "$emb" docs --dim "$dim" --metric l2 >/dev/null
  "$VEX_BIN" import "$emb" docs "$tmp/emb.jsonl" >/dev/null
  "$VEX_BIN" export "$emb" docs --format csv --out "$tmp/emb.csv"
  "$VEX_BIN" export "$emb" docs --out "$tmp/ref.jsonl" 2>/dev/null
  co -c "SELECT vex_create_sharded_table('docs', 'id bigint NOT NULL, embedding vexvector($dim), meta jsonb, payload bytea', 'id', 'embedding', '{node1,node2,node3}')" >/dev/null
  co -c "COPY docs (id, embedding, meta, payload) FROM STDIN WITH (FORMAT csv, HEADER)" < "$tmp/emb.csv"
  co -c "SELECT json_build_object('id', id, 'vector', embedding::real[], 'meta', meta, 'payload', encode(payload, 'hex')) FROM docs ORDER BY id" > "$tmp/back.jsonl"
  python3 - "$tmp/ref.jsonl" "$tmp/back.jsonl" <<'PY' || fail "the cluster's rows differ from the embedded collection"
import json, struct, sys
f32 = lambda v: [struct.unpack('f', struct.pack('f', x))[0] for x in v]
ref = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    p = r.pop('payload', None)
    ref[r.pop('id')] = (f32(r.pop('vector')), r, p.encode().hex() if p is not None else None)
got = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    got[r['id']] = (f32(r['vector']), r['meta'], r['payload'])
bad = [i for i in ref if got.get(i) != ref[i]]
print('  %d records exported, %d in the cluster, %d differ' % (len(ref), len(got), len(bad)))
if bad:
    print('  first:', ref[bad[0]], got.get(bad[0]))
sys.exit(1 if bad or len(got) != len(ref) or len(ref) != 400 else 0)
PY
  co -c "SELECT count(*) FILTER (WHERE meta ? 'lang'), count(payload) FROM docs" | grep -qx "400|300" ||
    fail "metadata or payloads missing in the cluster"
fi

echo "== drop"
vshard drop items
for n in 1 2 3; do
  [ "$(sql -p "$(node_port "$n")" -d shard -c "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'items%'")" = 0 ] ||
    fail "node$n still holds items tables"
done
[ "$(co -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'items%'") $(co -c "SELECT count(*) FROM vex_shard_layout WHERE tbl::text = 'items'")" = "0 0" ] ||
  fail "items left on the coordinator"
co_err "not a sharded table" -c "CALL vex_drop_sharded_table('single')"
echo "  items gone from the coordinator and the three servers"
echo "scale: ok"
