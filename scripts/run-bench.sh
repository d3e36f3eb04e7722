#!/usr/bin/env bash
# run-bench.sh BUILD_DIR [WORKLOAD...]: runs Ember's benchmark programs and, when `erl` is
# installed, the same workloads on Erlang/OTP in the same run, then prints each ratio.
set -euo pipefail
build=${1:?usage: run-bench.sh BUILD_DIR [WORKLOAD...]}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "# $(date -Is) $(nproc) cores, $(uname -r)"
"$build/bench/term_codec" | tee "$out/ember.txt"
if [ -x "$build/bench/runtime/ember-bench" ]; then
  "$build/bench/runtime/ember-bench" "$@" | tee -a "$out/ember.txt"
fi

if ! command -v erl > /dev/null; then
  echo "# erl not found: Erlang/OTP side skipped (apt-get install erlang-base to compare)"
  exit 0
fi
echo "# Erlang/OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')"
cp "$here"/bench/erlang/*.erl "$out/"
(cd "$out" && erlc ./*.erl)
(cd "$out" && erl +S 2 -noshell -s term_codec main -s init stop) | tee "$out/erlang.txt"
if [ -x "$here/bench/runtime/erlang/run.sh" ]; then
  "$here/bench/runtime/erlang/run.sh" "$@" | tee -a "$out/erlang.txt"
fi

# ratio_NAME: ember / erlang for every figure both sides printed.
awk '
  FNR == NR && /^[a-zA-Z0-9_]+: / { sub(":", "", $1); ours[$1] = $2; unit[$1] = $3; next }
  /^erlang_[a-zA-Z0-9_]+: / {
    name = $1; sub(":", "", name); sub("^erlang_", "", name)
    if (name in ours && $2 + 0 != 0)
      printf "ratio_%s: %.3f x (ember %s / erlang %s %s)\n", name, ours[name] / $2, ours[name], $2, unit[name]
  }' "$out/ember.txt" "$out/erlang.txt"
