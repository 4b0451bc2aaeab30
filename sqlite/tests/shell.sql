-- SPDX-License-Identifier: Apache-2.0
-- The sqlite_shell test (run_shell.sh): the virtual table through the
-- sqlite3 shell. Each error below is expected, in order, in shell.errors.
.headers off
.mode list

-- the issue's table: create, write, filtered KNN, delete
CREATE VIRTUAL TABLE docs USING vexdb(dir='mydb', dim=4, metric='cosine',
                                      year INTEGER, lang TEXT, score REAL);
INSERT INTO docs(rowid, embedding, year, lang) VALUES (1, '[1, 0, 0, 0]', 2021, 'en');
INSERT INTO docs(rowid, embedding, year, lang) VALUES (2, '[0.9, 0.1, 0, 0]', 2019, 'en');
INSERT INTO docs(rowid, embedding, year, lang) VALUES (3, '[0.8, 0.2, 0.1, 0]', 2020, 'de');
INSERT INTO docs(rowid, embedding, year, lang, score) VALUES (4, '[0, 1, 0, 0]', 2022, 'en', 0.5);
INSERT INTO docs(rowid, embedding, year, lang, score) VALUES (5, '[0.7, 0.7, 0, 0]', 2023, NULL, 1.5);
-- a float32 blob works as well as JSON (0x3f800000 = 1.0, little-endian)
INSERT INTO docs(rowid, embedding, year) VALUES (6, X'0000803f000000000000000000000000', 2024);
SELECT 'count', count(*) FROM docs;
SELECT 'scan', rowid, year, lang, score, length(embedding) FROM docs ORDER BY rowid;
SELECT 'knn', rowid, printf('%.4f', distance), year FROM docs
 WHERE embedding MATCH '[1, 0.05, 0, 0]' AND k = 3 ORDER BY distance;
SELECT 'filtered', rowid, printf('%.4f', distance), year, lang FROM docs
 WHERE embedding MATCH '[1, 0.05, 0, 0]' AND k = 10 AND lang = 'en' AND year >= 2020
 ORDER BY distance;
SELECT 'in', rowid FROM docs WHERE embedding MATCH '[1, 0, 0, 0]' AND k = 10
 AND year IN (2019, 2022, 2023) ORDER BY distance;
SELECT 'null', rowid FROM docs WHERE lang IS NULL ORDER BY rowid;
SELECT 'notnull', rowid FROM docs WHERE score IS NOT NULL ORDER BY rowid;
SELECT 'ne', rowid FROM docs WHERE lang != 'en' ORDER BY rowid;
SELECT 'range', rowid FROM docs WHERE year > 2019 AND year <= 2022 ORDER BY rowid;
SELECT 'real', rowid FROM docs WHERE score < 1 ORDER BY rowid;
SELECT 'rowid', rowid, year FROM docs WHERE rowid = 4;
SELECT 'norow', rowid FROM docs WHERE rowid = 99;
SELECT 'affinity', rowid FROM docs WHERE year = '2021';
DELETE FROM docs WHERE rowid = 1;
SELECT 'deleted', count(*) FROM docs;
SELECT 'knn2', rowid FROM docs WHERE embedding MATCH '[1, 0, 0, 0]' AND k = 2 ORDER BY distance;

-- updates: metadata only, the vector, the id
UPDATE docs SET year = 1999 WHERE rowid = 2;
UPDATE docs SET embedding = '[0, 0, 1, 0]' WHERE rowid = 3;
UPDATE docs SET rowid = 30 WHERE rowid = 3;
SELECT 'updated', rowid, year, lang FROM docs WHERE rowid IN (2, 3, 30) ORDER BY rowid;
-- an UPDATE or DELETE driven by a KNN query
UPDATE docs SET score = 9 WHERE embedding MATCH '[0, 1, 0, 0]' AND k = 1;
SELECT 'knnupdate', rowid, score FROM docs WHERE score = 9;
SELECT 'moved', rowid, printf('%.4f', distance) FROM docs WHERE embedding MATCH '[0, 0, 1, 0]' AND k = 1;

-- transactions: ROLLBACK undoes, reads see the transaction's own writes
BEGIN;
INSERT INTO docs(rowid, embedding, year) VALUES (100, '[0, 0, 0, 1]', 2000);
UPDATE docs SET year = 2001 WHERE rowid = 100;
UPDATE docs SET lang = 'fr' WHERE rowid = 100;
SELECT 'own', rowid, year, lang FROM docs WHERE rowid = 100;
SELECT 'ownknn', rowid FROM docs WHERE embedding MATCH '[0, 0, 0, 1]' AND k = 1 AND lang = 'fr';
DELETE FROM docs WHERE rowid = 4;
SELECT 'ownscan', rowid FROM docs WHERE year >= 2000 ORDER BY rowid;
ROLLBACK;
SELECT 'rolledback', rowid FROM docs ORDER BY rowid;
BEGIN;
INSERT INTO docs(rowid, embedding, year) VALUES (200, '[0, 0, 0, 1]', 2000);
SAVEPOINT sp;
INSERT INTO docs(rowid, embedding, year) VALUES (201, '[0, 0, 0, 1]', 2000);
ROLLBACK TO sp;
COMMIT;
SELECT 'savepoint', rowid FROM docs WHERE year = 2000 ORDER BY rowid;
-- a failing statement undoes its own rows only
BEGIN;
INSERT INTO docs(rowid, embedding) VALUES (300, '[1, 1, 1, 1]');
INSERT INTO docs(rowid, embedding) SELECT 301, '[1, 1, 1, 0]' UNION ALL SELECT 2, '[1, 0, 1, 0]';
COMMIT;
SELECT 'stmt', rowid FROM docs WHERE rowid >= 300 ORDER BY rowid;
-- conflict clauses
INSERT OR IGNORE INTO docs(rowid, embedding, year) VALUES (300, '[1, 0, 0, 0]', 7);
SELECT 'ignore', rowid, year FROM docs WHERE rowid = 300;
INSERT OR REPLACE INTO docs(rowid, embedding, year) VALUES (300, '[1, 0, 0, 0]', 7);
SELECT 'replace', rowid, year FROM docs WHERE rowid = 300;

