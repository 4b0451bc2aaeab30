# SPDX-License-Identifier: Apache-2.0
# Sourced by scale.sh and bench/pg_scale_cluster.sh inside run.sh: starts
# the servers $nodes (node1, node2, ...) next to run.sh's cluster, in the
# same temporary directory, on Unix sockets at ports $port + N, each with a
# database `shard`; they are stopped on exit. node_start/node_stop N.
: "${nodes:=1 2 3}"
node_port() { echo $((port + $1)); }
node_start() {
  as_owner "$root$bindir/pg_ctl" -D "$tmp/node$1" -l "$tmp/node$1.log" -w \
    -o "-k $tmp -p $(node_port "$1") -c listen_addresses= -c fsync=off -c shared_buffers=${node_shared_buffers:-32MB}" \
    start >/dev/null || { cat "$tmp/node$1.log"; exit 1; }
}
node_stop() {
  as_owner "$root$bindir/pg_ctl" -D "$tmp/node$1" -m fast -w stop >/dev/null
}
scale_cleanup() {
  for n in $nodes; do
    if [ -f "$tmp/node$n/postmaster.pid" ]; then
      as_owner "$root$bindir/pg_ctl" -D "$tmp/node$n" -m immediate stop >/dev/null 2>&1 || true
    fi
  done
  cleanup
}
trap scale_cleanup EXIT INT TERM
for n in $nodes; do
  as_owner "$root$bindir/initdb" -D "$tmp/node$n" -A trust -U vextest --no-sync \
    >"$tmp/initdb$n.log" 2>&1 || { cat "$tmp/initdb$n.log"; exit 1; }
  node_start "$n"
  sql -p "$(node_port "$n")" -d postgres -c "CREATE DATABASE shard"
done
