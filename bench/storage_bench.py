#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""storage_bench.py - run build/bench/bench_storage (issue 4) and print tables.

Runs, in one go: the fsync probe; --repeat rounds of the single-insert
ingest sweep (VexDB FLAT and HNSW x GROUP/FULL/NONE x 1/2/8 writers)
each followed by the SQLite peer (WAL, synchronous FULL and NORMAL); one
round of batched ingest (--batch rows per commit, FLAT and SQLite); WAL
replay; open time; the fsync probe again. Every JSON line goes to --out;
the tables (medians over the rounds) go to stdout as Markdown.

usage: /usr/bin/python3 bench/storage_bench.py [--dir DIR] [--repeat 3]
       [--seconds 3] [--batch 100] [--out FILE] [--quick]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "..", "build", "bench", "bench_storage")


def run(args, out):
    cmd = [BIN] + args
    print("$ " + " ".join(cmd[1:]), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    for r in rows:
        out.write(json.dumps(r) + "\n")
    out.flush()
    return rows


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def fmt(x, nd=0):
    return f"{x:,.{nd}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/vexdb-storagebench")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", default="3")
    ap.add_argument("--batch", default="100")
    ap.add_argument("--out", default="/tmp/vexdb-storagebench.jsonl")
    ap.add_argument("--tables-from", metavar="JSONL",
                    help="only print the tables of an earlier run's --out")
    ap.add_argument("--quick", action="store_true",
                    help="1 round of 1 s, small replay/open sizes")
    a = ap.parse_args()
    common = ["--dir", a.dir]
    secs = "1" if a.quick else a.seconds
    rounds = 1 if a.quick else a.repeat
    allrows = []
    df = ""
    if a.tables_from:
        allrows = [json.loads(l) for l in open(a.tables_from)]
    else:
        df = measure(a, common, secs, rounds, allrows)
    tables(a, allrows, df)


def measure(a, common, secs, rounds, allrows):
    with open(a.out, "w") as out:
        df = subprocess.run(["df", "-hT", a.dir], stdout=subprocess.PIPE,
                            text=True).stdout
        print(df, file=sys.stderr)
        allrows += run(common + ["fsync"], out)
        for _ in range(rounds):
            allrows += run(common + ["--seconds", secs, "ingest", "sqlite"],
                           out)
        allrows += run(common + ["--seconds", secs, "--batch", a.batch,
                                 "--kinds", "flat", "ingest", "sqlite"], out)
        if a.quick:
            allrows += run(common + ["--replay-n", "50000", "--replay-hnsw-n",
                                     "10000", "replay"], out)
            allrows += run(common + ["--open-sizes", "100000,300000",
                                     "--open-hnsw-n", "20000", "--reps", "5",
                                     "open"], out)
        else:
            allrows += run(common + ["--replay-hnsw-n", "30000", "replay"],
                           out)
            allrows += run(common + ["open"], out)
        allrows += run(common + ["fsync"], out)
    return df


def tables(a, allrows, df):
    fs = next((r["fs"] for r in allrows if "fs" in r), "?")
    print(f"Filesystem under {a.dir}: {fs}\n")
    if df:
        print("```\n" + df.strip() + "\n```\n")

    print("fsync probe (pwrite 512 B + fdatasync, one thread, 2 s each):\n")
    print("| write | syncs/s | p50 µs | p99 µs | p99.9 µs | max µs |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in allrows:
        if r["bench"] == "storage_fsync_probe":
            print(f"| {r['write']} | {fmt(r['syncs_per_s'])} | {r['p50_us']:.0f}"
                  f" | {r['p99_us']:.0f} | {r['p999_us']:.0f} |"
                  f" {r['max_us']:.0f} |")

    ing = [r for r in allrows if r["bench"] == "storage_ingest"
           and "skipped" not in r]
    groups = {}
    for r in ing:
        k = (r["engine"], r["kind"], r["mode"], r["batch"], r["threads"])
        groups.setdefault(k, []).append(r)
    peer = {}
    for k, rs in groups.items():
        if k[0] == "sqlite":
            peer[(k[2], k[3], k[4])] = rs
    for batch in sorted({k[3] for k in groups}):
        print(f"\nIngest, {batch} row(s) per commit, 128-d float32, median of "
              f"{max(len(v) for k, v in groups.items() if k[3] == batch)} "
              "round(s); latency = one call's acknowledgement (µs):\n")
        print("| engine | index | durability | writers | rows/s | p50 | p99 |"
              " p99.9 | max | rows/s vs SQLite | p99 vs SQLite |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for k in sorted(groups, key=lambda k: (k[0] != "vexdb", k[1], k[2],
                                               k[4])):
            if k[3] != batch:
                continue
            rs = groups[k]
            ratio = ""
            if k[0] == "vexdb":
                pm = "wal+sync_normal" if k[2] == "none" else "wal+sync_full"
                p = peer.get((pm, batch, k[4]))
                if p:
                    ratio = (f"{med(rs, 'rows_per_s') / med(p, 'rows_per_s'):.1f}"
                             f" | {med(rs, 'p99_us') / med(p, 'p99_us'):.2f}")
            if not ratio:
                ratio = " | "
            print(f"| {k[0]} | {k[1]} | {k[2]} | {k[4]} |"
                  f" {fmt(med(rs, 'rows_per_s'))} | {med(rs, 'p50_us'):.0f} |"
                  f" {med(rs, 'p99_us'):.0f} | {med(rs, 'p999_us'):.0f} |"
                  f" {med(rs, 'max_us'):.0f} | {ratio} |")
    print("\n(ratios: VexDB GROUP/FULL against SQLite synchronous=FULL, NONE "
          "against synchronous=NORMAL, same writer count)")

    print("\nWAL replay (vex_db_open + vex_collection_open of a log, median "
          "of 3):\n")
    print("| index | rows | rows per log record | log MB | open ms |"
          " rows/s | log MB/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in allrows:
        if r["bench"] == "storage_replay":
            print(f"| {r['kind']} | {fmt(r['rows'])} | {r['rows_per_record']} |"
                  f" {r['log_bytes'] / 1e6:.1f} | {r['open_ms_median']:.1f} |"
                  f" {fmt(r['rows_per_s'])} | {r['log_mb_per_s']:.0f} |")

    print("\nOpen of flushed segments (fresh process per repetition, page "
          "cache warm):\n")
    print("| index | rows | segments | log file MiB | log left MB | open ms"
          " best | median | max | first search ms | search ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in allrows:
        if r["bench"] == "storage_open":
            print(f"| {r['kind']} | {fmt(r['rows'])} | {r['segments']} |"
                  f" {r['wal_file_mb']} | {r['log_bytes'] / 1e6:.1f} |"
                  f" {r['open_ms_best']:.2f} | {r['open_ms_median']:.2f} |"
                  f" {r['open_ms_max']:.2f} |"
                  f" {r['first_search_ms_median']:.1f} |"
                  f" {r['search_ms_median']:.3f} |")


if __name__ == "__main__":
    main()
