#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""dann_compare.py - DiskANN segments against in-memory indexes at the
memory each holds, in one run (issue 21).

For one texmex dataset, interleaved passes (VexDB kinds, then FAISS, then
again) of single-thread k = 10 searches:

  VexDB  bench_dann_db: a collection whose one segment is DiskANN (the
         graph and vectors in the file, PQ codes of --pq-m bytes per
         vector in memory), HNSW on PQ codes of the same size, HNSW on SQ8
         codes and HNSW on float32 vectors (M 16, efConstruction 200);
         cold (page cache dropped) and warm passes per ef.
  FAISS  (Debian python3-faiss) IndexIVFPQ (nlist ~ 4 sqrt(n), M = the
         same code bytes, 8-bit) alone, which holds about what the
         DiskANN segment holds (codes, ids, centroids), and under
         IndexRefineFlat (k_factor 4), which adds every float32 vector,
         per nprobe. Cosine data are normalised and searched by inner
         product.

Memory held is each index's own account: DiskANN's resident bytes
(vex_stats), HNSW's graph + codes (+ vectors for float32), FAISS's codes,
ids and centroids (+ vectors under RefineFlat), against the float32
vectors' bytes. QPS is the median over --passes interleaved passes;
recall@10 counts returned ids among the true 10. The machine is shared:
compare within one run. Output: JSON lines on stdout, a table on stderr.

Usage: /usr/bin/python3 bench/dann_compare.py [--build build]
       [--data DIR] [--passes 3] [--pq-m M] [--efs 40,80,120]
       [--nprobes 8,16,32,64]
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)[:, 1:]
    return rows.view(dtype) if dtype == np.float32 else rows


def dataset(dir_):
    base = [f for f in os.listdir(dir_) if f.endswith("_base.fvecs")][0]
    p = os.path.join(dir_, base[: -len("_base.fvecs")])
    return (read_vecs(p + "_base.fvecs", np.float32),
            read_vecs(p + "_query.fvecs", np.float32),
            read_vecs(p + "_groundtruth.ivecs", np.int32))


def vexdb_pass(build, kind, data, efs, pq_m, first):
    cmd = [os.path.join(build, "bench", "bench_dann_db"), "--kind", kind,
           "--data", data, "--efs", efs, "--passes", "1",
           "--db", "/tmp/vex_dann_compare_" + kind]
    if pq_m and kind in ("diskann", "hnsw-pq"):
        cmd += ["--pq-m", str(pq_m)]
    if first:
        cmd.append("--rebuild")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]


def faiss_pass(ivf, index, q, gt, nprobe):
    ivf.nprobe = nprobe
    lat = []
    t0 = time.perf_counter()
    found = 0
    for i in range(len(q)):
        a = time.perf_counter()
        _, ids = index.search(q[i:i + 1], 10)
        lat.append(time.perf_counter() - a)
        found += len(set(ids[0].tolist()) & set(gt[i, :10].tolist()))
    qps = len(q) / (time.perf_counter() - t0)
    lat.sort()
    return {"recall": found / (10 * len(q)), "qps": qps,
            "p50_us": lat[len(lat) // 2] * 1e6,
            "p99_us": lat[int(len(lat) * 0.99)] * 1e6}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--data",
                    default=os.path.join(HERE, "..", "..", "shared", "data",
                                         "glove-100-angular-100k"))
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--pq-m", type=int, default=0)
    ap.add_argument("--efs", default="40,80,120")
    ap.add_argument("--nprobes", default="8,16,32,64")
    ap.add_argument("--kinds", default="diskann,hnsw-pq,hnsw-sq8,hnsw")
    a = ap.parse_args()
    import faiss
    faiss.omp_set_num_threads(1)
    xb, xq, gt = dataset(a.data)
    n, dim = xb.shape
    cosine = "angular" in a.data
    if cosine:
        xb = xb / np.linalg.norm(xb, axis=1, keepdims=True)
        xq = xq / np.linalg.norm(xq, axis=1, keepdims=True)
    m = a.pq_m or (dim + 3) // 4
    while dim % m:  # FAISS's PQ needs M to divide dim
        m -= 1
    metric = faiss.METRIC_INNER_PRODUCT if cosine else faiss.METRIC_L2
    nlist = int(4 * n ** 0.5)
    t0 = time.perf_counter()
    quant = faiss.IndexFlat(dim, metric)
    ivfpq = faiss.IndexIVFPQ(quant, dim, nlist, m, 8, metric)
    ivfpq.train(xb)
    refine = faiss.IndexRefineFlat(ivfpq)
    refine.k_factor = 4
    refine.add(xb)  # into both: the IVFPQ codes and the flat store
    faiss_build = time.perf_counter() - t0
    raw = n * dim * 4
    ivf_mem = n * m + n * 8 + nlist * dim * 4 + 256 * dim * 4
    runs = {}
    kinds = a.kinds.split(",")
    for p in range(a.passes):
        for kind in kinds:
            for r in vexdb_pass(a.build, kind, a.data, a.efs, m if kind in (
                    "diskann", "hnsw-pq") else 0, p == 0):
                runs.setdefault(("vexdb-" + kind, r["ef"], r["mode"]),
                                []).append(r)
        for refined in (0, 1):
            for npb in [int(x) for x in a.nprobes.split(",")]:
                r = faiss_pass(ivfpq, refine if refined else ivfpq, xq, gt,
                               npb)
                r.update({"resident_bytes": ivf_mem + (raw if refined else 0),
                          "build_s": faiss_build})
                runs.setdefault(("faiss-ivfpq" + ("+refine" if refined
                                                  else ""), npb, "warm"),
                                []).append(r)
    print("%-22s %6s %5s %7s %8s %8s %8s %9s %8s" % (
        "index", "ef/np", "mode", "recall", "qps", "p50_us", "p99_us",
        "reads/q", "mem %"), file=sys.stderr)
    for key in sorted(runs, key=lambda k: (k[0], k[1], k[2])):
        rs = runs[key]
        med = dict(rs[-1])
        med["qps"] = statistics.median(r["qps"] for r in rs)
        med.update({"index": key[0], "param": key[1], "mode": key[2],
                    "n": n, "dim": dim, "code_bytes": m,
                    "resident_pct": 100.0 * med["resident_bytes"] / raw,
                    "passes": len(rs)})
        print(json.dumps(med))
        print("%-22s %6d %5s %7.4f %8.0f %8.0f %8.0f %9s %7.1f%%" % (
            key[0], key[1], key[2], med["recall"], med["qps"],
            med["p50_us"], med["p99_us"],
            "%.1f" % med["reads_per_q"] if "reads_per_q" in med else "-",
            med["resident_pct"]), file=sys.stderr)


if __name__ == "__main__":
    main()
