# SPDX-License-Identifier: Apache-2.0
"""Databases and collections: every public method, with results checked
against exact search in numpy."""
import numpy as np
import pytest

import vexdb
from conftest import DIM, brute_force, meta_of


def test_open_creates_and_reopens(tmp_path, data):
    path = str(tmp_path / "new")
    with vexdb.open(path) as db:
        assert not db.closed and db.path == path
        c = db.create_collection("a", dim=DIM)
        c.upsert([1, 2], data[:2])
    assert db.closed
    with vexdb.open(path, create=False) as db:
        c = db.collection("a")
        assert len(c) == 2
        np.testing.assert_array_equal(c.get(2).vector, data[1])
    with pytest.raises(vexdb.NotFound):
        vexdb.open(str(tmp_path / "missing"), create=False)


def test_create_open_get_or_create_list_drop(db):
    c = db.create_collection("docs", dim=8, metric="cosine", index="hnsw",
                             M=12, ef_construction=100, ef_search=32)
    assert c.name == "docs" and c.dim == 8 and c.metric == "cosine"
    cfg = c.config
    assert (cfg["M"], cfg["ef_construction"], cfg["ef_search"]) == (12, 100, 32)
    assert cfg["index"] == "hnsw" and cfg["quant"] is None
    with pytest.raises(vexdb.Exists):
        db.create_collection("docs", dim=8)
    again = db.get_or_create_collection("docs", dim=8, metric="cosine")
    assert again.dim == 8
    with pytest.raises(vexdb.Invalid, match="dim"):
        db.get_or_create_collection("docs", dim=9, metric="cosine")
    flat = db.get_or_create_collection("flat", dim=4, index="flat")
    assert flat.config["index"] == "flat"
    assert db.collections() == ["docs", "flat"]
    assert db.collection("docs").dim == 8
    with pytest.raises(vexdb.NotFound):
        db.collection("nope")
    with pytest.raises(vexdb.Busy):
        db.drop_collection("flat")  # still open
    flat.close()
    db.drop_collection("flat")
    assert db.collections() == ["docs"]
    with pytest.raises(vexdb.NotFound):
        db.drop_collection("flat")


def test_schema_and_field(db):
    c = db.create_collection("s", dim=2, schema={
        "year": vexdb.Field(int, required=True), "lang": "str",
        "w": float, "ok": bool, "tags": list})
    sch = c.config["schema"]
    assert sch["year"] == ("int64", True) and sch["lang"] == ("string", False)
    assert sch["w"][0] == "double" and sch["ok"][0] == "bool"
    assert sch["tags"][0] == "tags"
    c.upsert(1, [0.5, 1.0], metadata={"year": 2020})
    with pytest.raises(vexdb.Invalid, match="year"):
        c.upsert(2, [0.5, 1.0], metadata={"lang": "en"})  # year required
    with pytest.raises(vexdb.Invalid, match="year"):
        c.upsert(2, [0.5, 1.0], metadata={"year": "2020"})
    with pytest.raises(vexdb.Invalid):
        db.create_collection("bad", dim=2, schema={"x": dict})
    with pytest.raises(TypeError):
        vexdb.Field(dict)


def test_upsert_insert_get(coll, data):
    assert len(coll) == 500 and coll.count() == 500
    rec = coll.get(42)
    assert rec.id == 42
    np.testing.assert_array_equal(rec.vector, data[42])
    assert rec.vector.dtype == np.float32
    assert rec.metadata == meta_of(42)
    assert rec.payload == b"payload 42"
    only = coll.get(42, include=("metadata",))
    assert only.vector is None and only.payload is None
    assert only.metadata == meta_of(42)
    with pytest.raises(vexdb.Exists):
        coll.insert([499, 500], data[:2])
    assert 500 not in coll  # insert is all or nothing
    assert coll.insert([500, 501], data[:2]) == 2
    assert 500 in coll and 501 in coll
    r = coll.get(500)
    assert r.metadata == {} and r.payload is None
    # upsert replaces the whole record
    coll.upsert(42, data[0], metadata={"year": 1}, payloads="text")
    r = coll.get(42)
    np.testing.assert_array_equal(r.vector, data[0])
    assert r.metadata == {"year": 1} and r.payload == b"text"
    coll.upsert(42, data[0])
    assert coll.get(42).metadata == {} and coll.get(42).payload is None
    with pytest.raises(vexdb.NotFound):
        coll.get(10**6)


