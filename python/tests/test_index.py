# SPDX-License-Identifier: Apache-2.0
"""vexdb.Index: the standalone index, like hnswlib."""
import os

import numpy as np
import pytest

import vexdb
from conftest import DIM, brute_force


def test_flat_is_exact(data):
    ix = vexdb.Index(dim=DIM, metric="l2", index="flat")
    ix.add(np.arange(500), data)
    assert len(ix) == 500 and ix.dim == DIM and ix.metric == "l2"
    Q = data[:20] + 0.05
    I, D = ix.search(Q, k=5)
    assert I.shape == (20, 5) and D.shape == (20, 5)
    for i in range(20):
        ids, dist = brute_force(data, Q[i], 5)
        np.testing.assert_array_equal(I[i], ids)
        np.testing.assert_allclose(D[i], dist, rtol=1e-4)
    i1, d1 = ix.search(Q[0], k=5)
    assert i1.shape == (5,)
    np.testing.assert_array_equal(i1, I[0])


def test_hnsw_recall_and_options(rng):
    X = rng.standard_normal((3000, 24)).astype(np.float32)
    Q = rng.standard_normal((50, 24)).astype(np.float32)
    ix = vexdb.Index(dim=24, metric="cosine", index="hnsw", M=16,
                     ef_construction=200, seed=7, threads=2)
    opts = ix.options
    assert (opts["M"], opts["ef_construction"], opts["index"]) == (16, 200, "hnsw")
    ix.add(np.arange(3000), X)
    I, _ = ix.search(Q, k=10, ef=100)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    truth = np.argsort(-(Qn @ Xn.T), axis=1)[:, :10]
    recall = np.mean([len(set(I[i]) & set(truth[i])) / 10 for i in range(50)])
    assert recall >= 0.9, recall
    assert ix.memory > 3000 * 24 * 4


def test_add_remove_get(data):
    ix = vexdb.Index(dim=DIM, metric="ip")
    ix.add([10, 11], data[:2])
    with pytest.raises(vexdb.Exists):
        ix.add([12, 10], data[:2])
    assert len(ix) == 2  # atomic
    with pytest.raises(vexdb.Exists):
        ix.add([13, 13], data[:2])
    np.testing.assert_array_equal(ix.get(11), data[1])
    ix.remove(10)
    with pytest.raises(vexdb.NotFound):
        ix.remove(10)
    with pytest.raises(vexdb.NotFound):
        ix.get(10)
    assert len(ix) == 1
    I, _ = ix.search(data[0], k=3)
    assert list(I) == [11]
    ix.add([], np.zeros((0, DIM), np.float32))  # nothing to do
    assert len(ix) == 1


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load(tmp_path, data, mmap):
    ix = vexdb.Index(dim=DIM, metric="l2", index="hnsw", M=8, ef_construction=64)
    ix.add(np.arange(500), data)
    path = str(tmp_path / "ix.vex")
    ix.save(path)
    assert os.path.getsize(path) > 500 * DIM * 4
    ix2 = vexdb.Index.load(path, mmap=mmap)
    assert ix2.mmapped == mmap and len(ix2) == 500
    assert ix2.options["M"] == 8
    Q = data[:10]
    np.testing.assert_array_equal(ix.search(Q, k=5, ef=40)[0], ix2.search(Q, k=5, ef=40)[0])
    ix2.add([1000], data[:1])  # copy on write from the mapping
    assert len(ix2) == 501 and len(vexdb.Index.load(path)) == 500
    ix2.close()
    ix.close()


def test_load_errors(tmp_path, data):
    with pytest.raises(vexdb.NotFound):
        vexdb.Index.load(str(tmp_path / "none.vex"))
    path = str(tmp_path / "bad.vex")
    ix = vexdb.Index(dim=DIM, index="flat")
    ix.add(np.arange(50), data[:50])
    ix.save(path)
    blob = bytearray(open(path, "rb").read())
    blob[len(blob) // 2] ^= 0x40
    open(path, "wb").write(blob)
    with pytest.raises(vexdb.Corrupt) as e:
        vexdb.Index.load(path)
    assert "bad.vex" in str(e.value)
    open(path, "wb").write(b"")
    with pytest.raises(vexdb.Corrupt):
        vexdb.Index.load(path)
    with pytest.raises(vexdb.IOFailure):
        ix.save(str(tmp_path / "no" / "such" / "dir.vex"))


def test_quantized_index_train(data):
    ix = vexdb.Index(dim=DIM, index="flat", quant="sq8")
    ix.add(np.arange(500), data)
    ix.train()
    with pytest.raises(vexdb.Misuse):
        ix.train()
    I, _ = ix.search(data[9], k=1)
    assert I[0] == 9
    ix2 = vexdb.Index(dim=DIM, index="flat", quant="sq8")
    ix2.train(data)
    ix2.add(np.arange(500), data)
    assert ix2.search(data[4], k=1)[0][0] == 4


def test_index_bad_options():
    with pytest.raises(vexdb.Invalid):
        vexdb.Index(dim=0)
    with pytest.raises(vexdb.Invalid):
        vexdb.Index(dim=4, M=1)
    with pytest.raises(vexdb.Invalid):
        vexdb.Index(dim=4, index="flat", M=16)
    with pytest.raises(vexdb.Invalid):
        vexdb.Index(dim=4, metric="cosine", elem="bit")
    with pytest.raises(TypeError):
        vexdb.Index(dim="4")


def test_context_manager(data):
    with vexdb.Index(dim=DIM) as ix:
        ix.add([1], data[:1])
    assert ix.closed
