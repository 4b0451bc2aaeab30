# SPDX-License-Identifier: Apache-2.0
"""Texts, keyword (BM25) and hybrid search through the binding, with the
BM25 scores checked against a brute-force model and the fusion against
fusing the two legs here."""
import math

import numpy as np
import pytest

import vexdb

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]


def make_texts(rng, n):
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 8))
        out.append(" ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), k)))
    return out


def bm25(texts, live, query, k1=1.2, b=0.75):
    docs = {i: texts[i].split() for i in live if texts[i]}
    n = len(docs)
    avgdl = sum(len(d) for d in docs.values()) / n
    scores = {}
    for term in query.split():
        df = sum(1 for d in docs.values() if term in d)
        idf = math.log((n - df + 0.5) / (df + 0.5))
        if idf <= 0:
            idf = 1e-6
        for i, d in docs.items():
            tf = d.count(term)
            if tf:
                scores[i] = scores.get(i, 0.0) + idf * tf * (k1 + 1) / (
                    tf + k1 * (1 - b + b * len(d) / avgdl))
    return sorted(scores.items(), key=lambda x: (-x[1], x[0]))


@pytest.fixture
def docs(db):
    return db.create_collection("docs", dim=8, index="flat", text=True)


def test_texts_roundtrip_and_config(db, docs, rng):
    assert docs.config["text"] == "plain"
    stem = db.create_collection("stem", dim=8, text="porter,stopwords")
    assert stem.config["text"] == "porter,stopwords"
    assert db.create_collection("none", dim=8).config["text"] is None
    v = rng.standard_normal((3, 8)).astype(np.float32)
    docs.upsert([1, 2, 3], v, texts=["Crème brûlée", None, "ΑΒΓ"])
    assert docs.get(1).text == "Crème brûlée"
    assert docs.get(2).text is None
    assert docs.get(1, include=("metadata",)).text is None
    docs.upsert(4, v[0], texts="one record")
    assert docs.get(4).text == "one record"
    docs.update_metadata(4, {"x": 1})
    assert docs.get(4).text == "one record"
    docs.upsert(4, v[0])
    assert docs.get(4).text is None
    hits = docs.search(None, text="creme", include=("text",))
    assert list(hits.ids) == [1] and hits.texts == ["Crème brûlée"]
    hits = docs.search(None, text="αβγ")
    assert list(hits.ids) == [3]


def test_bm25_matches_model_across_flush_and_deletes(docs, rng):
    n = 300
    texts = make_texts(rng, n)
    vecs = rng.standard_normal((n, 8)).astype(np.float32)
    docs.upsert(np.arange(150), vecs[:150], texts=texts[:150])
    docs.flush()
    docs.upsert(np.arange(150, n), vecs[150:], texts=texts[150:])
    live = set(range(n))
    gone = [int(i) for i in rng.choice(n, 40, replace=False)]
    docs.delete(gone)
    live -= set(gone)
    for q in ["alpha", "bravo golf", "echo echo delta", "nosuch"]:
        want = bm25(texts, live, q)
        hits = docs.search(None, 10, text=q)
        assert len(hits) == min(10, len(want))
        for i, (hid, d) in enumerate(zip(hits.ids, hits.distances)):
            assert abs(-float(d) - want[i][1]) <= 1e-4 * (1 + want[i][1])
            assert int(hid) == want[i][0] or abs(want[i][1] + float(d)) < 1e-5


def test_hybrid_rrf_equals_fusing_the_legs(docs, rng):
    n = 200
    texts = make_texts(rng, n)
    vecs = rng.standard_normal((n, 8)).astype(np.float32)
    docs.upsert(np.arange(n), vecs, texts=texts)
    q = rng.standard_normal(8).astype(np.float32)
    vec_leg = docs.search(q, 100)
    txt_leg = docs.search(None, 100, text="alpha charlie")
    fused = {}
    for r, i in enumerate(vec_leg.ids):
        fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (60 + r + 1)
    for r, i in enumerate(txt_leg.ids):
        fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (60 + r + 1)
    want = sorted(fused.items(), key=lambda x: (-x[1], x[0]))[:10]
    hits = docs.search(q, 10, text="alpha charlie", fusion="rrf")
    assert [int(i) for i in hits.ids] == [w[0] for w in want]
    np.testing.assert_allclose(-hits.distances, [w[1] for w in want], rtol=1e-5)
    # a filter applies to both legs
    docs.upsert(np.arange(n), vecs, metadata=[{"g": i % 2} for i in range(n)],
                texts=texts)
    hits = docs.search(q, 10, text="alpha", fusion="sum", where="g = 1",
                       include=("metadata", "text"))
    assert all(m["g"] == 1 for m in hits.metadata)
    assert len(hits) == 10


def test_bad_input(db, docs):
    v = np.zeros(8, np.float32)
    plain = db.create_collection("plain", dim=8)
    with pytest.raises(vexdb.Invalid, match="no text field"):
        plain.upsert(1, v + 1, texts="hello")
    with pytest.raises(vexdb.Invalid, match="no text field"):
        plain.search(None, text="hello")
    with pytest.raises(vexdb.Invalid, match="fusion"):
        docs.search(v + 1, text="a", fusion="max")
    with pytest.raises(vexdb.Invalid, match="texts has 1 entries"):
        docs.upsert([1, 2], np.ones((2, 8), np.float32), texts=["x"])
    with pytest.raises(TypeError, match="text must be a str"):
        docs.search(None, text=7)
    with pytest.raises(vexdb.Invalid, match="UTF-8"):
        docs.upsert(1, v + 1, texts=[b"\xff"])
    with pytest.raises(vexdb.Invalid, match="snowball"):
        db.create_collection("bad", dim=8, text="snowball")
