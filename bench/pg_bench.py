#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""vexhnsw (the vexdb PostgreSQL extension; with float32 elements and with
quant = 'sq8') against pgvector's HNSW in the same PostgreSQL cluster, through SQL: build time, index size, and recall@10
and QPS of `ORDER BY emb <=> q LIMIT 10` over an ef_search sweep, with
passes interleaved (vexdb, pgvector, vexdb, ...) and the median QPS of the
passes reported, plus filtered queries (WHERE bucket < B) at 1/10/50 %.

Run by bench/pg_bench.sh, which builds pgvector from its source release
and starts a private cluster (postgres/tests/run.sh); this script only
talks to that cluster through psql. Output: one `pg_bench ...` line per
measurement (key=value), then a summary.
"""
import argparse
import os
import statistics
import struct
import subprocess
import sys
import time


def read_vecs(path, kind):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    fmt = "f" if kind == "f" else "i"
    while pos < len(data):
        (d,) = struct.unpack_from("<i", data, pos)
        pos += 4
        out.append(struct.unpack_from("<%d%s" % (d, fmt), data, pos))
        pos += 4 * d
    return out


def vtext(v):
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


class Pg:
    def __init__(self, a):
        self.base = [a.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                     a.host, "-p", str(a.port), "-U", a.user, "-d", a.db,
                     "-At"]

    def run(self, sql):
        r = subprocess.run(self.base + ["-c", sql], capture_output=True,
                           text=True)
        if r.returncode != 0:
            sys.exit("psql failed: %s\n%s" % (sql[:200], r.stderr))
        return r.stdout.strip()

    def file(self, path):
        r = subprocess.run(self.base + ["-f", path], capture_output=True,
                           text=True)
        if r.returncode != 0:
            sys.exit("psql -f %s failed:\n%s" % (path, r.stderr[-2000:]))
        return r.stdout


AMS = {
    "vexhnsw": dict(ext="vexdb", typ="vexvector", using="vexhnsw",
                    opclass="vexvector_cosine_ops", ef="vexdb.ef_search",
                    extra=["SET vexdb.max_scan_tuples = 20000"], opts=""),
    # the same with SQ8 codes on the pages (rerank by the executor's
    # recheck on the heap's vectors), on its own copy of the table
    "vexhnsw_sq8": dict(ext="vexdb", typ="vexvector", using="vexhnsw",
                        opclass="vexvector_cosine_ops", ef="vexdb.ef_search",
                        extra=["SET vexdb.max_scan_tuples = 20000"],
                        opts=", quant = 'sq8'"),
    "pgvector": dict(ext="vector", typ="vector", using="hnsw",
                     opclass="vector_cosine_ops", ef="hnsw.ef_search",
                     extra=[], opts=""),
}


def query_file(a, tmp, am, ef, queries, where, iterative):
    cfg = AMS[am]
    path = os.path.join(tmp, "q_%s_%d_%s.sql" % (am, ef, where or "all"))
    with open(path, "w") as f:
        f.write("SET enable_seqscan = off;\nSET %s = %d;\n" % (cfg["ef"], ef))
        for s in cfg["extra"]:
            f.write(s + ";\n")
        if am == "pgvector" and iterative:
            f.write("SET hnsw.iterative_scan = strict_order;\n")
        cond = ("WHERE " + where) if where else ""
        for q in queries:
            f.write("SELECT string_agg(id::text, ',') FROM (SELECT id FROM "
                    "t_%s %s ORDER BY emb <=> '%s' LIMIT 10) s;\n"
                    % (am, cond, vtext(q)))
    return path


def recall(lines, truth):
    hits = 0
    rows = 0
    for line, gt in zip(lines, truth):
        ids = [int(x) for x in line.split(",")] if line else []
        rows += len(ids)
        hits += len(set(ids) & set(gt[:10]))
    return hits / (10.0 * len(truth)), rows / float(len(truth))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--psql", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", default="vextest")
    p.add_argument("--db", default="bench")
    p.add_argument("--data", required=True, help="glove-100-angular-100k dir")
    p.add_argument("--tmp", required=True)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--efc", type=int, default=64)
    p.add_argument("--ef", default="10,20,40,80,160,320")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--filtered-queries", type=int, default=100)
    p.add_argument("--sessions", type=int, default=4,
                   help="concurrent sessions of the concurrent pass")
    p.add_argument("--concurrent-ef", type=int, default=80)
    p.add_argument("--mwm", default="1GB",
                   help="maintenance_work_mem of the builds")
    p.add_argument("--ams", default=",".join(AMS),
                   help="indexes to measure (default all: %s)" % ",".join(AMS))
    a = p.parse_args()
    for am in list(AMS):
        if am not in a.ams.split(","):
            del AMS[am]

    name = os.path.basename(a.data.rstrip("/"))
    prefix = [f[:-len("_base.fvecs")] for f in os.listdir(a.data)
              if f.endswith("_base.fvecs")][0]
    base = read_vecs(os.path.join(a.data, prefix + "_base.fvecs"), "f")
    queries = read_vecs(os.path.join(a.data, prefix + "_query.fvecs"), "f")
    truth = read_vecs(os.path.join(a.data, prefix + "_groundtruth.ivecs"), "i")
    queries, truth = queries[:a.queries], truth[:a.queries]
    dim = len(base[0])
    print("pg_bench data=%s n=%d dim=%d queries=%d m=%d efc=%d" %
          (name, len(base), dim, len(queries), a.m, a.efc))

    subprocess.run([a.psql, "-X", "-q", "-h", a.host, "-p", str(a.port), "-U",
                    a.user, "-d", "postgres", "-c",
                    "CREATE DATABASE " + a.db], check=True)
    pg = Pg(a)
    copy = os.path.join(a.tmp, "base.txt")
    with open(copy, "w") as f:
        for i, v in enumerate(base):
            f.write("%d\t%d\t%s\n" % (i, i % 100, vtext(v)))
    built = {}
    for am, cfg in AMS.items():
        pg.run("CREATE EXTENSION IF NOT EXISTS %s" % cfg["ext"])
        pg.run("CREATE TABLE t_%s (id int PRIMARY KEY, bucket int, emb %s(%d))"
               % (am, cfg["typ"], dim))
        pg.run("\\copy t_%s FROM '%s'" % (am, copy))
        pg.run("VACUUM ANALYZE t_%s" % am)
    for am, cfg in AMS.items():  # builds one after the other, same settings
        t0 = time.time()
        pg.run("SET maintenance_work_mem = '%s'; " % a.mwm +
               "SET max_parallel_maintenance_workers = 1; "
               "CREATE INDEX i_%s ON t_%s USING %s (emb %s) "
               "WITH (m = %d, ef_construction = %d%s)"
               % (am, am, cfg["using"], cfg["opclass"], a.m, a.efc,
                  cfg["opts"]))
        secs = time.time() - t0
        size = int(pg.run("SELECT pg_relation_size('i_%s')" % am))
        built[am] = (secs, size)
        print("pg_bench build am=%s seconds=%.2f index_bytes=%d" %
              (am, secs, size))
    pg.run("CREATE EXTENSION pg_prewarm")
    pg.run("SELECT " + ", ".join("pg_prewarm('i_%s'), pg_prewarm('t_%s')"
                                 % (am, am) for am in AMS))

    efs = [int(x) for x in a.ef.split(",")]
    res = {}
    for ef in efs:
        files = {am: query_file(a, a.tmp, am, ef, queries, None, False)
                 for am in AMS}
        times = {am: [] for am in AMS}
        rec = {}
        for _ in range(a.passes):
            for am in AMS:  # interleaved
                t0 = time.time()
                out = pg.file(files[am])
                times[am].append(time.time() - t0)
                rec[am] = recall(out.splitlines(), truth)
        for am in AMS:
            qps = len(queries) / statistics.median(times[am])
            res[(am, ef)] = (rec[am][0], qps)
            print("pg_bench search am=%s ef=%d recall10=%.4f qps=%.1f "
                  "passes=%s" % (am, ef, rec[am][0], qps,
                                 ",".join("%.3f" % t for t in times[am])))
        sys.stdout.flush()

    # several sessions at once: the queries split over --sessions psql
    # processes started together; QPS = all queries / wall time
    ef = a.concurrent_ef
    times = {am: [] for am in AMS}
    for _ in range(a.passes):
        for am in AMS:
            parts = [queries[i::a.sessions] for i in range(a.sessions)]
            files = []
            for i, part in enumerate(parts):
                path = query_file(a, a.tmp, am, ef, part, None, False)
                os.rename(path, path + ".%d" % i)
                files.append(path + ".%d" % i)
            t0 = time.time()
            procs = [subprocess.Popen(pg.base + ["-f", f],
                                      stdout=subprocess.DEVNULL)
                     for f in files]
            for pr in procs:
                if pr.wait() != 0:
                    sys.exit("a concurrent session failed")
            times[am].append(time.time() - t0)
    for am in AMS:
        print("pg_bench concurrent am=%s sessions=%d ef=%d qps=%.1f "
              "passes=%s" % (am, a.sessions, ef,
                             len(queries) / statistics.median(times[am]),
                             ",".join("%.3f" % t for t in times[am])))
    sys.stdout.flush()

    # filtered: exact truth by a sequential scan, then both indexes
    fq = queries[:a.filtered_queries]
    for pct in (1, 10, 50):
        where = "bucket < %d" % pct
        ex = os.path.join(a.tmp, "exact_%d.sql" % pct)
        with open(ex, "w") as f:
            f.write("SET enable_indexscan = off;\n")
            for q in fq:
                f.write("SELECT string_agg(id::text, ',') FROM (SELECT id FROM "
                        "t_vexhnsw WHERE %s ORDER BY emb <=> '%s' LIMIT 10) s;\n"
                        % (where, vtext(q)))
        gt = [[int(x) for x in l.split(",")] for l in pg.file(ex).splitlines()]
        for am in AMS:
            for iterative in ((False, True) if am == "pgvector" else (False,)):
                path = query_file(a, a.tmp, am, 40, fq, where, iterative)
                ts = []
                for _ in range(a.passes):
                    t0 = time.time()
                    out = pg.file(path)
                    ts.append(time.time() - t0)
                r, rows = recall(out.splitlines(), gt)
                label = am + ("_iterative" if iterative else "")
                print("pg_bench filtered am=%s selectivity=%d%% ef=40 "
                      "recall10=%.4f rows_per_query=%.2f qps=%.1f" %
                      (label, pct, r, rows, len(fq) / statistics.median(ts)))
                sys.stdout.flush()

    print("\nsummary (m=%d, ef_construction=%d, %d queries, median of %d "
          "interleaved passes)" % (a.m, a.efc, len(queries), a.passes))
    for am in AMS:
        print("  %-11s build %.1f s, index %.1f MB" %
              (am, built[am][0], built[am][1] / 1048576.0))
    for target in (0.95, 0.99):
        line = "  recall@10 >= %.2f:" % target
        for am in AMS:
            ok = [(ef, res[(am, ef)]) for ef in efs if res[(am, ef)][0] >= target]
            if ok:
                ef, (r, q) = ok[0]
                line += "  %s ef=%d recall=%.4f qps=%.0f" % (am, ef, r, q)
            else:
                line += "  %s not reached" % am
        print(line)


if __name__ == "__main__":
    main()
