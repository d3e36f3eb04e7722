#!/usr/bin/env bash
# run-bench.sh BUILD_DIR [WORKLOAD...]: runs Ember's benchmark programs and, when `erl` is
# installed, the same workloads on Erlang/OTP in the same run, then prints each ratio.
set -euo pipefail
build=${1:?usage: run-bench.sh BUILD_DIR [WORKLOAD...]}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
epmd_port=${EMBER_BENCH_EPMD_PORT:-43792}  # a private epmd for the Erlang dist runs
epmd_started=0
export BENCH_RUN_ID="eb$$"                 # edist names its peer nodes bench_$BENCH_RUN_ID_...
cleanup() {
  # Erlang peer nodes of this run that outlived their test, by pid (edist kills its own).
  local pids
  pids=$(ps -eo pid,args | awk -v id="bench_${BENCH_RUN_ID}_" 'index($0, id) && $2 ~ /beam/ { print $1 }')
  for p in $pids; do kill -9 "$p" 2> /dev/null || true; done
  if [ "$epmd_started" = 1 ]; then epmd -port "$epmd_port" -kill > /dev/null 2>&1 || true; fi
  rm -rf "$out"
}
trap cleanup EXIT

# The runtime workloads (names as in bench/erlang/ebench.erl), then the distribution ones
# (bench/erlang/edist.erl: two nodes on 127.0.0.1), then the global registry's (three
# nodes); spawn_idle_10m only on request.
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(spawn_idle spawn_exit ring_10k ring_1m pingpong many_to_one
  selective gen_server dist_pingpong dist_gen_server dist_throughput dist_bulk dist_down
  dist_idle_node global global_sync)

echo "# $(date -Is) $(nproc) cores, $(uname -r)"
"$build/bench/term_codec" | tee "$out/ember.txt"
"$build/bench/savina" 2> "$out/savina.log" | tee -a "$out/ember.txt"
# One fresh OS process per workload, as the Erlang side uses one fresh VM per benchmark.
for w in "${workloads[@]}"; do
  "$build/bench/ember-bench" "$w" 2> "$out/ember-bench.$w.log" | grep -v '^#' | tee -a "$out/ember.txt" ||
    { echo "# ember-bench $w failed:"; tail -5 "$out/ember-bench.$w.log"; }
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
# ebench and edist print "REP name value unit" per repetition; keep the median, as their
# run.sh does.
median_reps() {
  awk '$1 == "REP" { print $2, $3, $4 }' | sort -k1,1 -k2,2g |
    awk '{ n[$1]++; v[$1, n[$1]] = $2; u[$1] = $3 }
         END { for (k in n) printf "erlang_%s: %s %s\n", k, v[k, int((n[k] + 1) / 2)], u[k] }' |
    sort | tee -a "$out/erlang.txt"
}
# edist runs on node A (this VM) and starts node B with OTP's peer module (same flags and
# cookie), both registered with our own epmd; dist_down kills B's OS process.
edist() {  # [edist_timeout=SECONDS] edist BENCH [erl flags...]
  local bench=$1
  shift
  if [ "$epmd_started" = 0 ] && ! epmd -port "$epmd_port" -names > /dev/null 2>&1; then
    epmd -port "$epmd_port" -daemon
    epmd_started=1
    for _ in $(seq 50); do epmd -port "$epmd_port" -names > /dev/null 2>&1 && break; sleep 0.1; done
  fi
  (cd "$out" && ERL_EPMD_PORT=$epmd_port timeout "${edist_timeout:-120}" erl +S 2 +P 20000000 -noshell -pa "$out" \
    -sname "ebench_a_$$" -setcookie ember_bench "$@" -run edist main "$bench" 2> /dev/null) |
    median_reps || echo "# edist $bench failed"
}
for w in "${workloads[@]}"; do
  case $w in
    many_to_one) ebench=(many_to_one_on_heap many_to_one_off_heap) ;;
    gen_server) ebench=(gen_server supervisor_restart) ;;
    dist_pingpong) edist dist_pingpong; continue ;;
    dist_bulk) edist dist_bulk; continue ;;
    dist_idle_node) edist dist_idle_node; continue ;;
    dist_gen_server) edist dist_gen_server; continue ;;
    dist_throughput)
      for e in dist_tp_1sender dist_tp_4senders dist_tp_1KiB; do edist "$e"; done
      continue ;;
    dist_down)
      # With the default net_ticktime (60 s) a frozen node takes 60-75 s to detect, so
      # edist runs with net_ticktime 2 (2-2.5 s, like Ember's 2 s silence timeout); kill -9
      # does not wait for ticks (the kernel closes the socket). The small peer (default +P,
      # 40 MB instead of 430 MB to tear down) runs at the default tick time.
      edist dist_down -kernel net_ticktime 2
      edist dist_down_smallpeer
      continue ;;
    global)
      # The anchors' global_bench (three nodes), then the local lookup (one node).
      edist global
      edist global_whereis
      continue ;;
    global_sync)
      # Registering its 10,000 names one at a time takes Erlang 10-60 s before anything is
      # timed (global:register_name slows as the table grows).
      edist_timeout=300 edist global_sync
      continue ;;
    *) ebench=("$w") ;;
  esac
  for e in "${ebench[@]}"; do
        (cd "$out" && timeout 120 erl +S 2 +P 20000000 -noshell -pa . -run ebench main "$e" 2>/dev/null) |
      median_reps || echo "# ebench $e failed or hit its 120 s bound; the others go on"
  done
done

# ratio_NAME: ember / erlang for every figure both sides printed. Ember's single mailbox
# kind is compared with both of Erlang's many_to_one variants; edist's failure-detection
# names carry the tick time (2 s here, see above).
{
  sed -n 's/^erlang_many_to_one_\([0-9]*p\)_on_heap_/erlang_many_to_one_\1_/p' "$out/erlang.txt"
  sed -n 's/^erlang_dist_down_\(kill9\|sigstop\)_ticktime2s_ms:/erlang_dist_down_\1_ms:/p' "$out/erlang.txt"
} > "$out/extra.txt"
cat "$out/extra.txt" >> "$out/erlang.txt"
awk '
  FNR == NR && /^[a-zA-Z0-9_]+: / { sub(":", "", $1); ours[$1] = $2; unit[$1] = $3; next }
  /^erlang_[a-zA-Z0-9_]+: / {
    name = $1; sub(":", "", name); sub("^erlang_", "", name)
    if (name in ours && $2 + 0 != 0)
      printf "ratio_%s: %.3f x (ember %s / erlang %s %s)\n", name, ours[name] / $2, ours[name], $2, unit[name]
  }' "$out/ember.txt" "$out/erlang.txt"
