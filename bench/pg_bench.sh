#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# vexhnsw against pgvector's HNSW in one private PostgreSQL cluster
# (BENCHMARKS.md, "PostgreSQL extension"):
#   bench/pg_bench.sh BUILD_DIR PGVECTOR_SRC DATA_DIR [pg_bench.py options]
# BUILD_DIR: a CMake build of this tree with the extension built
# (target vexdb_pg); PGVECTOR_SRC: an unpacked pgvector source release
# (never vendored here), built by this script with PGXS into a temporary
# copy; DATA_DIR: e.g. /work/shared/data/glove-100-angular-100k. The
# cluster comes from postgres/tests/run.sh (a relocated server copy in a
# temporary directory, nothing installed into the system); pgvector's
# module and scripts are copied next to vexdb's there.
# PG_BENCH_SHARED_BUFFERS (default 1GB) sets the server's shared_buffers.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd) pgv_src=$(cd "$2" && pwd) data=$(cd "$3" && pwd)
shift 3
pg_config=${PG_CONFIG:-pg_config}
work=$(mktemp -d "${TMPDIR:-/tmp}/pgvector.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$pgv_src/." "$work/"
# with_llvm=no: no JIT bitcode (needs clang); the module is the same
nice make -s -C "$work" with_llvm=no PG_CONFIG="$pg_config" >/dev/null
cat > "$work/cluster.sh" <<EOS
cp "$work/vector.so" "\$root\$pkglibdir/"
cp "$work/vector.control" "$work"/sql/vector--*.sql "\$root\$sharedir/extension/"
[ "\$(id -u)" = 0 ] && chown -R postgres "\$root"
bdir=\$(mktemp -d "\$tmp/bench.XXXXXX")
[ "\$(id -u)" = 0 ] && chown postgres "\$bdir"
stop fast
as_owner "\$root\$bindir/pg_ctl" -D "\$data" -l "\$tmp/server.log" -w \
  -o "-k \$tmp -p \$port -c listen_addresses= -c shared_buffers=${PG_BENCH_SHARED_BUFFERS:-1GB} -c max_parallel_maintenance_workers=1" \
  start >/dev/null
nice /usr/bin/python3 "$here/pg_bench.py" --psql "\$bindir/psql" --host "\$tmp" \
  --port "\$port" --data "$data" --tmp "\$bdir" $*
EOS
nice sh "$here/../postgres/tests/run.sh" "$work/cluster.sh" "$pg_config" \
  "$build/postgres/vexdb.so" "$here/../postgres"
