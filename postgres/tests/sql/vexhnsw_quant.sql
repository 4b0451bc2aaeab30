-- SPDX-License-Identifier: Apache-2.0
-- vexhnsw with quant = 'sq8' (codes on the pages, rerank by the executor
-- on the heap's vectors) and the reuse of deleted elements' space.
-- (the extension may be left by the file before: this file keeps it too)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vexdb;
RESET client_min_messages;
SELECT setseed(0.75);
CREATE TABLE qi (id int PRIMARY KEY, cat int, v vexvector(32));
INSERT INTO qi
  SELECT i, i % 10, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 32) WHERE i > 0)::real[]
  FROM generate_series(1, 3000) i;
CREATE TABLE qq AS
  SELECT i AS qid, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 32) WHERE i > 0)::real[]::vexvector(32) AS v
  FROM generate_series(1, 40) i;
-- options
CREATE INDEX ON qi USING vexhnsw (v) WITH (quant = 'pq');
CREATE INDEX ON qi USING vexhnsw (v) WITH (quant = 8);
CREATE TABLE wide (v vexvector(2000));
CREATE INDEX ON wide USING vexhnsw (v) WITH (quant = 'sq8');
DROP TABLE wide;
CREATE INDEX qi_none ON qi USING vexhnsw (v) WITH (quant = 'none');
CREATE INDEX qi_sq8 ON qi USING vexhnsw (v) WITH (quant = 'sq8');
SELECT live, deleted, unreachable FROM vexhnsw_check('qi_sq8');
-- an element holds 1 byte per component instead of 4
SELECT pg_relation_size('qi_sq8') < 0.85 * pg_relation_size('qi_none') AS smaller;
DROP INDEX qi_none;
-- the executor rechecks: the values are the operator's, in order
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM qi ORDER BY v <-> (SELECT v FROM qq WHERE qid = 1) LIMIT 5;
SELECT bool_and(d = x AND d >= prev) AS exact_and_ordered, count(*)
FROM (SELECT d, x, lag(d, 1, 0::float8) OVER (ORDER BY n) AS prev
      FROM (SELECT row_number() OVER () AS n, d, x
            FROM (SELECT v <-> (SELECT v FROM qq WHERE qid = 1) AS d,
                         l2_distance(v, (SELECT v FROM qq WHERE qid = 1)) AS x
                  FROM qi ORDER BY v <-> (SELECT v FROM qq WHERE qid = 1) LIMIT 200) s) t) u;
RESET enable_seqscan;
-- recall@10 against the exact order, per operator class
CREATE FUNCTION qrecall(op text, k int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE hits int := 0; r record; q text; n int;
BEGIN
  q := format('SELECT id FROM qi ORDER BY v %s $1 LIMIT %s', op, k);
  FOR r IN SELECT * FROM qq LOOP
    SET LOCAL enable_indexscan = off;
    EXECUTE 'CREATE TEMP TABLE exact AS ' || q USING r.v;
    SET LOCAL enable_indexscan = on;
    SET LOCAL enable_seqscan = off;
    SET LOCAL enable_sort = off;
    EXECUTE 'SELECT count(*) FROM (' || q || ') a JOIN exact USING (id)' INTO STRICT n USING r.v;
    hits := hits + n;
    RESET enable_seqscan;
    RESET enable_sort;
    DROP TABLE exact;
  END LOOP;
  RETURN hits::float8 / (k * (SELECT count(*) FROM qq));
END $$;
SET vexdb.ef_search = 64;
SELECT qrecall('<->', 10) >= 0.9 AS l2_recall_ok;
CREATE INDEX qi_ip ON qi USING vexhnsw (v vexvector_ip_ops) WITH (quant = 'sq8');
SELECT qrecall('<#>', 10) >= 0.8 AS ip_recall_ok;
DROP INDEX qi_ip;
CREATE INDEX qi_cos ON qi USING vexhnsw (v vexvector_cosine_ops) WITH (quant = 'sq8');
SELECT qrecall('<=>', 10) >= 0.9 AS cos_recall_ok;
-- a zero query under cosine (every distance 1) and a NULL query
SET enable_seqscan = off;
SELECT count(*), min(d), max(d) FROM (SELECT v <=> array_fill(0, ARRAY[32])::real[]::vexvector AS d
  FROM qi ORDER BY v <=> array_fill(0, ARRAY[32])::real[]::vexvector LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM qi ORDER BY v <-> NULL LIMIT 7) s;
RESET enable_seqscan;
DROP INDEX qi_cos;
RESET vexdb.ef_search;
-- filtered queries keep returning their LIMIT
SET enable_seqscan = off;
SELECT min(c), max(c) FROM (SELECT q.qid, count(*) AS c FROM qq q,
  LATERAL (SELECT id FROM qi WHERE cat = q.qid % 10 ORDER BY v <-> q.v LIMIT 10) s GROUP BY q.qid) t;
SELECT count(*) FROM (SELECT id FROM qi WHERE id % 100 = 7 ORDER BY v <-> (SELECT v FROM qq WHERE qid = 2) LIMIT 20) s;
RESET enable_seqscan;
-- inserts and vacuum on a quantized index; the ranges trained at build
INSERT INTO qi SELECT i, i % 10, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 32) WHERE i > 0)::real[]
  FROM generate_series(3001, 4000) i;
