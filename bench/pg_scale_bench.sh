#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Scale-out on PostgreSQL, 1 shard against 3 (BENCHMARKS.md, "Scale-out on
# PostgreSQL"): bench/pg_scale_bench.sh BUILD_DIR
# A coordinator and three shard servers from postgres/tests/run.sh (a
# relocated server copy in a temporary directory, Unix sockets), seeded
# rows (BENCH_ROWS, BENCH_DIM, BENCH_QUERIES, BENCH_EF, BENCH_PASSES,
# BENCH_SECONDS) in a local table, a one-shard and a three-shard table.
# Passes interleave the configurations; the summary is the median over
# passes of each pass's p50/p99 latency (one session, server-side clock)
# and of the 4-session pgbench throughput. All servers share this
# machine's cores: the three-shard figures show the fan-out's overhead
# and its overlap, not a three-machine speed-up.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
pg_config=${PG_CONFIG:-pg_config}
out=$(mktemp "${TMPDIR:-/tmp}/pgscale.XXXXXX")
trap 'rm -f "$out"' EXIT
nice sh "$here/../postgres/tests/run.sh" "$here/pg_scale_cluster.sh" "$pg_config" \
  "$build/postgres/vexdb.so" "$here/../postgres" | tee "$out"
echo "# median over passes"
grep '^result ' "$out" | awk '
  { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    c = f["config"]; if (!(c in n)) order[++nc] = c
    n[c]++; p50[c, n[c]] = f["p50_ms"]; p99[c, n[c]] = f["p99_ms"]; q[c, n[c]] = f["qps4"] }
  function med(a, c, k,   i, j, t, v) {
    for (i = 1; i <= k; i++) v[i] = a[c, i]
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }
  END { printf "%-18s %8s %8s %8s %10s\n", "config", "p50_ms", "p99_ms", "qps4", "p50/local"
        for (i = 1; i <= nc; i++) { c = order[i]
          if (i == 1) base = med(p50, c, n[c])
          printf "%-18s %8.3f %8.3f %8.1f %10.2f\n", c, med(p50, c, n[c]), med(p99, c, n[c]), med(q, c, n[c]), med(p50, c, n[c]) / base } }'
