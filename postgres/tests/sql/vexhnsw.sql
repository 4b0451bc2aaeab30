-- SPDX-License-Identifier: Apache-2.0
-- The vexhnsw access method: build, options, ordered scans per operator
-- class, inserts, vacuum, filtered scans, errors.
CREATE EXTENSION vexdb;
SELECT setseed(0.25);
CREATE TABLE items (id int PRIMARY KEY, cat int, v vexvector(16));
INSERT INTO items
  SELECT i, i % 10, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 16) WHERE i > 0)::real[]
  FROM generate_series(1, 3000) i;
INSERT INTO items VALUES (3001, 1, NULL);
CREATE TABLE queries AS
  SELECT i AS qid, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 16) WHERE i > 0)::real[]::vexvector(16) AS v
  FROM generate_series(1, 50) i;
-- options
CREATE INDEX ON items USING vexhnsw (v) WITH (m = 1);
CREATE INDEX ON items USING vexhnsw (v) WITH (ef_construction = 2000);
CREATE INDEX ON items USING vexhnsw (v) WITH (m = 32, ef_construction = 40);
CREATE INDEX ON items USING vexhnsw (v) WITH (bogus = 1);
CREATE INDEX ON items USING vexhnsw (cat);
CREATE TABLE nodim (v vexvector);
CREATE INDEX ON nodim USING vexhnsw (v);
DROP TABLE nodim;
CREATE INDEX items_l2 ON items USING vexhnsw (v) WITH (m = 12, ef_construction = 64);
SELECT live, deleted, unreachable FROM vexhnsw_check('items_l2');
SELECT vexhnsw_check('items_pkey');
CREATE ROLE vexdb_plain;
SET ROLE vexdb_plain;
SELECT vexhnsw_check('items_l2');
RESET ROLE;
DROP ROLE vexdb_plain;
-- the plan: ordered index scan under a LIMIT, none without ORDER BY
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE v IS NOT NULL;
-- results come in distance order and match the operator's value
SELECT bool_and(d IS NOT NULL AND d >= prev) AS ordered, count(*)
FROM (SELECT v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' AS d,
             lag(v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]', 1, 0::float8)
               OVER (ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]') AS prev
      FROM (SELECT v FROM items ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 100) s) t;
-- recall@10 against the exact order (enable_indexscan off)
CREATE FUNCTION knn(q vexvector, k int) RETURNS SETOF int LANGUAGE sql STABLE
  AS $$ SELECT id FROM items ORDER BY v <-> q LIMIT k $$;
CREATE FUNCTION recall(k int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE hits int := 0; r record;
BEGIN
  FOR r IN SELECT * FROM queries LOOP
    SET LOCAL enable_indexscan = off;
    CREATE TEMP TABLE exact AS SELECT knn AS id FROM knn(r.v, k);
    SET LOCAL enable_indexscan = on;
    SET LOCAL enable_seqscan = off;
    SET LOCAL enable_sort = off;
    hits := hits + (SELECT count(*) FROM knn(r.v, k) a JOIN exact e ON e.id = a);
    RESET enable_seqscan;
    RESET enable_sort;
    DROP TABLE exact;
  END LOOP;
  RETURN hits::float8 / (k * (SELECT count(*) FROM queries));
END $$;
SELECT recall(10) >= 0.95 AS recall_ok;
SET vexdb.ef_search = 10;
SELECT recall(10) >= 0.6 AS recall_ef10_ok;
SET vexdb.ef_search = 200;
SELECT recall(10) >= 0.99 AS recall_ef200_ok;
RESET vexdb.ef_search;
SET vexdb.ef_search = 0;
-- a LIMIT past ef_search still gets every row it asks for
SET vexdb.ef_search = 10;
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 500) s;
-- the planner: the graph for a mild filter, the exact plan for a very
-- selective one (costs, no enable_* switches)
RESET enable_seqscan;
ANALYZE items;
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE cat = 3 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE cat = 3 AND id < 40 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10;
SET enable_seqscan = off;
-- filtered: WHERE + ORDER BY + LIMIT keeps returning k rows
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE cat = 3 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10;
SELECT count(*) FROM (SELECT id FROM items WHERE cat = 3 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM items WHERE id % 100 = 7 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 20) s;
SELECT min(c), max(c) FROM (SELECT q.qid, count(*) AS c FROM queries q,
  LATERAL (SELECT id FROM items WHERE cat = q.qid % 10 ORDER BY v <-> q.v LIMIT 10) s GROUP BY q.qid) t;