DELETE FROM qi WHERE id % 4 = 0;
VACUUM qi;
SELECT live, deleted, unreachable <= 6 AS reachable FROM vexhnsw_check('qi_sq8');
SET vexdb.ef_search = 64;
SELECT qrecall('<->', 10) >= 0.9 AS recall_after_vacuum_ok;
RESET vexdb.ef_search;
-- an sq8 index built on an empty table trains on its first row
CREATE TABLE qe (id int, v vexvector(3));
CREATE INDEX qe_v ON qe USING vexhnsw (v vexvector_cosine_ops) WITH (quant = sq8);
SELECT live, deleted FROM vexhnsw_check('qe_v');
INSERT INTO qe SELECT i, ARRAY[cos(i), sin(i), 0.5]::real[] FROM generate_series(1, 300) i;
SELECT live, unreachable <= 6 AS reachable FROM vexhnsw_check('qe_v');
SET enable_seqscan = off;
SELECT id FROM qe ORDER BY v <=> '[0.5403023,0.84147096,0.5]' LIMIT 1;
RESET enable_seqscan;
-- free slots: after a delete, two VACUUMs (the first repairs around the
-- dead elements, the next frees their space) and as many inserts, the
-- index has grown by less than 5% (without the reuse it grows by half;
-- not "at all": an element's size follows its random level, so the new
-- elements need not fit the freed slots exactly), and the graph is whole;
-- churn.sh checks that the size settles over many cycles
CREATE TABLE churn (id int PRIMARY KEY, v vexvector(32));
INSERT INTO churn SELECT id, v FROM qi;
CREATE INDEX churn_v ON churn USING vexhnsw (v) WITH (m = 8, ef_construction = 32);
CREATE TABLE churn_size (cycle int, bytes bigint);
INSERT INTO churn_size VALUES (0, pg_relation_size('churn_v'));
DELETE FROM churn WHERE id % 2 = 0;
VACUUM churn;
SELECT live, unreachable <= 6 AS reachable FROM vexhnsw_check('churn_v');
VACUUM churn;
INSERT INTO churn SELECT id + 100000, v FROM qi WHERE id % 2 = 0;
SELECT live, unreachable <= 15 AS reachable FROM vexhnsw_check('churn_v');
INSERT INTO churn_size VALUES (1, pg_relation_size('churn_v'));
SELECT (SELECT bytes FROM churn_size WHERE cycle = 1) <= 1.05 * (SELECT bytes FROM churn_size WHERE cycle = 0) AS little_growth;
SET enable_seqscan = off;
SELECT count(*) FILTER (WHERE id < 100000 AND id % 2 = 0) AS dead_returned, count(*)
FROM (SELECT id FROM churn ORDER BY v <-> (SELECT v FROM qq WHERE qid = 3) LIMIT 100) s;
RESET enable_seqscan;
DROP TABLE qi, qq, qe, churn, churn_size;
DROP FUNCTION qrecall(text, int);
