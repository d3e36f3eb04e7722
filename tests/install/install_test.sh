#!/usr/bin/env bash
# `cmake --install` of BUILD_DIR into a fresh prefix, then a separate project
# (tests/install/consumer) that does find_package(Ember) and links Ember::ember is
# configured, built and run against it; the installed ember-node and ember must run too.
set -euo pipefail
build=$(cd "${1:?usage: install_test.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" ||
  fail "cmake --install: $(tail -5 "$work/install.log")"
for f in bin/ember-node bin/ember include/ember/ember.hpp include/wire.capnp.h \
  lib/cmake/Ember/EmberConfig.cmake lib/libember_node.a; do
  [ -e "$work/prefix/$f" ] || fail "not installed: $f"
done
[ ! -e "$work/prefix/include/ember/testing.hpp" ] || fail "the test harness header was installed"
"$work/prefix/bin/ember" version | grep -q '^ember ' || fail "the installed ember does not run"
"$work/prefix/bin/ember-node" --help | grep -q 'ember-node' || fail "the installed ember-node does not run"

cmake -S "$here/consumer" -B "$work/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/configure.log" 2>&1 ||
  fail "configuring the consumer: $(tail -20 "$work/configure.log")"
cmake --build "$work/consumer" >"$work/build.log" 2>&1 ||
  fail "building the consumer: $(tail -30 "$work/build.log")"
out=$("$work/consumer/consumer") || fail "the consumer failed: $out"
echo "$out"
[ "$out" = 'consumer got {pong,<<"hello">>}' ] || fail "unexpected output: $out"
echo "install: ok"
