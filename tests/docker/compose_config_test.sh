#!/usr/bin/env bash
# docker/compose.yml is valid for Compose (docker-compose config: no engine needed), names
# three nodes that join each other and a test service behind the `test` profile, and
# refuses to start without a cookie.
set -euo pipefail
compose="$(cd "$(dirname "$0")/../../docker" && pwd)/compose.yml"
command -v docker-compose >/dev/null || {
  echo "FAIL: docker-compose is not installed (make deps installs it)" >&2
  exit 1
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
export EMBER_COOKIE=compose-config-test
out=$(docker-compose -f "$compose" config) || fail "docker-compose config failed"
for n in 1 2 3; do
  grep -q "EMBER_NAME: ember@node$n:437$n" <<<"$out" || fail "node$n has no EMBER_NAME"
  grep -q "EMBER_LISTEN: 0.0.0.0:437$n" <<<"$out" || fail "node$n has no EMBER_LISTEN"
  grep -q "EMBER_METRICS_PORT: '910$n'" <<<"$out" || fail "node$n has no EMBER_METRICS_PORT"
done
grep -q "EMBER_JOIN: ember@node2:4372,ember@node3:4373" <<<"$out" || fail "node1 joins nobody"
grep -q "EMBER_COOKIE: compose-config-test" <<<"$out" || fail "the cookie is not passed on"
grep -q "restart: unless-stopped" <<<"$out" || fail "no restart policy"
services=$(docker-compose -f "$compose" config --services | sort | tr '\n' ' ')
[ "$services" = "node1 node2 node3 tests " ] || fail "services: $services"
# The test service starts only with --profile test (Compose 1.29 lists it either way).
grep -A1 "profiles:" <<<"$out" | grep -q -- "- test" || fail "tests is not behind the test profile"
grep -q "condition: service_healthy" <<<"$out" || fail "tests does not wait for healthy nodes"
# An empty env file: a docker/.env in the checkout must not hide a missing cookie.
empty=$(mktemp)
trap 'rm -f "$empty"' EXIT
if err=$(env -u EMBER_COOKIE docker-compose -f "$compose" --env-file "$empty" config 2>&1); then
  fail "config passed without a cookie"
fi
grep -q "set EMBER_COOKIE" <<<"$err" || fail "no clear error without a cookie: $err"
echo "compose.yml: ok"
