-- SPDX-License-Identifier: Apache-2.0
-- The vexvector type: input, output, typmod, casts, operators, functions.
CREATE EXTENSION vexdb;
SELECT '[1,2,3]'::vexvector;
SELECT ' [ 1.5 , -2e3,0.1 ] '::vexvector;
SELECT '[1,2,3]'::vexvector(3);
SELECT '[1,2]'::vexvector(3);
SELECT '[]'::vexvector;
SELECT '[1,2'::vexvector;
SELECT '[1,,2]'::vexvector;
SELECT '[1,2] x'::vexvector;
SELECT '1,2'::vexvector;
SELECT '[NaN]'::vexvector;
SELECT '[1e39]'::vexvector;
SELECT '[1]'::vexvector(0);
SELECT '[1]'::vexvector(16001);
-- casts
SELECT ARRAY[1,2,3]::real[]::vexvector;
SELECT ARRAY[1.5,2,3]::double precision[]::vexvector(3);
SELECT ARRAY[4,5]::integer[]::vexvector;
SELECT ARRAY[1,NULL]::real[]::vexvector;
SELECT ARRAY[[1,2],[3,4]]::real[]::vexvector;
SELECT '[1,2.5]'::vexvector::real[];
-- operators and functions
SELECT '[0,0]'::vexvector <-> '[3,4]';
SELECT '[1,2]'::vexvector <#> '[3,4]';
SELECT inner_product('[1,2]'::vexvector, '[3,4]');
SELECT round(('[1,0]'::vexvector <=> '[0,1]')::numeric, 6);
SELECT round(('[1,1]'::vexvector <=> '[2,2]')::numeric, 6);
SELECT l2_distance('[1,1,1]'::vexvector, '[1,1,1]');
SELECT '[1,2]'::vexvector <-> '[1,2,3]';
SELECT vector_dims('[1,2,3]'::vexvector), vector_norm('[3,4]'::vexvector);
-- a table column with a typmod, and the binary round trip
CREATE TABLE t (id int, v vexvector(3));
INSERT INTO t VALUES (1, '[1,2,3]'), (2, ARRAY[4,5,6]::real[]);
INSERT INTO t VALUES (3, '[1,2]');
SELECT id, v FROM t ORDER BY v <-> '[4,5,5]';
\getenv tmpdir VEXPG_TMP
\set binfile :tmpdir '/vexvector_test.bin'
COPY t TO :'binfile' WITH (FORMAT binary);
CREATE TABLE t2 (LIKE t);
COPY t2 FROM :'binfile' WITH (FORMAT binary);
SELECT t.id, t.v::text = t2.v::text AS same_text, t2.v FROM t JOIN t2 USING (id) ORDER BY id;
SELECT vexvector_send('[1,-2.5]');
CREATE TABLE t3 (id int, v vexvector(2));
COPY t3 FROM :'binfile' WITH (FORMAT binary);
DROP TABLE t, t2, t3;
DROP EXTENSION vexdb;
