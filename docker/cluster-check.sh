#!/bin/sh
# cluster-check.sh NODE...: checks a running Ember cluster from outside, with the ember CLI
# only (as a CI job would): every node answers, every node sees all the others, a call
# crosses nodes, a global name registered through the first node is seen by all of them
# and goes when unregistered, and `ember bench` (ping, echo, a burst) passes on each node. Prints one line per check; exits 0, or 1 at the first
# check that does not hold before its deadline. The cookie comes from EMBER_COOKIE.
#
# Run by docker/compose.yml's `tests` service and by tests/docker/netns_cluster_test.sh.
set -u
EMBER=${EMBER:-ember}
WAIT=${CHECK_SECONDS:-60}

if [ "$#" -lt 2 ]; then
  echo "usage: cluster-check.sh NODE NODE [NODE...]   (EMBER_COOKIE must be set)" >&2
  exit 2
fi
first=$1
last=$(for n in "$@"; do :; done; echo "$n")

ok() { echo "cluster-check: ok: $*"; }
fail() {
  echo "cluster-check: FAIL: $*" >&2
  exit 1
}

# eventually SECONDS CMD...: CMD until it succeeds, for at most SECONDS.
eventually() {
  limit=$(($(date +%s) + $1))
  shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$limit" ] && return 1
    sleep 0.2
  done
}

answers() { [ "$("$EMBER" --node "$1" ping)" = pong ]; }
sees_all() {
  seen=$("$EMBER" --node "$1" nodes) || return 1
  for other in $ALL; do
    [ "$other" = "$1" ] && continue
    echo "$seen" | grep -qxF "$other" || return 1
  done
}
holds() { "$EMBER" --node "$1" registry --global | grep -qF "$2"; }
lacks() { ! holds "$1" "$2"; }

ALL="$*"
for n in $ALL; do
  eventually "$WAIT" answers "$n" || fail "$n does not answer ember ping"
done
ok "every node answers ping ($#)"

for n in $ALL; do
  eventually "$WAIT" sees_all "$n" || fail "$n does not see all of: $ALL ($("$EMBER" --node "$n" nodes 2>&1 | tr '\n' ' '))"
done
ok "every node is connected to the $(($# - 1)) others"

reply=$("$EMBER" --node "$first" call "echo@$last" '{echo, <<"cluster-check">>}' --timeout 5000) ||
  fail "call from $first to echo on $last failed: $reply"
[ "$reply" = '{ok,<<"cluster-check">>}' ] || fail "echo on $last answered $reply"
ok "a call from $first reaches echo on $last and comes back"

name=cluster_check_$$
pid=$("$EMBER" --node "$first" spawn "$last" sleeper '[]') || fail "spawn of a sleeper on $last: $pid"
"$EMBER" --node "$first" global register "$name" "$pid" >/dev/null ||
  fail "global register $name through $first"
for n in $ALL; do
  eventually "$WAIT" holds "$n" "$name" || fail "$n does not list the global name $name"
done
ok "the global name $name (a process on $last) is seen by every node"

"$EMBER" --node "$first" global unregister "$name" >/dev/null || fail "global unregister $name"
for n in $ALL; do
  eventually "$WAIT" lacks "$n" "$name" || fail "$n still lists $name"
done
"$EMBER" --node "$first" kill "$pid" >/dev/null 2>&1
ok "unregistered, it is gone from every node"
# ember bench: ping, echo round trips and a burst of messages on every node.
out=$("$EMBER" --node "$first" bench --seconds 0.5 --calls 50 2>&1) || fail "ember bench: $out"
echo "$out" | sed -n 's/^summary: /cluster-check: ok: ember bench: /p'
echo "cluster-check: all checks passed"
