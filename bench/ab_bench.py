#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ab_bench.py - the same VexDB benchmarks on two builds, interleaved.

For a change that must not move performance (a refactor), the fair
comparison is VexDB before against VexDB after on the same inputs in one
run: the passes alternate A, B, A, B, ... so the machine's noise falls on
both, and each number is the median over the passes. Workloads:

  hnsw     `vex bench --index hnsw` on sift128-photos-10k (L2) and
           glove-100-angular-100k (cosine): build seconds and single-thread
           QPS per ef (recall is printed to show both builds search the
           same graph)
  filter   `vex bench --index hnsw --filter` (a collection, one segment,
           searched through vex_search with a metadata filter) on both
           datasets at 1%, 10%, 50% and 100% selectivity (row buckets)
  ingest   `bench_storage ingest` (GROUP, 1 and 8 writers, HNSW): durable
           inserts per second through the write path, and the p99 and
           p99.9 acknowledgement latency
  replay   `bench_storage replay`: log replay rows per second at open

Output: one JSON line per (workload, key, metric) with both medians and
B/A, and a table on stderr. Not a test.

Usage: /usr/bin/python3 bench/ab_bench.py A_BUILD B_BUILD [--passes 3]
       [--workloads hnsw,filter,ingest,replay] [--glove-queries N]
       [--hnsw-m 16] [--hnsw-efc 200] [--datasets sift,glove]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "data")
SIFT = os.path.join(DATA, "sift128-photos-10k", "sift128photos10k")
GLOVE = os.path.join(DATA, "glove-100-angular-100k", "glove100")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]


def hnsw(build, args):
    rows = []
    for name, p, metric, nq in (("sift", SIFT, "l2", 0),
                                ("glove", GLOVE, "cosine", args.glove_queries)):
        if name not in args.datasets.split(","):
            continue
        cmd = [os.path.join(build, "vex"), "bench", "--index", "hnsw",
               "--base", p + "_base.fvecs", "--queries", p + "_query.fvecs",
               "--gt", p + "_groundtruth.ivecs", "--metric", metric,
               "--k", "10", "--M", str(args.hnsw_m), "--ef-construction",
               str(args.hnsw_efc),
               "--threads", "2", "--ef", "16,32,64,128,256", "--repeat", "3",
               "--json"]
        if nq:
            cmd += ["--max-queries", str(nq)]
        for r in run_json(cmd):
            if "ef" in r and "qps_1t" in r:
                rows.append((("hnsw", name, "ef=%d" % r["ef"]), "qps_1t",
                             r["qps_1t"]))
                rows.append((("hnsw", name, "ef=%d" % r["ef"]), "recall",
                             r.get("recall", 0.0)))
            if "build_s" in r:
                rows.append((("hnsw", name, "build"), "build_s", r["build_s"]))
    return rows


def filt(build, args):
    rows = []
    for name, folder, prefix, metric, tsv, nq in (
            ("sift", "sift128-photos-10k", "sift128photos10k", "l2",
             "sift128photos10k_base_meta.tsv", 0),
            ("glove", "glove-100-angular-100k", "glove100", "cosine",
             "glove100_base_words.tsv", args.glove_queries)):
        p = os.path.join(DATA, folder, prefix)
        for text in ("row_mod100 < 1", "row_mod100 < 10", "row_mod100 < 50",
                     "row >= 0"):
            cmd = [os.path.join(build, "vex"), "bench", "--base",
                   p + "_base.fvecs", "--queries", p + "_query.fvecs",
                   "--meta", os.path.join(DATA, folder, tsv), "--metric",
                   metric, "--index", "hnsw", "--M", "16",
                   "--ef-construction", "200", "--ef", "32,128", "--threads",
                   "2", "--repeat", "3", "--filter", text, "--json"]
            if nq:
                cmd += ["--max-queries", str(nq)]
            for r in run_json(cmd):
                if "ef" in r and "qps_1t" in r:
                    key = ("filter", name, text, "ef=%d" % r["ef"])
                    rows.append((key, "qps_1t", r["qps_1t"]))
                    rows.append((key, "recall", r["recall"]))
    return rows


def storage(build, what):
    exe = os.path.join(build, "bench", "bench_storage")
    d = "/tmp/vexdb-ab-storage"
    if what == "ingest":
        cmd = [exe, "--dir", d, "--seconds", "3", "--threads", "1,8",
               "--modes", "group", "--kinds", "hnsw", "ingest"]
    else:
        cmd = [exe, "--dir", d, "--reps", "1", "--replay-hnsw-n", "0",
               "--replay-n", "100000", "replay"]
    fields = (("mode", "kind", "threads", "batch") if what == "ingest" else
              ("kind", "rows", "rows_per_record"))
    rows = []
    for r in run_json(cmd):
        if r.get("engine", "vexdb") != "vexdb" or "rows_per_s" not in r:
            continue
        key = (what,) + tuple("%s=%s" % (f, r[f]) for f in fields if f in r)
        rows.append((key, "rows_per_s", r["rows_per_s"]))
        # the acknowledgement latency too (issue 19 item 5 is its p99)
        for m in ("p99_us", "p999_us"):
            if what == "ingest" and m in r:
                rows.append((key, m, r[m]))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--workloads", default="hnsw,filter,ingest,replay")
    ap.add_argument("--glove-queries", type=int, default=200)
    ap.add_argument("--hnsw-m", type=int, default=16)   # hnsw workload only
    ap.add_argument("--hnsw-efc", type=int, default=200)
    ap.add_argument("--datasets", default="sift,glove")  # hnsw workload
    args = ap.parse_args()
    work = {"hnsw": lambda b: hnsw(b, args), "filter": lambda b: filt(b, args),
            "ingest": lambda b: storage(b, "ingest"),
            "replay": lambda b: storage(b, "replay")}
    got = {}
    for i in range(args.passes):
        for w in args.workloads.split(","):
            for side, build in (("a", args.a), ("b", args.b)):
                log("pass %d %s %s" % (i + 1, w, side))
                for key, metric, v in work[w](build):
                    got.setdefault((key, metric), {"a": [], "b": []})[side].append(v)
    log("%-45s %-12s %12s %12s %7s" % ("key", "metric", "A", "B", "B/A"))
    for (key, metric), v in got.items():
        if not v["a"] or not v["b"]:
            continue
        a, b = statistics.median(v["a"]), statistics.median(v["b"])
        ratio = b / a if a else 0.0
        print(json.dumps({"bench": "ab", "key": list(key), "metric": metric,
                          "a": a, "b": b, "b_over_a": ratio,
                          "passes": len(v["a"])}), flush=True)
        log("%-45s %-12s %12.4g %12.4g %7.3f" % (" ".join(key), metric, a, b,
                                                  ratio))


if __name__ == "__main__":
    main()
