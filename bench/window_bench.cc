// A windowed aggregation's rate beside the cleaning it follows (issue "Stateful streaming"):
// records/s of the pin query with posts counted per (category, hour of the post's time) —
// conf/pinterest.yaml's cleaning (parse_json → null_if → parse_count → strip_prefix → rename →
// dedup) then `aggregate` (tumbling 1h window on `timestamp`, count, append mode, 10-minute
// watermark) → delta table — against the cleaning-only `pin` query (… → select → delta table),
// both over the same 1M pin records in the same source log, in the same run, 2 shards, 100k-record
// batches. Each pin record carries a `timestamp` (the time of its geolocation record, as the
// enriched stream has it): 30 days of posts in arrival order with ±5 minutes of jitter, so a few
// rows arrive behind the watermark and go to the dead letters as late.
//
//   window_bench [records=1000000] [runs=3]

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>

#include "bench/bench_util.h"
#include "connectors/connector_env.h"
#include "engine/allocator.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/source_log.h"
#include "state/store.h"

using namespace pinstream;
namespace fs = std::filesystem;

namespace {

const char* kSources = R"(data_dir: __DIR__/data
sources:
  pins: {kind: http, topic: bench.pin}
)";

std::string WindowQueryYaml(const std::string& name) {
  std::string q = bench::PinQueryYaml("pins", name);
  // The cleaning-only query's schema plus the post's time, then the aggregate instead of select.
  q.replace(q.find("category: string}"), 17, "category: string, timestamp: string}");
  q.replace(q.find("    operators:"), 14,
            "    watermark: {column: timestamp, delay: 10m}\n    operators:");
  // The cast before dedup: the watermark is observed before the first stateful operator.
  q.replace(q.find("      - {kind: dedup"), 20,
            "      - {kind: cast, columns: {timestamp: timestamp}}\n      - {kind: dedup");
  std::size_t sel = q.find("      - kind: select");
  std::size_t sink = q.find("    sink:");
  q.replace(sel, sink - sel,
            "      - kind: aggregate\n"
            "        group_by: [category]\n"
            "        window: {column: timestamp, size: 1h}\n"
            "        aggregates: [{fn: count, as: posts}]\n"
            "        output_mode: append\n");
  return q;
}

}  // namespace

int main(int argc, char** argv) {
  TuneAllocatorForBatches();
  spdlog::set_level(spdlog::level::warn);
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  std::string dir = "/tmp/pinstream-window-bench";
  fs::remove_all(dir);
  auto records = bench::PinRecords(n);
  const std::int64_t start = ParseTimestamp("2026-11-01T00:00:00Z").value();
  const std::int64_t span = 30LL * 24 * 3600 * 1000000;
  std::mt19937_64 rng(7);
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t jitter = static_cast<std::int64_t>(rng() % 600'000'000) - 300'000'000;
    std::int64_t ts =
        start + span / static_cast<std::int64_t>(n) * static_cast<std::int64_t>(i) + jitter;
    records[i].insert(1, "\"timestamp\":\"" + FormatTimestamp(ts, TimestampStyle::kIso) + "\",");
  }

  state::StoreOptions so;
  so.data_dir = dir + "/data";
  auto store = std::move(state::Store::Open(so)).value();
  auto log = std::move(state::SourceLog::Open(store.get(), {})).value();
  if (!log->Create("bench.pin", 4, state::LogApi::kKafkaTopic).ok()) return 1;
  for (std::size_t b = 0; b < n; b += 500) {
    std::vector<state::LogRecord> batch;
    for (std::size_t i = b; i < std::min(n, b + 500); ++i) {
      state::LogRecord r;
      r.partition = static_cast<int>(i % 4);
      r.value = records[i];
      batch.push_back(std::move(r));
    }
    if (!log->Append("bench.pin", std::move(batch)).ok()) return 1;
  }
  if (!store->Flush().ok() || !store->WaitForBackgroundWork(std::chrono::minutes(2))) return 1;
  std::printf("ingested %zu pin records with post times over 30 days\n", n);

  connectors::ConnectorEnv env;
  env.store = store.get();
  env.source_log = log.get();
  double best_clean = 0, best_window = 0;
  std::int64_t windows = 0;
  // Alternate the two queries, each from scratch, so that both see the same machine state.
  for (int r = 0; r < runs; ++r) {
    for (int windowed = 0; windowed < 2; ++windowed) {
      std::string name = fmt::format("{}_{}", windowed ? "pin_hourly" : "pin", r);
      std::string yaml = std::string(kSources) +
                         (windowed ? WindowQueryYaml(name) : bench::PinQueryYaml("pins", name));
      yaml.replace(yaml.find("__DIR__"), 7, dir);
      auto run = bench::RunPinQuery(yaml, dir, env, name);
      auto* t = *store->Table(name, false);
      double rate = static_cast<double>(n) / run.seconds;
      std::printf("%s: %zu records in %.2fs (%.0f rec/s), table %lld rows, exit %d\n", name.c_str(),
                  n, run.seconds, rate, static_cast<long long>(t->num_rows()), run.exit_code);
      if (run.exit_code != 0 || t->num_rows() == 0) {
        std::fprintf(stderr, "unexpected result\n");
        return 1;
      }
      if (windowed) {
        best_window = std::max(best_window, rate);
        windows = t->num_rows();
      } else {
        best_clean = std::max(best_clean, rate);
      }
      if (!store->Flush().ok() || !store->WaitForBackgroundWork(std::chrono::minutes(2))) return 1;
    }
  }
  bench::Report("pin_cleaning_rec_per_s", best_clean, "rec/s");
  bench::Report("pin_hourly_window_count_rec_per_s", best_window, "rec/s");
  bench::Report("pin_hourly_windows_emitted", static_cast<double>(windows), "rows");
  bench::Report("window_vs_cleaning_ratio", best_window / best_clean, "x");
  log->Shutdown();
  fs::remove_all(dir);
  return 0;
}