def test_metadata_types_roundtrip(db):
    c = db.create_collection("m", dim=2)
    md = {"i": -(2**63), "big": 2**63 - 1, "f": 1.5, "s": "h\u00e9llo \u4e16",
          "b": True, "n": None, "t": ["a", "b\u00e9"], "empty": []}
    c.upsert(1, [1, 2], metadata=md)
    assert c.get(1).metadata == md
    with pytest.raises(vexdb.Invalid, match="int64"):
        c.upsert(1, [1, 2], metadata={"x": 2**63})
    with pytest.raises(TypeError, match="unsupported type"):
        c.upsert(1, [1, 2], metadata={"x": {"nested": 1}})
    with pytest.raises(TypeError):
        c.upsert(1, [1, 2], metadata={1: "x"})
    with pytest.raises(TypeError):
        c.upsert(1, [1, 2], metadata={"t": ["a", 1]})
    with pytest.raises(vexdb.Invalid):
        c.upsert(1, [1, 2], metadata={"x": float("nan")})
    c.update_metadata(1, {"only": 1})
    assert c.get(1).metadata == {"only": 1}
    np.testing.assert_array_equal(c.get(1).vector, [1, 2])
    with pytest.raises(vexdb.NotFound):
        c.update_metadata(2, {"only": 1})


def test_search_single_matches_exact(db, data):
    c = db.create_collection("f", dim=DIM, index="flat")
    c.upsert(np.arange(500), data)
    for qi in range(5):
        q = data[qi] + 0.01
        hits = c.search(q, k=7)
        ids, dist = brute_force(data, q, 7)
        np.testing.assert_array_equal(hits.ids, ids)
        np.testing.assert_allclose(hits.distances, dist, rtol=1e-4)
        assert hits.ids.dtype == np.uint64 and hits.distances.dtype == np.float32
        assert len(hits) == 7 and hits.counts is None and hits.metadata is None


def test_search_batch_and_include(coll, data):
    Q = data[:6] + 0.001
    many = coll.search(Q, k=5)
    assert many.ids.shape == (6, 5) and many.distances.shape == (6, 5)
    np.testing.assert_array_equal(many.counts, [5] * 6)
    for i in range(6):
        one = coll.search(Q[i], k=5)
        np.testing.assert_array_equal(many.ids[i], one.ids)
    h = coll.search(Q[0], k=3, include=("metadata", "payload", "vector"))
    assert h.ids[0] == 0
    assert h.metadata[0] == meta_of(0) and h.payloads[0] == b"payload 0"
    np.testing.assert_array_equal(h.vectors[0], data[0])
    hb = coll.search(Q[:3], k=2, include=["metadata"])
    assert hb.ids.shape == (3, 2) and len(hb.metadata) == 3
    assert hb.metadata[1][0] == meta_of(int(hb.ids[1][0]))
    assert hb.payloads is None and hb.vectors is None


def test_search_fewer_than_k_pads_batch(db):
    c = db.create_collection("small", dim=2, index="flat")
    c.upsert([1, 2], [[0, 1], [1, 0]])
    h = c.search([[0, 1], [1, 1]], k=4)
    np.testing.assert_array_equal(h.counts, [2, 2])
    assert h.ids[0, 2] == 2**64 - 1 and np.isinf(h.distances[0, 3])
    assert len(c.search([0, 1], k=4).ids) == 2


def test_search_where_text_builder_and_filter(coll, data):
    f = vexdb.field
    q = data[10]
    text = "lang = 'en' AND year >= 2010"
    expr = (f("lang") == "en") & (f("year") >= 2010)
    a = coll.search(q, k=10, where=text)
    b = coll.search(q, k=10, where=expr)
    compiled = coll.filter(text)
    c = coll.search(q, k=10, where=compiled)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.ids, c.ids)
    ok = [i for i in range(500) if meta_of(i)["lang"] == "en" and meta_of(i)["year"] >= 2010]
    ids, _ = brute_force(data[ok], q, 10, ids=ok)
    np.testing.assert_array_equal(np.sort(a.ids), np.sort(ids))
    assert str(coll.filter(expr)) == str(compiled)
    assert "lang" in repr(compiled)
    hb = coll.search(data[:3], k=4, where=expr, ef=80)
    assert all(meta_of(int(i))["lang"] == "en" for i in hb.ids.ravel())


def test_filter_builder_equals_text(coll):
    f = vexdb.field
    cases = [
        (f("year") < 2000, "year < 2000"),
        (f("year") <= 2000, "year <= 2000"),
        (f("year") > 2020, "year > 2020"),
        (f("year") != 2001, "year != 2001"),
        (f("score").between(1.0, 5.5), "score BETWEEN 1.0 AND 5.5"),
        (f("lang").isin(["en", "fr"]), "lang IN ('en', 'fr')"),
        (f("lang").not_in(["en"]), "lang NOT IN ('en')"),
        (f("tags").contains("odd"), "tags CONTAINS 'odd'"),
        (f("tags").contains_any(["x", "even"]), "tags CONTAINS ANY ('x', 'even')"),
        (f("tags").contains_all(["x", "odd"]), "tags CONTAINS ALL ('x', 'odd')"),
        (f("flag") == True, "flag = TRUE"),  # noqa: E712
        (f("nope").is_null(), "nope IS NULL"),
        (f("lang").is_not_null(), "lang IS NOT NULL"),
        (~(f("lang") == "en") | (f("year") < 1995), "NOT lang = 'en' OR year < 1995"),
    ]
    for expr, text in cases:
        assert coll.count(where=expr) == coll.count(where=text), text
        assert str(coll.filter(expr)) == str(coll.filter(text)), text
    assert coll.count(where="lang = 'en'") == sum(meta_of(i)["lang"] == "en" for i in range(500))
    with pytest.raises(TypeError):
        bool(f("a") == 1)
    with pytest.raises(TypeError):
        f("lang").isin("en")
    with pytest.raises(vexdb.Invalid, match="year"):
        coll.count(where=f("year") == "x")  # schema: int64 vs string


