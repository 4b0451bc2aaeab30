#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""quant_bench.py - VexDB quantized search vs FAISS at matching code sizes.

For each dataset (glove-100-angular-100k, cosine; sift128-photos-10k, L2)
one run measures recall@10 and single-thread QPS, with the bytes of one
code (what a search scans per vector) next to them:

  VexDB  `vex bench --quant Q --refine F[,...] --json`, flat and HNSW:
         float32 (no quantizer), SQ8 (4x), PQ 8-bit at 32x (M = dim*4/32
         bytes rounded down), OPQ at 32x, BQ (32x); and PQ at FAISS's M
         when that differs (FAISS's PQ needs M to divide dim: the largest
         such M up to dim*4/32, 10 for glove-100); flat 4-bit PQ with
         2M subvectors (M bytes, the fast scan)
  FAISS  (Debian python3-faiss) IndexScalarQuantizer QT_8bit, IndexPQ at
         the same M and IndexPQFastScan (2M 4-bit subvectors, M bytes),
         each alone and under IndexRefineFlat (k_factor = refine);
         IndexHNSWSQ QT_8bit with an efSearch sweep; IndexIVFPQ
         (nlist ~ 4 sqrt(n), same M) under IndexRefineFlat with an nprobe
         sweep. Cosine data are normalised and searched by inner product.

Single-thread QPS is, for every library, the best of --repeat passes
(default 2) over all queries; FAISS searches all queries in one call with
one OpenMP thread. Recall is counted the same way everywhere: a hit is
correct when its distance is within the exact k-th distance (see `vex help
bench`), with the exact distance of each returned id recomputed here
for FAISS (its unrefined indexes return approximate distances; VexDB's
quantized results always carry exact ones). The machine is shared: compare ratios
within one run. Output: JSON lines on stdout, a table on stderr.

Usage: /usr/bin/python3 bench/quant_bench.py [--build build]
       [--datasets glove,sift] [--max-queries N] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

