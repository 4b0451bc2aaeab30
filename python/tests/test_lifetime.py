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


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# 100k calls in the ordinary build; under the sanitizer build (ctest sets
# VEXDB_TEST_SANITIZED) every call is ~20x slower, and ASan checks the
# C side's memory itself, so 10k keep that job's time reasonable.
SANITIZED = bool(os.environ.get("VEXDB_TEST_SANITIZED"))
N = 10_000 if SANITIZED else 100_000


def _growth(fn, n, rss=True):
    """Bytes traced after n calls minus after the first n // 10, and the
    growth of the resident set over the same calls.

    tracemalloc sees the binding's Python and numpy allocations; memory
    the C library allocates per call (result sets, buffers) does not go
    through it, so the resident set is checked too: 100k leaked blocks of
    even 64 bytes add over 6 MB of it. (Not under ASan, whose quarantine
    grows it by design.)"""
    for _ in range(n // 10):
        fn()
    gc.collect()
    r0 = _rss()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        fn()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    rss_grown = _rss() - r0
    if rss and not SANITIZED:
        assert rss_grown < 2 * 1024 * 1024, ("resident set grew", rss_grown)
    return grown


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
    Q = data[:3]

    def projected():
        coll.search(q, k=5, where="year > 2000", include=("metadata", "payload", "vector"))
        coll.search(Q, k=2, include=("metadata",))
        coll.get(5)

    assert _growth(projected, N) < 64 * 1024
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
        try:
            coll.search(q, where="year >")
        except vexdb.Invalid:
            pass

    assert _growth(failing, N) < 64 * 1024


def test_no_leak_writes_100k(tmp_path, data):
    """Upserts that replace the same 100 records, deletes and re-inserts:
    the memtable keeps old versions until a flush, so the resident set is
    not a measure here; traced memory is."""
    with vexdb.open(str(tmp_path / "w"), durability="none") as db:
        c = db.create_collection("w", dim=DIM, index="flat")
        md = {"a": 1, "t": ["x"]}
        v = data[0]
        state = {"i": 0}

        def write():
            i = state["i"] = (state["i"] + 1) % 100
            c.upsert(i, v, metadata=md, payloads=b"p")
            if i % 10 == 0:
                c.delete(i)

        assert _growth(write, N, rss=False) < 64 * 1024
        ids = np.arange(10)
        mds = [{"a": i, "t": ["x"]} for i in range(10)]
        pl = [b"p"] * 10
        assert _growth(lambda: c.upsert(ids, data[:10], metadata=mds, payloads=pl),
                       N // 10, rss=False) < 64 * 1024


def test_no_leak_index_add_remove_100k(data):
    ix = vexdb.Index(dim=DIM, index="flat", threads=1)
    one = data[:1]

    def add_remove():
        ix.add([1], one)
        ix.remove(1)

    assert _growth(add_remove, N) < 64 * 1024
