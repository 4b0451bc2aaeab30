# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures of the vexdb tests: a fresh database directory per test
and seeded data (every random number comes from a fixed seed)."""
import os
import sys

import numpy as np
import pytest

# The package under test: an installed one (pip), the CMake build's
# (PYTHONPATH=build/python, as ctest sets), or else python/ itself after
# `setup.py build_ext --inplace`.
try:
    import vexdb
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import vexdb  # noqa: E402

DIM = 16


@pytest.fixture
def rng():
    return np.random.default_rng(20261207)


@pytest.fixture
def data(rng):
    """500 float32 vectors of DIM components with ids 0..499."""
    return rng.standard_normal((500, DIM)).astype(np.float32)


def meta_of(i):
    return {"year": 1990 + i % 40, "lang": ("en", "de", "fr")[i % 3],
            "tags": ["even"] if i % 2 == 0 else ["odd", "x"],
            "score": i / 10.0, "flag": i % 5 == 0}


@pytest.fixture
def db(tmp_path):
    with vexdb.open(str(tmp_path / "db")) as d:
        yield d


@pytest.fixture
def coll(db, data):
    """A collection of the 500 vectors with metadata and payloads."""
    c = db.create_collection("docs", dim=DIM, metric="l2",
                             schema={"year": int, "lang": str, "tags": list,
                                     "score": float, "flag": bool})
    c.upsert(np.arange(len(data)), data,
             metadata=[meta_of(i) for i in range(len(data))],
             payloads=[("payload %d" % i).encode() for i in range(len(data))])
    return c


def brute_force(data, q, k, ids=None):
    """Exact k nearest by squared L2, ties by id: (ids, distances)."""
    ids = np.arange(len(data)) if ids is None else np.asarray(ids)
    d = ((data - q) ** 2).sum(axis=1)
    order = np.lexsort((ids, d))[:k]
    return ids[order], d[order]