def test_delete_ids_and_where(coll):
    assert coll.delete([1, 2, 3]) == 3
    assert 1 not in coll and len(coll) == 497
    with pytest.raises(vexdb.NotFound):
        coll.delete([4, 1])  # 1 is gone: nothing deleted
    assert 4 in coll
    assert coll.delete(4) == 1
    n_de = coll.count(where="lang = 'de'")
    assert coll.delete(where="lang = 'de'") == n_de
    assert coll.count(where="lang = 'de'") == 0
    assert coll.delete(where=vexdb.field("year") < 1995) > 0
    assert coll.count(where="year < 1995") == 0
    with pytest.raises(TypeError):
        coll.delete()
    with pytest.raises(TypeError):
        coll.delete([5], where="year < 3")


def test_flush_compact_stats(coll):
    s = coll.stats()
    assert s["live_rows"] == 500 and s["segments"] == 0
    coll.flush()
    s = coll.stats()
    assert s["segments"] == 1 and s["segment_rows"] == 500 and s["flushes"] == 1
    coll.delete(list(range(100)))
    coll.flush()
    coll.compact()
    s = coll.stats()
    assert s["live_rows"] == 400 and s["deleted_rows"] == 0 and s["compactions"] >= 1
    assert s["disk_bytes"] > 0 and s["payload_bytes"] > 0
    assert set(s) >= {"memtable_rows", "unindexed_rows", "last_seq", "flushed_seq"}
    # no flush or compaction runs now: their progress reads 0 of 0
    assert (s["flush_rows_done"], s["flush_rows_total"],
            s["compact_rows_done"], s["compact_rows_total"]) == (0, 0, 0, 0)
    assert coll.get(150).metadata == meta_of(150)


def test_quantized_collection(db, data):
    c = db.create_collection("q", dim=DIM, quant="sq8")
    assert c.config["quant"] == "sq8"
    c.upsert(np.arange(500), data)
    c.flush()
    assert c.search(data[3], k=1).ids[0] == 3


def test_bit_vectors(db):
    c = db.create_collection("bits", dim=16, elem="bit")
    assert c.metric == "hamming"
    v = np.array([[0xFF, 0x00], [0x0F, 0x00], [0x00, 0x00]], dtype=np.uint8)
    c.upsert([1, 2, 3], v)
    h = c.search(np.array([0xFF, 0x01], dtype=np.uint8), k=3)
    np.testing.assert_array_equal(h.ids, [1, 2, 3])
    np.testing.assert_array_equal(h.distances, [1, 5, 9])
    with pytest.raises(vexdb.Invalid, match="uint8"):
        c.search(np.zeros(2, dtype=np.float32), k=1)


def test_read_only_database(tmp_path, data):
    path = str(tmp_path / "ro")
    with vexdb.open(path) as db:
        db.create_collection("c", dim=DIM).upsert(np.arange(10), data[:10])
        with vexdb.open(path, read_only=True) as ro:
            assert ro.read_only
            c = ro.collection("c")
            assert len(c) == 10
            with pytest.raises(vexdb.ReadOnly):
                c.upsert(11, data[11])
            with pytest.raises(vexdb.ReadOnly):
                c.flush()


def test_second_writer_is_busy(tmp_path):
    path = str(tmp_path / "busy")
    with vexdb.open(path):
        with pytest.raises(vexdb.Busy):
            vexdb.open(path)


def test_options(tmp_path, data):
    with vexdb.open(str(tmp_path / "o"), durability="none", threads=1,
                    background_threads=1, memtable_bytes=1 << 20,
                    flush_on_close=False) as db:
        c = db.create_collection("c", dim=DIM)
        c.upsert(np.arange(500), data)
        assert c.search(data[7], k=1, threads=1).ids[0] == 7
    for bad in ({"durability": "sometimes"}, {"memtable_bytes": 1},
                {"threads": -1}, {"background_threads": 0}):
        with pytest.raises(vexdb.Invalid):
            vexdb.open(str(tmp_path / "bad"), **bad)


def test_docstrings_everywhere():
    objs = [vexdb, vexdb.open, vexdb.Field, vexdb.field, vexdb.Expr,
            vexdb.Database, vexdb.Collection, vexdb.Index, vexdb.Hits,
            vexdb.Record, vexdb.Filter, vexdb.Error, vexdb.simd]
    for cls in (vexdb.Database, vexdb.Collection, vexdb.Index, vexdb.field):
        objs += [getattr(cls, n) for n in dir(cls)
                 if not n.startswith("_") and callable(getattr(cls, n))]
    for o in objs:
        assert o.__doc__ and len(o.__doc__.strip()) > 10, o
