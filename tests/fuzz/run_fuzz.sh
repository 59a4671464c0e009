#!/usr/bin/env bash
# Builds the request-parser fuzzer with clang and runs it for a bounded time (default 60 s) over
# the seed corpus. Exit status non-zero on any crash, sanitizer report or leak.
#   tests/fuzz/run_fuzz.sh [seconds] [build dir]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-60}"
out="${2:-$here/../../build/fuzz}"
CXX=clang++ cmake -S "$here" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$out" >/dev/null
work=$(mktemp -d /tmp/pinstream-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$here"/corpus/* "$work"/
"$out/request_parsers_fuzz" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work" 2>&1 | tail -15
