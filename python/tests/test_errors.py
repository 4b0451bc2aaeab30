# SPDX-License-Identifier: Apache-2.0
"""Bad input gets a clear vexdb.Error (or TypeError for a wrong Python
type), never a crash, and leaves the data as it was."""
import numpy as np
import pytest

import vexdb
from conftest import DIM


def test_exception_hierarchy():
    assert issubclass(vexdb.Invalid, vexdb.Error) and issubclass(vexdb.Invalid, ValueError)
    assert issubclass(vexdb.NotFound, KeyError)
    for name in ("NoMemory", "IOFailure", "Corrupt", "Misuse", "Exists",
                 "Full", "Busy", "Unsupported", "Internal", "ReadOnly"):
        assert issubclass(getattr(vexdb, name), vexdb.Error)


def test_wrong_dimension(coll, data):
    with pytest.raises(vexdb.Invalid, match="components") as e:
        coll.search(np.zeros(DIM + 1, np.float32))
    assert e.value.code == 4 and e.value.status == "VEX_INVALID"
    with pytest.raises(vexdb.Invalid):
        coll.upsert([1, 2], np.zeros((2, DIM - 1), np.float32))
    with pytest.raises(vexdb.Invalid, match="dimensions"):
        coll.search(np.zeros((2, 2, DIM), np.float32))
    with pytest.raises(vexdb.Invalid, match="dimensions"):
        coll.search(np.float32(1.0))
    with pytest.raises(vexdb.Invalid, match="ids for"):
        coll.upsert([1, 2, 3], data[:2])
    np.testing.assert_array_equal(coll.get(1).vector, data[1])


def test_nan_and_inf(coll, data):
    bad = data[:3].copy()
    bad[1, 4] = np.nan
    with pytest.raises(vexdb.Invalid, match="id 901.*NaN"):
        coll.upsert([900, 901, 902], bad)
    assert 900 not in coll  # checked before anything is written
    q = data[0].copy()
    q[0] = np.inf
    with pytest.raises(vexdb.Invalid):
        coll.search(q)
    ix = vexdb.Index(dim=DIM)
    with pytest.raises(vexdb.Invalid):
        ix.add([1], bad[1:2])


def test_dtypes_converted_or_refused(coll, data):
    q64 = data[3].astype(np.float64)
    np.testing.assert_array_equal(coll.search(q64, k=3).ids, coll.search(data[3], k=3).ids)
    qi = np.round(data[3] * 10).astype(np.int32)
    assert len(coll.search(qi, k=3).ids) == 3
    assert len(coll.search(list(map(float, data[3])), k=3).ids) == 3
    np.testing.assert_array_equal(
        coll.search(data[3].astype(">f4"), k=3).ids, coll.search(data[3], k=3).ids)
    for bad in (data[3].astype(np.complex64), np.array(["a"] * DIM),
                np.array([object()] * DIM), np.ones(DIM, dtype=bool)):
        with pytest.raises(vexdb.Invalid, match="dtype"):
            coll.search(bad)
    with pytest.raises(vexdb.Invalid, match="dtype"):
        coll.search("not a vector")
    with pytest.raises(vexdb.Invalid, match="dtype object"):
        coll.search({"a": 1})


def test_non_contiguous_input(coll, data):
    big = np.zeros((500, DIM * 2), np.float32)
    big[:, ::2] = data
    strided = big[:, ::2]  # every other column: not C-contiguous
    assert not strided.flags.c_contiguous
    fortran = np.asfortranarray(data[:20])
    a = coll.search(strided[:20], k=4)
    b = coll.search(fortran, k=4)
    c = coll.search(data[:20], k=4)
    np.testing.assert_array_equal(a.ids, c.ids)
    np.testing.assert_array_equal(b.ids, c.ids)
    assert coll.search(strided[7], k=1).ids[0] == 7
    coll.upsert(np.arange(600, 620), strided[:20])
    np.testing.assert_array_equal(coll.get(605).vector, data[5])
    ix = vexdb.Index(dim=DIM, index="flat")
    ix.add(np.arange(20), fortran)
    np.testing.assert_array_equal(ix.get(3), data[3])


def test_bad_ids(coll, data):
    with pytest.raises(vexdb.Invalid, match="ids"):
        coll.upsert([-1], data[:1])
    with pytest.raises(vexdb.Invalid):
        coll.upsert(np.array([1.5]), data[:1])
    with pytest.raises(vexdb.Invalid):
        coll.upsert([[1]], data[:1])
    with pytest.raises(vexdb.Invalid, match="1-D"):
        coll.upsert(object(), data[:1])
    coll.upsert([2**64 - 1], data[:1])  # the largest id is fine
    assert 2**64 - 1 in coll
    coll.upsert(np.array([7], dtype=np.uint8), data[:1])
    np.testing.assert_array_equal(coll.get(7).vector, data[0])


