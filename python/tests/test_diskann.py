# SPDX-License-Identifier: Apache-2.0
"""DiskANN segments through the binding: the settings stored and read
back, a compaction that writes one, recall against brute force, beam
width, the node-cache budget and the statistics."""
import numpy as np
import pytest

import vexdb


def brute(x, q, k):
    d = ((x[None, :, :] - q[:, None, :]) ** 2).sum(-1)
    return np.argsort(d, axis=1)[:, :k]


def test_diskann_collection(tmp_path):
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(20, 16)).astype(np.float32) * 4
    x = (centres[rng.integers(0, 20, 2000)] +
         rng.normal(size=(2000, 16))).astype(np.float32)
    q = x[rng.integers(0, 2000, 30)] + 0.1
    q = q.astype(np.float32)
    ids = np.arange(2000, dtype=np.uint64)
    with vexdb.open(tmp_path / "db") as db:
        c = db.create_collection("c", dim=16, metric="l2", diskann_min_rows=500,
                                 diskann_r=24, diskann_l=48)
        cfg = c.config
        assert cfg["diskann_min_rows"] == 500
        assert cfg["diskann_r"] == 24 and cfg["diskann_l"] == 48
        assert cfg["diskann_pq_m"] == 4
        assert abs(cfg["diskann_alpha"] - 1.2) < 1e-6
        c.upsert(ids, x)
        c.flush()
        c.compact()
        st = c.stats()
        assert st["diskann_segments"] == 1 and st["segments"] == 1
        assert st["diskann_resident_bytes"] > 0
        truth = brute(x, q, 10)
        hits = c.search(q, k=10, ef=64, beam_width=8)
        found = sum(len(set(hits.ids[i].tolist()) & set(truth[i].tolist()))
                    for i in range(len(q)))
        assert found / (10 * len(q)) >= 0.9
        rec = c.get(7)
        assert np.array_equal(rec.vector, x[7])
        with pytest.raises(vexdb.Invalid):
            c.search(q[0], k=10, beam_width=65)
        plain = db.create_collection("plain", dim=16, metric="l2")
        with pytest.raises(vexdb.Invalid):
            plain.search(q[0], k=1, beam_width=4)
        with pytest.raises(vexdb.Invalid):
            db.create_collection("ip", dim=16, metric="ip", diskann_min_rows=10)
    # reopened with a node cache: the budget is used, answers unchanged
    with vexdb.open(tmp_path / "db", diskann_cache_bytes=1 << 20) as db:
        c = db.collection("c")
        again = c.search(q, k=10, ef=64, beam_width=8)
        assert np.array_equal(again.ids, hits.ids)
        st = c.stats()
        assert 0 < st["diskann_cache_bytes"] <= (1 << 20) // 2
