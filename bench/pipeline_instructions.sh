#!/usr/bin/env bash
# Instructions the pin pipeline's own threads execute (query, shard, commit and encoder threads;
# not the data generation, the ingest or RocksDB's background jobs), counted by callgrind: unlike
# CPU time on this shared 2-vCPU VM (±5–15 % from run to run), the count repeats, so it shows
# changes of 1–2 % that timing cannot. Instructions are not time (a cache miss costs no
# instruction): confirm a change with alternating pipeline_bench runs before recording it.
#
#   bench/pipeline_instructions.sh [RECORDS] [BINARY]   (default 200000, build/bench/pipeline_bench)
#
# Prints the total, the total without LZ4 (the encoder's helper thread takes a varying share of
# the compression, so LZ4's count moves between runs of the same build) and the top functions.
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/deps valgrind
records="${1:-200000}"
bin="${2:-build/bench/pipeline_bench}"
[[ -x $bin ]] || .ci/build >/dev/null
out=$(mktemp /tmp/pinstream-callgrind-XXXXXX)
trap 'rm -f "$out"' EXIT
valgrind --tool=callgrind --collect-atstart=no \
  --toggle-collect='pinstream::ShardExecutor::WorkerLoop*' \
  --toggle-collect='pinstream::StreamingQuery::RunBatch*' \
  --toggle-collect='pinstream::StreamingQuery::CommitBatch*' \
  --toggle-collect='*HelperPool::Loop*' \
  --callgrind-out-file="$out" "$bin" "$records" $((records / 2)) lz4 1 >/dev/null 2>&1
report=$(callgrind_annotate "$out" 2>/dev/null)
total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}' <<<"$report")
lz4=$(awk '/LZ4_compress_fast_extState/ {gsub(",", "", $1); print $1; exit}' <<<"$report")
echo "RESULT pin_pipeline_instructions_per_rec $((total / records)) instr/rec"
echo "RESULT pin_pipeline_instructions_per_rec_without_lz4 $(((total - ${lz4:-0}) / records)) instr/rec"
grep -E '^ *[0-9,]+ \(' <<<"$report" | sed -n '2,21p' | cut -c1-160
