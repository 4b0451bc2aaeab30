#!/usr/bin/python3
"""filter_bench.py - filtered search: VexDB vs FAISS (filter during the
graph walk) vs hnswlib (post-filter), one run.

For each dataset (glove-100-angular-100k, cosine; sift128-photos-10k, L2)
and each selectivity (0.1%, 1%, 10%, 50%, 100%), with the same M and
efConstruction everywhere, it reports recall@10 against exact filtered
ground truth and single-thread QPS for a sweep of ef:

  VexDB    `vex bench --filter EXPR --meta TSV --json`: a collection (one
           segment) searched through vex_search with params.where; the
           per-segment planner picks exact / graph / post
  FAISS    IndexHNSWFlat (Debian python3-faiss 1.7.3) searched with an
           IDSelectorBitmap in SearchParametersHNSW (the filter is applied
           during the graph walk); one OpenMP thread, one search call over
           all queries
  hnswlib  bench/peers/hnswlib_filter_bench.cpp on Debian libhnswlib-dev
           0.6.2 (no filter hook): k' = ef candidates, the first k that
           match kept, the way its users filter today

The filters select rows by a bucket of the row number, which is
uncorrelated with the vectors: `row_mod1000 < 1` (0.1%),
`row_mod100 < 1` (1%), `row_mod100 < 10` (10%), `row_mod100 < 50` (50%),
`row >= 0` (100%); the rows' TSV files come with the datasets, and
`vex bench` derives row_mod100/row_mod1000 from the `row` column.

Ground truth: exact filtered k-NN in float64 with numpy over the matching
rows (cosine on normalised vectors). Recall@10 counts ids (VexDB's own
number is computed by `vex bench` against its exact flat search; the two
truths agree except for exact ties). Output: JSON lines on stdout, a table
on stderr. Not a test.

Usage: /usr/bin/python3 bench/filter_bench.py [--build build] [--M 16]
       [--efc 200] [--threads 2] [--ef 16,32,...] [--datasets glove,sift]
       [--queries N]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import faiss
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

DATASETS = {
    "glove": ("glove-100-angular-100k", "glove100", "cosine",
              "glove100_base_words.tsv"),
    "sift": ("sift128-photos-10k", "sift128photos10k", "l2",
             "sift128photos10k_base_meta.tsv"),
}
SELECTIVITIES = [
    ("0.1%", "row_mod1000 < 1", lambda r: r % 1000 < 1),
    ("1%", "row_mod100 < 1", lambda r: r % 100 < 1),
    ("10%", "row_mod100 < 10", lambda r: r % 100 < 10),
    ("50%", "row_mod100 < 50", lambda r: r % 100 < 50),
    ("100%", "row >= 0", lambda r: r >= 0),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def emit(o):
    print(json.dumps(o, sort_keys=True), flush=True)


def fvecs(path, limit=None):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    x = raw.reshape(-1, d + 1)[:, 1:].copy().view(np.float32)
    return x[:limit] if limit else x


def truth(base, queries, mask, metric, k):
    ids = np.nonzero(mask)[0]
    sub = base[ids].astype(np.float64)
    if metric == "cosine":
        sub /= np.linalg.norm(sub, axis=1, keepdims=True)
    kk = min(k, len(ids))
    out = []
    for at in range(0, len(queries), 64):  # bounded memory
        q = queries[at:at + 64].astype(np.float64)
        if metric == "cosine":
            q /= np.linalg.norm(q, axis=1, keepdims=True)
            d = -q @ sub.T
        else:
            d = ((q * q).sum(1)[:, None] - 2 * q @ sub.T
                 + (sub * sub).sum(1)[None])
        order = np.argsort(d, axis=1, kind="stable")[:, :kk]
        out += [set(ids[row].tolist()) for row in order]
    return out


def recall(got, gt):
    found = total = 0
    for ids, want in zip(got, gt):
        found += len(set(int(i) for i in ids if i >= 0) & want)
        total += len(want)
    return found / total if total else 1.0


def run_vex(args, ds, sel_text, nq):
    folder, prefix, metric, tsv = DATASETS[ds]
    p = os.path.join(DATA, folder, prefix)
    cmd = [os.path.join(args.build, "vex"), "bench",
           "--base", p + "_base.fvecs", "--queries", p + "_query.fvecs",
           "--meta", os.path.join(DATA, folder, tsv), "--metric", metric,
           "--index", "hnsw", "--M", str(args.M), "--ef-construction",
           str(args.efc), "--ef", args.ef, "--threads", str(args.threads),
           "--max-queries", str(nq), "--repeat", str(args.repeat),
           "--filter", sel_text, "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ef", default="16,32,64,128,256")
    ap.add_argument("--datasets", default="glove,sift")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--libs", default="vexdb,faiss,hnswlib")
    args = ap.parse_args()
    efs = [int(x) for x in args.ef.split(",")]
    tmp = tempfile.mkdtemp(prefix="vex_filter_bench_")
    peer = os.path.join(tmp, "hnswlib_filter_bench")
    subprocess.run(["g++", "-O3", "-march=native", "-std=c++17", "-pthread",
                    os.path.join(HERE, "peers", "hnswlib_filter_bench.cpp"),
                    "-o", peer], check=True)
    for ds in args.datasets.split(","):
        folder, prefix, metric, _ = DATASETS[ds]
        p = os.path.join(DATA, folder, prefix)
        base = fvecs(p + "_base.fvecs")
        queries = fvecs(p + "_query.fvecs", args.queries)
        nq = len(queries)
        rows = np.arange(len(base))
        masks = [np.array([f(int(r)) for r in rows]) for _, _, f in
                 SELECTIVITIES]
        gts = [truth(base, queries, m, metric, args.k) for m in masks]

        libs = args.libs.split(",")
        # FAISS
        faiss.omp_set_num_threads(args.threads)
        xb, xq = base.copy(), queries.copy()
        if metric == "cosine":
            faiss.normalize_L2(xb)
            faiss.normalize_L2(xq)
            index = faiss.IndexHNSWFlat(base.shape[1], args.M,
                                        faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexHNSWFlat(base.shape[1], args.M)
        index.hnsw.efConstruction = args.efc
        t0 = time.time()
        if "faiss" in libs:
            index.add(xb)
        faiss_build = time.time() - t0
        faiss.omp_set_num_threads(1)
        for si, (name, text, _) in enumerate(SELECTIVITIES):
            if "faiss" not in libs:
                break
            bits = np.packbits(masks[si].astype(np.uint8), bitorder="little")
            sel = faiss.IDSelectorBitmap(len(base), faiss.swig_ptr(bits))
            for ef in efs:
                # FAISS 1.7.3 ignores constructor keywords, and its beam
                # follows efSearch only when both the parameters and the
                # index carry it (measured: with one of them the recall
                # does not move with ef)
                params = faiss.SearchParametersHNSW()
                params.sel = sel
                params.efSearch = ef
                index.hnsw.efSearch = ef
                t0 = time.time()
                _, ids = index.search(xq, args.k, params=params)
                qps = nq / (time.time() - t0)
                emit({"dataset": ds, "lib": "faiss", "selectivity": name,
                      "ef": ef, "recall": recall(ids, gts[si]),
                      "qps_1t": qps, "build_s": faiss_build})
        del index

        # hnswlib, post-filter
        mask_paths = []
        for si, m in enumerate(masks):
            path = os.path.join(tmp, "%s.mask%d" % (ds, si))
            m.astype(np.uint8).tofile(path)
            mask_paths.append(path)
        qpath = os.path.join(tmp, "%s.query.fvecs" % ds)
        qraw = np.fromfile(p + "_query.fvecs", dtype=np.int32)
        qraw[:nq * (base.shape[1] + 1)].tofile(qpath)
        out = subprocess.run(
            [peer, p + "_base.fvecs", qpath, metric, str(args.M),
             str(args.efc), str(args.threads), str(args.k),
             os.path.join(tmp, ds), ",".join(str(e) for e in efs)]
            + mask_paths, check=True, capture_output=True,
            text=True) if "hnswlib" in libs else None
        for line in out.stdout.splitlines() if out else []:
            o = json.loads(line)
            ids = np.fromfile(os.path.join(tmp, "%s.%d.%d.ids" % (
                ds, o["mask"], o["ef"])), dtype=np.int64).reshape(nq, args.k)
            emit({"dataset": ds, "lib": "hnswlib-post",
                  "selectivity": SELECTIVITIES[o["mask"]][0], "ef": o["ef"],
                  "recall": recall(ids, gts[o["mask"]]),
                  "qps_1t": o["qps_1t"], "build_s": o["build_s"]})

        # VexDB
        for name, text, _ in SELECTIVITIES if "vexdb" in libs else []:
            for o in run_vex(args, ds, text, nq):
                emit({"dataset": ds, "lib": "vexdb", "selectivity": name,
                      "ef": o["ef"], "recall": o["recall"],
                      "qps_1t": o["qps_1t"], "build_s": o["build_s"],
                      "plans": [o["plan_exact"], o["plan_graph"],
                                o["plan_post"]]})
        log("done", ds)
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