DATASETS = {
    "glove": ("glove-100-angular-100k", "glove100", "cosine", 100),
    "sift": ("sift128-photos-10k", "sift128photos10k", "l2", 128),
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def emit(o):
    print(json.dumps(o, sort_keys=True), flush=True)


def paths(key):
    folder, prefix, metric, dim = DATASETS[key]
    d = os.path.join(DATA, folder)
    return dict(name=folder, metric=metric, dim=dim,
                base=os.path.join(d, prefix + "_base.fvecs"),
                query=os.path.join(d, prefix + "_query.fvecs"),
                gt=os.path.join(d, prefix + "_groundtruth.ivecs"))


def run_vex(args, ds, index, quant, refine, ef=None):
    cmd = [os.path.join(args.build, "vex"), "bench", "--index", index,
           "--base", ds["base"], "--queries", ds["query"], "--gt", ds["gt"],
           "--metric", ds["metric"], "--k", "10", "--threads",
           str(args.threads), "--repeat", str(args.repeat), "--json"]
    if args.max_queries:
        cmd += ["--max-queries", str(args.max_queries)]
    if index == "hnsw":
        cmd += ["--M", "16", "--ef-construction", "200", "--ef", ef]
    if quant:
        cmd += ["--quant", quant, "--refine", refine]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        code = r.get("code_bytes", ds["dim"] * 4)
        rows.append(dict(lib="vexdb", dataset=ds["name"], index=index,
                         quant=quant or "f32", refine=r.get("refine", 0),
                         ef=r.get("ef", 0), code_bytes=code,
                         recall=r["recall"], qps_1t=r["qps_1t"],
                         build_s=r["build_s"] + r.get("train_s", 0)))
    return rows


FAISS_CHILD = r"""
import json, sys, time
import numpy as np
import faiss
sys.path.insert(0, %(here)r)
from flat_bench import read_fvecs, read_ivecs, recall_thresholds
base = read_fvecs(%(base)r); q = read_fvecs(%(query)r); gt = read_ivecs(%(gt)r)
if %(maxq)d:
    q = q[:%(maxq)d]; gt = gt[:%(maxq)d]
metric = %(metric)r; k = 10; d = base.shape[1]; n = base.shape[0]
raw_b, raw_q = base.astype(np.float64), q.astype(np.float64)
thr = recall_thresholds(base, q, gt, metric, k)
mt = faiss.METRIC_L2
if metric == "cosine":
    faiss.normalize_L2(base); faiss.normalize_L2(q); mt = faiss.METRIC_INNER_PRODUCT
M = %(M)d
def measure(name, index, code_bytes, build_s, **kw):
    faiss.omp_set_num_threads(1)
    dt = 1e300
    for rep in range(%(repeat)d):
        t0 = time.perf_counter(); D, I = index.search(q, k)
        dt = min(dt, time.perf_counter() - t0)
    ok = 0
    for i in range(len(q)):  # exact distances of the returned ids
        ids = I[i][I[i] >= 0]
        x = raw_b[ids]; y = raw_q[i]
        if metric == "l2":
            dd = ((x - y) ** 2).sum(axis=1)
        else:
            dd = 1 - (x @ y) / np.sqrt((x * x).sum(axis=1) * (y * y).sum())
        ok += int((dd <= thr[i]).sum())
    print(json.dumps(dict(lib="faiss", index=name, code_bytes=code_bytes,
        recall=ok / (len(q) * k), qps_1t=len(q) / dt, build_s=build_s,
        faiss=faiss.__version__, **kw)), flush=True)
def build(index, train=True):
    faiss.omp_set_num_threads(%(threads)d)
    t0 = time.perf_counter()
    if train:
        index.train(base)
    index.add(base)
    return time.perf_counter() - t0
# the refine wrappers are built empty around an empty index (FAISS wants
# both to hold the same vectors); the inner index is searched alone too
sq = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, mt)
r = faiss.IndexRefineFlat(sq)
t = build(r); measure("SQ8", sq, d, t, refine=0)
for f in (2, 4):
    r.k_factor = f
    measure("SQ8+RefineFlat", r, d, t, refine=f)
pq = faiss.IndexPQ(d, M, 8, mt)
r = faiss.IndexRefineFlat(pq)
t = build(r); measure("PQ", pq, M, t, refine=0)
for f in (10, 20, 50):
    r.k_factor = f
    measure("PQ+RefineFlat", r, M, t, refine=f)
# 4-bit PQ with FAISS's fast scan at the same code size: 2M subvectors
pq4 = faiss.IndexPQFastScan(d, 2 * M, 4, mt)
r = faiss.IndexRefineFlat(pq4)
t = build(r); measure("PQ4FastScan", pq4, M, t, refine=0)
for f in (10, 20, 50):
    r.k_factor = f
    measure("PQ4FastScan+RefineFlat", r, M, t, refine=f)
hs = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, 16, mt)
hs.hnsw.efConstruction = 200
t = build(hs)
for ef in (16, 32, 64, 128, 256):
    hs.hnsw.efSearch = ef
    measure("HNSWSQ", hs, d, t, ef=ef)
nlist = max(16, int(4 * n ** 0.5))
quantizer = faiss.IndexFlat(d, mt)
ivf = faiss.IndexIVFPQ(quantizer, d, nlist, M, 8, mt)
r = faiss.IndexRefineFlat(ivf)
t = build(r)
for f in (10, 20):
    r.k_factor = f
    for nprobe in (8, 16, 32, 64):
        ivf.nprobe = nprobe
        measure("IVFPQ+RefineFlat", r, M, t, refine=f, nprobe=nprobe,
                nlist=nlist)
"""


def run_faiss(args, ds, M):
    code = FAISS_CHILD % dict(here=HERE, base=ds["base"], query=ds["query"],
                              gt=ds["gt"], metric=ds["metric"], M=M,
                              threads=args.threads, repeat=args.repeat,
                              maxq=args.max_queries or 0)
    p = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True,
                       text=True)
    if p.returncode != 0:
        log("faiss failed:", p.stderr[-1500:])
        return []
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    for r in rows:
        r.update(dataset=ds["name"])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--datasets", default="glove,sift")
    ap.add_argument("--max-queries", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-faiss", action="store_true")
    args = ap.parse_args()
    rows = []
    for key in args.datasets.split(","):
        ds = paths(key)
        m32 = ds["dim"] * 4 // 32  # 8-bit PQ bytes at 32x, rounded down
        # FAISS's PQ needs M to divide the dimension: the largest such M up
        # to m32, which VexDB also runs so that both are compared at the
        # same code size (glove: 10 bytes, 40x)
        mf = max(m for m in range(1, m32 + 1) if ds["dim"] % m == 0)
        runs = [("flat", None, None, None),
                ("flat", "sq8", "1,2", None),
                ("flat", "pq:%d" % m32, "1,10,20,50", None),
                ("flat", "opq:%d" % m32, "10,20", None),
                ("flat", "pq4:%d" % (2 * mf), "1,10,20,50", None),
                ("flat", "bq", "10,50", None),
                ("hnsw", None, None, "16,32,64,128,256"),
                ("hnsw", "sq8", "2", "16,32,64,128,256"),
                ("hnsw", "pq:%d" % m32, "20,50", "32,64,128,256")]
        if mf != m32:
            runs += [("flat", "pq:%d" % mf, "10,20,50", None),
                     ("hnsw", "pq:%d" % mf, "20,30,40,50", "64")]
        for index, quant, refine, ef in runs:
            log("vexdb %s %s %s" % (ds["name"], index, quant or "f32"))
            for r in run_vex(args, ds, index, quant, refine, ef):
                rows.append(r)
                emit(dict(r, bench="quant"))
        if not args.no_faiss:
            log("faiss %s (M %d)" % (ds["name"], mf))
            for r in run_faiss(args, ds, mf):
                rows.append(r)
                emit(dict(r, bench="quant"))
    log("\n%-24s %-6s %-22s %6s %6s %6s %8s %10s" % (
        "dataset", "lib", "index", "B/vec", "refine", "ef/np", "recall",
        "qps_1t"))
    for r in rows:
        name = (r["index"] + ("+" + r["quant"] if "quant" in r else ""))
        log("%-24s %-6s %-22s %6d %6s %6s %8.4f %10.1f" % (
            r["dataset"], r["lib"], name[:22], r["code_bytes"],
            r.get("refine") or "-", r.get("ef") or r.get("nprobe") or "-",
            r["recall"], r["qps_1t"]))


if __name__ == "__main__":
    main()
