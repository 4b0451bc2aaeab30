#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""python_bench.py - the vexdb Python binding against the C library,
hnswlib and FAISS HNSW, in one run.

For each dataset (glove-100-angular-100k, cosine; sift128-photos-10k, L2):

  1. vexdb.Index(index="hnsw", M, ef_construction) is built through Python
     and saved; the Python side then searches the saved file opened with
     vexdb.Index.load(mmap=True), and the C side (bench_pyref, a tight
     loop over the public API) searches the same file the same way, so
     both walk the same graph and return the same hits (checked by a
     checksum of the ids): the ratio is the binding's cost alone.
  2. `vex bench --serve` (the command-line tool's benchmark: its own
     build of the same base vectors with the same M, ef_construction and
     threads, searched one query at a time from C) runs in the same
     rotation, so the binding's QPS at recall 0.95 is also compared with
     the C library's figure as `vex bench` reports it (a different graph
     than the binding's, hence compared at equal recall, interpolated).
  3. hnswlib (Debian python3-hnswlib) and FAISS IndexHNSWFlat (Debian
     python3-faiss) are built with the same M and efConstruction on the
     same number of threads.
  4. For each pass (--repeat, default 5) and each ef of the sweep, every
     library runs all queries one at a time on one thread (single-query
     QPS; the Python libraries from a Python loop), then all queries as
     one batch call on --threads threads (batch QPS). The libraries take
     turns at each (pass, ef), in an order rotated per pass; bench_pyref
     stays running and serves one pass per request. Medians over passes
     are reported; the binding/C ratio is the median of the ratios of
     the adjacent Python and C passes, which cancels most of the noise
     of a shared machine; the ratio of the fastest passes is given too
     (load only ever slows a pass down).

Recall@10 is counted for every library the same way: a hit is correct when
its exact distance (numpy, float64) is within the exact 10th-neighbour
distance of the ground truth (+1e-6 relative), so ties never count as
misses. QPS at recall 0.95 is interpolated on each library's own sweep
(linear in recall, log in QPS). The binding/C ratio is also given per ef.

Output: one JSON line per (dataset, library, ef) with medians, then one
summary line per dataset; a table on stderr. Not a test.

Usage: /usr/bin/python3 bench/python_bench.py [--build build] [--M 16]
       [--efc 200] [--threads 2] [--repeat 5] [--datasets glove,sift]
       [--ef 10,16,24,32,48,64,96,128,192,256] [--min-queries 2000]
       [--peers hnswlib,faiss|none] [--no-vex-bench]
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

DATASETS = {
    "glove": ("glove-100-angular-100k", "glove100", "cosine"),
    "sift": ("sift128-photos-10k", "sift128photos10k", "l2"),
}
K = 10


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def emit(o):
    print(json.dumps(o, sort_keys=True), flush=True)


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def load(key):
    folder, prefix, metric = DATASETS[key]
    d = os.path.join(DATA, folder)
    X = read_vecs(os.path.join(d, prefix + "_base.fvecs"), np.float32)
    Q = read_vecs(os.path.join(d, prefix + "_query.fvecs"), np.float32)
    gt = read_vecs(os.path.join(d, prefix + "_groundtruth.ivecs"), np.int32)
    return dict(name=folder, metric=metric, X=X, Q=Q, gt=gt,
                base_path=os.path.join(d, prefix + "_base.fvecs"),
                query_path=os.path.join(d, prefix + "_query.fvecs"),
                gt_path=os.path.join(d, prefix + "_groundtruth.ivecs"))


def exact_dist(ds, qi, ids):
    """Exact distances (float64) of base ids to query qi, in the metric."""
    q = ds["Q"][qi].astype(np.float64)
    x = ds["X"][ids].astype(np.float64)
    if ds["metric"] == "l2":
        return ((x - q) ** 2).sum(axis=1)
    return 1.0 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))


