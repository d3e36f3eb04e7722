#!/usr/bin/env bash
# run-bench.sh BUILD_DIR [WORKLOAD...]: runs Ember's benchmark programs and, when `erl` is
# installed, the same workloads on Erlang/OTP in the same run, then prints each ratio.
set -euo pipefail
build=${1:?usage: run-bench.sh BUILD_DIR [WORKLOAD...]}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The runtime workloads (names as in bench/erlang/ebench.erl); spawn_idle_10m only on request.
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(spawn_idle spawn_exit ring_10k ring_1m pingpong many_to_one selective)

echo "# $(date -Is) $(nproc) cores, $(uname -r)"
"$build/bench/term_codec" | tee "$out/ember.txt"
"$build/bench/savina" 2> "$out/savina.log" | tee -a "$out/ember.txt"
# One fresh OS process per workload, as the Erlang side uses one fresh VM per benchmark.
for w in "${workloads[@]}"; do
  "$build/bench/ember-bench" "$w" 2> "$out/ember-bench.$w.log" | grep -v '^#' | tee -a "$out/ember.txt"
done

if ! command -v erl > /dev/null; then
  echo "# erl not found: Erlang/OTP side skipped (apt-get install erlang-base to compare)"
  exit 0
fi
echo "# Erlang/OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')"
cp "$here"/bench/erlang/*.erl "$out/"
(cd "$out" && erlc ./*.erl)
(cd "$out" && erl +S 2 -noshell -s term_codec main -s init stop) | tee "$out/erlang.txt"
(cd "$out" && erl +S 2 -noshell -run savina main -s init stop) | tee -a "$out/erlang.txt"
# ebench prints "REP name value unit" per repetition; keep the median, as its run.sh does.
for w in "${workloads[@]}"; do
  case $w in many_to_one) ebench=(many_to_one_on_heap many_to_one_off_heap) ;; *) ebench=("$w") ;; esac
  for e in "${ebench[@]}"; do
    (cd "$out" && timeout 120 erl +S 2 +P 20000000 -noshell -pa . -run ebench main "$e" 2>/dev/null) |
      awk '$1 == "REP" { print $2, $3, $4 }' | sort -k1,1 -k2,2g |
      awk '{ n[$1]++; v[$1, n[$1]] = $2; u[$1] = $3 }
           END { for (k in n) printf "erlang_%s: %s %s\n", k, v[k, int((n[k] + 1) / 2)], u[k] }' |
      sort | tee -a "$out/erlang.txt"
  done
done

# ratio_NAME: ember / erlang for every figure both sides printed. Ember's single mailbox
# kind is compared with both of Erlang's many_to_one variants.
sed -n 's/^erlang_many_to_one_\([0-9]*p\)_on_heap_/erlang_many_to_one_\1_/p' "$out/erlang.txt" > "$out/extra.txt"
cat "$out/extra.txt" >> "$out/erlang.txt"
awk '
  FNR == NR && /^[a-zA-Z0-9_]+: / { sub(":", "", $1); ours[$1] = $2; unit[$1] = $3; next }
  /^erlang_[a-zA-Z0-9_]+: / {
    name = $1; sub(":", "", name); sub("^erlang_", "", name)
    if (name in ours && $2 + 0 != 0)
      printf "ratio_%s: %.3f x (ember %s / erlang %s %s)\n", name, ours[name] / $2, ours[name], $2, unit[name]
  }' "$out/ember.txt" "$out/erlang.txt"
