#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""flat_bench.py - exact search: VexDB vs FAISS vs the memory-bandwidth probe.

Runs, in one process run on one machine:
  1. bench/membw (the memory-bandwidth probe, 1 and all threads);
  2. `vex bench --json` on each dataset, once per forced kernel set
     (VEX_SIMD=avx512 and VEX_SIMD=avx2, whichever the CPU can run);
  3. FAISS IndexFlatL2 / IndexFlatIP on the same vectors and queries, with
     the BLAS that Debian's alternatives select (OpenBLAS if installed) and,
     when available, with the reference BLAS too.

It prints one JSON object per line (machine-readable) and a summary table:
single-query scan speed as a fraction of the probe's bandwidth, and batch
QPS as a ratio of FAISS's. Benchmarks are not tests: nothing here asserts.

Usage: /usr/bin/python3 bench/flat_bench.py [--build build] [--quick]
The seeded 1,000,000 x 128 set is generated with `vex gen` into --scratch
(default /tmp/vexdb-bench), never into the repository.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def read_fvecs(path, limit=None):
    import numpy as np
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    rows = raw.reshape(-1, d + 1)
    if limit:
        rows = rows[:limit]
    return np.ascontiguousarray(rows[:, 1:].view(np.float32))


def read_ivecs(path, limit=None):
    import numpy as np
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    rows = raw.reshape(-1, d + 1)
    if limit:
        rows = rows[:limit]
    return np.ascontiguousarray(rows[:, 1:])


def recall_thresholds(base, q, gt, metric, k):
    """Per query, the largest distance that counts as a correct hit: the
    exact k-th distance (float64, of the ground truth's first k ids) plus
    the float tolerance `vex bench` allows (see `vex help bench`), so that
    a peer's results are counted the way VexDB's are."""
    import numpy as np
    raw_b, raw_q = base.astype(np.float64), q.astype(np.float64)
    dim = base.shape[1]
    thr = []
    for i in range(len(q)):
        best = None
        for j in gt[i, :k]:
            x = raw_b[j]; y = raw_q[i]
            if metric == "l2":
                d = float(((x - y) ** 2).sum()); sc = d
            else:
                p = x * y; nn = np.sqrt((x * x).sum() * (y * y).sum())
                d = 1 - p.sum() / nn; sc = np.abs(p).sum() / nn
            if best is None or d > best[0]:
                best = (d, sc)
        d, sc = best
        thr.append(d + 1e-6 * max(1.0, abs(d)) + (dim + 2) * 2.0 ** -24 * sc)
    return thr


def datasets(args):
    sets = []
    for name, metric, prefix in [
            ("sift128-photos-10k", "l2", "sift128photos10k"),
            ("glove-100-angular-100k", "cosine", "glove100"),
            ("fiori-docs-minilm-384", "cosine", "fiori384")]:
        d = os.path.join(DATA, name)
        if os.path.isdir(d):
            sets.append(dict(name=name, metric=metric,
                             base=os.path.join(d, prefix + "_base.fvecs"),
                             query=os.path.join(d, prefix + "_query.fvecs"),
                             gt=os.path.join(d, prefix + "_groundtruth.ivecs")))
    n = 100000 if args.quick else 1000000
    prefix = os.path.join(args.scratch, "rand%dx128" % n)
    if not os.path.exists(prefix + "_groundtruth.ivecs"):
        os.makedirs(args.scratch, exist_ok=True)
        log("generating %d x 128 seeded set in %s" % (n, args.scratch))
        subprocess.run([os.path.join(args.build, "vex"), "gen", "--n", str(n),
                        "--dim", "128", "--queries", "1000", "--seed", "42",
                        "--metric", "l2", "--out", prefix], check=True)
    sets.append(dict(name="random-%dx128" % n, metric="l2",
                     base=prefix + "_base.fvecs", query=prefix + "_query.fvecs",
                     gt=prefix + "_groundtruth.ivecs"))
    return sets