def test_bad_search_arguments(coll, data):
    for k in (0, -1, vexdb.MAX_K + 1):
        with pytest.raises(vexdb.Invalid, match="k must"):
            coll.search(data[0], k=k)
    with pytest.raises(TypeError):
        coll.search(data[0], k="3")
    with pytest.raises(TypeError, match="unexpected keyword"):
        coll.search(data[0], kk=3)
    with pytest.raises(TypeError):
        coll.search(data[0], 3, "lang = 'en'")  # where is keyword-only
    with pytest.raises(TypeError):
        coll.search(data[0], 3, k=4)
    with pytest.raises(vexdb.Invalid, match="include"):
        coll.search(data[0], include=("metadata", "colour"))
    with pytest.raises(TypeError):
        coll.search(data[0], include="metadata")


def test_bad_filters_and_unknown_fields(db, coll, data):
    with pytest.raises(vexdb.Invalid, match="offset"):
        coll.search(data[0], where="year >=")
    with pytest.raises(vexdb.Invalid, match="year"):
        coll.count(where="year = 'x'")
    with pytest.raises(TypeError):
        coll.search(data[0], where=42)
    closed = db.create_collection("closed", dim=2, schema={"a": int},
                                  schema_closed=True)
    closed.upsert(1, [1, 2], metadata={"a": 1})
    with pytest.raises(vexdb.Invalid, match="colour"):
        closed.upsert(2, [1, 2], metadata={"a": 1, "colour": "red"})
    with pytest.raises(vexdb.Invalid, match="colour"):
        closed.count(where="colour = 'red'")
    # A filter compiled for one collection is refused by another.
    f = coll.filter("lang = 'en'")
    with pytest.raises(vexdb.Misuse):
        closed.count(where=f)


def test_bad_payloads_and_metadata_shapes(coll, data):
    with pytest.raises(vexdb.Invalid, match="payloads"):
        coll.upsert([1, 2], data[:2], payloads=[b"x"])
    with pytest.raises(TypeError, match="payloads"):
        coll.upsert([1, 2], data[:2], payloads=[b"x", 3])
    with pytest.raises(vexdb.Invalid):
        coll.upsert([1], data[:1], payloads=[b"x" * (1 << 20 + 1)])
    with pytest.raises(vexdb.Invalid, match="metadata"):
        coll.upsert([1, 2], data[:2], metadata=[{}])
    with pytest.raises(TypeError):
        coll.upsert([1, 2], data[:2], metadata=[{}, "x"])


def test_bad_create_arguments(db):
    with pytest.raises(vexdb.Invalid, match="metric"):
        db.create_collection("x", dim=4, metric="manhattan")
    with pytest.raises(vexdb.Invalid, match="index"):
        db.create_collection("x", dim=4, index="ivf")
    with pytest.raises(vexdb.Invalid, match="quant"):
        db.create_collection("x", dim=4, quant="zip")
    with pytest.raises(vexdb.Invalid):
        db.create_collection("x", dim=0)
    with pytest.raises(vexdb.Invalid):
        db.create_collection("../escape", dim=4)
    with pytest.raises(vexdb.Invalid):
        db.create_collection("x", dim=4, index="flat", M=16)
    assert db.collections() == []


def test_closed_handles(tmp_path, data):
    db = vexdb.open(str(tmp_path / "c"))
    c = db.create_collection("c", dim=DIM)
    c.upsert([1], data[:1])
    c.close()
    c.close()  # idempotent
    assert c.closed
    for call in (lambda: c.search(data[0]), lambda: c.upsert([2], data[:1]),
                 lambda: c.get(1), lambda: len(c), lambda: c.stats(),
                 lambda: c.flush(), lambda: c.count(), lambda: c.delete([1])):
        with pytest.raises(vexdb.Misuse, match="closed"):
            call()
    c2 = db.collection("c")
    f = c2.filter("x = 1")
    db.close()
    assert c2.closed and db.closed
    with pytest.raises(vexdb.Misuse):
        c2.search(data[0])
    with pytest.raises(vexdb.Misuse):
        db.collection("c")
    assert "closed" in str(f)
    ix = vexdb.Index(dim=DIM)
    ix.close()
    with pytest.raises(vexdb.Misuse):
        ix.search(data[0])
    with pytest.raises(vexdb.Misuse):
        len(ix)
