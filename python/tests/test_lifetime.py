# SPDX-License-Identifier: Apache-2.0
"""Handles: context managers, garbage collection, a collection keeping its
database alive, reference counts and memory over 100k calls."""
import gc
import os
import sys
import tracemalloc

import numpy as np
import pytest

import vexdb
from conftest import DIM


def test_collection_keeps_db_alive(tmp_path, data):
    path = str(tmp_path / "d")
    db = vexdb.open(path)
    c = db.create_collection("c", dim=DIM)
    del db
    gc.collect()
    c.upsert([1, 2], data[:2])
    assert c.database.path == path and not c.database.closed
    assert c.search(data[0], k=1).ids[0] == 1


def test_gc_closes_and_unlocks(tmp_path, data):
    path = str(tmp_path / "g")
    db = vexdb.open(path)
    c = db.create_collection("c", dim=DIM)
    c.upsert(np.arange(100), data[:100])
    f = c.filter("x = 1")
    del db, c
    gc.collect()
    # The lock is released: a new writer may open it, and the data is there.
    with vexdb.open(path) as db2:
        assert len(db2.collection("c")) == 100
    assert "closed" in str(f)  # the filter died with its collection


def test_cycle_through_collection_is_collected(tmp_path, data):
    path = str(tmp_path / "cy")
    db = vexdb.open(path)
    holder = {"c": db.create_collection("c", dim=DIM)}
    holder["self"] = holder
    del db, holder
    gc.collect()
    with vexdb.open(path):  # not Busy: the cycle was freed, the db closed
        pass


def test_with_blocks_close(tmp_path):
    with vexdb.open(str(tmp_path / "w")) as db:
        with db.create_collection("c", dim=4) as c:
            assert not c.closed
        assert c.closed and not db.closed
    assert db.closed
    with pytest.raises(vexdb.Misuse):
        with db:
            pass


def test_refcounts_stable(coll, data):
    q = data[3].copy()
    Q = data[:4].copy()
    before = (sys.getrefcount(q), sys.getrefcount(Q), sys.getrefcount(coll),
              sys.getrefcount(coll.database), sys.getrefcount(None))
    for _ in range(2000):
        coll.search(q, k=5)
        coll.search(Q, k=5)
        coll.search(q, k=3, where="lang = 'en'", include=("metadata", "payload"))
        coll.get(3)
    after = (sys.getrefcount(q), sys.getrefcount(Q), sys.getrefcount(coll),
             sys.getrefcount(coll.database), sys.getrefcount(None))
    assert before[:4] == after[:4]
    assert abs(after[4] - before[4]) < 50  # None: only what the loop holds


def _growth(fn, n):
    """Bytes traced after n calls minus after the first n // 10."""
    for _ in range(n // 10):
        fn()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        fn()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return grown


# 100k calls in the ordinary build; under the sanitizer build (ctest sets
# VEXDB_TEST_SANITIZED) every call is ~20x slower, and ASan checks the
# C side's memory itself, so 10k keep that job's time reasonable.
N = 10_000 if os.environ.get("VEXDB_TEST_SANITIZED") else 100_000


def test_no_leak_search_100k(coll, data):
    q = data[5]
    assert _growth(lambda: coll.search(q, k=10), N) < 64 * 1024


def test_no_leak_index_search_100k(data):
    ix = vexdb.Index(dim=DIM, index="hnsw", threads=1)
    ix.add(np.arange(500), data)
    q = data[5]
    assert _growth(lambda: ix.search(q, k=10, ef=16), N) < 64 * 1024


def test_no_leak_projected_and_errors(coll, data):
    q = data[5]
    n = N // 10

    def projected():
        coll.search(q, k=5, where="year > 2000", include=("metadata", "payload", "vector"))
        coll.get(5)

    assert _growth(projected, n) < 64 * 1024
    bad = np.zeros(DIM + 1, np.float32)

    def failing():
        try:
            coll.search(bad)
        except vexdb.Invalid:
            pass
        try:
            coll.get(10**9)
        except vexdb.NotFound:
            pass

    assert _growth(failing, n) < 64 * 1024


def test_no_leak_writes(db, data):
    c = db.create_collection("w", dim=DIM)
    ids = np.arange(10)
    md = [{"a": i, "t": ["x"]} for i in range(10)]
    pl = [b"p"] * 10

    def write():
        c.upsert(ids, data[:10], metadata=md, payloads=pl)

    assert _growth(write, 2000) < 64 * 1024
