# SPDX-License-Identifier: Apache-2.0
"""The sqlite_python test: the vexdb virtual table through Python's sqlite3
module (standard library only). VEXDB_SQLITE_EXT names the built extension.

Each test makes its own seeded data in a fresh temporary directory; the
recall tests compare KNN through SQL with an exact search done here.
"""
import math
import os
import random
import shutil
import sqlite3
import struct
import tempfile
import unittest

EXT = os.environ.get("VEXDB_SQLITE_EXT", "")


def blob(v):
    return struct.pack("<%df" % len(v), *v)


def unblob(b):
    return list(struct.unpack("<%df" % (len(b) // 4), b))


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return 1.0 - dot / (na * nb)


def l2(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b))


class Base(unittest.TestCase):
    def setUp(self):
        if not EXT:
            self.skipTest("VEXDB_SQLITE_EXT is not set")
        self.tmp = tempfile.mkdtemp(prefix="vexsq")
        self.dir = os.path.join(self.tmp, "db")
        self.cons = []

    def tearDown(self):
        for c in self.cons:
            c.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def connect(self, name="main"):
        con = sqlite3.connect(os.path.join(self.tmp, name + ".sqlite"),
                              isolation_level=None)
        con.enable_load_extension(True)
        con.load_extension(os.path.splitext(EXT)[0])
        con.enable_load_extension(False)
        self.cons.append(con)
        return con

    def close(self, con):
        con.close()
        self.cons.remove(con)


class TestTable(Base):
    def make(self, con, extra="", cols="year INTEGER, lang TEXT"):
        con.execute("CREATE VIRTUAL TABLE docs USING vexdb(dir='%s', dim=4, "
                    "metric='cosine'%s, %s)" % (self.dir, extra, cols))

    def test_blob_and_json_round_trip(self):
        con = self.connect()
        self.make(con)
        v = [0.1, -2.5, 3.25, 1e-3]
        con.execute("INSERT INTO docs(rowid, embedding, year) VALUES (?, ?, ?)",
                    (1, blob(v), 2020))
        con.execute("INSERT INTO docs(rowid, embedding, lang) VALUES (?, ?, ?)",
                    (2, "[0.1, -2.5, 3.25, 0.001]", "en"))
        rows = con.execute("SELECT rowid, embedding, year, lang FROM docs "
                           "ORDER BY rowid").fetchall()
        self.assertEqual(len(rows), 2)
        for r in rows:
            self.assertEqual(unblob(r[1]), [f32(x) for x in v])
        self.assertEqual((rows[0][2], rows[0][3]), (2020, None))
        self.assertEqual((rows[1][2], rows[1][3]), (None, "en"))

    def test_persists_and_reconnects(self):
        con = self.connect()
        self.make(con)
        con.executemany("INSERT INTO docs(rowid, embedding, year) VALUES (?,?,?)",
                        [(i, blob([1, i, 0, 0]), i) for i in range(1, 51)])
        self.close(con)
        con = self.connect()
        self.assertEqual(con.execute("SELECT count(*) FROM docs").fetchone()[0], 50)
        got = con.execute("SELECT rowid FROM docs WHERE embedding MATCH ? "
                          "AND k = 3 ORDER BY distance",
                          (blob([1, 7, 0, 0]),)).fetchall()
        want = sorted(range(1, 51), key=lambda i: (cosine([1, 7, 0, 0], [1, i, 0, 0]), i))
        self.assertEqual([r[0] for r in got], want[:3])
        # dropping the table keeps the collection: a new table finds it
        con.execute("DROP TABLE docs")
        con.execute("CREATE VIRTUAL TABLE other USING vexdb(dir='%s', "
                    "collection='docs', year INTEGER)" % self.dir)
        self.assertEqual(con.execute("SELECT count(*) FROM other").fetchone()[0], 50)

    def test_two_connections_share_the_database(self):
        a = self.connect()
        self.make(a)
        b = self.connect()
        a.execute("INSERT INTO docs(rowid, embedding) VALUES (1, '[1,0,0,0]')")
        self.assertEqual(b.execute("SELECT count(*) FROM docs").fetchone()[0], 1)
        b.execute("INSERT INTO docs(rowid, embedding) VALUES (2, '[0,1,0,0]')")
        self.assertEqual(a.execute("SELECT count(*) FROM docs").fetchone()[0], 2)
        # b's transaction is invisible to a until it commits
        b.execute("BEGIN")
        b.execute("DELETE FROM docs WHERE rowid = 1")
        self.assertEqual(a.execute("SELECT count(*) FROM docs").fetchone()[0], 2)
        self.assertEqual(b.execute("SELECT count(*) FROM docs").fetchone()[0], 1)
        b.execute("COMMIT")
        self.assertEqual(a.execute("SELECT count(*) FROM docs").fetchone()[0], 1)

    def test_commit_failure_aborts_the_commit(self):
        # a concurrent writer takes the id between the INSERT's check and
        # the COMMIT: the COMMIT fails with VexDB's message, nothing of the
        # transaction is written, and the connection can go on
        a = self.connect()
        self.make(a)
        b = self.connect("other")  # another SQLite file, the same VexDB dir
        self.make(b)
        a.execute("BEGIN")
        a.execute("INSERT INTO docs(rowid, embedding) VALUES (1, '[1,0,0,0]')")
        a.execute("INSERT INTO docs(rowid, embedding) VALUES (2, '[1,0,0,0]')")
        b.execute("INSERT INTO docs(rowid, embedding, year) VALUES (2, '[0,1,0,0]', 5)")
        with self.assertRaises(sqlite3.DatabaseError) as cm:
            a.execute("COMMIT")
        self.assertIn("vexdb", str(cm.exception))
        self.assertIn("2", str(cm.exception))
        if a.in_transaction:
            a.execute("ROLLBACK")
        rows = a.execute("SELECT rowid, year FROM docs").fetchall()
        self.assertEqual(rows, [(2, 5)])

    def test_batch_limit_is_an_error_not_a_partial_commit(self):
        con = self.connect()
        con.execute("CREATE VIRTUAL TABLE big USING vexdb(dir='%s', dim=4096, "
                    "index='flat')" % self.dir)
        v = blob([1.0] * 4096)
        con.execute("BEGIN")
        with self.assertRaises(sqlite3.DatabaseError) as cm:
            for i in range(1100):
                con.execute("INSERT INTO big(rowid, embedding) VALUES (?, ?)", (i, v))
        self.assertIn("exceed one VexDB batch", str(cm.exception))
        con.execute("ROLLBACK")
        self.assertEqual(con.execute("SELECT count(*) FROM big").fetchone()[0], 0)
        # the same rows in transactions of 500 go in
        for s in range(0, 1100, 500):
            con.execute("BEGIN")
            con.executemany("INSERT INTO big(rowid, embedding) VALUES (?, ?)",
                            [(i, v) for i in range(s, min(s + 500, 1100))])
            con.execute("COMMIT")
        self.assertEqual(con.execute("SELECT count(*) FROM big").fetchone()[0], 1100)

    def test_limit_offset_and_ef_search(self):
        con = self.connect()
        self.make(con)
        con.executemany("INSERT INTO docs(rowid, embedding) VALUES (?, ?)",
                        [(i, blob([1, i / 10, 0, 0])) for i in range(20)])
        q = blob([1, 0, 0, 0])
        sql = "SELECT rowid FROM docs WHERE embedding MATCH ? ORDER BY distance LIMIT 3"
        if sqlite3.sqlite_version_info >= (3, 41, 0):
            self.assertEqual([r[0] for r in con.execute(sql, (q,))], [0, 1, 2])
            got = con.execute(sql + " OFFSET 2", (q,)).fetchall()
            self.assertEqual([r[0] for r in got], [2, 3, 4])
        else:
            # SQLite before 3.41 does not pass LIMIT to a table with MATCH
            with self.assertRaises(sqlite3.OperationalError) as cm:
                con.execute(sql, (q,)).fetchall()
            self.assertIn("needs k = N or LIMIT N", str(cm.exception))
        got = con.execute("SELECT rowid FROM docs WHERE embedding MATCH ? AND k = 5 "
                          "AND ef_search = 50 ORDER BY distance LIMIT 2", (q,)).fetchall()
        self.assertEqual([r[0] for r in got], [0, 1])
        got = con.execute("SELECT rowid FROM docs WHERE embedding MATCH ? AND k = 0",
                          (q,)).fetchall()
        self.assertEqual(got, [])

    def test_filters_match_sql(self):
        # every pushed-down condition gives the rows SQLite itself would:
        # the same query on an ordinary table is the oracle
        con = self.connect()
        self.make(con, cols="year INTEGER, lang TEXT, score REAL")
        con.execute("CREATE TABLE ref(id INTEGER PRIMARY KEY, year INTEGER, "
                    "lang TEXT, score REAL)")
        rnd = random.Random(7)
        rows = []
        for i in range(300):
            year = rnd.choice([None, 2018, 2019, 2020, 2021, 2022])
            lang = rnd.choice([None, "en", "de", "fr", "EN", ""])
            score = rnd.choice([None, -1.5, 0.0, 0.25, 3.0])
            rows.append((i, blob([rnd.uniform(-1, 1) for _ in range(4)]),
                         year, lang, score))
        con.executemany("INSERT INTO docs(rowid, embedding, year, lang, score) "
                        "VALUES (?,?,?,?,?)", rows)
        con.executemany("INSERT INTO ref VALUES (?,?,?,?)",
                        [(r[0], r[2], r[3], r[4]) for r in rows])
        wheres = [
            "year = 2020", "year != 2020", "year < 2020", "year <= 2020",
            "year > 2020.5", "year >= 2021", "year IN (2018, 2022, NULL)",
            "year IS NULL", "year IS NOT NULL", "lang = 'en'", "lang > 'e'",
            "lang IN ('de', 'fr')", "lang = ''", "lang = 'en' COLLATE NOCASE",
            "score < 0.25", "score = 0", "score >= -1.5 AND year < 2022",
            "lang IS NULL AND score IS NOT NULL", "year = NULL",
            "year IN (%s)" % ",".join(str(2000 + i % 30) for i in range(2000)),
            "year = '2019'", "lang = 5",
        ]
        for w in wheres:
            want = sorted(r[0] for r in con.execute("SELECT id FROM ref WHERE " + w))
            got = sorted(r[0] for r in con.execute("SELECT rowid FROM docs WHERE " + w))
            self.assertEqual(got, want, w)
        # and through a KNN query with k above the table size (exact)
        q = blob([0.3, -0.2, 0.9, 0.1])
        for w in wheres:
            want = sorted(r[0] for r in con.execute("SELECT id FROM ref WHERE " + w))
            got = sorted(r[0] for r in con.execute(
                "SELECT rowid FROM docs WHERE embedding MATCH ? AND k = 1000 "
                "AND " + w, (q,)))
            self.assertEqual(got, want, "knn " + w)

    def test_transactions_read_their_own_writes(self):
        con = self.connect()
        self.make(con)
        con.executemany("INSERT INTO docs(rowid, embedding, year, lang) VALUES (?,?,?,?)",
                        [(i, blob([1, i, 0, 0]), 2000 + i, "en") for i in range(1, 21)])
        con.execute("BEGIN")
        con.execute("UPDATE docs SET lang = 'de' WHERE year >= 2015")
        con.execute("INSERT INTO docs(rowid, embedding, year, lang) VALUES "
                    "(100, '[1, 3.1, 0, 0]', 1990, 'de')")
        con.execute("DELETE FROM docs WHERE rowid = 3")
        got = con.execute("SELECT rowid FROM docs WHERE embedding MATCH '[1,3,0,0]' "
                          "AND k = 3 ORDER BY distance").fetchall()
        vecs = {i: [1, i, 0, 0] for i in range(1, 21) if i != 3}
        vecs[100] = [1, f32(3.1), 0, 0]
        want = sorted(vecs, key=lambda i: (cosine([1, 3, 0, 0], vecs[i]), i))
        self.assertEqual([r[0] for r in got], want[:3])
        self.assertEqual(got[0][0], 100)
        got = con.execute("SELECT rowid FROM docs WHERE embedding MATCH '[1,16,0,0]' "
                          "AND k = 2 AND lang = 'en' ORDER BY distance").fetchall()
        self.assertEqual([r[0] for r in got], [14, 13])
        self.assertEqual(con.execute("SELECT count(*) FROM docs WHERE lang = 'de'")
                         .fetchone()[0], 7)
        con.execute("ROLLBACK")
        self.assertEqual(con.execute("SELECT count(*) FROM docs WHERE lang = 'de'")
                         .fetchone()[0], 0)
        self.assertEqual(con.execute("SELECT count(*) FROM docs").fetchone()[0], 20)

    def test_update_keeps_fields_that_are_not_columns(self):
        con = self.connect()
        con.execute("CREATE VIRTUAL TABLE full USING vexdb(dir = '%s', collection = "
                    "'c', dim = 2, year INTEGER, note TEXT)" % self.dir)
        con.execute("CREATE VIRTUAL TABLE part USING vexdb(dir='%s', "
                    "collection='c', year INTEGER)" % self.dir)
        con.execute("INSERT INTO full(rowid, embedding, year, note) "
                    "VALUES (1, '[1,2]', 2000, 'keep me')")
        con.execute("UPDATE part SET year = 2001 WHERE rowid = 1")
        self.assertEqual(con.execute("SELECT year, note FROM full").fetchall(),
                         [(2001, "keep me")])
        con.execute("UPDATE part SET embedding = '[2,1]', year = NULL WHERE rowid = 1")
        self.assertEqual(con.execute("SELECT year, note, vex_vector_to_json(embedding) "
                                     "FROM full").fetchall(), [(None, "keep me", "[2,1]")])
        con.execute("UPDATE part SET rowid = 5 WHERE rowid = 1")
        self.assertEqual(con.execute("SELECT rowid, note FROM full").fetchall(),
                         [(5, "keep me")])
        # REPLACE is a new record: the fields it does not give are gone
        con.execute("INSERT OR REPLACE INTO part(rowid, embedding, year) "
                    "VALUES (5, '[1,1]', 7)")
        self.assertEqual(con.execute("SELECT rowid, year, note FROM full").fetchall(),
                         [(5, 7, None)])

    def test_index_and_quant_options(self):
        con = self.connect()
        con.execute("CREATE VIRTUAL TABLE q USING vexdb(dir='%s', dim=8, metric='l2', "
                    "m=8, ef_construction=40, ef_search=20, seed=9, quant='sq8', "
                    "quant_refine=4)" % self.dir)
        rnd = random.Random(1)
        vecs = [[rnd.uniform(-1, 1) for _ in range(8)] for _ in range(300)]
        con.execute("BEGIN")
        con.executemany("INSERT INTO q(rowid, embedding) VALUES (?, ?)",
                        [(i, blob(v)) for i, v in enumerate(vecs)])
        con.execute("COMMIT")
        self.close(con)  # flush: a quantized segment
        con = self.connect()
        got = con.execute("SELECT rowid, distance FROM q WHERE embedding MATCH ? "
                          "AND k = 1", (blob(vecs[17]),)).fetchall()
        self.assertEqual(got, [(17, 0.0)])
        # the stored settings are compared with what a new table asks for
        for opts, msg in (("quant='pq'", "quantization"), ("m=16", "HNSW"),
                          ("metric='cosine'", "metric l2"), ("index='flat'", "index"),
                          ("dim=9", "dim 8")):
            with self.assertRaises(sqlite3.OperationalError) as cm:
                con.execute("CREATE VIRTUAL TABLE q2 USING vexdb(dir='%s', "
                            "collection='q', %s)" % (self.dir, opts))
            self.assertIn(msg, str(cm.exception), opts)
        con.execute("CREATE VIRTUAL TABLE q3 USING vexdb(dir='%s', collection='q', "
                    "m=8, quant='sq8', metric='l2')" % self.dir)
        self.assertEqual(con.execute("SELECT count(*) FROM q3").fetchone()[0], 300)
        # a flat collection refuses ef_search, with VexDB's message
        con.execute("CREATE VIRTUAL TABLE f USING vexdb(dir='%s', dim=2, index='flat')"
                    % self.dir)
        con.execute("INSERT INTO f(rowid, embedding) VALUES (1, '[1,2]')")
        with self.assertRaises(sqlite3.OperationalError) as cm:
            con.execute("SELECT rowid FROM f WHERE embedding MATCH '[1,2]' AND k = 1 "
                        "AND ef_search = 10").fetchall()
        self.assertIn("vexdb: ", str(cm.exception))
        self.assertIn("ef", str(cm.exception))

    def test_threads_share_the_directory(self):
        # each thread its own connection (and SQLite file); one VexDB
        # directory and collection under them all; writers commit in
        # transactions while readers search
        import threading
        con = self.connect()
        self.make(con)
        errors = []

        def writer(w):
            try:
                c = sqlite3.connect(os.path.join(self.tmp, "w%d.sqlite" % w),
                                    isolation_level=None, check_same_thread=False)
                c.enable_load_extension(True)
                c.load_extension(os.path.splitext(EXT)[0])
                c.execute("CREATE VIRTUAL TABLE docs USING vexdb(dir='%s', "
                          "year INTEGER, lang TEXT)" % self.dir)
                for b in range(10):
                    c.execute("BEGIN")
                    for i in range(20):
                        rid = w * 1000 + b * 20 + i
                        c.execute("INSERT INTO docs(rowid, embedding, year) VALUES (?,?,?)",
                                  (rid, blob([1, rid % 97, w, 1]), w))
                    c.execute("COMMIT")
                    got = c.execute("SELECT count(*) FROM docs WHERE year = ?",
                                    (w,)).fetchone()[0]
                    if got != (b + 1) * 20:
                        errors.append("writer %d saw %d rows" % (w, got))
                    c.execute("SELECT rowid FROM docs WHERE embedding MATCH ? AND k = 5 "
                              "AND year = ?", (blob([1, 3, w, 1]), w)).fetchall()
                c.close()
            except Exception as e:  # reported below
                errors.append("writer %d: %r" % (w, e))

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors, [])
        self.assertEqual(con.execute("SELECT count(*) FROM docs").fetchone()[0], 800)
        got = con.execute("SELECT rowid FROM docs WHERE rowid IN (5, 1005, 3199, 9999) "
                          "ORDER BY rowid").fetchall()
        self.assertEqual([r[0] for r in got], [5, 1005, 3199])

    def test_bad_inputs(self):
        con = self.connect()
        self.make(con)
        bad = [
            ("INSERT INTO docs(rowid, embedding) VALUES (1, ?)", (blob([1, 2, 3]),),
             "the table's dim is 4"),
            ("INSERT INTO docs(rowid, embedding) VALUES (1, ?)",
             (blob([1, float("nan"), 0, 0]),), "NaN"),
            ("INSERT INTO docs(rowid, embedding) VALUES (1, ?)",
             (blob([1, float("inf"), 0, 0]),), "infinite"),
            ("INSERT INTO docs(rowid, embedding) VALUES (1, ?)", (3.5,),
             "float32 blob or a JSON array"),
            ("INSERT INTO docs(rowid, embedding) VALUES (1, '[1, 2, 3, 1e39]')", (),
             "not a finite float32"),
            ("INSERT INTO docs(rowid, embedding) VALUES (1, '[1, 2, 3, 4] x')", (),
             "text after"),
            ("INSERT INTO docs(rowid, embedding) VALUES (-1, '[1, 2, 3, 4]')", (),
             "non-negative integer"),
            ("INSERT INTO docs(rowid, embedding, lang) VALUES (1, '[1,2,3,4]', ?)",
             (b"\x00",), "got a blob"),
            ("SELECT rowid FROM docs WHERE embedding MATCH ? AND k = 1",
             (blob([1, 2]),), "the table's dim is 4"),
            ("SELECT rowid FROM docs WHERE embedding MATCH '[1,2,3,4]' AND k = ?",
             (-3,), "k must be a non-negative integer"),
            ("SELECT rowid FROM docs WHERE embedding MATCH '[1,2,3,4]' AND k = ?",
             (1000000,), "above"),
            ("SELECT rowid FROM docs WHERE nosuch = 1", (), "no such column"),
            ("INSERT INTO docs(rowid, embedding, nosuch) VALUES (1, '[1,2,3,4]', 1)",
             (), "has no column named nosuch"),
        ]
        for sql, args, msg in bad:
            with self.assertRaises(sqlite3.DatabaseError, msg=sql) as cm:
                con.execute(sql, args).fetchall()
            if msg:
                self.assertIn(msg, str(cm.exception), sql)
        self.assertEqual(con.execute("SELECT count(*) FROM docs").fetchone()[0], 0)


class TestFunctions(Base):
    def test_json_round_trip_is_exact(self):
        con = self.connect()
        rnd = random.Random(3)
        for _ in range(200):
            v = [f32(rnd.choice([rnd.gauss(0, 1), rnd.uniform(-1e30, 1e30),
                                 rnd.uniform(-1e-30, 1e-30), 0.0]))
                 for _ in range(rnd.randint(1, 40))]
            text = con.execute("SELECT vex_vector_to_json(?)", (blob(v),)).fetchone()[0]
            self.assertEqual([f32(x) for x in __import__("json").loads(text)], v)
            back = con.execute("SELECT vex_vector(?)", (text,)).fetchone()[0]
            self.assertEqual(back, blob(v))

    def test_distances(self):
        con = self.connect()
        rnd = random.Random(5)
        for _ in range(100):
            n = rnd.randint(1, 64)
            a = [f32(rnd.gauss(0, 1)) for _ in range(n)]
            b = [f32(rnd.gauss(0, 1)) for _ in range(n)]
            got = con.execute("SELECT vex_distance_l2(?, ?), vex_distance_cosine(?, ?), "
                              "vex_distance_ip(?, ?)",
                              (blob(a), blob(b), blob(a), str(b), str(a), blob(b))).fetchone()
            self.assertAlmostEqual(got[0], l2(a, b), places=9)
            self.assertAlmostEqual(got[1], cosine(a, b), places=9)
            self.assertAlmostEqual(got[2], -sum(x * y for x, y in zip(a, b)), places=9)
        for sql, msg in (("SELECT vex_distance_ip('[1]', '[1, 2]')", "1 and 2 elements"),
                         ("SELECT vex_vector('[]')", "0 elements"),
                         ("SELECT vex_vector_to_json('nope')", "starting with '['")):
            with self.assertRaises(sqlite3.OperationalError) as cm:
                con.execute(sql).fetchone()
            self.assertIn(msg, str(cm.exception))


class TestRecall(Base):
    """KNN through SQL against an exact search done here."""

    N, DIM, NQ, K = 3000, 24, 40, 10

    def data(self, seed):
        rnd = random.Random(seed)
        # clustered data, like real embeddings
        centres = [[rnd.gauss(0, 1) for _ in range(self.DIM)] for _ in range(30)]
        def point():
            c = rnd.choice(centres)
            return [f32(x + rnd.gauss(0, 0.35)) for x in c]
        base = [point() for _ in range(self.N)]
        queries = [point() for _ in range(self.NQ)]
        return base, queries

    def load(self, con, base, metric):
        con.execute("CREATE VIRTUAL TABLE v USING vexdb(dir='%s', dim=%d, "
                    "metric='%s', m=16, ef_construction=100, grp INTEGER)"
                    % (self.dir, self.DIM, metric))
        con.execute("BEGIN")
        con.executemany("INSERT INTO v(rowid, embedding, grp) VALUES (?, ?, ?)",
                        [(i, blob(v), i % 5) for i, v in enumerate(base)])
        con.execute("COMMIT")

    def recall(self, con, base, queries, dist, where="", ef=64):
        hit = total = 0
        for q in queries:
            cand = [(dist(q, v), i) for i, v in enumerate(base)
                    if not where or i % 5 == 2]
            cand.sort()
            kth = cand[self.K - 1][0]
            got = con.execute(
                "SELECT rowid, distance FROM v WHERE embedding MATCH ? AND k = ? "
                "AND ef_search = ? %s ORDER BY distance" % where,
                (blob(q), self.K, ef)).fetchall()
            self.assertEqual(len(got), self.K)
            for rid, d in got:
                if where:
                    self.assertEqual(rid % 5, 2)
                # the reported distance is VexDB's, in float32
                self.assertAlmostEqual(d, dist(q, base[rid]), delta=1e-4 * (1 + abs(d)))
                if dist(q, base[rid]) <= kth + 1e-6 * (1 + abs(kth)):
                    hit += 1
            total += self.K
        return hit / total

    def test_recall_cosine_and_l2(self):
        for metric, dist in (("cosine", cosine), ("l2", l2)):
            with self.subTest(metric=metric):
                base, queries = self.data(11 if metric == "cosine" else 12)
                con = self.connect()
                self.load(con, base, metric)
                # closing the last connection flushes the collection to a
                # segment with its HNSW graph, which the searches then use
                self.close(con)
                con = self.connect()
                r = self.recall(con, base, queries, dist)
                self.assertGreaterEqual(r, 0.95, "%s recall@10 %.3f" % (metric, r))
                rf = self.recall(con, base, queries, dist, where="AND grp = 2")
                self.assertGreaterEqual(rf, 0.95, "%s filtered recall %.3f" % (metric, rf))
                # ef_search is used: the narrowest beam finds fewer
                low = self.recall(con, base, queries, dist, ef=self.K)
                self.assertLessEqual(low, r)
                con.execute("DROP TABLE v")
                self.close(con)
                shutil.rmtree(self.dir)


if __name__ == "__main__":
    unittest.main()
