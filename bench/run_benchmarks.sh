#!/usr/bin/env bash
# Runs pinstream's benchmarks beside the machine's own limits, measured in the same run, and
# prints "name value unit" lines plus the ratios bench/README.md records.
#
#   bench/run_benchmarks.sh [runtime|table|history|http|pipeline|instructions|sql|kafka|console|latency|views|nexmark|all]   (default: all)
#
# Builds first (.ci/build). Limits: RocksDB's db_bench (Debian rocksdb-tools), a bare simdjson
# loop (in runtime_bench) and a bare loop over the pin pipeline's work (pipeline_bound), nginx `return 200` and a bare durable-ack server (durable_ack_bound)
# under wrk, librdkafka's own consumer, fdatasync latency (latency_bench).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
.ci/deps wrk nginx-light
.ci/build >/dev/null
B=build/bench
tmp=$(mktemp -d /tmp/pinstream-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
results="$tmp/results"
touch "$results"

collect() { tee -a "$results" | grep -E '^RESULT' | sed 's/^RESULT //'; }
value() { grep -E "^RESULT $1 " "$results" | tail -1 | awk '{print $3}'; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}')" "$1" "$2"; }

best_of_3() {  # best "ops/sec" of three db_bench runs of the given arguments
  local best=0
  for _ in 1 2 3; do
    rm -rf "$tmp/db"
    local v
    v=$(db_bench --db="$tmp/db" "$@" 2>/dev/null | awk '/micros\/op/ && !done {print $5; done=1}')
    best=$(python3 -c "print(max($best, ${v:-0}))")
  done
  rm -rf "$tmp/db"
  echo "$best"
}

if [[ $what == runtime || $what == all ]]; then
  echo "== runtime hand-off (issue 2): parse → 2 shards → ordered output, vs bare simdjson"
  $B/runtime_bench 300000 2 | collect
fi

if [[ $what == table || $what == all ]]; then
  echo "== delta table append / scan / recovery (issue 3), vs db_bench"
  fill=$(best_of_3 --benchmarks=fillseq --sync=1 --batch_size=1000 --value_size=500 --key_size=16 --num=1000000)
  echo "RESULT db_bench_fillseq_sync_batch1000_ops_per_s $fill ops/s" | collect
  rm -rf "$tmp/db"
  readseq=$(db_bench --db="$tmp/db" --benchmarks=fillseq,readseq --value_size=500 --key_size=16 --num=1000000 2>/dev/null \
            | awk '/^readseq/ {print $5}')
  rm -rf "$tmp/db"
  echo "RESULT db_bench_readseq_ops_per_s $readseq ops/s" | collect
  $B/table_bench all "$tmp/table" | collect
  echo "RATIO table_append_1000 / db_bench fillseq:  $(ratio "$(value table_append_1000_rows_per_s)" "$fill")"
  echo "RATIO table_append_10000 / db_bench fillseq: $(ratio "$(value table_append_10000_rows_per_s)" "$fill")"
  echo "RATIO table_scan_latest / db_bench readseq:  $(ratio "$(value table_scan_latest_rows_per_s)" "$readseq")"
  echo "RATIO table_scan_old / db_bench readseq:     $(ratio "$(value table_scan_old_rows_per_s)" "$readseq")"
fi

if [[ $what == http || $what == all ]]; then
  echo "== HTTP ingest (issue 4): durable acks vs nginx return 200, same wrk settings"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$tmp/nginx"
  sed "s/__PORT__/$port/" bench/http/nginx.conf > "$tmp/nginx/nginx.conf"
  python3 -c 'import json,sys; sys.stdout.write(json.dumps({"records":[{"value":json.loads(open(sys.argv[1]).readline())}]}))' \
    tests/data/pinterest/pinterest_data_partial.jsonl > "$tmp/one.json"
  python3 -c 'import json,sys; rows=[json.loads(l) for l,_ in zip(open(sys.argv[1]), range(500))]; sys.stdout.write(json.dumps({"records":[{"value":r} for r in rows]}))' \
    tests/data/pinterest/pinterest_data_partial.jsonl > "$tmp/five_hundred.json"
  wrk_rps() {  # wrk -t1 -c32 -d10s with the body file $1 against port $2: requests/s
    WRK_BODY_FILE="$1" wrk -t1 -c"${3:-32}" -d10s -s bench/http/post.lua "http://127.0.0.1:$2/topics/bench.pin" | awk '/Requests\/sec/ {print $2}'
  }
  nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" & ngx=$!
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.05; done
  nginx_rps=$(wrk_rps "$tmp/one.json" "$port")
  nginx_rps_256=$(wrk_rps "$tmp/one.json" "$port" 256)
  kill $ngx; wait $ngx 2>/dev/null || true
  echo "RESULT nginx_return200_req_per_s $nginx_rps req/s" | collect
  echo "RESULT nginx_return200_c256_req_per_s $nginx_rps_256 req/s" | collect
  # The durable-ack limit: a bare epoll server that answers once a group-committed write of the
  # bodies is durable — fdatasync'd to a growing log or to a prewritten one, or written to the
  # prewritten one with O_DIRECT|O_DSYNC; the best of the three counts.
  for mode in append prewritten direct; do
    mkdir -p "$tmp/bound-$mode"
    $B/durable_ack_bound "$port" "$tmp/bound-$mode" "$mode" > "$tmp/bound-$mode.out" & bound=$!
    for _ in $(seq 200); do grep -q listening "$tmp/bound-$mode.out" 2>/dev/null && break; sleep 0.05; done
    echo "RESULT durable_ack_bound_${mode}_req_per_s $(wrk_rps "$tmp/one.json" "$port") req/s" | collect
    echo "RESULT durable_ack_bound_${mode}_c256_req_per_s $(wrk_rps "$tmp/one.json" "$port" 256) req/s" | collect
    echo "RESULT durable_ack_bound_${mode}_500_records_rec_per_s $(python3 -c "print($(wrk_rps "$tmp/five_hundred.json" "$port" 8)*500)") rec/s" | collect
    kill $bound; wait $bound 2>/dev/null || true
    rm -rf "$tmp/bound-$mode"
  done
  best() { python3 -c "print(max($(value "durable_ack_bound_append_$1"), $(value "durable_ack_bound_prewritten_$1"), $(value "durable_ack_bound_direct_$1")))"; }
  bound_rps=$(best req_per_s); bound_rps_256=$(best c256_req_per_s); bound_500=$(best 500_records_rec_per_s)
  echo "RESULT durable_ack_bound_req_per_s $bound_rps req/s" | collect
  echo "RESULT durable_ack_bound_c256_req_per_s $bound_rps_256 req/s" | collect
  echo "RESULT durable_ack_bound_500_records_rec_per_s $bound_500 rec/s" | collect
  export BENCH_DIR="$tmp/pin" BENCH_PORT="$port"
  build/app/pinstream run bench/http/pinstream.yaml 2>"$tmp/pinstream.log" & ps_pid=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.05; done
  # Ack latency at 20k req/s twice: on the fresh store here, and again after the saturating runs
  # below, when RocksDB is still flushing and compacting their ~2 GB beside the load.
  $B/http_load "$port" 20000 10 32 | sed 's/^RESULT ack_latency_/RESULT ack_latency_fresh_store_/' | collect
  one_rps=$(wrk_rps "$tmp/one.json" "$port")
  echo "RESULT pinstream_one_record_req_per_s $one_rps req/s" | collect
  one_rps_256=$(wrk_rps "$tmp/one.json" "$port" 256)
  echo "RESULT pinstream_one_record_c256_req_per_s $one_rps_256 req/s" | collect
  batch_rps=$(wrk_rps "$tmp/five_hundred.json" "$port" 8)
  echo "RESULT pinstream_500_records_req_per_s $batch_rps req/s" | collect
  echo "RESULT pinstream_500_records_rec_per_s $(python3 -c "print($batch_rps*500)") rec/s" | collect
  $B/http_load "$port" 20000 10 32 | collect
  kill -TERM $ps_pid; wait $ps_pid 2>/dev/null || true
  echo "RATIO pinstream 1 record/request (durable) / nginx return 200, wrk -t1 -c32:  $(ratio "$one_rps" "$nginx_rps")"
  echo "RATIO pinstream 1 record/request (durable) / nginx return 200, wrk -t1 -c256: $(ratio "$one_rps_256" "$nginx_rps_256")"
  echo "RATIO durable-ack bound / nginx return 200, wrk -t1 -c32:  $(ratio "$bound_rps" "$nginx_rps")  (the most any durable server reached here)"
  echo "RATIO durable-ack bound / nginx return 200, wrk -t1 -c256: $(ratio "$bound_rps_256" "$nginx_rps_256")"
  echo "RATIO pinstream 1 record/request / durable-ack bound, wrk -t1 -c32:  $(ratio "$one_rps" "$bound_rps")"
  echo "RATIO pinstream 1 record/request / durable-ack bound, wrk -t1 -c256: $(ratio "$one_rps_256" "$bound_rps_256")"
  echo "RATIO pinstream 500 records/request / durable-ack bound (rec/s):     $(ratio "$(value pinstream_500_records_rec_per_s)" "$bound_500")"
fi

if [[ $what == pipeline || $what == all ]]; then
  echo "== pin pipeline (issue 5): source log → parse → clean → dedup → delta table, vs bare simdjson"
  $B/pipeline_bench 1000000 500000 | collect
  # The same with the table's other codecs (storage.table_compression): CPU vs bytes written.
  for codec in none zstd; do
    $B/pipeline_bench 1000000 500000 $codec | grep -E '^RESULT pin_pipeline_(rec_per_s|bytes_written_per_rec|cpu_us_per_rec_best) ' |
      sed "s/^RESULT pin_pipeline_/RESULT pin_pipeline_table_${codec}_/" | collect
  done
  echo "RATIO pin pipeline per core / bare simdjson parse (one core): $(value pin_pipeline_per_core_vs_bare_parse_ratio)"
  # The floor of the same records' work: one thread, no engine (bench/pipeline_bound.cc).
  $B/pipeline_bound 1000000 500000 lz4 | collect
  $B/pipeline_bound 1000000 500000 none | collect
  echo "RATIO pin pipeline CPU per record: bound / pinstream (lz4):           $(ratio "$(value pin_pipeline_bound_cpu_us_per_rec)" "$(value pin_pipeline_cpu_us_per_rec_best)")"
  echo "RATIO pin pipeline CPU per record: bound / pinstream (none):          $(ratio "$(value pin_pipeline_bound_uncompressed_cpu_us_per_rec)" "$(value pin_pipeline_table_none_cpu_us_per_rec_best)")"
  echo "RATIO bound (lz4), one core / the 1M rec/s per core target:           $(ratio "$(value pin_pipeline_bound_rec_per_s_one_core)" 1000000)"
  echo "== dedup index: look-up-or-insert of pin post ids, vs one dependent memory access"
  $B/dedup_bench 1000000 500000 | collect
  echo "RATIO dedup probe (hash + growth + probe) / one dependent random access: $(value dedup_index_probe_vs_one_miss_ratio)"
fi

if [[ $what == instructions ]]; then  # not in `all`: 1.5 min under valgrind, a tool for A/Bs
  echo "== pin pipeline instructions per record (callgrind; repeatable where CPU time is not)"
  bench/pipeline_instructions.sh 200000 "$B/pipeline_bench" | collect
fi

if [[ $what == kafka || $what == all ]]; then
  echo "== Kafka (issue 6): mock cluster → pinstream Kafka source → pin pipeline → delta table, vs librdkafka's raw consume"
  $B/kafka_bench 1000000 64 | collect
  echo "RATIO kafka → pin table / librdkafka raw consume (same cluster, same run): $(value kafka_pin_pipeline_vs_raw_consume_ratio)"
  echo "RATIO kafka → pin table / 300k rec/s target:                           $(value kafka_pin_pipeline_vs_target_300k_ratio)"
fi

if [[ $what == sql || $what == all ]]; then
  echo "== SQL (issue 7): the eight queries over 1M pin/geo/user rows — pinstream, SQLite native, pandas, DuckDB"
  PINSTREAM_DATA_DIR="$tmp/base" PINSTREAM_INPUT="$PWD/tests/data/pinterest" \
    build/app/pinstream run conf/pinterest-files.yaml 2>"$tmp/base.log"
  $B/sql_bench "$tmp/base/" "$tmp/sql" 1000000 | collect
  /usr/bin/python3 bench/sql_pandas.py "$tmp/sql/csv" | collect
  duck=skipped
  if command -v npm >/dev/null && mkdir -p "$tmp/duck" && (cd "$tmp/duck" && npm install --silent @duckdb/node-api >/dev/null 2>&1); then
    cp bench/sql_duckdb.mjs "$tmp/duck/"
    root=$PWD
    (cd "$tmp/duck" && node sql_duckdb.mjs "$tmp/sql/csv" "$root/conf/queries") | collect
    duck=ran
  else
    echo "DuckDB: @duckdb/node-api did not install from npm here; its column stays empty"
  fi
  echo "RATIO pinstream SQL / SQLite on native tables (total): $(value sql_pinstream_vs_sqlite_native_ratio)"
  echo "RATIO pinstream SQL / pandas (total):                 $(ratio "$(value sql_pinstream_total_s)" "$(value sql_pandas_total_s)")"
  if [[ $duck == ran ]]; then
    echo "RATIO pinstream SQL / DuckDB (total):                 $(ratio "$(value sql_pinstream_total_s)" "$(value sql_duckdb_total_s)")"
  fi
fi

if [[ $what == history || $what == all ]]; then
  echo "== tables with long histories (issue 23): 1 vs 10k vs 200k versions, with the OPTIMIZE policy and with checkpoints alone"
  PINSTREAM_DATA_DIR="$tmp/hbase" PINSTREAM_INPUT="$PWD/tests/data/pinterest" \
    build/app/pinstream run conf/pinterest-files.yaml 2>"$tmp/hbase.log"
  $B/table_history_bench "$tmp/hbase/" "$tmp/history" 200000 10000,200000 | collect
  for mode in policy checkpoints; do
    limit=$([[ $mode == policy ]] && echo 1.2 || echo 2)
    for what_ in count scan queries; do
      echo "RATIO 200k versions ($mode) / 1 version, $what_: $(value "history_200000v_${mode}_${what_}_vs_1v_ratio")  (target <= $limit)"
    done
    echo "RATIO opening the three tables at 200k versions ($mode), ms: $(value "history_200000v_${mode}_open_ms")  (target <= 20 ms per table)"
  done
  echo "RATIO bytes on disk after OPTIMIZE + VACUUM / live chunks' bytes, 200k versions: $(value history_200000v_policy_disk_vs_live_chunks_ratio)  (target <= 1.1)"
fi

if [[ $what == console || $what == all ]]; then
  echo "== the console's overview in headless Chromium (issue 25): weight and time to first render"
  /usr/bin/python3 bench/console_page.py --binary build/app/pinstream | collect
fi

if [[ $what == latency || $what == all ]]; then
  echo "== send → visible (issue 28): conf/pinterest.yaml's six queries, geo records posted at a fixed rate, vs fdatasync"
  $B/latency_bench build/app/pinstream "$tmp/latency" 10 | collect
  for s in continuous_100x20000 continuous_100x50000 continuous_1x5000 pt500ms_100x20000 pt500ms_1x5000; do
    echo "RATIO $s visible p99 / fdatasync p99 (this disk): $(ratio "$(value "latency_${s}_visible_p99_ms")" "$(value latency_bound_fdatasync_p99_ms)")"
  done
  echo "RATIO continuous 20k rec/s visible p99 / 20 ms target:  $(ratio "$(value latency_continuous_100x20000_visible_p99_ms)" 20)"
  echo "RATIO continuous 20k rec/s visible p999 / 50 ms target: $(ratio "$(value latency_continuous_100x20000_visible_p999_ms)" 50)"
  echo "RATIO continuous 50k rec/s visible p99 / 50 ms target:  $(ratio "$(value latency_continuous_100x50000_visible_p99_ms)" 50)"
fi

if [[ $what == views || $what == all ]]; then
  echo "== live views (issue 27): the eight queries as views, a batch of 10k posts vs re-running them (pinstream report)"
  PINSTREAM_DATA_DIR="$tmp/vbase" PINSTREAM_INPUT="$PWD/tests/data/pinterest" \
    build/app/pinstream run conf/pinterest-files.yaml 2>"$tmp/vbase.log"
  # 1M rows per table: filling them through the views takes ~10 min on the 2-vCPU VM (bench/README).
  $B/view_bench "$tmp/vbase/" "$tmp/views" "${VIEW_BENCH_SIZES:-1000000}" 3 10000 | collect
  for tag in $(grep -oE '^RESULT view_vs_report_[0-9]+[mk]_ratio' "$results" | sed -E 's/.*report_([0-9]+[mk])_ratio/\1/'); do
    echo "RATIO views' batch of 10k posts / re-running the eight queries, $tag rows: $(value "view_vs_report_${tag}_ratio")  (target <= 0.05)"
    echo "RATIO reading a view's answer (slowest view), $tag rows, ms: $(value "view_read_max_${tag}_ms")  (target < 10 ms)"
  done
fi

if [[ $what == nexmark || $what == all ]]; then
  echo "== Nexmark (issue 27): q0-q5, q7, q9, q20 as live views, events/s per core beside Flink 1.13 and Feldera's published figures"
  $B/nexmark_bench "$tmp/nexmark" "${NEXMARK_EVENTS:-1000000}" | collect
  for q in q4:34000:265000 q5:22140:411862 q7:12330:196048 q9:14000:57000 q20:19000:85000; do
    IFS=: read -r name flink feldera <<<"$q"
    v=$(value "nexmark_${name}_events_per_core_s")
    echo "RATIO nexmark $name per core / Flink 1.13 per core ($flink): $(ratio "$v" "$flink")  (target >= 1);  / Feldera ($feldera): $(ratio "$v" "$feldera")"
  done
fi

if [[ $what == runtime || $what == all ]]; then
  echo "RATIO runtime / bare simdjson parse: $(value runtime_vs_bare_parse_ratio)"
fi
