// A stream-stream join's rate (issue "Stateful streaming"): 1M pin records and 1M geo records,
// one of each per `ind`, arriving interleaved (geo record i within ±5,000 positions of pin record
// i, each in a source log topic of 4 partitions), joined by `ind` (`kind: join`, inner) into a
// delta table — 2 shards, 100k-record batches (50k of each input), parse_json on each input
// first. Reported: joined rows/s; the input records/s beside the same query without the join (the
// two inputs parsed and their `ind` written: the machine's limit for reading and parsing these
// records, measured in the same run, alternating); the join's state bytes per key (RocksDB's
// estimate after a flush, over the keys the state holds: every row of both sides stays, there is
// no time range to evict by). And the floor of the join's state traffic alone: the same reads
// (a MultiGet of the buckets of each batch's keys: one per key, both sides' rows in it) and
// writes (each of those buckets once, a synced WriteBatch per batch) on the same store without
// the engine (BareStateRate).
//
//   join_bench [pairs=1000000] [runs=2]

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <thread>

#include "bench/bench_util.h"
#include "connectors/connector_env.h"
#include "engine/allocator.h"
#include "engine/bytes.h"
#include "engine/record_batch.h"
#include "engine/state_table.h"
#include "engine/time_util.h"
#include "state/checkpoint_store.h"
#include "state/delta_table.h"
#include "state/source_log.h"
#include "state/store.h"

using namespace pinstream;
namespace fs = std::filesystem;

namespace {

const char* kSources = R"(data_dir: __DIR__/data
sources:
  pins: {kind: http, topic: bench.pin}
  geos: {kind: http, topic: bench.geo}
)";

std::string QueryYaml(const std::string& name, bool join) {
  std::string q = R"(queries:
  - name: __NAME__
    trigger: available_now
    max_records_per_trigger: 100000
    shards: 2
    inputs:
      pin:
        source: pins
        operators:
          - kind: parse_json
            schema: {index: int64, unique_id: string, title: string, description: string,
                     poster_name: string, follower_count: string, tag_list: string,
                     is_image_or_video: string, image_src: string, downloaded: int64,
                     save_location: string, category: string}
          - {kind: rename, columns: {index: ind}}
__PIN_SELECT__      geo:
        source: geos
        operators:
          - kind: parse_json
            schema: {ind: int64, timestamp: timestamp, latitude: double, longitude: double,
                     country: string}
__GEO_SELECT____JOIN__    sink: {kind: delta, table: __NAME__}
)";
  auto put = [&q](const std::string& key, const std::string& value) {
    q.replace(q.find(key), key.size(), value);
  };
  put("__NAME__", name);
  put("__NAME__", name);
  if (join) {
    put("__PIN_SELECT__", "");
    put("__GEO_SELECT__", "");
    put("__JOIN__", "    operators:\n      - {kind: join, left: pin, right: geo, on: [ind]}\n");
  } else {
    put("__PIN_SELECT__", "          - {kind: select, columns: [ind]}\n");
    put("__GEO_SELECT__", "          - {kind: select, columns: [ind]}\n");
    put("__JOIN__", "");
  }
  return q;
}

