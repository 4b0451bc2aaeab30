#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""hnsw_bench.py - VexDB HNSW vs hnswlib vs FAISS IndexHNSWFlat, one run.

For each dataset (glove-100-angular-100k, cosine; sift128-photos-10k, L2)
it builds all three with the same M and efConstruction on the same number
of threads, sweeps efSearch, and reports for each library: build time,
resident memory added by the build, and single-thread QPS at recall@10 =
0.90, 0.95 and 0.99 (interpolated on the sweep), plus VexDB/peer ratios.

  VexDB    `vex bench --index hnsw ... --json` (one JSON line per ef)
  hnswlib  bench/peers/hnswlib_bench.cpp against Debian's libhnswlib-dev
           headers, compiled here with g++ -O3 -march=native
  FAISS    IndexHNSWFlat through Debian's python3-faiss; single-thread QPS
           from one search call over all queries with one OpenMP thread
           (no Python loop overhead in its numbers)

Single-thread QPS is, for every library, the best of --repeat passes over
all queries (default 3): the machine is shared and noisy.
Recall is counted the same way everywhere: a hit is correct when its
distance is within the exact k-th distance (see `vex help bench`).
Output: JSON lines on stdout, a table on stderr. Not a test.

Usage: /usr/bin/python3 bench/hnsw_bench.py [--build build] [--M 16]
       [--efc 200] [--threads 2] [--ef 10,20,...] [--datasets glove,sift]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

