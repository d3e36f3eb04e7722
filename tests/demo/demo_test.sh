#!/usr/bin/env bash
# ctest "demo: make demo's tour": runs scripts/demo.sh against a build directory, as
# `make demo` does, and checks its exit status and the lines every run must print (the
# figures in them vary from run to run, the words do not).
#   tests/demo/demo_test.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
source_dir=$1
build_dir=$2
out=$(mktemp "${TMPDIR:-/tmp}/ember-demo-test.XXXXXX")
trap 'rm -f "$out"' EXIT

"$source_dir/scripts/demo.sh" "$build_dir" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if ((rc != 0)); then
  echo "demo_test: scripts/demo.sh exited with status $rc" >&2
  exit 1
fi

expected=(
  'ok  a sees \[b, c\], b sees \[a, c\], c sees \[a, b\]'
  "ok  b's echo answered \{ok,<<\"hello from the demo\">>\}"
  "ok  a process started on a sent to c's echo and got \{ok,<<\"hello from a\">>\}"
  "ok  a's status_collector holds #\{<<\"a@127.0.0.1:[0-9]+\">> => up,<<\"b@127.0.0.1:[0-9]+\">> => up,<<\"c@127.0.0.1:[0-9]+\">> => up\}"
  "ok  b's metric_collector averages [0-9.]+ us, the mean of the three"
  'ok  sent it crash: it died \(\{exception,<<"Intentional crash">>\}.* restarted it as <0\.[0-9]+\.[0-9]+> on b'
  'ok  a health monitor on a looked health_b and health_c up, checked them \(healthy\)'
  "ok  the demo's link and monitor: EXIT and DOWN noconnection"
  "ok  a's link and monitor to c: EXIT and DOWN noconnection"
  'ok  the health monitor on a: health_c is down, noconnection'
  'ok  global name leader moved to b: the standby <0\.[0-9]+\.[0-9]+> on b took it over'
  'ok  a sees \[b\], b sees \[a\] \(c is gone\)'
  'ok  c is up again .* a sees \[b, c\], b sees \[a, c\], c sees \[a, b\]'
  'ok  c learnt the global names when it joined: health_a \(a\), health_b \(b\), leader \(b\)'
  'ok  a, b and c hold the same global names: health_a \(a\), health_b \(b\), health_c \(c\), leader \(b\)'
  '^Tour complete: every step happened as it should'
  '^demo: stopped a, b and c; nothing is left running'
)
missing=0
for line in "${expected[@]}"; do
  if ! grep -Eq -- "$line" "$out"; then
    echo "demo_test: no line matches: $line" >&2
    missing=1
  fi
done
exit $missing
