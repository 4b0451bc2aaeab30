#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""hnsw_interleaved.py - VexDB HNSW against hnswlib, pass by pass.

hnsw_bench.py times each library's passes back to back, so a burst of
load on this shared machine lands on one library and decides a ratio.
Here every library builds its index once (same M, efConstruction and
build threads) and stays up serving passes (`vex bench --serve`,
`bench/peers/hnswlib_bench.cpp ... serve`); the driver then asks for one
single-thread pass over all queries at a time, alternating libraries
(VexDB, hnswlib, VexDB, hnswlib, ... with the order reversed every other
round), for every ef of the sweep and --passes rounds. With --usearch
PACKAGE (USearch's npm package unpacked: `npm pack usearch && tar xzf
usearch-*.tgz`, giving ./package) USearch's dense index in float32
(`bench/peers/usearch_bench.cpp`, with the package's NumKong kernels
built for this CPU) joins the rotation as a third library. With --collection the same VexDB
index built through a collection (`vex bench --collection --serve`: the
base loaded as records, flushed as several segments, compacted into one,
searched with vex_search) joins it too, and the collection / standalone
QPS ratio is printed per ef. Each (library, ef)
reports the median QPS of its passes and its recall; QPS at recall@10
0.95 and 0.99 is interpolated on those medians (log QPS, linear recall),
and the VexDB / hnswlib ratio of each.

Recall is counted alike everywhere (a hit counts when its distance is
within the exact k-th distance, `vex help bench`). Output: JSON lines on
stdout (one per pass, then one summary per dataset), a table on stderr.
Not a test. Pin it to one core with taskset for steadier figures.

Usage: /usr/bin/python3 bench/hnsw_interleaved.py [--build build]
       [--datasets glove,sift] [--M 16] [--efc 200] [--threads 2]
       [--ef 16,24,32,48,64,96,128,192,256] [--passes 5]
       [--base F --query F --gt F --metric l2|cosine --name N]
       [--vex-quant sq8] [--usearch PACKAGE] [--collection]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from hnsw_bench import emit, log, paths, qps_at  # noqa: E402




class Server:
    """One library's index, built once, answering "ef N" with a pass."""

    def __init__(self, name, cmd):
        self.name = name
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True,
                                  bufsize=1)
        self.ready = self._read()
        if not self.ready.get("ready"):
            raise RuntimeError("%s did not start: %r" % (name, self.ready))

    def _read(self):
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("%s exited (status %s)" % (self.name,
                                                          self.p.wait()))
        return json.loads(line)

    def run(self, ef):
        self.p.stdin.write("ef %d\n" % ef)
        self.p.stdin.flush()
        return self._read()

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.p.wait()


def rotation(libs, p):
    """The order of round p: each library first in turn, the order
    reversed every other round, so that no library always follows the
    same one."""
    k = p % len(libs)
    order = libs[k:] + libs[:k]
    return order[::-1] if p % 2 else order


def build_usearch(pkg, tmp):
    """Compile usearch_bench.cpp against the npm package in pkg: NumKong's
    C kernels (its probe writes nk_probes.h for this CPU), then the driver
    with -DUSEARCH_USE_NUMKONG=1. Returns the executable's path."""
    nk = os.path.join(pkg, "numkong")
    inc = os.path.join(pkg, "include")
    if not os.path.isdir(os.path.join(inc, "usearch")):
        sys.exit("--usearch %s: no include/usearch there (unpack the "
                 "npm package: npm pack usearch; tar xzf usearch-*.tgz)" % pkg)
    exe = os.path.join(tmp, "usearch_bench")
    flags = ["-O3", "-march=native", "-DNK_NATIVE_F16=0",
             "-DNK_NATIVE_BF16=0"]
    objs = []
    if os.path.isdir(os.path.join(nk, "c")):
        probes = os.path.join(nk, "nk_probes.h")
        if not os.path.exists(probes):
            subprocess.run(["node", os.path.join(nk, "probes", "probe.js")],
                           check=True, cwd=nk)
        srcs = sorted(f for f in os.listdir(os.path.join(nk, "c"))
                      if f.endswith(".c"))
        log("usearch: compiling %d NumKong sources" % len(srcs))
        procs = []
        for f in srcs:
            o = os.path.join(tmp, "nk_" + f[:-2] + ".o")
            objs.append(o)
            procs.append(subprocess.Popen(
                ["gcc", "-std=c11", "-Wno-unknown-pragmas", "-Wno-psabi",
                 "-DNK_DYNAMIC_DISPATCH=1", "-include", probes,
                 "-I", os.path.join(nk, "include"), "-c",
                 os.path.join(nk, "c", f), "-o", o] + flags))
            if len(procs) >= (os.cpu_count() or 2):
                if procs.pop(0).wait() != 0:
                    sys.exit("usearch: compiling NumKong failed")
        if any(p.wait() != 0 for p in procs):
            sys.exit("usearch: compiling NumKong failed")
        flags += ["-DUSEARCH_USE_NUMKONG=1", "-DNK_DYNAMIC_DISPATCH=1",
                  "-include", probes, "-I", os.path.join(nk, "include")]
    subprocess.run(["g++", "-std=c++17", "-pthread", "-I", inc, "-o", exe,
                    os.path.join(HERE, "peers", "usearch_bench.cpp")] +
                   flags + objs, check=True)
    return exe


def run_dataset(args, ds, hnswlib_exe, usearch_exe=None):
    efs = [int(x) for x in args.ef.split(",")]
    vex = [os.path.join(args.build, "vex"), "bench", "--base", ds["base"],
           "--queries", ds["query"], "--gt", ds["gt"], "--metric",
           ds["metric"], "--index", "hnsw", "--M", str(args.M),
           "--ef-construction", str(args.efc), "--threads",
           str(args.threads), "--serve"]
    if args.vex_quant:
        vex += ["--quant", args.vex_quant]
    hl = [hnswlib_exe, ds["base"], ds["query"], ds["gt"], ds["metric"],
          str(args.M), str(args.efc), str(args.threads), "10", "10", "serve"]
    log("%s: building (VexDB, %shnswlib%s)"
        % (ds["name"], "a VexDB collection, " if args.collection else "",
           ", then USearch" if usearch_exe else ""))
    servers = [Server("vexdb", vex)]
    if args.collection:
        # the same build options through a collection: several segments
        # as the memtable fills, compacted into one (vex bench --collection)
        servers.append(Server("vexdb-coll", vex + ["--collection"]))
    servers.append(Server("hnswlib", hl))
    if usearch_exe:
        servers.append(Server("usearch", [usearch_exe] + hl[1:9] +
                              ["serve"]))
    runs = {s.name: {ef: [] for ef in efs} for s in servers}
    recall = {s.name: {} for s in servers}
    try:
        for p in range(args.passes):
            for ef in efs:
                for s in rotation(servers, p):
                    r = s.run(ef)
                    runs[s.name][ef].append(r["qps_1t"])
                    recall[s.name][ef] = r["recall"]
                    r.update(dataset=ds["name"], ef=ef, round=p)
                    emit(r)
            log("  round %d of %d done" % (p + 1, args.passes))
    finally:
        for s in servers:
            s.close()
    summary = dict(dataset=ds["name"], passes=args.passes, M=args.M,
                   efc=args.efc, build_threads=args.threads,
                   vex_quant=args.vex_quant, libs={})
    for s in servers:
        med = {ef: statistics.median(runs[s.name][ef]) for ef in efs}
        pts = [dict(recall=recall[s.name][ef], qps_1t=med[ef]) for ef in efs]
        summary["libs"][s.name] = dict(
            build_s=s.ready.get("build_s"),
            compact_s=s.ready.get("compact_s"),
            segments_flushed=s.ready.get("segments_flushed"),
            rss_delta_bytes=s.ready.get("rss_delta_bytes"),
            median_qps={str(ef): med[ef] for ef in efs},
            recall={str(ef): recall[s.name][ef] for ef in efs},
            qps_at_095=qps_at(pts, 0.95), qps_at_099=qps_at(pts, 0.99))
    emit(summary)
    return summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--datasets", default="glove,sift")
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ef", default="16,24,32,48,64,96,128,192,256")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--base")
    ap.add_argument("--query")
    ap.add_argument("--gt")
    ap.add_argument("--metric")
    ap.add_argument("--name", default="custom")
    ap.add_argument("--vex-quant",
                    help="VexDB walks on codes of this quantizer (vex bench "
                         "--quant, e.g. sq8), reranked on full vectors; "
                         "hnswlib stays float32")
    ap.add_argument("--collection", action="store_true",
                    help="add VexDB through a collection (vex bench "
                         "--collection: several flushed segments compacted "
                         "into one, vex_search) to the rotation")
    ap.add_argument("--usearch", metavar="PACKAGE",
                    help="USearch's unpacked npm package: add USearch "
                         "(float32) to the rotation")
    args = ap.parse_args()
    if args.passes < 1:
        ap.error("--passes must be at least 1")
    if args.collection and args.vex_quant:
        ap.error("--collection searches float32 collections: no --vex-quant")

    tmp = tempfile.mkdtemp(prefix="vex-interleaved-")
    exe = os.path.join(tmp, "hnswlib_bench")
    subprocess.run(["g++", "-O3", "-march=native", "-std=c++17", "-pthread",
                    "-o", exe,
                    os.path.join(HERE, "peers", "hnswlib_bench.cpp")],
                   check=True)
    if args.base:
        sets = [dict(name=args.name, metric=args.metric, base=args.base,
                     query=args.query, gt=args.gt)]
    else:
        sets = [paths(k) for k in args.datasets.split(",")]
    us = build_usearch(args.usearch, tmp) if args.usearch else None
    rows = [run_dataset(args, ds, exe, us) for ds in sets]
    log("")
    log("median of %d interleaved single-thread passes; QPS at recall@10"
        % args.passes)
    log("%-26s %-10s %8s %10s %10s" % ("dataset", "lib", "build s",
                                      "@0.95", "@0.99"))
    for s in rows:
        for lib, v in s["libs"].items():
            log("%-26s %-10s %8.2f %10s %10s" % (
                s["dataset"], lib, v["build_s"] or 0,
                "%.0f" % v["qps_at_095"] if v["qps_at_095"] else "-",
                "%.0f" % v["qps_at_099"] if v["qps_at_099"] else "-"))
        a = s["libs"]["vexdb"]
        c = s["libs"].get("vexdb-coll")
        if c:
            for ef in c["median_qps"]:
                log("%-26s collection / standalone at ef %s: QPS %.3f, "
                    "recall %.4f / %.4f" % (
                        s["dataset"], ef, c["median_qps"][ef] /
                        a["median_qps"][ef], c["recall"][ef],
                        a["recall"][ef]))
        for peer in ("hnswlib", "usearch", "vexdb-coll"):
            b = s["libs"].get(peer)
            for t, label in (("qps_at_095", "0.95"), ("qps_at_099", "0.99")):
                if b and a[t] and b[t]:
                    log("%-26s VexDB / %s at %s: %.3f" % (
                        s["dataset"], peer, label, a[t] / b[t]))


if __name__ == "__main__":
    main()