DATASETS = {
    "glove": ("glove-100-angular-100k", "glove100", "cosine"),
    "sift": ("sift128-photos-10k", "sift128photos10k", "l2"),
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def emit(o):
    print(json.dumps(o, sort_keys=True), flush=True)


def paths(key):
    folder, prefix, metric = DATASETS[key]
    d = os.path.join(DATA, folder)
    return dict(name=folder, metric=metric,
                base=os.path.join(d, prefix + "_base.fvecs"),
                query=os.path.join(d, prefix + "_query.fvecs"),
                gt=os.path.join(d, prefix + "_groundtruth.ivecs"))


def run_vex(args, ds):
    cmd = [os.path.join(args.build, "vex"), "bench", "--index", "hnsw",
           "--base", ds["base"], "--queries", ds["query"], "--gt", ds["gt"],
           "--metric", ds["metric"], "--k", "10", "--M", str(args.M),
           "--ef-construction", str(args.efc), "--threads", str(args.threads),
           "--ef", args.ef, "--repeat", str(args.repeat), "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    for r in rows:
        r.update(lib="vexdb", dataset=ds["name"])
    return rows


def run_hnswlib(args, ds, exe):
    cmd = [exe, ds["base"], ds["query"], ds["gt"], ds["metric"], str(args.M),
           str(args.efc), str(args.threads), "10", args.ef, str(args.repeat)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    for r in rows:
        r.update(dataset=ds["name"])
    return rows


FAISS_CHILD = r"""
import json, sys, time
import numpy as np
import faiss
sys.path.insert(0, %(here)r)
from flat_bench import read_fvecs, read_ivecs, recall_thresholds
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
base = read_fvecs(%(base)r); q = read_fvecs(%(query)r); gt = read_ivecs(%(gt)r)
metric = %(metric)r; k = 10
thr = recall_thresholds(base, q, gt, metric, k)
if metric == "cosine":
    faiss.normalize_L2(base); faiss.normalize_L2(q)
    index = faiss.IndexHNSWFlat(base.shape[1], %(M)d, faiss.METRIC_INNER_PRODUCT)
else:
    index = faiss.IndexHNSWFlat(base.shape[1], %(M)d)
index.hnsw.efConstruction = %(efc)d
faiss.omp_set_num_threads(%(threads)d)
r0 = rss(); t0 = time.perf_counter(); index.add(base); build = time.perf_counter() - t0
delta = rss() - r0
faiss.omp_set_num_threads(1)
for ef in [int(e) for e in %(ef)r.split(",")]:
    index.hnsw.efSearch = ef
    dt = 1e300
    for rep in range(%(repeat)d):  # best of several passes
        t0 = time.perf_counter(); D, I = index.search(q, k)
        dt = min(dt, time.perf_counter() - t0)
    ok = 0
    for i in range(len(q)):
        for dist in D[i]:
            dd = (1 - dist) if metric == "cosine" else dist
            ok += dd <= thr[i]
    print(json.dumps(dict(lib="faiss", M=%(M)d, ef_construction=%(efc)d, ef=ef,
        recall=ok / (len(q) * k), qps_1t=len(q) / dt, build_s=build,
        threads=%(threads)d, rss_delta_bytes=delta, n=int(base.shape[0]),
        faiss=faiss.__version__)), flush=True)
"""


def run_faiss(args, ds):
    code = FAISS_CHILD % dict(here=HERE, base=ds["base"], query=ds["query"],
                              gt=ds["gt"], metric=ds["metric"], M=args.M,
                              efc=args.efc, threads=args.threads, ef=args.ef,
                              repeat=args.repeat)
    p = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True,
                       text=True)
    if p.returncode != 0:
        log("faiss failed:", p.stderr[-1500:])
        return []
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    for r in rows:
        r.update(dataset=ds["name"])
    return rows


def qps_at(rows, target):
    """Single-thread QPS at a recall, interpolated (log QPS, linear recall)
    between the two sweep points around it; None if never reached."""
    pts = sorted((r["recall"], r["qps_1t"]) for r in rows)
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= target <= r1:
            if r1 == r0:
                return max(q0, q1)
            t = (target - r0) / (r1 - r0)
            return math.exp(math.log(q0) + t * (math.log(q1) - math.log(q0)))
    if pts and pts[0][0] >= target:
        return pts[0][1]  # even the smallest ef reaches it
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256,384,512")
    ap.add_argument("--datasets", default="glove,sift")
    ap.add_argument("--repeat", type=int, default=3,
                    help="search passes per ef, the fastest counts (all libraries)")
    ap.add_argument("--no-faiss", action="store_true")
    args = ap.parse_args()

    exe = os.path.join(tempfile.gettempdir(), "vexdb_hnswlib_bench")
    subprocess.run(["g++", "-O3", "-march=native", "-std=c++17", "-pthread",
                    "-w", os.path.join(HERE, "peers", "hnswlib_bench.cpp"),
                    "-o", exe], check=True)
    summary = []
    for key in args.datasets.split(","):
        ds = paths(key)
        libs = {"vexdb": run_vex(args, ds), "hnswlib": run_hnswlib(args, ds, exe)}
        if not args.no_faiss:
            libs["faiss"] = run_faiss(args, ds)
        for lib, rows in libs.items():
            for r in rows:
                emit(dict(r, bench="hnsw_sweep", lib=lib))
        for lib, rows in libs.items():
            if not rows:
                continue
            s = dict(bench="hnsw_summary", dataset=ds["name"], lib=lib,
                     M=args.M, ef_construction=args.efc, threads=args.threads,
                     build_s=rows[0]["build_s"],
                     rss_delta_bytes=rows[0]["rss_delta_bytes"],
                     bytes_per_vector=rows[0]["rss_delta_bytes"] / rows[0]["n"],
                     max_recall=max(r["recall"] for r in rows))
            for t in (0.90, 0.95, 0.99):
                s["qps_at_%.2f" % t] = qps_at(rows, t)
            summary.append(s)
        vex = next(s for s in summary if s["dataset"] == ds["name"] and s["lib"] == "vexdb")
        for s in summary:
            if (s["bench"] != "hnsw_summary" or s["dataset"] != ds["name"]
                    or s["lib"] == "vexdb"):
                continue
            ratio = dict(bench="hnsw_ratio", dataset=ds["name"], peer=s["lib"],
                         build_time_ratio=vex["build_s"] / s["build_s"],
                         memory_ratio=vex["rss_delta_bytes"] / max(1, s["rss_delta_bytes"]))
            for t in (0.90, 0.95, 0.99):
                a, b = vex["qps_at_%.2f" % t], s["qps_at_%.2f" % t]
                ratio["qps_ratio_at_%.2f" % t] = a / b if a and b else None
            emit(ratio)
            summary.append(ratio)
    for s in summary:
        if s["bench"] == "hnsw_summary":
            emit(s)
    log("\n%-24s %-8s %8s %9s %8s %10s %10s %10s" % (
        "dataset", "lib", "build_s", "B/vector", "maxrec", "qps@0.90",
        "qps@0.95", "qps@0.99"))
    fmt = lambda v: "%10.0f" % v if v else "%10s" % "-"
    for s in summary:
        if s["bench"] == "hnsw_summary":
            log("%-24s %-8s %8.2f %9.0f %8.4f %s %s %s" % (
                s["dataset"], s["lib"], s["build_s"], s["bytes_per_vector"],
                s["max_recall"], fmt(s["qps_at_0.90"]), fmt(s["qps_at_0.95"]),
                fmt(s["qps_at_0.99"])))
    for s in summary:
        if s["bench"] == "hnsw_ratio":
            log("vexdb/%-8s %-24s build %.2f  memory %.2f  qps@0.90 %s  "
                "qps@0.95 %s  qps@0.99 %s" % (
                    s["peer"], s["dataset"], s["build_time_ratio"],
                    s["memory_ratio"],
                    *["%.2f" % s[k] if s[k] else "-" for k in
                      ("qps_ratio_at_0.90", "qps_ratio_at_0.95",
                       "qps_ratio_at_0.99")]))


if __name__ == "__main__":
    main()
