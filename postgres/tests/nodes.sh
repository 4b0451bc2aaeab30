# SPDX-License-Identifier: Apache-2.0
# Sourced by scale.sh and bench/pg_scale_cluster.sh inside run.sh: starts
# the servers $nodes (node1, node2, ...) next to run.sh's cluster, in the
# same temporary directory, on Unix sockets at ports $port + N, each with a
# database `shard`; they are stopped on exit. node_start/node_stop N.
: "${nodes:=1 2 3}"
node_port() { echo $((port + $1)); }
# VEXPG_NETNS=1 (root only): each server in its own network namespace
# (ip netns), reached by the coordinator over a veth pair at 10.X.N.2 with
# VEXPG_NETNS_DELAY_MS (default 5) of netem delay on the way there, so
# every round trip to a shard costs that much, as between machines (when
# the kernel has sch_netem; otherwise without delay, and $netem is 0). The
# Unix sockets in $tmp stay (a socket file is not namespaced), for the
# test's own psql. Otherwise the coordinator uses the Unix sockets.
netns=${VEXPG_NETNS:-0}
net=$((200 + $$ % 50))
# the delay actually set (0 when the kernel has no sch_netem)
netem=${VEXPG_NETNS_DELAY_MS:-5}
if [ "$netns" = 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "VEXPG_NETNS=1 needs root (ip netns)"; exit 1; }
  command -v ip >/dev/null || { echo "VEXPG_NETNS=1 needs iproute2's ip"; exit 1; }
fi
node_ns() { echo "vexpg$1_$$"; }
# the address the coordinator's foreign servers use
node_host() { if [ "$netns" = 1 ]; then echo "10.$net.$1.2"; else echo "$tmp"; fi; }
# the command that starts server N (also used from psql's \!)
node_start_cmd() {
  if [ "$netns" = 1 ]; then
    pre="ip netns exec $(node_ns "$1") runuser -u postgres --"
    listen="10.$net.$1.2"
  elif [ "$(id -u)" = 0 ]; then
    pre="runuser -u postgres --"
    listen=""
  else
    pre=""
    listen=""
  fi
  echo "$pre $root$bindir/pg_ctl -D $tmp/node$1 -l $tmp/node$1.log -w -o \"-k $tmp -p $(node_port "$1") -c listen_addresses='$listen' -c fsync=off -c shared_buffers=${node_shared_buffers:-32MB}\""
}
node_start() {
  eval "$(node_start_cmd "$1") start" >/dev/null || { cat "$tmp/node$1.log"; exit 1; }
}
node_stop() {
  as_owner "$root$bindir/pg_ctl" -D "$tmp/node$1" -m fast -w stop >/dev/null
}
scale_cleanup() {
  for n in $nodes; do
    if [ -f "$tmp/node$n/postmaster.pid" ]; then
      as_owner "$root$bindir/pg_ctl" -D "$tmp/node$n" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ "$netns" = 1 ]; then ip netns del "$(node_ns "$n")" 2>/dev/null || true; fi
  done
  cleanup
}
trap scale_cleanup EXIT INT TERM
for n in $nodes; do
  as_owner "$root$bindir/initdb" -D "$tmp/node$n" -A trust -U vextest --no-sync \
    >"$tmp/initdb$n.log" 2>&1 || { cat "$tmp/initdb$n.log"; exit 1; }
  if [ "$netns" = 1 ]; then
    ns=$(node_ns "$n") h="vxh${n}_$$" g="vxg${n}_$$"
    ip netns add "$ns" && ip link add "$h" type veth peer name "$g" &&
      ip link set "$g" netns "$ns" && ip addr add "10.$net.$n.1/24" dev "$h" &&
      ip link set "$h" up && ip netns exec "$ns" ip link set lo up &&
      ip netns exec "$ns" ip addr add "10.$net.$n.2/24" dev "$g" &&
      ip netns exec "$ns" ip link set "$g" up ||
      { echo "could not set up network namespace $ns"; exit 1; }
    if [ "$netem" != 0 ] && ! tc qdisc add dev "$h" root netem delay "${netem}ms" 2>"$tmp/tc.err"; then
      echo "  no netem delay (tc: $(cat "$tmp/tc.err")): the namespaces' links are as fast as loopback"
      netem=0
    fi
    echo "host all all 10.$net.0.0/16 trust" >> "$tmp/node$n/pg_hba.conf"
  fi
  node_start "$n"
  sql -p "$(node_port "$n")" -d postgres -c "CREATE DATABASE shard"
done
