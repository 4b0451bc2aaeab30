#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""filter_interleaved.py - filtered search, VexDB against FAISS and
hnswlib, pass by pass.

filter_bench.py runs each library's passes back to back (best of N), so
a burst of load on this shared machine lands on one library and decides
a ratio, and it runs `vex bench --filter` once per filter, which builds
the VexDB index again for every filter (unusable at a million vectors).
Here every library builds its index once (same M, efConstruction and
build threads) and stays up serving passes:

  VexDB    `vex bench --meta TSV --collection --serve`: the base loaded
           as records with their TSV rows, flushed as the memtable fills
           and compacted into one segment (timed as the build), searched
           through vex_search; "where EXPR" sets the filter (answer: its
           matches, checked against this script's predicate), "ef N"
           runs one single-thread pass over all queries and answers
           recall (vex's own, ids against exact filtered k-NN), QPS and
           the plans the segments chose. The set's unfiltered truth
           (--gt) is handed over when there is one, else vex computes
           one it never uses here
  hnswlib  bench/peers/hnswlib_filter_bench.cpp in its serve mode
           (post-filter: k' = ef candidates, the first k matching kept);
           "mask PATH" loads a one-byte-per-id mask, "ef N OUT" runs a
           pass and writes the ids, whose recall this script counts
  FAISS    IndexHNSWFlat in this process (python3-faiss 1.7.3), the
           filter an IDSelectorBitmap in SearchParametersHNSW applied
           during the walk, one OpenMP thread, one search call per pass
           (timed here, no Python loop inside), as filter_bench.py does

For each filter the libraries get the filter, then --passes rounds run;
a round runs every ef of the sweep, and for each ef every library once,
each library first in turn and the order reversed every other round
(the rotation of hnsw_interleaved.py). Per (library, filter, ef) the
median QPS of the passes is reported with the recall; per filter, the
QPS at recall@10 --target (0.95) on those medians: interpolated as
hnsw_bench.qps_at does (log QPS, linear recall), or the best median
whose recall reaches the target when that is higher (an exact plan gives
recall 1 at every ef, a flat curve on which qps_at would return the
slowest point), and VexDB / best peer.

Datasets and filters: glove and sift with filter_bench.py's filters and
TSV files (its FILTERS); or a custom set (--base, --query, --metric,
--name) with --meta TSV, whose filters are those of the known families
(rows, proj, rank, keypoint) whose columns the TSV has; without --meta
this script writes a TSV with `row` (the row number; vex derives
row_mod100 and row_mod1000) and `proj`, the per-mille bucket 0..999 of
each base vector's projection on a fixed random direction (so `proj <
10` is exactly 1% of the rows and correlated with the vectors), and the
families are "rows" and "proj".

Ground truth: exact filtered k-NN over the matching rows (ids, ties by
the smaller id, cosine on normalised vectors, as filter_bench.truth),
computed over blocks of 65,536 matching rows in float32 (faiss.knn, all
cores) keeping the 4k best candidates per query, which are then ranked
again in float64; a query whose best dropped float32 candidate is within
rounding of its k-th distance is computed again in float64 over all
matching rows. Memory stays bounded by the block size; the time is that
of one exhaustive float32 pass per filter over its matching rows (1,000
queries by 50,000 rows of 128 took 4.5 s on two busy cores, so a
million rows about 90 s; numpy here has only the reference BLAS, which
is slower). VexDB's recall is its own (`vex
bench` against its exact flat search); the two truths agree except for
exact ties.

Output: JSON lines on stdout (one per pass, one summary per filter), a
table on stderr. Not a test. `--passes 1 --queries 50` is a quick smoke
run; pin it to one core with taskset for steadier figures.

Usage: /usr/bin/python3 bench/filter_interleaved.py [--build build]
       [--datasets glove,sift] [--families rows,rank,...] [--libs
       vexdb,hnswlib,faiss] [--ef 16,32,64,128,256,512] [--passes 5]
       [--queries 1000] [--k 10] [--threads 2] [--M 16] [--efc 200]
       [--target 0.95] [--vex-db DIR]
       [--base F --query F --metric l2|cosine --name N [--meta TSV]
       [--gt F]]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import faiss
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from filter_bench import (DATA, DATASETS, FILTERS, ROWS, fvecs,  # noqa: E402
                          recall, tsv_columns)
from hnsw_bench import emit, log, qps_at  # noqa: E402
from hnsw_interleaved import Server, rotation  # noqa: E402

# The custom set's correlated family: per-mille buckets of a projection
# on a random direction (the TSV this script writes).
PROJ = [
    ("proj", "0.1%", "proj < 1", lambda c: c["proj"] < 1),
    ("proj", "1%", "proj < 10", lambda c: c["proj"] < 10),
    ("proj", "10%", "proj < 100", lambda c: c["proj"] < 100),
    ("proj", "50%", "proj < 500", lambda c: c["proj"] < 500),
]
PROJ_SEED = 20261207
# every family a custom --meta TSV may serve, each filter once
KNOWN = ROWS + PROJ + [f for ds in ("glove", "sift") for f in FILTERS[ds]
                       if f[0] not in ("rows", "proj")]


# ---- ground truth ---------------------------------------------------------

def _exact64(base, ids, q, metric, kk, rows):
    """The kk nearest of base[ids] to the float64 query q, in float64
    over blocks of rows: (distances, ids), ties by the smaller id."""
    best_d = np.empty(0)
    best_i = np.empty(0, dtype=np.int64)
    for at in range(0, len(ids), rows):
        chunk = ids[at:at + rows]
        x = base[chunk].astype(np.float64)
        if metric == "cosine":
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            d = -(x @ q)
        else:
            d = ((x - q) ** 2).sum(1)
        best_d = np.concatenate([best_d, d])
        best_i = np.concatenate([best_i, chunk])
        keep = np.lexsort((best_i, best_d))[:kk]
        best_d, best_i = best_d[keep], best_i[keep]
    return best_d, best_i


def truth(base, queries, mask, metric, k, rows=65536):
    """Exact filtered k-NN of every query over the rows where mask is
    set, as a list of id sets (filter_bench.truth's answer, affordable at
    a million base vectors): blocks of matching rows are searched in
    float32 by faiss.knn (SIMD on all cores), keeping the 4k best
    candidates per query, which are then ranked in float64. A query whose
    best dropped float32 candidate is within rounding of its k-th float64
    distance is computed again in float64 over every matching row."""
    ids = np.flatnonzero(mask)
    nq, dim = queries.shape
    kk = min(k, len(ids))
    if kk == 0:
        return [set() for _ in range(nq)]
    keep = min(len(ids), 4 * k)
    q64 = queries.astype(np.float64)
    if metric == "cosine":
        q64 /= np.linalg.norm(q64, axis=1, keepdims=True)
    q32 = np.ascontiguousarray(q64, dtype=np.float32)
    cand_d = np.empty((nq, 0), dtype=np.float32)
    cand_i = np.empty((nq, 0), dtype=np.int64)
    cut = np.full(nq, np.inf)  # no dropped candidate is nearer
    xmax = 0.0
    # the numpy here links the reference BLAS (about 1.5 GFLOPS), and
    # FAISS's BLAS path calls it too: its per-pair SIMD kernels, forced
    # by the threshold, are faster (measured 4.5 s against 6.7 s for
    # 1,000 x 50,000 x 128, and numpy's matmul 7.4 s)
    threshold = faiss.cvar.distance_compute_blas_threshold
    threads = faiss.omp_get_max_threads()
    faiss.cvar.distance_compute_blas_threshold = 1 << 30
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        for at in range(0, len(ids), rows):
            chunk = ids[at:at + rows]
            x = np.ascontiguousarray(base[chunk], dtype=np.float32)
            kb = min(keep + 1, len(chunk))
            if metric == "cosine":
                x /= np.linalg.norm(x, axis=1, keepdims=True)
                dd, ii = faiss.knn(q32, x, kb, faiss.METRIC_INNER_PRODUCT)
                dd = -dd
            else:
                xmax = max(xmax, float((x * x).sum(1).max()))
                dd, ii = faiss.knn(q32, x, kb)
            d = np.concatenate([cand_d, dd], axis=1)
            i = np.concatenate([cand_i, chunk[ii]], axis=1)
            if d.shape[1] <= keep:
                cand_d, cand_i = d, i
                continue
            # everything dropped, here or in the block beyond its kb
            # best, is at least the (keep+1)-th of the union
            part = np.argpartition(d, keep, axis=1)
            cut = np.minimum(cut, np.take_along_axis(
                d, part[:, keep:keep + 1], axis=1)[:, 0])
            cand_d = np.take_along_axis(d, part[:, :keep], axis=1)
            cand_i = np.take_along_axis(i, part[:, :keep], axis=1)
    finally:
        faiss.cvar.distance_compute_blas_threshold = threshold
        faiss.omp_set_num_threads(threads)
    # the candidates ranked in float64 (l2: squared distance, cosine:
    # -cos), ties by the smaller id; tol bounds the float32 error
    out, redo = [], 0
    for i in range(nq):
        x = base[cand_i[i]].astype(np.float64)
        if metric == "cosine":
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            d = -(x @ q64[i])
            tol = (dim + 2) * 2.0 ** -22 * 3
        else:
            d = ((x - q64[i]) ** 2).sum(1)
            r = float(np.sqrt(xmax)) + float(np.linalg.norm(q64[i]))
            tol = (dim + 2) * 2.0 ** -22 * r * r
        order = np.lexsort((cand_i[i], d))[:kk]
        if cut[i] - tol <= d[order[-1]] + tol:  # a dropped one may belong
            redo += 1
            _, got = _exact64(base, ids, q64[i], metric, kk, rows)
            out.append(set(got.tolist()))
        else:
            out.append(set(cand_i[i][order].tolist()))
    if redo:
        log("  truth: %d of %d queries computed again in float64 (near "
            "ties)" % (redo, nq))
    return out


# ---- the libraries ----------------------------------------------------------

class Served(Server):
    """A library in its own process: one request line, one JSON answer."""

    def request(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self._read()


class Vex(Served):
    """`vex bench --collection --serve`: "where EXPR", then "ef N"."""

    def set_filter(self, f):
        r = self.request("where " + f["text"])
        if r.get("where") != f["text"] or "matches" not in r:
            raise RuntimeError("vexdb: unexpected answer to where %s: %r"
                               % (f["text"], r))
        self.where = f["text"]
        return r["matches"]

    def run(self, ef):
        r = self.request("ef %d" % ef)
        if "recall" not in r or "qps_1t" not in r or \
                r.get("where") != self.where:
            raise RuntimeError("vexdb: unexpected answer to ef %d: %r"
                               % (ef, r))
        return r


class Hnswlib(Served):
    """hnswlib_filter_bench serve: "mask PATH", then "ef N OUT"."""

    def __init__(self, cmd, tmp, nq, k):
        self.out = os.path.join(tmp, "hnswlib.ids")
        self.nq, self.k, self.gt = nq, k, None
        Served.__init__(self, "hnswlib", cmd)

    def set_filter(self, f):
        self.gt = f["gt"]
        r = self.request("mask " + f["mask_path"])
        if "matches" not in r:
            raise RuntimeError("hnswlib: unexpected answer to mask: %r" % r)
        return r["matches"]

    def run(self, ef):
        r = self.request("ef %d %s" % (ef, self.out))
        ids = np.fromfile(self.out, dtype=np.int64).reshape(self.nq, self.k)
        r["recall"] = recall(ids, self.gt)
        return r


class Faiss:
    """IndexHNSWFlat in this process; a pass is one search call over all
    queries on one OpenMP thread, the filter an IDSelectorBitmap."""

    name = "faiss"

    def __init__(self, base, queries, metric, args):
        xb = np.ascontiguousarray(base, dtype=np.float32)
        self.xq = np.ascontiguousarray(queries, dtype=np.float32)
        if metric == "cosine":
            xb = xb.copy()
            self.xq = self.xq.copy()
            faiss.normalize_L2(xb)
            faiss.normalize_L2(self.xq)
            self.index = faiss.IndexHNSWFlat(base.shape[1], args.M,
                                             faiss.METRIC_INNER_PRODUCT)
        else:
            self.index = faiss.IndexHNSWFlat(base.shape[1], args.M)
        self.index.hnsw.efConstruction = args.efc
        self.n, self.k = len(base), args.k
        faiss.omp_set_num_threads(args.threads)
        r0 = rss_bytes()
        t0 = time.perf_counter()
        self.index.add(xb)
        build = time.perf_counter() - t0
        self.ready = dict(lib="faiss", ready=True, n=self.n, build_s=build,
                          rss_delta_bytes=rss_bytes() - r0,
                          faiss=faiss.__version__)
        faiss.omp_set_num_threads(1)

    def set_filter(self, f):
        # the selector keeps a pointer into bits: both live on self
        self.bits = np.packbits(f["mask"].astype(np.uint8), bitorder="little")
        self.sel = faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(self.bits))
        self.gt = f["gt"]
        return int(f["mask"].sum())

    def run(self, ef):
        # FAISS 1.7.3 ignores constructor keywords, and its beam follows
        # efSearch only when both the parameters and the index carry it
        # (filter_bench.py measured: with one of them the recall does not
        # move with ef)
        params = faiss.SearchParametersHNSW()
        params.sel = self.sel
        params.efSearch = ef
        self.index.hnsw.efSearch = ef
        t0 = time.perf_counter()
        _, ids = self.index.search(self.xq, self.k, params=params)
        secs = time.perf_counter() - t0
        return dict(lib="faiss", ef=ef, qps_1t=len(self.xq) / secs,
                    recall=recall(ids, self.gt))

    def close(self):
        self.index = None


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---- datasets ---------------------------------------------------------------

def write_queries(path, queries):
    """queries as a texmex .fvecs file (the peer reads every row)."""
    n, d = queries.shape
    raw = np.empty((n, d + 1), dtype=np.int32)
    raw[:, 0] = d
    raw[:, 1:] = np.ascontiguousarray(queries, dtype=np.float32).view(np.int32)
    raw.tofile(path)


def write_proj_tsv(path, base, metric):
    """The custom set's metadata: `row`, and `proj`, the per-mille bucket
    of each base vector's projection on a fixed random direction (unit
    vectors under cosine), so that `proj < b` keeps exactly b per mille
    of the rows, a slab of the space."""
    rng = np.random.default_rng(PROJ_SEED)
    u = rng.standard_normal(base.shape[1])
    p = np.empty(len(base))
    for at in range(0, len(base), 65536):  # bounded memory
        x = base[at:at + 65536].astype(np.float64)
        if metric == "cosine":
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        p[at:at + 65536] = x @ u
    bucket = np.empty(len(base), dtype=np.int64)
    bucket[np.argsort(p, kind="stable")] = (np.arange(len(base)) * 1000
                                            // len(base))
    with open(path, "w") as f:
        f.write("row\tproj\n")
        f.write("".join("%d\t%d\n" % (i, b) for i, b in
                        enumerate(bucket.tolist())))


def dataset(args, key, tmp):
    """The dataset's paths, vectors and usable filters (family, label,
    text, predicate)."""
    if key is None:  # the custom set
        ds = dict(name=args.name, metric=args.metric, base=args.base,
                  query=args.query, meta=args.meta, gt=args.gt)
        base = fvecs(ds["base"])
        if not ds["meta"]:
            ds["meta"] = os.path.join(tmp, "%s.tsv" % args.name)
            write_proj_tsv(ds["meta"], base, args.metric)
        cols = tsv_columns(ds["meta"])
        filters = []
        for f in KNOWN:
            try:
                f[3](cols)
            except KeyError:
                continue
            filters.append(f)
    else:
        folder, prefix, metric, tsv = DATASETS[key]
        p = os.path.join(DATA, folder, prefix)
        ds = dict(name=folder, metric=metric, base=p + "_base.fvecs",
                  query=p + "_query.fvecs", gt=p + "_groundtruth.ivecs",
                  meta=os.path.join(DATA, folder, tsv))
        base = fvecs(ds["base"])
        cols = tsv_columns(ds["meta"])
        filters = FILTERS[key]
    n_rows = min(len(v) for v in cols.values()) if cols else 0
    if n_rows < len(base):
        sys.exit("%s: %d metadata rows for %d base vectors"
                 % (ds["meta"], n_rows, len(base)))
    fams = args.families.split(",")
    filters = [f for f in filters if "all" in fams or f[0] in fams]
    if not filters:
        sys.exit("%s: no filter of the families %s applies (its TSV's "
                 "columns: %s)" % (ds["name"], args.families,
                                   ", ".join(sorted(cols))))
    ds["filters"] = [dict(family=f[0], label=f[1], text=f[2],
                          mask=np.asarray(f[3](cols), dtype=bool)[:len(base)])
                     for f in filters]
    return ds, base, fvecs(ds["query"], args.queries)


# ---- the run ----------------------------------------------------------------

def start(args, ds, base, queries, tmp, peer):
    """Every library's index, built once, in turn (VexDB, hnswlib, FAISS
    by default: the order of --libs)."""
    nq = len(queries)
    qpath = os.path.join(tmp, "%s.query.fvecs" % ds["name"])
    write_queries(qpath, queries)
    libs = []
    for lib in args.libs.split(","):
        log("%s: building %s" % (ds["name"], lib))
        if lib == "vexdb":
            cmd = [os.path.join(args.build, "vex"), "bench", "--base",
                   ds["base"], "--queries", ds["query"], "--metric",
                   ds["metric"], "--index", "hnsw", "--M", str(args.M),
                   "--ef-construction", str(args.efc), "--threads",
                   str(args.threads), "--meta", ds["meta"], "--collection",
                   "--serve", "--max-queries", str(nq), "--k", str(args.k)]
            if ds["gt"]:  # else vex computes the unfiltered truth first
                cmd += ["--gt", ds["gt"]]
            if args.vex_db:  # kept afterwards (e.g. to time its open)
                cmd += ["--db", os.path.join(args.vex_db, ds["name"])]
            libs.append(Vex("vexdb", cmd))
        elif lib == "hnswlib":
            cmd = [peer, ds["base"], qpath, ds["metric"], str(args.M),
                   str(args.efc), str(args.threads), str(args.k), "serve"]
            libs.append(Hnswlib(cmd, tmp, nq, args.k))
        elif lib == "faiss":
            libs.append(Faiss(base, queries, ds["metric"], args))
        else:
            sys.exit("--libs: unknown library %r (vexdb, hnswlib, faiss)"
                     % lib)
        log("  %s" % {k: v for k, v in libs[-1].ready.items()
                      if k != "ready"})
    return libs


def best_at(pts, target):
    """(QPS at the target recall, how): the interpolation of qps_at, or
    the best point reaching the target when that is higher."""
    interp = qps_at(pts, target)
    ok = [p["qps_1t"] for p in pts if p["recall"] >= target]
    best = max(ok) if ok else None
    if interp is None and best is None:
        return None, None
    if best is not None and (interp is None or best >= interp):
        return best, "best"
    return interp, "interpolated"


def run_filter(args, ds, f, libs, efs):
    """--passes rounds of every ef and library for one filter; emits each
    pass and the filter's summary, which it returns."""
    matches = {}
    for s in libs:
        matches[s.name] = s.set_filter(f)
    want = int(f["mask"].sum())
    off = {k: v for k, v in matches.items() if v != want}
    if off:
        log("  WARNING: %s: matches %r, the script's predicate %d: the "
            "truths differ" % (f["text"], off, want))
    runs = {s.name: {ef: [] for ef in efs} for s in libs}
    last = {s.name: {} for s in libs}
    tag = dict(dataset=ds["name"], family=f["family"],
               selectivity=f["label"], filter=f["text"])
    for p in range(args.passes):
        for ef in efs:
            for s in rotation(libs, p):
                r = s.run(ef)
                runs[s.name][ef].append(r)
                last[s.name][ef] = r
                r.update(tag, lib=s.name, ef=ef, round=p)
                emit(r)
    out = dict(tag, matches=want, share=want / len(f["mask"]),
               passes=args.passes, target=args.target, libs={})
    for s in libs:
        med = {ef: statistics.median(r["qps_1t"] for r in runs[s.name][ef])
               for ef in efs}
        rec = {ef: statistics.median(r["recall"] for r in runs[s.name][ef])
               for ef in efs}
        pts = [dict(recall=rec[ef], qps_1t=med[ef]) for ef in efs]
        qps, how = best_at(pts, args.target)
        v = dict(matches=matches[s.name], build_s=s.ready.get("build_s"),
                 rss_delta_bytes=s.ready.get("rss_delta_bytes"),
                 median_qps={str(ef): med[ef] for ef in efs},
                 recall={str(ef): rec[ef] for ef in efs},
                 qps_at_target=qps, qps_at_how=how,
                 max_recall=max(rec.values()))
        if s.name == "vexdb":
            v["segments"] = s.ready.get("segments")
            v["plans"] = {str(ef): [last[s.name][ef].get(x) for x in (
                "plan_exact", "plan_graph", "plan_post", "fallbacks")]
                for ef in efs}
        out["libs"][s.name] = v
    peers = [(v["qps_at_target"], n) for n, v in out["libs"].items()
             if n != "vexdb" and v["qps_at_target"]]
    vex = out["libs"].get("vexdb", {}).get("qps_at_target")
    if peers:
        out["best_peer"] = max(peers)[1]
        out["vexdb_over_best_peer"] = vex / max(peers)[0] if vex else None
    emit(out)
    return out


def run_dataset(args, key, tmp, peer):
    efs = [int(x) for x in args.ef.split(",")]
    ds, base, queries = dataset(args, key, tmp)
    log("%s: %d x %d, %d queries, %s" % (ds["name"], base.shape[0],
                                         base.shape[1], len(queries),
                                         ds["metric"]))
    for si, f in enumerate(ds["filters"]):
        f["mask_path"] = os.path.join(tmp, "%s.mask%d" % (ds["name"], si))
        f["mask"].astype(np.uint8).tofile(f["mask_path"])
        t0 = time.time()
        f["gt"] = truth(base, queries, f["mask"], ds["metric"], args.k)
        log("  %-8s %-5s %-30s matches %d (%.3f%%), truth %.1f s"
            % (f["family"], f["label"], f["text"], f["mask"].sum(),
               100 * f["mask"].mean(), time.time() - t0))
    libs = start(args, ds, base, queries, tmp, peer)
    del base
    rows = []
    try:
        for f in ds["filters"]:
            rows.append(run_filter(args, ds, f, libs, efs))
            log("  %s: %d round(s) done" % (f["text"], args.passes))
    finally:
        for s in libs:
            s.close()
    return ds, libs, rows


def table(args, ds, libs, rows):
    names = [s.name for s in libs]
    log("\n%s: single-thread QPS at recall@%d %.2f, median of %d interleaved "
        "pass(es) (max recall when never reached)"
        % (ds["name"], args.k, args.target, args.passes))
    log("build s: " + ", ".join("%s %.2f" % (s.name, s.ready.get("build_s")
                                             or 0) for s in libs))
    head = "%-8s %-5s %-28s" % ("family", "sel", "filter")
    log(head + "".join(" %14s" % n for n in names) + "  vexdb/best peer")
    for o in rows:
        cells = []
        for n in names:
            v = o["libs"][n]
            cells.append("%14.0f" % v["qps_at_target"] if v["qps_at_target"]
                         else "%14s" % ("max r %.3f" % v["max_recall"]))
        ratio = o.get("vexdb_over_best_peer")
        if ratio:
            note = "%.2fx (%s)" % (ratio, o["best_peer"])
        elif "vexdb" in names and "best_peer" not in o and len(names) > 1:
            note = "no peer reaches it"
        else:
            note = "-"
        log("%-8s %-5s %-28s" % (o["family"], o["selectivity"],
                                 o["filter"][:28]) + " ".join(
                                     [""] + cells) + "  " + note)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--vex-db", metavar="DIR",
                    help="build VexDB's collection in DIR/<dataset> (a new "
                         "directory, kept afterwards) instead of a "
                         "temporary one")
    ap.add_argument("--datasets", default="glove,sift")
    ap.add_argument("--families", default="all",
                    help="comma list: rows, rank (glove), keypoint (sift), "
                         "proj (custom), or all")
    ap.add_argument("--libs", default="vexdb,hnswlib,faiss")
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2,
                    help="build threads of every library")
    ap.add_argument("--ef", default="16,32,64,128,256,512")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--target", type=float, default=0.95,
                    help="recall@k at which QPS is compared")
    ap.add_argument("--base", help="custom set: base vectors (.fvecs)")
    ap.add_argument("--query", help="custom set: query vectors (.fvecs)")
    ap.add_argument("--metric", choices=("l2", "cosine"))
    ap.add_argument("--name", default="custom")
    ap.add_argument("--gt", help="custom set: unfiltered ground truth "
                                 "(.ivecs), handed to vex bench so that it "
                                 "need not compute one it does not use")
    ap.add_argument("--meta", help="custom set: metadata TSV, one row per "
                                   "base vector (default: row and proj, "
                                   "written here)")
    args = ap.parse_args()
    if args.passes < 1:
        ap.error("--passes must be at least 1")
    if args.base and not (args.query and args.metric):
        ap.error("--base needs --query and --metric")

    tmp = tempfile.mkdtemp(prefix="vex-filter-interleaved-")
    try:
        peer = os.path.join(tmp, "hnswlib_filter_bench")
        if "hnswlib" in args.libs.split(","):
            subprocess.run(["g++", "-O3", "-march=native", "-std=c++17",
                            "-pthread", "-o", peer, os.path.join(
                                HERE, "peers", "hnswlib_filter_bench.cpp")],
                           check=True)
        keys = [None] if args.base else args.datasets.split(",")
        done = [run_dataset(args, key, tmp, peer) for key in keys]
        for ds, libs, rows in done:
            table(args, ds, libs, rows)
    finally:
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
