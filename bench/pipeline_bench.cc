// The pin pipeline's micro-batch rate (issue "The Pinterest pipeline"): records/s through
//   source log → parse_json → null_if → parse_count → strip_prefix → rename → dedup → select →
//   delta table (exactly-once commits), i.e. conf/pinterest.yaml's `pin` query, excluding ingest
// (the records are in the source log before the clock starts). Beside it, in the same run, a bare
// single-threaded simdjson On-Demand parse of the same records. Reports records/s, records/s per
// core and the ratio.
//
// The query runs `runs` times over the same source log, each time from scratch (a query and
// table of its own, empty dedup state); the best run is reported, and every run's CPU per record
// is printed (this VM's run-to-run noise is ±5–15 %).
//
//   pipeline_bench [records=1000000] [distinct posts=500000] [table_compression=lz4] [runs=3]

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "bench/bench_util.h"
#include "connectors/connector_env.h"
#include "engine/allocator.h"
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

double BareParse(const std::vector<std::string>& recs) {
  simdjson::ondemand::parser parser;
  std::vector<simdjson::padded_string> padded;
  for (const auto& r : recs) padded.emplace_back(r);
  std::size_t sink = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& r : padded) {
    simdjson::ondemand::document doc = parser.iterate(r);
    for (auto field : doc.get_object()) {
      std::string_view key = field.unescaped_key();
      simdjson::ondemand::value v = field.value();
      sink += key.size();
      if (v.type() == simdjson::ondemand::json_type::string)
        sink += std::string_view(v.get_string()).size();
    }
  }
  double s = bench::Seconds(t0);
  if (sink == 42) std::printf(" ");
  return static_cast<double>(recs.size()) / s;
}

}  // namespace

int main(int argc, char** argv) {
  TuneAllocatorForBatches();
  spdlog::set_level(spdlog::level::warn);
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  std::size_t distinct = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : n / 2;
  std::string dir = "/tmp/pinstream-pipeline-bench";
  fs::remove_all(dir);
  auto records = bench::PinRecords(n, distinct);
  // The posts the table must hold once each (computed before the ingest, outside every timing).
  std::set<std::string> ids;
  for (const auto& r : records) {
    std::size_t at = r.find("\"unique_id\":\"") + 13;
    ids.insert(r.substr(at, r.find('"', at) - at));
  }

  state::StoreOptions so;
  so.data_dir = dir + "/data";
  if (argc > 3) so.table_compression = argv[3];
  auto opened = state::Store::Open(so);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto store = std::move(opened).value();
  auto log = std::move(state::SourceLog::Open(store.get(), {})).value();
  if (!log->Create("bench.pin", 4, state::LogApi::kKafkaTopic).ok()) return 1;
  // Ingest (not timed): 500-record requests, as the REST Proxy path would deliver them.
  for (std::size_t b = 0; b < n; b += 500) {
    std::vector<state::LogRecord> batch;
    for (std::size_t i = b; i < std::min(n, b + 500); ++i) {
      state::LogRecord r;
      r.partition =
          static_cast<int>(i % 4);  // round-robin, as the REST Proxy places keyless records
      r.value = records[i];
      batch.push_back(std::move(r));
    }
    if (!log->Append("bench.pin", std::move(batch)).ok()) return 1;
  }
  // Start the clock on a quiet store: the ingest's flushes and compactions are ingest work.
  if (!store->Flush().ok() || !store->WaitForBackgroundWork(std::chrono::minutes(2))) {
    std::fprintf(stderr, "store did not settle after the ingest\n");
    return 1;
  }
  std::printf("ingested %zu pin records (%zu distinct posts)\n", n, distinct);

  connectors::ConnectorEnv env;
  env.store = store.get();
  env.source_log = log.get();
  int runs = argc > 4 ? std::max(1, std::atoi(argv[4])) : 3;
  bench::PinQueryRun best;
  std::vector<double> cpu_us;
  for (int r = 0; r < runs; ++r) {
    std::string name = r == 0 ? "pin" : "pin_run" + std::to_string(r);
    std::string yaml = std::string(kSources) + bench::PinQueryYaml("pins", name);
    yaml.replace(yaml.find("__DIR__"), 7, dir);
    auto run = bench::RunPinQuery(yaml, dir, env, name);
    auto* t = *store->Table(name, false);
    std::printf(
        "pipeline: %zu records in %.2fs, table %s has %lld rows in %lld versions, exit %d\n", n,
        run.seconds, name.c_str(), static_cast<long long>(t->num_rows()),
        static_cast<long long>(t->latest_version() + 1), run.exit_code);
    if (run.exit_code != 0 || t->num_rows() != static_cast<std::int64_t>(ids.size())) {
      std::fprintf(stderr, "unexpected result\n");
      return 1;
    }
    cpu_us.push_back((run.user_seconds + run.system_seconds) / static_cast<double>(n) * 1e6);
    if (r == 0 || run.seconds < best.seconds) best = run;
    // The next run starts on a quiet store too.
    if (!store->Flush().ok() || !store->WaitForBackgroundWork(std::chrono::minutes(2))) {
      std::fprintf(stderr, "store did not settle after run %d\n", r);
      return 1;
    }
  }
  std::sort(cpu_us.begin(), cpu_us.end());
  std::printf("CPU per record over %d runs (µs, sorted):", runs);
  for (double c : cpu_us) std::printf(" %.3f", c);
  std::printf("\n");
  double rate = static_cast<double>(n) / best.seconds;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  double bare = 0;
  for (int i = 0; i < 3; ++i)
    bare = std::max(bare,
                    BareParse(std::vector<std::string>(
                        records.begin(), records.begin() + static_cast<std::ptrdiff_t>(
                                                               std::min<std::size_t>(n, 300000)))));
  // The machine's cost of writing new page-cache pages (the WAL and the flushed SSTs of the
  // committed table are written during the run), measured after the run in the same process.
  auto pages = bench::MeasurePageCacheWrites(dir, std::size_t{1} << 30);
  double mb_per_rec = static_cast<double>(best.bytes_written) / static_cast<double>(n) / 1e6;
  bench::Report("pin_pipeline_rec_per_s", rate, "rec/s");
  bench::Report("pin_pipeline_rec_per_s_per_core", rate / cores, "rec/s/core");
  bench::Report("bare_simdjson_parse_rec_per_s_one_core", bare, "rec/s");
  bench::Report("pin_pipeline_per_core_vs_bare_parse_ratio", rate / cores / bare, "x");
  bench::Report("pin_pipeline_bytes_written_per_rec", mb_per_rec * 1e6, "B/rec");
  bench::Report("pin_pipeline_cpu_us_per_rec_best", cpu_us.front(), "us/rec");
  bench::Report("pin_pipeline_cpu_us_per_rec_median", cpu_us[cpu_us.size() / 2], "us/rec");
  bench::Report("page_cache_write_new_pages", pages.fresh_gbps, "GB/s");
  bench::Report("page_cache_write_cached_pages", pages.overwrite_gbps, "GB/s");
  // What writing the run's bytes into new pages alone costs, per record (µs of a core).
  bench::Report("pin_pipeline_new_page_write_us_per_rec",
                mb_per_rec * 1e6 / (pages.fresh_gbps * 1e3), "us/rec");
  log->Shutdown();
  fs::remove_all(dir);
  return 0;
}
