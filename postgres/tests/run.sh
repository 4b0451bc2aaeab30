#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The PostgreSQL extension's tests on a private cluster:
#   run.sh MODE PG_CONFIG MODULE SRCDIR
# MODE: regress | crash | concurrent | a path to a script (*.sh) sourced
# with the cluster running (functions sql, start, stop; $tmp, $data)
#
# Nothing is installed into the system's PostgreSQL. PostgreSQL finds its
# share and lib directories relative to the running executable (the
# compiled-in bindir -> sharedir/pkglibdir path), so the script mirrors
# pg_config's absolute paths under a temporary root: copies of postgres,
# initdb and pg_ctl (the executable's own location is what counts, so
# they cannot be symlinks), symlinks to every other file of the share and
# lib directories, and the freshly built vexdb.so, vexdb.control and SQL
# script next to them. The cluster lives in the same temporary directory,
# listens only on a Unix socket there, and is stopped and removed on exit.
# initdb refuses to run as root: as root the server runs as the
# `postgres` user (runuser), which owns the temporary directory.
#
# regress:    pg_regress on tests/sql/*.sql against tests/expected/*.out
# crash:      inserts killed by pg_ctl stop -m immediate, restart, check
# concurrent: inserting sessions while others search, then check
# corrupt:    random bytes over the index file, no backend may crash
# churn:      delete/vacuum/insert cycles: the index size settles
set -eu
mode=$1 pg_config=$2 module=$3 src=$4
bindir=$($pg_config --bindir)
sharedir=$($pg_config --sharedir)
pkglibdir=$($pg_config --pkglibdir)
pgxs=$($pg_config --pgxs)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vexpg.XXXXXX")
root=$tmp/root
data=$tmp/data
port=$((20000 + $$ % 20000))

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  if [ -f "$data/postmaster.pid" ]; then
    as_owner "$root$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT INT TERM

mkdir -p "$root$bindir" "$root$sharedir/extension" "$root$pkglibdir"
for b in postgres initdb pg_ctl; do cp "$bindir/$b" "$root$bindir/"; done
for f in "$sharedir"/*; do
  [ "$(basename "$f")" = extension ] || ln -s "$f" "$root$sharedir/"
done
for f in "$sharedir"/extension/*; do ln -s "$f" "$root$sharedir/extension/"; done
for f in "$pkglibdir"/*; do ln -s "$f" "$root$pkglibdir/"; done
rm -f "$root$pkglibdir/vexdb.so" "$root$sharedir/extension/vexdb"*
cp "$module" "$root$pkglibdir/vexdb.so"
cp "$src/vexdb.control" "$src"/sql/vexdb--*.sql "$root$sharedir/extension/"
if [ "$(id -u)" = 0 ]; then chown -R postgres "$tmp"; fi

as_owner "$root$bindir/initdb" -D "$data" -A trust -U vextest --no-sync \
  >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log"; exit 1; }
start() {
  as_owner "$root$bindir/pg_ctl" -D "$data" -l "$tmp/server.log" -w \
    -o "-k $tmp -p $port -c listen_addresses= -c fsync=off -c shared_buffers=64MB" \
    start >/dev/null || { cat "$tmp/server.log"; exit 1; }
}
stop() { as_owner "$root$bindir/pg_ctl" -D "$data" -m "$1" -w stop >/dev/null; }
sql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U vextest -At "$@"; }
start
export VEXPG_TMP="$tmp"
# The module really is the one under the temporary root.
sql -d postgres -c "CREATE EXTENSION vexdb" -c "DROP EXTENSION vexdb"

case $mode in
regress)
  regress=$(dirname "$pgxs")/../test/regress/pg_regress
  tests=$(cd "$src/tests/sql" && ls *.sql | sed 's/\.sql$//')
  mkdir -p "$tmp/out"
  sql -d postgres -c "CREATE DATABASE vexdb_regress"
  if ! "$regress" --inputdir="$src/tests" --outputdir="$tmp/out" \
      --bindir="$bindir" --host="$tmp" --port="$port" --user=vextest \
      --use-existing --dbname=vexdb_regress $tests; then
    cat "$tmp/out/regression.diffs" 2>/dev/null || true
    exit 1
  fi
  ;;
crash|concurrent|corrupt|scale|churn)
  . "$src/tests/$mode.sh"
  ;;
*.sh)
  # any other script with the same cluster (the benchmark uses this)
  . "$mode"
  ;;
*)
  echo "unknown mode $mode" >&2; exit 2 ;;
esac