// The floor of the join's own state traffic on this machine, without the engine: the same
// access pattern as the join's over the same store's state family. The join keeps one bucket per
// key holding both sides' rows, so a batch (50k pin and 50k geo rows, as the log delivers them:
// `geo_order` is the ind of each geo position) reads the bucket of each distinct key its rows
// have, on 2 threads (the shards: the keys split by partition) as one MultiGet in key order
// each, then writes each such bucket once — a value of its rows' encoded sizes so far (560 B per
// pin, 130 B per geo) — in one synced WriteBatch per batch (the batch's commit). Returns input
// rows/s.
double BareStateRate(state::Store* store, std::size_t n,
                     const std::vector<std::size_t>& geo_order) {
  auto key = [](std::size_t ind) {
    std::string k = "bare/0";
    k.push_back('\0');
    k.push_back('K');
    std::string enc;
    PutBigEndian64(&enc, ind);
    k.push_back(static_cast<char>(StatePartitionOf(HashBytes(enc))));
    k.push_back('J');
    k += enc;
    return k;
  };
  std::vector<std::uint8_t> seen(n, 0);  // bit 0: its pin arrived, bit 1: its geo
  const auto t0 = std::chrono::steady_clock::now();
  constexpr std::size_t kBatch = 50000;  // rows of each input a batch: 100k input rows
  for (std::size_t b = 0; b < n; b += kBatch) {
    const std::size_t e = std::min(n, b + kBatch);
    std::vector<std::size_t> inds;
    for (std::size_t i = b; i < e; ++i) {
      inds.push_back(i);
      inds.push_back(geo_order[i]);
    }
    std::sort(inds.begin(), inds.end());
    inds.erase(std::unique(inds.begin(), inds.end()), inds.end());
    std::vector<std::vector<std::string>> keys(2);
    for (std::size_t ind : inds) {
      std::string k = key(ind);
      keys[static_cast<std::uint8_t>(k[8]) % 2].push_back(std::move(k));
    }
    bool ok = true;
    std::vector<std::thread> shards;
    for (auto& k : keys) {
      shards.emplace_back([&store, &k, &ok] {
        std::sort(k.begin(), k.end());
        std::vector<std::optional<std::string>> values;
        if (!store->MultiGet(state::KeySpace::kState, k, &values).ok()) ok = false;
      });
    }
    for (auto& t : shards) t.join();
    if (!ok) return 0;
    for (std::size_t i = b; i < e; ++i) {
      seen[i] |= 1;
      seen[geo_order[i]] |= 2;
    }
    state::StoreTxn txn(store, -1);
    for (auto& k : keys) {
      for (const std::string& key_bytes : k) {
        std::size_t ind = GetBigEndian64(key_bytes.data() + key_bytes.size() - 8);
        const std::size_t size = (seen[ind] & 1 ? 560 : 0) + (seen[ind] & 2 ? 130 : 0);
        txn.Put(state::KeySpace::kState, key_bytes, std::string(size, 'v'));
      }
    }
    if (!store->Write(txn, /*sync=*/true).ok()) return 0;
  }
  return 2.0 * static_cast<double>(n) / bench::Seconds(t0);
}

}  // namespace