def recall(ds, I):
    hits = 0
    for qi in range(len(ds["Q"])):
        kth = exact_dist(ds, qi, ds["gt"][qi, :K]).max()
        ids = [int(i) for i in I[qi] if 0 <= int(i) < len(ds["X"])]
        if ids:
            d = exact_dist(ds, qi, np.array(ids))
            hits += int((d <= kth + 1e-6 * max(1.0, abs(kth))).sum())
    return hits / (len(ds["Q"]) * K)


# ---- the libraries ----------------------------------------------------

class Vex:
    name = "vexdb-python"

    def __init__(self, ds, args, path):
        import vexdb
        t = time.perf_counter()
        ix = vexdb.Index(dim=ds["X"].shape[1], metric=ds["metric"], index="hnsw",
                         M=args.M, ef_construction=args.efc, threads=args.threads)
        ix.add(np.arange(len(ds["X"]), dtype=np.uint64), ds["X"])
        self.build_s = time.perf_counter() - t
        ix.save(path)
        ix.close()
        self.ix = vexdb.Index.load(path, mmap=True, threads=args.threads)

    def single(self, Q, ef):
        s = self.ix.search
        out = np.empty((len(Q), K), np.uint64)
        for i, q in enumerate(Q):
            ids, _ = s(q, K, ef=ef)
            out[i, :len(ids)] = ids
        return out

    def batch(self, Q, ef):
        return self.ix.search(Q, K, ef=ef)[0]


class Hnswlib:
    name = "hnswlib"

    def __init__(self, ds, args, path):
        import hnswlib
        X = ds["X"]
        space = "cosine" if ds["metric"] == "cosine" else "l2"
        t = time.perf_counter()
        p = hnswlib.Index(space=space, dim=X.shape[1])
        p.init_index(max_elements=len(X), M=args.M, ef_construction=args.efc,
                     random_seed=100)
        p.add_items(X, np.arange(len(X)), num_threads=args.threads)
        self.build_s = time.perf_counter() - t
        self.p, self.threads = p, args.threads

    def single(self, Q, ef):
        p = self.p
        p.set_ef(ef)
        p.set_num_threads(1)
        out = np.empty((len(Q), K), np.uint64)
        for i, q in enumerate(Q):
            out[i] = p.knn_query(q, k=K)[0][0]
        return out

    def batch(self, Q, ef):
        self.p.set_ef(ef)
        self.p.set_num_threads(self.threads)
        return self.p.knn_query(Q, k=K)[0]


class Faiss:
    name = "faiss-hnsw"

    def __init__(self, ds, args, path):
        import faiss
        self.faiss = faiss
        X = ds["X"]
        self.cos = ds["metric"] == "cosine"
        if self.cos:
            X = X / np.linalg.norm(X, axis=1, keepdims=True)
        faiss.omp_set_num_threads(args.threads)
        t = time.perf_counter()
        metric = faiss.METRIC_INNER_PRODUCT if self.cos else faiss.METRIC_L2
        ix = faiss.IndexHNSWFlat(X.shape[1], args.M, metric)
        ix.hnsw.efConstruction = args.efc
        ix.add(np.ascontiguousarray(X, dtype=np.float32))
        self.build_s = time.perf_counter() - t
        self.ix, self.threads = ix, args.threads

    def prep(self, Q):
        if self.cos:
            Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        return np.ascontiguousarray(Q, dtype=np.float32)

    def single(self, Q, ef):
        self.faiss.omp_set_num_threads(1)
        self.ix.hnsw.efSearch = ef
        Q = self.prep(Q)
        out = np.empty((len(Q), K), np.int64)
        s = self.ix.search
        for i in range(len(Q)):
            out[i] = s(Q[i:i + 1], K)[1][0]
        return out

    def batch(self, Q, ef):
        self.faiss.omp_set_num_threads(self.threads)
        self.ix.hnsw.efSearch = ef
        return self.ix.search(self.prep(Q), K)[1]