-- a second table on the same directory, named collection, flat index
CREATE VIRTUAL TABLE exact USING vexdb(dir='mydb', collection='exact_l2', dim=2,
                                       metric='l2', index='flat', tag TEXT);
INSERT INTO exact(rowid, embedding, tag) VALUES (1, '[0, 0]', 'a'), (2, '[3, 4]', 'b'), (3, '[1, 1]', 'a');
SELECT 'l2', rowid, distance, tag FROM exact WHERE embedding MATCH '[0, 0]' AND k = 3 ORDER BY distance;
-- a table over an existing collection takes its configuration
CREATE VIRTUAL TABLE again USING vexdb(dir='mydb', collection='exact_l2', tag TEXT);
SELECT 'again', rowid, tag FROM again ORDER BY rowid;
-- joins: a condition or k from another table goes into each search
CREATE TABLE q(v, kk);
INSERT INTO q VALUES ('a', 1), ('b', 2);
SELECT 'join', q.v, exact.rowid FROM q, exact
 WHERE exact.embedding MATCH '[0, 0]' AND exact.k = q.kk AND exact.tag = q.v
 ORDER BY q.v, exact.distance;
SELECT 'subquery', rowid FROM exact
 WHERE embedding MATCH (SELECT embedding FROM exact WHERE rowid = 2) AND k = 1;
-- the plan: KNN with the filter pushed into the search
EXPLAIN QUERY PLAN SELECT rowid FROM docs
 WHERE embedding MATCH '[1, 0, 0, 0]' AND k = 5 AND lang = 'en' AND year < 2022;

-- errors (each one in shell.errors)
INSERT INTO docs(rowid, embedding) VALUES (400, X'0000803f');
INSERT INTO docs(rowid, embedding) VALUES (401, X'0000c07f000000000000000000000000');
INSERT INTO docs(rowid, embedding) VALUES (402, '[1, 2, 3]');
INSERT INTO docs(rowid, embedding) VALUES (403, '[1, 2, 3, "x"]');
INSERT INTO docs(rowid, embedding) VALUES (404, '[0, 0, 0, 0]');
INSERT INTO docs(rowid, embedding) VALUES (405, NULL);
INSERT INTO docs(embedding) VALUES ('[1, 0, 0, 0]');
INSERT INTO docs(rowid, embedding, year) VALUES (406, '[1, 0, 0, 0]', 'soon');
INSERT INTO docs(rowid, embedding, year) VALUES (407, '[1, 0, 0, 0]', 20.5);
INSERT INTO docs(rowid, embedding) VALUES (2, '[1, 0, 0, 0]');
INSERT INTO docs(rowid, embedding, distance) VALUES (408, '[1, 0, 0, 0]', 1);
SELECT rowid FROM docs WHERE embedding MATCH '[1, 0, 0, 0]';
SELECT rowid FROM docs WHERE embedding MATCH X'00' AND k = 1;
SELECT rowid FROM docs WHERE k = 3;
SELECT rowid FROM docs WHERE year = 'soon';
CREATE VIRTUAL TABLE bad1 USING vexdb(dim=4);
CREATE VIRTUAL TABLE bad2 USING vexdb(dir='mydb', dim=4, colour='red');
CREATE VIRTUAL TABLE bad3 USING vexdb(dir='mydb', dim=4, tags BLOB);
CREATE VIRTUAL TABLE bad4 USING vexdb(dir='mydb', dim=4, metric='hamming');
CREATE VIRTUAL TABLE bad5 USING vexdb(dir='mydb', collection='exact_l2', dim=3);
CREATE VIRTUAL TABLE bad6 USING vexdb(dir='mydb', collection='exact_l2', tag INTEGER);
CREATE VIRTUAL TABLE bad7 USING vexdb(dir='mydb');
CREATE VIRTUAL TABLE bad8 USING vexdb(dir='mydb', dim=0);
ALTER TABLE docs RENAME TO docs2;
SELECT 'still', count(*) FROM docs;

-- SQL functions
SELECT 'fn', vex_distance_l2('[1, 2]', '[4, 6]'), vex_distance_cosine('[1, 0]', '[0, 1]'),
       vex_distance_ip('[1, 2]', vex_vector('[3, 4]')), vex_distance_l2(NULL, '[1]');
SELECT 'fn', vex_vector_to_json(vex_vector('[0.1, 1e-8, 3, -2.5e10, 0]')), hex(vex_vector('[1]'));
SELECT 'fn', vex_vector_to_json(X'0000803f0000c0bf');
-- the functions agree with the distance column
SELECT 'fnknn', rowid, printf('%.4f', distance),
       printf('%.4f', vex_distance_cosine(embedding, '[1, 0.05, 0, 0]'))
  FROM docs WHERE embedding MATCH '[1, 0.05, 0, 0]' AND k = 2 ORDER BY distance;
SELECT vex_distance_l2('[1, 2]', '[1]');
SELECT vex_distance_cosine('[0, 0]', '[1, 1]');
SELECT vex_vector_to_json(X'00');
SELECT vex_vector(X'0000c07f');
SELECT vex_vector('[1, 2');
SELECT vex_vector(3);