int main(int argc, char** argv) {
  TuneAllocatorForBatches();
  spdlog::set_level(spdlog::level::warn);
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 2;
  std::string dir = "/tmp/pinstream-join-bench";
  fs::remove_all(dir);

  // Pin record i has index i; geo record i has ind i and arrives near pin record i.
  auto pins = bench::PinRecords(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto j = nlohmann::ordered_json::parse(pins[i]);
    j["index"] = i;
    pins[i] = j.dump();
  }
  static const char* kCountries[] = {"Albania", "Fiji", "Chile", "Norway", "Kenya", "Japan"};
  std::mt19937_64 rng(11);
  std::vector<std::pair<std::int64_t, std::string>> geos(n);
  const std::int64_t start = ParseTimestamp("2026-11-01T00:00:00Z").value();
  for (std::size_t i = 0; i < n; ++i) {
    auto at = static_cast<std::int64_t>(i) + static_cast<std::int64_t>(rng() % 10001) - 5000;
    geos[i] = {
        at, fmt::format(R"({{"ind":{},"timestamp":"{}","latitude":{:.4f},)"
                        R"("longitude":{:.4f},"country":"{}"}})",
                        i,
                        FormatTimestamp(start + static_cast<std::int64_t>(i) * 1'000'000,
                                        TimestampStyle::kIso),
                        static_cast<double>(rng() % 180000) / 1000 - 90,
                        static_cast<double>(rng() % 360000) / 1000 - 180, kCountries[rng() % 6])};
  }
  std::vector<std::size_t> geo_order(n);  // the ind of each geo position
  std::iota(geo_order.begin(), geo_order.end(), std::size_t{0});
  std::stable_sort(geo_order.begin(), geo_order.end(),
                   [&geos](std::size_t a, std::size_t b) { return geos[a].first < geos[b].first; });
  {
    std::vector<std::pair<std::int64_t, std::string>> sorted(n);
    for (std::size_t i = 0; i < n; ++i) sorted[i] = std::move(geos[geo_order[i]]);
    geos = std::move(sorted);
  }

  state::StoreOptions so;
  so.data_dir = dir + "/data";
  auto store = std::move(state::Store::Open(so)).value();
  auto log = std::move(state::SourceLog::Open(store.get(), {})).value();
  if (!log->Create("bench.pin", 4, state::LogApi::kKafkaTopic).ok()) return 1;
  if (!log->Create("bench.geo", 4, state::LogApi::kKafkaTopic).ok()) return 1;
  for (std::size_t b = 0; b < n; b += 500) {
    std::vector<state::LogRecord> pb, gb;
    for (std::size_t i = b; i < std::min(n, b + 500); ++i) {
      state::LogRecord r;
      r.partition = static_cast<int>(i % 4);
      r.value = pins[i];
      pb.push_back(std::move(r));
      state::LogRecord g;
      g.partition = static_cast<int>(i % 4);
      g.value = geos[i].second;
      gb.push_back(std::move(g));
    }
    if (!log->Append("bench.pin", std::move(pb)).ok()) return 1;
    if (!log->Append("bench.geo", std::move(gb)).ok()) return 1;
  }
  pins.clear();
  geos.clear();
  if (!store->Flush().ok() || !store->WaitForBackgroundWork(std::chrono::minutes(2))) return 1;
  std::printf("ingested %zu pin and %zu geo records (geo i within 5000 positions of pin i)\n", n,
              n);

  connectors::ConnectorEnv env;
  env.store = store.get();
  env.source_log = log.get();
  double best_join = 0, best_parse = 0;
  std::int64_t joined = 0, state_keys = 0, state_bytes = 0;
  for (int r = 0; r < runs; ++r) {
    for (int with_join = 0; with_join < 2; ++with_join) {
      std::string name = fmt::format("{}_{}", with_join ? "pin_geo" : "parse_only", r);
      std::string yaml = std::string(kSources) + QueryYaml(name, with_join != 0);
      yaml.replace(yaml.find("__DIR__"), 7, dir);
      auto run = bench::RunPinQuery(yaml, dir, env, name);
      auto* t = *store->Table(name, false);
      const double inputs = 2.0 * static_cast<double>(n) / run.seconds;
      std::printf("%s: %zu + %zu records in %.2fs (%.0f input rec/s), table %lld rows, exit %d\n",
                  name.c_str(), n, n, run.seconds, inputs, static_cast<long long>(t->num_rows()),
                  run.exit_code);
      const auto want = static_cast<std::int64_t>(with_join ? n : 2 * n);
      if (run.exit_code != 0 || t->num_rows() != want) {
        std::fprintf(stderr, "unexpected result: %lld rows, expected %lld\n",
                     static_cast<long long>(t->num_rows()), static_cast<long long>(want));
        return 1;
      }
      if (!store->Flush().ok() || !store->WaitForBackgroundWork(std::chrono::minutes(2))) return 1;
      if (with_join) {
        best_join = std::max(best_join, static_cast<double>(n) / run.seconds);
        joined = t->num_rows();
        // The join's state: "<query>/0" (the query's first operator slot after the inputs').
        state::RocksCheckpointStore cps(store.get());
        auto cp = std::move(cps.OpenQuery(name)).value();
        std::string ns = name + "/0";
        auto rows = StateTable::StoredRows(cp.get(), ns);
        state_keys = rows.ok() && *rows ? **rows : 0;
        state_bytes =
            cp->ApproximateStateBytes(ns + std::string(1, '\0'), ns + std::string(1, '\x01'));
        std::printf(
            "join state: %lld keys, ~%lld bytes on disk (%.0f bytes per key)\n",
            static_cast<long long>(state_keys), static_cast<long long>(state_bytes),
            state_keys ? static_cast<double>(state_bytes) / static_cast<double>(state_keys) : 0.0);
      } else {
        best_parse = std::max(best_parse, inputs);
      }
    }
  }
  const double bare = BareStateRate(store.get(), n, geo_order);
  std::printf(
      "bare state traffic of the join (a MultiGet of each batch's buckets, a put of each, synced "
      "WriteBatch): %.0f input rec/s\n",
      bare);
  bench::Report("join_pin_geo_joined_rows_per_s", best_join, "rows/s");
  bench::Report("join_pin_geo_input_rec_per_s", 2 * best_join, "rec/s");
  bench::Report("parse_only_pin_geo_input_rec_per_s", best_parse, "rec/s");
  bench::Report("join_vs_parse_only_ratio", 2 * best_join / best_parse, "x");
  bench::Report("bare_state_traffic_input_rec_per_s", bare, "rec/s");
  bench::Report("join_vs_bare_state_traffic_ratio", 2 * best_join / bare, "x");
  bench::Report("join_rows", static_cast<double>(joined), "rows");
  bench::Report("join_state_keys", static_cast<double>(state_keys), "keys");
  bench::Report("join_state_bytes_per_key",
                state_keys ? static_cast<double>(state_bytes) / static_cast<double>(state_keys) : 0,
                "B");
  log->Shutdown();
  fs::remove_all(dir);
  return 0;
}