SET vexdb.max_scan_tuples = 5;
SELECT count(*) FROM (SELECT id FROM items WHERE cat = 3 ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10) s;
RESET vexdb.max_scan_tuples;
RESET vexdb.ef_search;
RESET enable_seqscan;
-- inserts: an index built on an empty table and filled by INSERT
CREATE TABLE grown (id int, v vexvector(16));
CREATE INDEX grown_v ON grown USING vexhnsw (v);
SELECT live, deleted, unreachable, max_level FROM vexhnsw_check('grown_v');
INSERT INTO grown SELECT id, v FROM items WHERE v IS NOT NULL;
SELECT live, deleted FROM vexhnsw_check('grown_v');
SELECT unreachable <= 30 AS reachable FROM vexhnsw_check('grown_v');
-- every VACUUM links what no search could reach
VACUUM grown;
SELECT live, unreachable FROM vexhnsw_check('grown_v');
CREATE FUNCTION grown_recall() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE hits int := 0; r record;
BEGIN
  FOR r IN SELECT * FROM queries LOOP
    SET LOCAL enable_indexscan = off;
    CREATE TEMP TABLE exact AS SELECT id FROM grown ORDER BY v <-> r.v LIMIT 10;
    SET LOCAL enable_indexscan = on;
    SET LOCAL enable_seqscan = off;
    SET LOCAL enable_sort = off;
    hits := hits + (SELECT count(*) FROM (SELECT id FROM grown ORDER BY v <-> r.v LIMIT 10) a JOIN exact USING (id));
    RESET enable_seqscan;
    RESET enable_sort;
    DROP TABLE exact;
  END LOOP;
  RETURN hits::float8 / (10 * (SELECT count(*) FROM queries));
END $$;
SELECT grown_recall() >= 0.9 AS insert_recall_ok;
-- vacuum: dead rows leave the results and the graph stays whole
DELETE FROM grown WHERE id % 3 = 0;
VACUUM grown;
SELECT live, deleted, unreachable FROM vexhnsw_check('grown_v');
SET enable_seqscan = off;
SELECT count(*) FILTER (WHERE id % 3 = 0) AS dead_returned, count(*)
FROM (SELECT id FROM grown ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 300) s;
RESET enable_seqscan;
SELECT grown_recall() >= 0.9 AS recall_after_vacuum_ok;
UPDATE grown SET v = '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]' WHERE id = 1;
SET enable_seqscan = off;
SELECT id FROM grown ORDER BY v <-> '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,8]' LIMIT 1;
RESET enable_seqscan;
-- CREATE INDEX CONCURRENTLY (its validation pass goes through bulk delete)
CREATE INDEX CONCURRENTLY grown_cc ON grown USING vexhnsw (v);
SELECT live FROM vexhnsw_check('grown_cc');
SELECT count(*) FROM grown;
DROP INDEX grown_cc;
-- the other operator classes
CREATE INDEX items_ip ON items USING vexhnsw (v vexvector_ip_ops);
CREATE INDEX items_cos ON items USING vexhnsw (v vexvector_cosine_ops);
SELECT live FROM vexhnsw_check('items_ip');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <#> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 3;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <=> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 3;
CREATE FUNCTION recall_op(op text, k int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE hits int := 0; r record; q text;
BEGIN
  q := format('SELECT id FROM items ORDER BY v %s $1 LIMIT %s', op, k);
  FOR r IN SELECT * FROM queries LOOP
    SET LOCAL enable_indexscan = off;
    EXECUTE 'CREATE TEMP TABLE exact AS ' || q USING r.v;
    SET LOCAL enable_indexscan = on;
    SET LOCAL enable_seqscan = off;
    SET LOCAL enable_sort = off;
    EXECUTE 'SELECT count(*) FROM (' || q || ') a JOIN exact USING (id)' INTO STRICT k USING r.v;
    hits := hits + k;
    RESET enable_seqscan;
    RESET enable_sort;
    DROP TABLE exact;
  END LOOP;
  RETURN hits::float8 / (10 * (SELECT count(*) FROM queries));
END $$;
SET vexdb.ef_search = 100;
SELECT recall_op('<#>', 10) >= 0.8 AS ip_recall_ok, recall_op('<=>', 10) >= 0.95 AS cos_recall_ok;
RESET vexdb.ef_search;
-- cosine leaves zero vectors out; a wrong query dimension is an error
INSERT INTO items VALUES (3002, 0, '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]');
SELECT live FROM vexhnsw_check('items_cos');
SET enable_seqscan = off;
SELECT id FROM items ORDER BY v <-> '[1,2]' LIMIT 1;
RESET enable_seqscan;
-- an unlogged table's index starts from its init fork
CREATE UNLOGGED TABLE ul (v vexvector(2));
CREATE INDEX ON ul USING vexhnsw (v);
INSERT INTO ul VALUES ('[1,1]'), ('[2,2]');
SET enable_seqscan = off;
SELECT v FROM ul ORDER BY v <-> '[0,0]' LIMIT 1;
RESET enable_seqscan;
DROP TABLE ul, grown, items, queries;
DROP EXTENSION vexdb;
