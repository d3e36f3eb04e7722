#!/usr/bin/env bash
# make demo: three ember-node daemons on loopback and a scripted tour across them.
#
#   scripts/demo.sh [BUILD_DIR]      (default: build; needs node/ember-node and
#                                     examples/ember-demo there)
#
# This script owns the daemons: it starts a, b and c on free ports of 127.0.0.1 (b and c
# join a) with a fresh random cookie and their logs in a temporary directory, runs
# ember-demo as a coprocess, and does what the tour asks of it: `@kill NODE` (kill -9) and
# `@restart NODE` (the same name, port and flags again). Whatever happens, the EXIT trap
# stops every node it started (SIGTERM, then SIGKILL past a deadline) and removes the
# directory; after a failure it keeps the logs and says where they are.
# Exit status: ember-demo's (0: every step happened as it should), else non-zero.
set -euo pipefail

BUILD_DIR=${1:-build}
NODE_BIN=$BUILD_DIR/node/ember-node
DEMO_BIN=$BUILD_DIR/examples/ember-demo
HOST=127.0.0.1
READY_SECONDS=30  # a loaded machine is slow to start a process, never this slow
STOP_SECONDS=10

for bin in "$NODE_BIN" "$DEMO_BIN"; do
  [[ -x $bin ]] || { echo "demo: $bin is missing (build it first: make demo)" >&2; exit 2; }
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/ember-demo.XXXXXX")
EMBER_COOKIE=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export EMBER_COOKIE
export EMBER_PARENT_PID=$$  # a daemon whose parent (this script) is gone stops itself
declare -A PID NAME
status=1

fail() {
  echo "demo: $*" >&2
  exit 1
}

# Running and not yet a zombie (kill -0 succeeds on a zombie too).
alive() {
  local state=""
  [[ -r /proc/$1/stat ]] && read -r _ _ state _ <"/proc/$1/stat" 2>/dev/null
  [[ -n $state && $state != Z ]]
}

# The node's stderr tail, for a failure message.
log_tail() { tail -n 20 "$DIR/$1.log" 2>/dev/null | sed 's/^/    /' >&2 || true; }

# start_node SHORT NAME [JOIN]: starts ember-node and waits (under a deadline) for its
# ready line, which names it with its real port (NAME may say port 0: any free one).
start_node() {
  local n=$1 name=$2 join=${3:-}
  local args=(--name "$name" --schedulers 1)
  [[ -n $join ]] && args+=(--join "$join")
  : >"$DIR/$n.out"
  "$NODE_BIN" "${args[@]}" >"$DIR/$n.out" 2>>"$DIR/$n.log" &
  PID[$n]=$!
  local deadline=$((SECONDS + READY_SECONDS))
  until grep -q '^ember-node ready ' "$DIR/$n.out"; do
    if ! alive "${PID[$n]}"; then
      log_tail "$n"
      fail "ember-node $n exited before it was ready (log above: $DIR/$n.log)"
    fi
    ((SECONDS < deadline)) || { log_tail "$n"; fail "ember-node $n not ready in ${READY_SECONDS} s"; }
    sleep 0.01  # polls the ready line; the deadline bounds the wait
  done
  NAME[$n]=$(sed -n 's/^ember-node ready //p' "$DIR/$n.out")
}

# stop_all: SIGTERM to every node still running, SIGKILL to any still there past
# STOP_SECONDS, each reaped; a node that does not exit 0 on SIGTERM fails the demo.
stop_all() {
  local n rc
  for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null || true; done
  local deadline=$((SECONDS + STOP_SECONDS))
  for n in "${!PID[@]}"; do
    while alive "${PID[$n]}" && ((SECONDS < deadline)); do sleep 0.01; done
    if alive "${PID[$n]}"; then
      kill -KILL "${PID[$n]}" 2>/dev/null || true
      echo "demo: ember-node $n did not stop on SIGTERM within ${STOP_SECONDS} s; killed" >&2
    fi
    rc=0
    wait "${PID[$n]}" 2>/dev/null || rc=$?
    ((rc == 0)) || { echo "demo: ember-node $n exited with status $rc" >&2; ((status != 0)) || status=1; }
  done
  PID=()
}

cleanup() {
  local rc=$?
  ((rc == 0)) || status=$rc
  trap - EXIT INT TERM
  if [[ -n ${TOUR_OS_PID:-} ]] && alive "$TOUR_OS_PID"; then kill -KILL "$TOUR_OS_PID" || true; fi
  stop_all
  if ((status == 0)); then
    rm -rf "$DIR"
    echo "demo: stopped a, b and c; nothing is left running"
  else
    echo "demo: stopped every node it started; their logs are in $DIR" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "demo: starting ember-node a, b and c on $HOST (fresh cookie, logs in $DIR)"
start_node a "a@$HOST:0"
start_node b "b@$HOST:0" "${NAME[a]}"
start_node c "c@$HOST:0" "${NAME[a]}"

# The tour, printed line by line as it comes; @kill and @restart lines are its requests.
coproc TOUR { exec "$DEMO_BIN" "${NAME[a]}" "${NAME[b]}" "${NAME[c]}"; }
TOUR_OS_PID=$TOUR_PID
# Copies of the pipes: bash drops the coproc's own variables once it exits.
exec {from_tour}<&"${TOUR[0]}" {to_tour}>&"${TOUR[1]}"
while IFS= read -r line <&"$from_tour"; do
  case $line in
    "@kill ${NAME[c]}")
      kill -KILL "${PID[c]}"
      wait "${PID[c]}" 2>/dev/null || true  # reaped: the kernel has closed its sockets
      unset 'PID[c]'
      echo ok >&"$to_tour"
      ;;
    "@restart ${NAME[c]}")
      start_node c "${NAME[c]}" "${NAME[a]}"  # the same name, hence the same port
      echo ok >&"$to_tour"
      ;;
    @*) echo "unknown request" >&"$to_tour" ;;
    *) echo "$line" ;;
  esac
done
status=0
wait "$TOUR_OS_PID" || status=$?
exit "$status"
