#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over a copy of its seed corpus (the repository's
# corpus is never written). Exit status non-zero on any crash, sanitizer report, leak or timeout;
# the input that failed is kept in the failure message's path (crash-*/leak-*/timeout-* in $PWD).
# The mutations follow a fixed seed (PINSTREAM_FUZZ_SEED, default 1): a run explores the same
# inputs in the same order on any machine, only more or fewer of them in the time given.
#   tests/fuzz/run_fuzz.sh FUZZER CORPUS_DIR [seconds]     (default 20 s)
set -euo pipefail
fuzzer="$1"
corpus="$2"
seconds="${3:-20}"
work=$(mktemp -d /tmp/pinstream-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$corpus"/* "$work"/
"$fuzzer" -seed="${PINSTREAM_FUZZ_SEED:-1}" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work" 2>&1 | tail -25