class VexC:
    """bench_pyref serving passes on the saved index: one warm process."""
    name = "vexdb-c"

    def __init__(self, args, path, ds):
        cmd = [os.path.join(args.build, "bench", "bench_pyref"), path,
               ds["query_path"], str(K), "-", str(args.threads)]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self, ef):
        self.p.stdin.write("%d\n" % ef)
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line.startswith("{"):
            sys.exit("bench_pyref failed at ef %d" % ef)
        return json.loads(line)

    def close(self):
        self.p.stdin.close()
        if self.p.wait() != 0:
            sys.exit("bench_pyref exited with %d" % self.p.returncode)


class VexCli:
    """`vex bench --serve`: the C library's own benchmark, building its
    index from the base file with the same M, ef_construction and
    threads, then serving single-query passes ("ef N") over the same
    (repeated) queries; its recall is its own (a graph of its own)."""
    name = "vex-bench"

    def __init__(self, args, ds):
        cmd = [os.path.join(args.build, "vex"), "bench", "--base", ds["base_path"],
               "--queries", ds["query_path"], "--gt", ds["gt_path"],
               "--metric", ds["metric"], "--k", str(K), "--index", "hnsw",
               "--M", str(args.M), "--ef-construction", str(args.efc),
               "--threads", str(args.threads), "--serve"]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = self._read("start")
        if not ready.get("ready"):
            sys.exit("vex bench --serve did not start: %r" % (ready,))
        self.build_s = ready["build_s"]

    def _read(self, what):
        line = self.p.stdout.readline()
        if not line.startswith("{"):
            sys.exit("vex bench --serve failed at %s (status %s)" % (what, self.p.poll()))
        return json.loads(line)

    def run(self, ef):
        self.p.stdin.write("ef %d\n" % ef)
        self.p.stdin.flush()
        return self._read("ef %d" % ef)

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.close()
        if self.p.wait() != 0:
            sys.exit("vex bench exited with %d" % self.p.returncode)


def overhead(ds, args, Q, tmp):
    """The binding's own cost per single-query call: a flat index of 16
    vectors (a search costs next to nothing), searched by the C loop and
    through Python in adjacent passes; the median of the per-pass
    differences of time per query, in microseconds."""
    import vexdb
    path = os.path.join(tmp, "tiny.vex")
    ix = vexdb.Index(dim=ds["X"].shape[1], metric=ds["metric"], index="flat",
                     threads=1)
    ix.add(np.arange(16), ds["X"][:16])
    ix.save(path)
    ix.close()

    class Tiny(Vex):
        def __init__(self):
            self.ix = vexdb.Index.load(path, mmap=True, threads=1)

    py, c = Tiny(), VexC(args, path, ds)
    diffs = []
    for _ in range(max(5, args.repeat)):
        t = time.perf_counter()
        py.single(Q, 0)
        t_py = (time.perf_counter() - t) / len(Q)
        t_c = 1.0 / c.run(0)["qps_1t"]
        diffs.append((t_py - t_c) * 1e6)
    c.close()
    return {"binding_overhead_us_per_query": round(statistics.median(diffs), 3)}


