// Delta-table benchmarks (issue "Delta tables on RocksDB"):
//   append    rows/s of pin rows (~600 bytes, 12 typed columns) committed as table versions of
//             1,000 and 10,000 rows, each in its own synced WriteBatch (the exactly-once commit)
//   scan      rows/s and MB/s decoding a 1M-row table, at the latest and at an old version
//   recovery  seconds from opening the data dir to "ready" (Daemon::Start: RocksDB open with WAL
//             replay, table heads, query recovery) with 10M committed rows in 1,000 versions and
//             one batch planned but not committed
// run_benchmarks.sh runs db_bench (fillseq --sync=1 --batch_size=1000, readseq) beside it.
//
//   table_bench [append|scan|recovery|all] [dir=/tmp/pinstream-table-bench]

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "bench/bench_util.h"
#include "connectors/registry.h"
#include "engine/allocator.h"
#include "engine/config_node.h"
#include "engine/daemon.h"
#include "engine/shard_executor.h"
#include "operators/parse_json.h"
#include "state/checkpoint_store.h"
#include "state/delta_table.h"
#include "state/store.h"

using namespace pinstream;
namespace fs = std::filesystem;

namespace {

// Pin rows in typed columns: the bundled records parsed once with parse_json.
std::vector<RecordBatch> PinBatches(std::size_t rows, std::size_t per_batch) {
  auto recs = bench::PinRecords(rows);
  auto spec = ops::ParseJsonFromConfig(
      ConfigNode::LoadString(
          "schema: {index: int64, unique_id: string, title: string, description: string, "
          "poster_name: string, follower_count: string, tag_list: string, "
          "is_image_or_video: string, image_src: string, downloaded: int64, "
          "save_location: string, category: string}")
          .WithImplicitKeys({}));
  auto op = std::move(spec->Create(OperatorInitContext{})).value();
  std::vector<RecordBatch> out;
  for (std::size_t b = 0; b < rows; b += per_batch) {
    RecordBatch in;
    Column v(TypeId::kRaw);
    for (std::size_t i = b; i < std::min(rows, b + per_batch); ++i) {
      v.AppendString(recs[i]);
      in.row_ids().push_back(i - b);
    }
    in.AddColumn("value", std::move(v));
    OperatorContext ctx;
    if (!op->Process(in, ctx).ok()) std::abort();
    out.push_back(std::move(in));
  }
  return out;
}

std::size_t RowBytes(const RecordBatch& b) {
  std::size_t n = 0;
  for (std::size_t c = 0; c < b.num_columns(); ++c)
    n += b.column(c).bytes().size() + b.column(c).ints().size() * 8;
  return n;
}

std::unique_ptr<state::Store> OpenStore(const std::string& dir) {
  state::StoreOptions o;
  o.data_dir = dir;
  auto s = state::Store::Open(o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(s).value();
}

void Append(const std::string& dir) {
  for (std::size_t per : {std::size_t{1000}, std::size_t{10000}}) {
    if (const char* only = std::getenv("APPEND_ONLY"); only && std::to_string(per) != only)
      continue;
    fs::remove_all(dir);
    auto batches = PinBatches(per == 1000 ? 300000 : 500000, per);
    std::size_t bytes = 0, rows = 0;
    for (const auto& b : batches) {
      bytes += RowBytes(b);
      rows += b.num_rows();
    }
    double best = 0, best_stage = 0;
    for (int rep = 0; rep < 3; ++rep) {  // best of 3: the machine's disk and CPUs are shared
      fs::remove_all(dir);
      auto store = OpenStore(dir);
      state::DeltaTable* t = *store->Table("pin", true);
      auto t0 = std::chrono::steady_clock::now();
      std::int64_t n = 0;
      double stage_s = 0;
      for (const auto& b : batches) {
        auto ts = std::chrono::steady_clock::now();
        auto txn = store->BeginTxn(n);
        state::WriteOptions wo;
        wo.app_id = "bench";
        wo.batch_id = n++;
        if (!t->StageWrite(*txn, b, wo).ok()) std::abort();
        stage_s += bench::Seconds(ts);
        if (!store->Commit(std::move(txn), /*sync=*/true).ok()) std::abort();
      }
      double s = bench::Seconds(t0);
      if (double(rows) / s > best) {
        best = double(rows) / s;
        best_stage = stage_s / s;
      }
    }
    std::printf("append %zu-row versions: %zu rows (%.0f bytes/row), %.0f%% of the time encoding\n",
                per, rows, double(bytes) / double(rows), best_stage * 100);
    bench::Report(fmt::format("table_append_{}_rows_per_s", per), best, "rows/s");
    bench::Report(fmt::format("table_append_{}_mb_per_s", per),
                  best * double(bytes) / double(rows) / 1e6, "MB/s");
  }
}

void Scan(const std::string& dir) {
  fs::remove_all(dir);
  constexpr std::size_t kRows = 1000000;
  {
    auto store = OpenStore(dir);
    state::DeltaTable* t = *store->Table("pin", true);
    auto batches = PinBatches(kRows, 10000);
    std::int64_t n = 0;
    for (const auto& b : batches) {
      auto txn = store->BeginTxn(n);
      state::WriteOptions wo;
      wo.batch_id = n++;
      if (!t->StageWrite(*txn, b, wo).ok() || !store->Commit(std::move(txn), false).ok())
        std::abort();
    }
    if (!store->Flush().ok()) std::abort();
    store->CompactRange(state::KeySpace::kTables);
  }
  auto store = OpenStore(dir);
  state::DeltaTable* t = *store->Table("pin", false);
  for (auto [label, version] : {std::pair<const char*, std::int64_t>{"latest", -1}, {"old", 49}}) {
    double best_rows = 0, best_mb = 0;
    for (int rep = 0; rep < 3; ++rep) {
      auto snap =
          std::move(t->Snapshot(version < 0 ? std::nullopt : std::optional<std::int64_t>(version)))
              .value();
      std::size_t rows = 0, bytes = 0;
      auto t0 = std::chrono::steady_clock::now();
      Status st = snap->Scan(nullptr, [&](RecordBatch&& b) -> Status {
        rows += b.num_rows();
        bytes += RowBytes(b);
        return Status::Ok();
      });
      double s = bench::Seconds(t0);
      if (!st.ok() || static_cast<std::int64_t>(rows) != snap->num_rows()) std::abort();
      best_rows = std::max(best_rows, double(rows) / s);
      best_mb = std::max(best_mb, double(bytes) / s / 1e6);
      if (rep == 0)
        std::printf("scan %s (version %lld): %zu rows\n", label, (long long)snap->version(), rows);
    }
    bench::Report(fmt::format("table_scan_{}_rows_per_s", label), best_rows, "rows/s");
    bench::Report(fmt::format("table_scan_{}_mb_per_s", label), best_mb, "MB/s");
  }
  // Projection: 2 of 12 columns (what SQL push-down asks for).
  auto snap = std::move(t->Snapshot()).value();
  std::vector<std::string> cols{"category", "follower_count"};
  std::size_t rows = 0;
  auto t0 = std::chrono::steady_clock::now();
  if (!snap->Scan(&cols,
                  [&](RecordBatch&& b) -> Status {
                    rows += b.num_rows();
                    return Status::Ok();
                  })
           .ok())
    std::abort();
  bench::Report("table_scan_2_columns_rows_per_s", double(rows) / bench::Seconds(t0), "rows/s");
}

void Recovery(const std::string& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir + "/in");
  std::string yaml = fmt::format(R"(data_dir: {0}/data
sources:
  events: {{kind: file, path: {0}/in}}
queries:
  - name: q
    source: events
    trigger: available_now
    operators: [{{kind: parse_json, schema: {{id: int64, name: string}}}}]
    sink: {{kind: delta, table: events}}
)",
                                 dir);
  connectors::ConnectorEnv env;
  auto reg = bench::PluginRegistries(&env);
  DaemonConfig cfg = LoadConfigFromString(yaml, "bench.yaml", dir, *reg);
  constexpr int kVersions = 1000;
  constexpr int kRowsPerVersion = 10000;
  {
    // Write what 1,000 committed batches of the query leave behind, through the same APIs.
    auto store = OpenStore(cfg.data_dir);
    state::RocksCheckpointStore cps(store.get());
    auto cp = std::move(cps.OpenQuery("q")).value();
    QueryMetadata meta;
    meta.id = "bench-query";
    meta.name = "q";
    meta.sources = {"events:file:" + cfg.sources.at("events").spec->Descriptor()};
    if (!cp->WriteMetadata(meta).ok()) std::abort();
    state::DeltaTable* t = *store->Table("events", true);
    for (int v = 0; v <= kVersions; ++v) {
      OffsetLogEntry e;
      e.batch_id = v;
      e.sources["events"]["f.jsonl"] = static_cast<std::int64_t>(v + 1) * kRowsPerVersion * 20;
      if (!cp->WriteOffsets(e).ok()) std::abort();
      if (v == kVersions) break;  // the open batch: offsets/1000 without commits/1000
      RecordBatch b;
      Column id(TypeId::kInt64), name(TypeId::kString);
      for (int i = 0; i < kRowsPerVersion; ++i) {
        b.row_ids().push_back(static_cast<RowId>(i));
        id.AppendInt(static_cast<std::int64_t>(v) * kRowsPerVersion + i);
        name.AppendString(fmt::format("name-{}", i % 977));
      }
      b.AddColumn("id", std::move(id));
      b.AddColumn("name", std::move(name));
      auto txn = cp->BeginCommit(v);
      state::WriteOptions wo;
      wo.app_id = meta.id;
      wo.batch_id = v;
      wo.writer = "q";
      if (!t->StageWrite(*txn, b, wo).ok()) std::abort();
      CommitLogEntry c;
      c.batch_id = v;
      if (!cp->Commit(std::move(txn), c).ok()) std::abort();
    }
    std::printf("recovery: wrote %d rows in %d versions + 1 open batch\n",
                kVersions * kRowsPerVersion, kVersions);
    // No flush: the reopen replays whatever the WAL holds, as after a crash.
  }
  double best = 1e9;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    state::StoreOptions so;
    so.data_dir = cfg.data_dir;
    auto store = OpenStore(cfg.data_dir);
    env.store = store.get();
    state::RocksCheckpointStore cps(store.get());
    DaemonParts parts;
    parts.config = &cfg;
    parts.checkpoints = &cps;
    Daemon d(std::move(parts));
    Status st = d.Start();
    double s = bench::Seconds(t0);
    if (!st.ok()) {
      std::fprintf(stderr, "recovery failed: %s\n", st.ToString().c_str());
      std::exit(1);
    }
    auto q = d.FindQuery("q");
    if (q == nullptr || q->next_batch_id() != kVersions) std::abort();
    state::DeltaTable* t = *store->Table("events", false);
    if (t->num_rows() != std::int64_t{kVersions} * kRowsPerVersion) std::abort();
    best = std::min(best, s);
    for (const auto& qq : d.queries()) qq->Stop();
  }
  bench::Report("recovery_seconds_10M_rows", best, "s");
}

}  // namespace

int main(int argc, char** argv) {
  TuneAllocatorForBatches();
  std::string what = argc > 1 ? argv[1] : "all";
  std::string dir = argc > 2 ? argv[2] : "/tmp/pinstream-table-bench";
  spdlog::set_level(spdlog::level::warn);
  if (what == "append" || what == "all") Append(dir);
  if (what == "scan" || what == "all") Scan(dir);
  if (what == "recovery" || what == "all") Recovery(dir);
  fs::remove_all(dir);
  return 0;
}
