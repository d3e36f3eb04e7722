#!/usr/bin/env bash
# The topology of docker/compose.yml without Docker: three network namespaces (node1..3)
# and a fourth for the CLI (tests), each with its own address on one bridge (in a fifth
# namespace, so that nothing touches the host's network), /etc/hosts naming the nodes as
# Compose's DNS would, and one ember-node per namespace with exactly the compose file's
# EMBER_* variables. Then:
#   1. docker/cluster-check.sh from the CLI namespace, as the compose `tests` service runs;
#   2. a real partition: node3's cable down (ip link set ... down); node1 and node2 declare
#      it down within the tick bound and keep each other, node3 sees nobody;
#   3. the cable up again: node3 rejoins by itself (EMBER_REJOIN), and the check passes again.
# Root only (network namespaces); otherwise it says why and exits 77, which ctest counts as
# skipped.
#
#   tests/docker/netns_cluster_test.sh BUILD_DIR
set -euo pipefail

build=${1:?usage: netns_cluster_test.sh BUILD_DIR}
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
check="$here/../../docker/cluster-check.sh"
node_bin="$build/node/ember-node"
ember_bin="$build/tools/ember"

skip() {
  echo "SKIPPED: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null || skip "needs iproute2 (ip)"
ip netns add "emb$$probe" 2>/dev/null || skip "cannot create network namespaces here"
ip netns del "emb$$probe"

tag=e$$  # namespace and interface names stay unique and under 15 characters
hub=${tag}hub
cli=${tag}cli
subnet=10.$((($$ % 200) + 20)).$(((($$ / 200) % 250) + 1))
cookie=netns-test-$RANDOM$RANDOM
logs=$(mktemp -d)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for ns in ${tag}n1 ${tag}n2 ${tag}n3 "$cli" "$hub"; do
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  rm -rf "$logs"
}
trap cleanup EXIT

say() { echo "netns: $*"; }
fail() {
  echo "netns: FAIL: $*" >&2
  for f in "$logs"/*.log; do
    echo "--- $f" >&2
    tail -20 "$f" >&2
  done
  exit 1
}

ip netns add "$hub"
ip -n "$hub" link add br0 type bridge
ip -n "$hub" link set br0 up

# attach NS INDEX: a veth pair from namespace NS to the hub's bridge, NS gets SUBNET.INDEX.
attach() {
  local ns=$1 i=$2
  ip netns add "$ns"
  ip link add "${tag}v$i" type veth peer name "${tag}p$i"
  ip link set "${tag}v$i" netns "$ns"
  ip link set "${tag}p$i" netns "$hub"
  ip -n "$hub" link set "${tag}p$i" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$subnet.$i/24" dev "${tag}v$i"
  ip -n "$ns" link set "${tag}v$i" up
  # `ip netns exec` mounts /etc/netns/NS/hosts over /etc/hosts: Compose's service names.
  mkdir -p "/etc/netns/$ns"
  {
    echo "127.0.0.1 localhost"
    for k in 1 2 3; do echo "$subnet.$k node$k"; done
  } >"/etc/netns/$ns/hosts"
}
for i in 1 2 3; do attach "${tag}n$i" "$i"; done
attach "$cli" 9

# start_node I: ember-node in namespace I, with docker/compose.yml's environment for nodeI.
start_node() {
  local i=$1 join="" k
  for k in 1 2 3; do
    [ "$k" = "$i" ] && continue
    join+="${join:+,}ember@node$k:437$k"
  done
  ip netns exec "${tag}n$i" env -i PATH="$PATH" HOME="$logs" \
    EMBER_COOKIE="$cookie" EMBER_REJOIN=1 EMBER_TICKTIME=3 \
    EMBER_NAME="ember@node$i:437$i" EMBER_LISTEN="0.0.0.0:437$i" \
    EMBER_NODE="ember@node$i:437$i" EMBER_JOIN="$join" EMBER_METRICS_PORT="910$i" \
    "$node_bin" >"$logs/node$i.out" 2>"$logs/node$i.log" &
  pids+=($!)
}
for i in 1 2 3; do start_node "$i"; done
say "three ember-nodes started in their own namespaces on $subnet.0/24"

nodes=(ember@node1:4371 ember@node2:4372 ember@node3:4373)
in_cli() { ip netns exec "$cli" env EMBER_COOKIE="$cookie" EMBER="$ember_bin" "$@"; }
nodes_of() { in_cli "$ember_bin" --node "$1" nodes 2>/dev/null | sort | tr '\n' ' '; }

# eventually SECONDS CMD...
eventually() {
  local limit=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -ge "$limit" ] && return 1
    sleep 0.2
  done
}

in_cli sh "$check" "${nodes[@]}" || fail "the cluster check failed on the formed cluster"

# The metrics endpoint of each node (EMBER_METRICS_PORT), scraped across the bridge: /health
# answers ok and /metrics counts the two other nodes.
scrape() {
  in_cli python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode(), end="")' "$1" 2>/dev/null
}
counts_two() { scrape "$1" | grep -qx 'ember_connected_nodes 2'; }
for i in 1 2 3; do
  [ "$(scrape "http://node$i:910$i/health")" = "ok" ] || fail "node$i's /health did not answer ok"
  eventually 10 counts_two "http://node$i:910$i/metrics" ||
    fail "node$i's /metrics does not count two connected nodes"
done
say "each node's metrics endpoint answers /health and counts its two peers in /metrics"

# node3 sees nobody; node1 and node2 see only each other.
split() {
  [ "$(nodes_of "${nodes[0]}")" = "${nodes[1]} " ] &&
    [ "$(nodes_of "${nodes[1]}")" = "${nodes[0]} " ] &&
    [ -z "$(ip netns exec "${tag}n3" env EMBER_COOKIE="$cookie" \
      "$ember_bin" --node "${nodes[2]}" nodes 2>/dev/null)" ]
}
start=$SECONDS
ip -n "$hub" link set "${tag}p3" down
eventually 30 split || fail "no partition seen: node1 sees [$(nodes_of "${nodes[0]}")], node2 [$(nodes_of "${nodes[1]}")]"
say "cable to node3 down: node1 and node2 saw it go after $((SECONDS - start)) s and kept each other"

start=$SECONDS
ip -n "$hub" link set "${tag}p3" up
in_cli sh "$check" "${nodes[@]}" || fail "the cluster did not heal"
say "cable up: node3 rejoined and the check passed again after $((SECONDS - start)) s"
for p in "${pids[@]}"; do kill -0 "$p" || fail "an ember-node died on the way"; done
say "passed"
