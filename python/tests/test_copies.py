# SPDX-License-Identifier: Apache-2.0
"""Vectors go in without a copy when they are C-contiguous float32 (the
numpy buffer itself is handed to the library), and other dtypes are
converted exactly once. numpy reports its buffers to tracemalloc, so the
peak of traced memory during a call shows whether a copy was made."""
import gc
import tracemalloc

import numpy as np
import pytest

import vexdb

DIM = 64
ROWS = 20_000  # 5 MiB of float32: far above everything else a call allocates


def peak_during(fn):
    """Peak traced bytes above the start, while fn() runs."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


@pytest.fixture
def X():
    return np.random.default_rng(20261207).standard_normal((ROWS, DIM)).astype(np.float32)


def test_float32_is_not_copied(db, X):
    ids = np.arange(ROWS, dtype=np.uint64)
    c = db.create_collection("z", dim=DIM, index="flat")
    assert peak_during(lambda: c.upsert(ids, X)) < X.nbytes // 4
    ix = vexdb.Index(dim=DIM, index="flat", threads=1)
    assert peak_during(lambda: ix.add(ids, X)) < X.nbytes // 4
    # a search of many queries against a tiny index: the queries dominate
    small = vexdb.Index(dim=DIM, index="flat", threads=1)
    small.add(np.arange(4), X[:4])
    assert peak_during(lambda: small.search(X, k=1)) < X.nbytes // 4
    tiny = db.create_collection("t", dim=DIM, index="flat")
    tiny.upsert(np.arange(4), X[:4])
    assert peak_during(lambda: tiny.search(X, k=1)) < X.nbytes // 4
    # the data really went in
    np.testing.assert_array_equal(c.get(ROWS - 1).vector, X[-1])
    np.testing.assert_array_equal(ix.get(7), X[7])


def test_other_layouts_are_converted_once(db, X):
    """The same calls with float64, a strided view or a byte-swapped array
    make one float32 copy (so the check above can fail: tracemalloc does
    see a copy), and not more than one."""
    ids = np.arange(ROWS, dtype=np.uint64)
    c = db.create_collection("z", dim=DIM, index="flat")
    ix = vexdb.Index(dim=DIM, index="flat", threads=1)
    wide = np.zeros((ROWS, 2 * DIM), np.float32)
    wide[:, ::2] = X
    for arr in (X.astype(np.float64), wide[:, ::2], X.astype(">f4"),
                np.asfortranarray(X)):
        for fn in (lambda: c.upsert(ids, arr), lambda: ix.add(ids + ROWS, arr)):
            p = peak_during(fn)
            assert X.nbytes * 0.9 < p < X.nbytes * 1.5, (arr.dtype, arr.strides, p)
        ix.close()
        ix = vexdb.Index(dim=DIM, index="flat", threads=1)
    np.testing.assert_array_equal(c.get(3).vector, X[3])
