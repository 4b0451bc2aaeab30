# SPDX-License-Identifier: Apache-2.0
"""One collection and one index used from many Python threads at once,
and proof that the GIL is released while the library works."""
import threading
import time

import numpy as np
import pytest

import vexdb
from conftest import DIM


def run_threads(fns):
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as e:  # report in the main thread
            errors.append(e)

    ts = [threading.Thread(target=wrap, args=(f,)) for f in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_many_threads_one_collection(coll, data):
    def writer(base):
        def fn():
            for i in range(50):
                coll.upsert(base + i, data[i], metadata={"w": base})
        return fn

    def reader():
        for i in range(200):
            h = coll.search(data[i % 100], k=5, where="year >= 1990")
            assert len(h.ids) == 5
            assert coll.get(i % 100).id == i % 100

    def deleter():
        for i in range(400, 450):
            coll.delete([i])

    run_threads([writer(10_000), writer(20_000), reader, reader, reader, deleter])
    assert len(coll) == 500 + 100 - 50
    assert coll.count(where="w = 10000") == 50


def test_many_threads_one_index(data):
    """Adds and searches from several threads: every hit is an id of the
    index with its true distance (no results mixed between threads), and
    once the adds are done every vector is found exactly."""
    ix = vexdb.Index(dim=DIM, index="hnsw", threads=2)
    ix.add(np.arange(250), data[:250])

    def adder():
        for i in range(250, 500):
            ix.add([i], data[i:i + 1])

    def searcher():
        for i in range(300):
            q = data[i % 250]
            I, D = ix.search(q, k=3, ef=32)
            # how many hits a search beside adds finds is the library's
            # business (see test_hnsw_search_during_single_adds_stays_exact); that they are right is ours
            assert 1 <= len(I) <= 3 and (I < 500).all() and (np.diff(D) >= 0).all()
            true = ((data[I.astype(np.int64)] - q) ** 2).sum(axis=1)
            np.testing.assert_allclose(D, true, rtol=1e-4, atol=1e-4)

    run_threads([adder, searcher, searcher, searcher])
    assert len(ix) == 500
    for i in range(500):
        assert ix.search(data[i], k=1, ef=32)[0][0] == i


def test_hnsw_search_during_single_adds_stays_exact(data):
    """A search for a stored vector while other vectors are being added one
    at a time should still find it (distance 0)."""
    misses = []
    for _ in range(10):
        ix = vexdb.Index(dim=DIM, index="hnsw", threads=2)
        ix.add(np.arange(250), data[:250])

        def adder():
            for i in range(250, 500):
                ix.add([i], data[i:i + 1])

        def searcher():
            for i in range(300):
                I, _ = ix.search(data[i % 250], k=3, ef=32)
                if len(I) != 3 or I[0] != i % 250:
                    misses.append((i % 250, I.tolist()))

        run_threads([adder, searcher, searcher, searcher])
    assert not misses, misses[:5]


def test_close_waits_for_running_calls(tmp_path, data):
    db = vexdb.open(str(tmp_path / "cw"))
    c = db.create_collection("c", dim=DIM, index="flat")
    c.upsert(np.arange(500), data)
    stop = threading.Event()
    outcomes = []

    def searcher():
        while not stop.is_set():
            try:
                c.search(data[:50], k=10)
            except vexdb.Misuse:  # closed under us: a clean error
                outcomes.append("closed")
                return
        outcomes.append("stopped")

    ts = [threading.Thread(target=searcher) for _ in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.05)
    db.close()
    stop.set()
    for t in ts:
        t.join()
    assert outcomes.count("closed") == 3


def test_gil_released_during_search(rng):
    """A pure-Python thread keeps running while one long batch search is
    in C: with the GIL held it could not run at all during the call."""
    X = rng.standard_normal((20000, 64)).astype(np.float32)
    ix = vexdb.Index(dim=64, index="flat", threads=1)
    ix.add(np.arange(len(X)), X)
    Q = X[:400]
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())

    # a batch long enough to tell on this machine (a fast one needs more)
    while True:
        t0 = time.perf_counter()
        ix.search(Q, k=10, threads=1)
        if time.perf_counter() - t0 > 0.1 or len(Q) >= len(X):
            break
        Q = X[: min(len(X), 4 * len(Q))]
    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.01)
    t0 = time.perf_counter()
    ix.search(Q, k=10, threads=1)
    t1 = time.perf_counter()
    stop.set()
    t.join()
    assert t1 - t0 > 0.05, "search too short to tell"
    margin = 0.2 * (t1 - t0)
    inside = [x for x in ticks if t0 + margin < x < t1 - margin]
    assert len(inside) > 100, (len(inside), t1 - t0)


def test_db_close_races_with_opens_and_closes(tmp_path):
    """Database.close() while other threads open and close collections:
    every collection object ends closed, nothing crashes, and the database
    can be opened again (its lock was released)."""
    path = str(tmp_path / "race")
    for _ in range(4):
        db = vexdb.open(path)
        if "c" not in db.collections():
            db.create_collection("c", dim=4).close()
        got = []

        def opener():
            for _ in range(300):
                try:
                    c = db.collection("c")
                except vexdb.Misuse:  # the database closed under us
                    return
                got.append(c)
                if len(got) % 3 == 0:
                    c.close()

        ts = [threading.Thread(target=opener) for _ in range(3)]
        for t in ts:
            t.start()
        time.sleep(0.005)
        db.close()
        for t in ts:
            t.join()
        assert all(c.closed for c in got)
    with vexdb.open(path) as db:
        assert db.collections() == ["c"]


def test_db_close_while_other_threads_close_collections(tmp_path, rng):
    """Collections being closed (and flushed) by other threads while the
    database closes: vex_db_close must wait for those closes (under ASan a
    close racing with it was a use-after-free)."""
    X = rng.random((1000, DIM), dtype=np.float32)
    for r in range(3):
        db = vexdb.open(str(tmp_path / ("r%d" % r)))
        colls = []
        for i in range(4):
            c = db.create_collection("c%d" % i, dim=DIM)
            c.upsert(np.arange(1000), X)
            colls.append(c)

        def closer(cs):
            def fn():
                for c in cs:
                    c.close()
            return fn

        ts = [threading.Thread(target=closer(colls[i::2])) for i in range(2)]
        for t in ts:
            t.start()
        time.sleep(r * 0.002)
        db.close()
        for t in ts:
            t.join()
        assert all(c.closed for c in colls)
        with vexdb.open(str(tmp_path / ("r%d" % r))) as again:
            assert all(len(again.collection("c%d" % i)) == 1000 for i in range(4))
