#!/usr/bin/env bash
# run-fuzz.sh BUILD_DIR SECONDS: runs each fuzzer for SECONDS on a corpus under fuzz-corpus/
# (seeded on first use); exits non-zero if one finds a crash.
set -euo pipefail
build=${1:?usage: run-fuzz.sh BUILD_DIR SECONDS}
seconds=${2:?usage: run-fuzz.sh BUILD_DIR SECONDS}
mkdir -p fuzz-corpus/term_parser fuzz-corpus/frame_decoder fuzz-corpus/crashes
[ -n "$(ls -A fuzz-corpus/term_parser)" ] || "$build/tests/fuzz/fuzz_make_seeds" fuzz-corpus/term_parser fuzz-corpus/frame_decoder
status=0
run() {
  local name=$1 corpus=$2 max_len=$3
  echo "== $name for ${seconds}s"
  if ! "$build/tests/fuzz/$name" "fuzz-corpus/$corpus" -max_total_time="$seconds" -max_len="$max_len" \
       -rss_limit_mb=2048 -artifact_prefix=fuzz-corpus/crashes/ -print_final_stats=1 2> "fuzz-corpus/$name.log"; then
    echo "$name: FOUND A CRASH (see fuzz-corpus/$name.log and fuzz-corpus/crashes/)"
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov:" "fuzz-corpus/$name.log" | tail -3 | sed "s/^/$name: /"
}
run fuzz_term_parser term_parser 4096
run fuzz_frame_decoder frame_decoder 65536
exit $status