def checksum(I):
    w = np.arange(1, K + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return int((I.astype(np.uint64) * w).sum(dtype=np.uint64))


def qps_at(points, target=0.95):
    """Interpolated QPS at `target` recall from (recall, qps) points."""
    pts = sorted(points)
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= target <= r1 and r1 > r0:
            f = (target - r0) / (r1 - r0)
            return math.exp(math.log(q0) + f * (math.log(q1) - math.log(q0)))
    return None


def run(key, args):
    ds = load(key)
    efs = [int(e) for e in args.ef.split(",")]
    tmp = tempfile.mkdtemp(prefix="pybench-")
    path = os.path.join(tmp, "ix.vex")
    # A pass searches at least --min-queries queries (the query set
    # repeated), so that it lasts long enough to time on a busy machine;
    # recall is counted on the first copy.
    nq = len(ds["Q"])
    Q = np.tile(ds["Q"], (max(1, -(-args.min_queries // nq)), 1))
    if len(Q) > nq:
        qpath = os.path.join(tmp, "queries.fvecs")
        rows = np.empty((len(Q), Q.shape[1] + 1), np.float32)
        rows[:, 0] = np.array([Q.shape[1]], np.int32).view(np.float32)[0]
        rows[:, 1:] = Q
        rows.tofile(qpath)
        ds["query_path"] = qpath
        # the ground truth repeated the same way, for `vex bench`
        gpath = os.path.join(tmp, "truth.ivecs")
        reps = len(Q) // nq
        g = np.tile(ds["gt"], (reps, 1))
        grow = np.empty((len(g), g.shape[1] + 1), np.int32)
        grow[:, 0] = g.shape[1]
        grow[:, 1:] = g
        grow.tofile(gpath)
        ds["gt_path"] = gpath
    log("== %s: base %s, %d queries (%d per pass), %s" % (
        ds["name"], ds["X"].shape, nq, len(Q), ds["metric"]))
    libs = []
    peers = {"hnswlib": Hnswlib, "faiss": Faiss}
    chosen = [] if args.peers == "none" else args.peers.split(",")
    for cls in [Vex] + [peers[p] for p in chosen]:
        try:
            lib = cls(ds, args, path)
        except ImportError as e:
            log("  %s skipped: %s" % (cls.name, e))
            continue
        log("  %s built in %.1f s" % (lib.name, lib.build_s))
        libs.append(lib)
    cproc = VexC(args, path, ds)
    order = [cproc] + libs
    cli = None
    if args.vex_bench:
        cli = VexCli(args, ds)
        log("  %s built in %.1f s" % (cli.name, cli.build_s))
        order.append(cli)
    names = [l.name for l in order]
    single = {(n, ef): [] for n in names for ef in efs}
    batch = {(n, ef): [] for n in names for ef in efs}
    paired_1t = {ef: [] for ef in efs}     # python / C of adjacent passes
    paired_batch = {ef: [] for ef in efs}
    rec, sums = {}, {}
    for p in range(args.repeat):
        for ef in efs:
            # Every library once per (pass, ef), the order rotated per pass
            # so that none always runs first after a change of ef.
            r = p % len(order)
            now = {}
            for lib in order[r:] + order[:r]:
                if lib is cproc:
                    c = cproc.run(ef)
                    s1, sb = c["qps_1t"], c["qps_batch"]
                    sums[(lib.name, ef)] = c["checksum"]
                elif lib is cli:
                    c = cli.run(ef)
                    s1, sb = c["qps_1t"], None  # it serves single queries only
                    rec[(lib.name, ef)] = c["recall"]
                else:
                    t = time.perf_counter()
                    I = lib.single(Q, ef)
                    s1 = len(Q) / (time.perf_counter() - t)
                    t = time.perf_counter()
                    lib.batch(Q, ef)
                    sb = len(Q) / (time.perf_counter() - t)
                    if p == 0:
                        rec[(lib.name, ef)] = recall(ds, I[:nq])
                        sums[(lib.name, ef)] = checksum(I)
                single[(lib.name, ef)].append(s1)
                if sb is not None:
                    batch[(lib.name, ef)].append(sb)
                now[lib.name] = (s1, sb)
            paired_1t[ef].append(now["vexdb-python"][0] / now["vexdb-c"][0])
            paired_batch[ef].append(now["vexdb-python"][1] / now["vexdb-c"][1])
        log("  pass %d/%d done" % (p + 1, args.repeat))
    cproc.close()
    if cli:
        cli.close()
    for ef in efs:
        rec[("vexdb-c", ef)] = rec[("vexdb-python", ef)]
        if sums[("vexdb-c", ef)] != sums[("vexdb-python", ef)]:
            sys.exit("ef %d: the C loop and the binding returned different hits" % ef)
    summary = dict(kind="summary", dataset=ds["name"], M=args.M, efc=args.efc,
                   threads=args.threads, repeat=args.repeat, k=K)
    log("  %-13s %5s %7s %10s %10s" % ("library", "ef", "recall", "qps_1t", "qps_batch"))
    for n in names:
        pts = []
        for ef in efs:
            s1 = statistics.median(single[(n, ef)])
            sb = statistics.median(batch[(n, ef)]) if batch[(n, ef)] else None
            pts.append((rec[(n, ef)], s1))
            row = dict(kind="row", dataset=ds["name"], lib=n, ef=ef,
                       recall=round(rec[(n, ef)], 4), qps_1t=round(s1, 1),
                       qps_batch=round(sb, 1) if sb is not None else None)
            row["qps_1t_best"] = round(max(single[(n, ef)]), 1)
            if n == "vexdb-python":
                # medians of the per-pass ratios of adjacent passes, and
                # the ratio of the fastest passes (load only slows down)
                row["python_over_c_1t"] = round(statistics.median(paired_1t[ef]), 4)
                row["python_over_c_batch"] = round(statistics.median(paired_batch[ef]), 4)
                row["python_over_c_1t_best"] = round(
                    max(single[(n, ef)]) / max(single[("vexdb-c", ef)]), 4)
            emit(row)
            log("  %-13s %5d %7.4f %10.1f %10s" % (n, ef, rec[(n, ef)], s1,
                                                     "%.1f" % sb if sb is not None else "-"))
        q95 = qps_at(pts)
        summary["qps_1t_at_0.95_" + n] = round(q95, 1) if q95 else None
        # batch QPS at the first ef reaching 0.95
        ef95 = next((ef for ef in efs if rec[(n, ef)] >= 0.95), None)
        summary["ef_at_0.95_" + n] = ef95
        if n != "vex-bench":
            summary["qps_batch_at_0.95_" + n] = (
                round(statistics.median(batch[(n, ef95)]), 1) if ef95 else None)
    ef95 = summary["ef_at_0.95_vexdb-python"]
    if ef95:
        summary["python_over_c_1t_best_at_0.95"] = round(
            max(single[("vexdb-python", ef95)]) / max(single[("vexdb-c", ef95)]), 4)
        summary["python_over_c_1t_at_0.95"] = round(statistics.median(paired_1t[ef95]), 4)
        summary["python_over_c_batch_at_0.95"] = round(statistics.median(paired_batch[ef95]), 4)
    all_pairs = [x for ef in efs for x in paired_1t[ef]]
    summary["python_over_c_1t_all_ef"] = round(statistics.median(all_pairs), 4)
    for peer in ("vex-bench", "hnswlib", "faiss-hnsw"):
        a, b = summary.get("qps_1t_at_0.95_vexdb-python"), summary.get("qps_1t_at_0.95_" + peer)
        if a and b:
            summary["python_over_%s_1t_at_0.95" % peer] = round(a / b, 3)
    summary.update(overhead(ds, args, Q, tmp))
    emit(summary)
    log("  summary: %s" % json.dumps(summary, sort_keys=True))
    for f in os.listdir(tmp):
        os.remove(os.path.join(tmp, f))
    os.rmdir(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256")
    ap.add_argument("--datasets", default="glove,sift")
    ap.add_argument("--peers", default="hnswlib,faiss",
                    help="peers to run besides VexDB's C loop and binding "
                         "(hnswlib, faiss, or none)")
    ap.add_argument("--no-vex-bench", dest="vex_bench", action="store_false",
                    help="leave out `vex bench --serve` (the C library's own "
                         "benchmark, built from the base file)")
    ap.add_argument("--min-queries", type=int, default=2000,
                    help="queries per pass (the query set repeated)")
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.build, "python"))
    for key in args.datasets.split(","):
        run(key, args)


if __name__ == "__main__":
    main()