def run_membw(args):
    out = subprocess.run([os.path.join(args.build, "bench", "membw"), "--mib",
                          "512" if args.quick else "1024"],
                         check=True, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        o = json.loads(line)
        emit(o)
        res[o["threads"]] = o["gbps"]
    return res


def run_vex(args, ds, isa):
    env = dict(os.environ, VEX_SIMD=isa)
    cmd = [os.path.join(args.build, "vex"), "bench", "--base", ds["base"],
           "--queries", ds["query"], "--gt", ds["gt"], "--metric",
           ds["metric"], "--k", "10", "--json"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True,
                         text=True).stdout
    o = json.loads(out.strip().splitlines()[-1])
    o.update(bench="flat_vex", dataset=ds["name"], isa=isa)
    return o


FAISS_CHILD = r"""
import json, sys, time
import numpy as np
import faiss
sys.path.insert(0, %(here)r)
from flat_bench import read_fvecs, read_ivecs
base = read_fvecs(%(base)r)
q = read_fvecs(%(query)r)
gt = read_ivecs(%(gt)r)
metric = %(metric)r
k = 10
if metric == "cosine":
    faiss.normalize_L2(base)
    faiss.normalize_L2(q)
index = faiss.IndexFlatL2(base.shape[1]) if metric == "l2" else faiss.IndexFlatIP(base.shape[1])
t0 = time.perf_counter(); index.add(base); build = time.perf_counter() - t0
faiss.omp_set_num_threads(1)
nsingle = min(len(q), %(nsingle)d)
lat = []
for i in range(nsingle):
    t0 = time.perf_counter(); index.search(q[i:i + 1], k); lat.append(time.perf_counter() - t0)
lat.sort()
faiss.omp_set_num_threads(%(threads)d)
index.search(q[:50], k)  # warm up the thread pool
best = 1e30
for rep in range(3):
    t0 = time.perf_counter(); D, I = index.search(q, k); best = min(best, time.perf_counter() - t0)
# recall by distance: a hit counts if its distance is within the k-th true one
def dist(a, b):
    return float(((a.astype(np.float64) - b) ** 2).sum()) if metric == "l2" else -float(a.astype(np.float64) @ b)
ok = 0
for i in range(len(q)):
    kth = max(dist(q[i], base[j]) for j in gt[i, :k])
    tol = 1e-6 * max(1.0, abs(kth)) + 1e-5
    ok += sum(1 for j in I[i] if j >= 0 and dist(q[i], base[j]) <= kth + tol)
print(json.dumps(dict(n=int(base.shape[0]), dim=int(base.shape[1]), nq=int(len(q)),
    qps_1t=nsingle / sum(lat), p50_us=lat[len(lat) // 2] * 1e6,
    qps_all=len(q) / best, recall=ok / (len(q) * k), build_s=build,
    threads=%(threads)d, faiss=faiss.__version__)))
"""


def run_faiss(args, ds, blas):
    env = dict(os.environ)
    if blas == "reference":
        ref = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"
        if not os.path.exists(ref):
            return None
        env["LD_PRELOAD"] = ref
    code = FAISS_CHILD % dict(here=HERE, base=ds["base"], query=ds["query"],
                              gt=ds["gt"], metric=ds["metric"],
                              nsingle=20 if args.quick else 100,
                              threads=os.cpu_count())
    p = subprocess.run(["/usr/bin/python3", "-c", code], env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        log("faiss failed:", p.stderr[-2000:])
        return None
    o = json.loads(p.stdout.strip().splitlines()[-1])
    o.update(bench="flat_faiss", dataset=ds["name"], blas=blas)
    return o


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--scratch", default="/tmp/vexdb-bench")
    ap.add_argument("--quick", action="store_true",
                    help="100k random set instead of 1M, fewer repetitions")
    ap.add_argument("--no-faiss", action="store_true")
    args = ap.parse_args()

    bw = run_membw(args)
    bw1, bwall = bw[1], bw[max(bw)]
    isas = ("avx512", "avx2")
    rows = []
    for ds in datasets(args):
        fa = {}
        if not args.no_faiss:
            for blas in ("default", "reference"):
                o = run_faiss(args, ds, blas)
                if o:
                    emit(o)
                    fa[blas] = o
        for isa in isas:
            o = run_vex(args, ds, isa)
            if o.get("simd") != isa:  # the CPU cannot run this kernel set
                continue
            bytes_scanned = o["n"] * o["dim"] * 4
            o["scan_gbps_1t"] = bytes_scanned * o["qps_1t"] / 1e9
            o["scan_vs_membw_1t"] = o["scan_gbps_1t"] / bw1
            for blas, f in fa.items():
                o["batch_vs_faiss_" + blas] = o["qps_all"] / f["qps_all"]
                o["single_vs_faiss_" + blas] = o["qps_1t"] / f["qps_1t"]
            emit(o)
            rows.append(o)

    log("\nmemory bandwidth probe: %.1f GB/s (1 thread), %.1f GB/s (%d threads)"
        % (bw1, bwall, max(bw)))
    log("%-24s %-7s %7s %9s %9s %8s %10s %10s" % (
        "dataset", "isa", "recall", "scan GB/s", "vs probe", "batch qps",
        "vs faiss", "vs faiss-ref"))
    for o in rows:
        log("%-24s %-7s %7.4f %9.2f %9.2f %8.0f %10s %10s" % (
            o["dataset"], o["isa"], o["recall"], o["scan_gbps_1t"],
            o["scan_vs_membw_1t"], o["qps_all"],
            "%.2f" % o["batch_vs_faiss_default"] if "batch_vs_faiss_default" in o else "-",
            "%.2f" % o["batch_vs_faiss_reference"] if "batch_vs_faiss_reference" in o else "-"))


if __name__ == "__main__":
    main()
