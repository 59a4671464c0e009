// Live views against re-running the queries (issue "Live SQL views"): the eight analysis queries
// (conf/queries/q1–q8.sql) as live views over pin, geo and user tables of N rows each, resampled
// from the cleaned bundled data as sql_bench does. The views run as `pinstream run` runs them:
// conf/pinterest.yaml with the eight as its `views:` section, planned, lowered and turned into
// queries by AddViewQueries, run by the Daemon (a delta source per input, the operators' state, the
// view's table and the input versions committed in one transaction per batch), woken by table
// commits as the daemon wakes them. Only the views run: the config's own queries (which would read
// HTTP topics) are removed after the views were planned against their tables' schemas. The views'
// trigger is `continuous` (the daemon's default is a 500 ms interval, which would measure the
// interval rather than the work).
//
// For each size: the tables are filled (100k-row versions) while the views keep up, RocksDB's
// flushes and compactions the fill left behind are let finish (timed; otherwise they would run
// beside the batches and be counted as theirs — what the batches themselves leave behind is
// measured after them, per batch), then batches
// of B posts (B pin + B geo + B user rows with new ind, one transaction) are appended, and the
// time from each batch's commit until every view has committed a batch over it is measured (wall
// and the process's CPU); then, in the same process over the same tables, the eight query files
// are run once by SqlSession::QueryAll — what `pinstream report` does — and each view's table is
// read with `SELECT *`. Every view's row count is checked against the batch SQL's (the program
// fails otherwise). State bytes per input row: the views' stateOnDiskBytes (their last batch's
// progress) over the input rows (3 × N).
//
//   view_bench BASE_DATA_DIR OUT_DIR [sizes=1000000] [batches=5] [batch_rows=10000] [queries=all]
//
// BASE_DATA_DIR holds the cleaned tables (conf/pinterest-files.yaml's output); sizes is a
// comma-separated list of rows per table, growing (e.g. 1000000,2000000); queries a
// comma-separated list of query numbers (e.g. 1,5) to run only those views — and re-run only
// those queries — to see what each one costs alone.
#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "connectors/connector_env.h"
#include "connectors/table/delta_source.h"
#include "engine/allocator.h"
#include "engine/config.h"
#include "engine/daemon.h"
#include "engine/registry.h"
#include "engine/streaming_query.h"
#include "state/checkpoint_store.h"
#include "state/delta_table.h"
#include "state/sql/sql_session.h"
#include "state/store.h"
#include "views/registry.h"
#include "views/view_query.h"

using namespace pinstream;
namespace fs = std::filesystem;

namespace {

using bench::Die;
using bench::Must;
using bench::ReadFile;

constexpr const char* kTables[] = {"pin", "geo", "user"};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  TuneAllocatorForBatches();
  // PINSTREAM_BENCH_MALLOC_ARENAS=N: glibc arenas instead of the daemon's one (an experiment:
  // the nine view threads contend for the one arena's lock; bench/README).
  if (const char* a = std::getenv("PINSTREAM_BENCH_MALLOC_ARENAS"); a && std::atoi(a) > 0)
    mallopt(M_ARENA_MAX, std::atoi(a));
  spdlog::set_level(spdlog::level::warn);
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: view_bench BASE_DATA_DIR OUT_DIR [sizes=1000000] [batches=5] "
                 "[batch_rows=10000] [queries=all, e.g. 1,5]\n");
    return 2;
  }
  const std::string base_dir = argv[1];
  const fs::path out = argv[2];
  std::vector<std::size_t> sizes;
  {
    std::stringstream ss(argc > 3 ? argv[3] : "1000000");
    std::string item;
    while (std::getline(ss, item, ',')) sizes.push_back(std::strtoull(item.c_str(), nullptr, 10));
  }
  const int batches = argc > 4 ? std::max(1, std::atoi(argv[4])) : 5;
  const std::size_t batch_rows = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 10000;
  std::vector<int> qs;
  if (argc > 6 && std::string(argv[6]) != "all") {
    std::stringstream ss(argv[6]);
    std::string item;
    while (std::getline(ss, item, ',')) {
      int q = std::atoi(item.c_str());
      if (q < 1 || q > 8) Die("queries: numbers 1 to 8, comma-separated (or all)");
      qs.push_back(q);
    }
  } else {
    qs = {1, 2, 3, 4, 5, 6, 7, 8};
  }
  fs::remove_all(out);
  fs::create_directories(out);

  std::map<std::string, RecordBatch> base;
  {
    auto base_store = Must(state::Store::OpenReader(base_dir), "opening " + base_dir);
    for (const char* name : kTables) {
      auto* t = Must(base_store->Table(name, false), name);
      base[name] = Must(Must(t->Snapshot(), name)->ReadAll(), name);
    }
  }
  state::StoreOptions so;
  so.data_dir = (out / "data").string();
  auto store = Must(state::Store::Open(so), "opening the store");
  connectors::ConnectorEnv env;
  env.store = store.get();
  auto reg = bench::PluginRegistries(&env);
  views::RegisterViewSections(reg->sections);

  // conf/pinterest.yaml (the tables' queries, whose schemas the views are planned against) with
  // the eight queries as views q1_live … q8_live (a views: section it has is replaced).
  const fs::path conf = fs::path(PINSTREAM_SOURCE_DIR) / "conf";
  std::string yaml = ReadFile(conf / "pinterest.yaml");
  if (std::size_t v = yaml.find("\nviews:"); v != std::string::npos) {
    std::size_t next = v + 1;
    do {
      next = yaml.find('\n', next);
      if (next != std::string::npos) ++next;
    } while (next != std::string::npos && next < yaml.size() &&
             (yaml[next] == ' ' || yaml[next] == '#' || yaml[next] == '\n'));
    yaml.erase(v + 1, next == std::string::npos ? std::string::npos : next - v - 1);
  }
  yaml += "\nviews:\n";
  for (int q : qs) yaml += fmt::format("  - {{name: q{0}_live, sql: queries/q{0}.sql}}\n", q);
  ::setenv("PINSTREAM_DATA_DIR", so.data_dir.c_str(), 1);
  DaemonConfig cfg;
  try {
    cfg = LoadConfigFromString(yaml, (conf / "pinterest.yaml").string(), conf.string(), *reg);
  } catch (const ConfigError& e) {
    Die(e.what());
  }
  if (Status st = views::AddViewQueries(cfg, *reg); !st.ok()) Die(st.ToString());
  std::erase_if(cfg.queries, [](const QueryConfig& q) { return q.view.empty(); });
  // query → the tables it reads; view name → its tables (statements) in order.
  std::map<std::string, std::vector<std::string>> inputs;
  std::map<std::string, std::vector<std::string>> view_tables;
  for (auto& q : cfg.queries) {
    q.trigger.kind = TriggerConfig::Kind::kContinuous;
    for (const auto& s : q.sources) inputs[q.name].push_back(cfg.sources.at(s).spec->TableName());
    view_tables[q.view].push_back(q.name);
  }
  std::printf("%zu view tables from %zu query files\n", cfg.queries.size(), qs.size());

  bench::ViewProgress progress;
  state::RocksCheckpointStore cps(store.get());
  DaemonParts parts;
  parts.config = &cfg;
  parts.checkpoints = &cps;
  parts.on_progress = [&progress](const QueryProgress& p) { progress.OnProgress(p); };
  Daemon daemon(std::move(parts));
  // A commit to a table wakes the views reading it, as `pinstream run` wires it (app/cmd_run.cc).
  store->AddTableCommitListener([&daemon, &cfg](const std::string& table) {
    for (const auto& q : daemon.queries()) {
      for (const auto& src : q->config().sources) {
        auto it = cfg.sources.find(src);
        if (it != cfg.sources.end() && it->second.spec->TableName() == table) {
          q->Wake();
          break;
        }
      }
    }
  });
  int daemon_rc = 0;
  std::thread runner;  // Daemon::Run, once the tables exist (the views' sources need them)

  std::mt19937_64 rng(42);
  std::size_t rows = 0;  // per table; the next post's ind
  // Appends rows [rows, to) to each table, `version_rows` per version, the three tables of a
  // version in one transaction; returns each table's latest version.
  auto append = [&](std::size_t to, std::size_t version_rows) {
    for (std::size_t from = rows; from < to; from += version_rows) {
      std::size_t end = std::min(to, from + version_rows);
      auto txn = store->BeginTxn();
      for (const char* name : kTables) {
        RecordBatch part = bench::ResampleRows(base[name], from, end, rng);
        auto* t = Must(store->Table(name, true), name);
        if (Status st = t->StageWrite(*txn, part, state::WriteOptions{}); !st.ok())
          Die(st.ToString());
      }
      if (Status st = store->Commit(std::move(txn)); !st.ok()) Die(st.ToString());
    }
    rows = to;
    std::map<std::string, std::int64_t> versions;
    for (const char* name : kTables)
      versions[name] = (*store->Table(name, false))->latest_version();
    return versions;
  };

  auto session = Must(state::sql::SqlSession::Open(store.get()), "sql session");
  std::vector<fs::path> files;
  for (int q : qs) files.push_back(conf / "queries" / fmt::format("q{}.sql", q));

  for (std::size_t n : sizes) {
    if (n <= rows) Die("sizes must grow");
    const std::string tag =
        n % 1000000 == 0 ? fmt::format("{}m", n / 1000000) : fmt::format("{}k", n / 1000);
    // Fill (the views catch up as the versions arrive).
    auto t0 = std::chrono::steady_clock::now();
    double cpu0 = bench::ProcessCpuSeconds();
    std::size_t before = rows;
    auto versions = append(n, 100000);
    if (!runner.joinable()) {
      if (Status st = daemon.Start(); !st.ok()) Die(st.ToString());
      runner = std::thread([&] { daemon_rc = daemon.Run(); });
    }
    if (!progress.WaitFor(inputs, versions, std::chrono::minutes(30)))
      Die("views did not catch up");
    double fill_s = bench::Seconds(t0);
    double fill_cpu = bench::ProcessCpuSeconds() - cpu0;
    std::printf(
        "%s: %zu → %zu rows per table, views caught up in %.1f s (CPU %.1f s, %.0f input "
        "rows/s)\n",
        tag.c_str(), before, n, fill_s, fill_cpu, 3.0 * static_cast<double>(n - before) / fill_s);
    bench::Report(fmt::format("view_fill_{}_input_rows_per_s", tag),
                  3.0 * static_cast<double>(n - before) / fill_s, "rows/s");
    // The fill leaves RocksDB flushes and compactions behind (the views' state grew by 3N rows'
    // worth in seconds); running beside the batches they would be counted as the batches' cost.
    // Settled first, so a batch is measured with its own work only (what it leaves behind is
    // measured after the batches).
    {
      auto s0 = std::chrono::steady_clock::now();
      double c0 = bench::ProcessCpuSeconds();
      if (!store->WaitForBackgroundWork(std::chrono::minutes(10)))
        Die("RocksDB's background work did not settle after the fill");
      std::printf("  the fill's flushes and compactions settled %.1f s later (CPU %.1f s)\n",
                  bench::Seconds(s0), bench::ProcessCpuSeconds() - c0);
    }

    // Batches of posts.
    auto totals0 = progress.BatchTotals();
    std::vector<double> wall, cpu;
    for (int b = 0; b < batches; ++b) {
      auto a = std::chrono::steady_clock::now();
      double c0 = bench::ProcessCpuSeconds();
      auto v = append(rows + batch_rows, batch_rows);
      if (!progress.WaitFor(inputs, v, std::chrono::minutes(10))) Die("views did not catch up");
      wall.push_back(bench::Seconds(a));
      cpu.push_back(bench::ProcessCpuSeconds() - c0);
      std::printf("  batch %d: %zu posts, all views up to date in %.1f ms (CPU %.1f ms)\n", b,
                  batch_rows, wall.back() * 1000, cpu.back() * 1000);
    }
    n = rows;
    // What the batches left to RocksDB's background threads (a memtable flush, the compactions
    // it triggers; none when the batches' writes all fit the memtables).
    double leftover_cpu = 0;
    {
      double c0 = bench::ProcessCpuSeconds();
      if (!store->WaitForBackgroundWork(std::chrono::minutes(10)))
        Die("RocksDB's background work did not settle after the batches");
      leftover_cpu = bench::ProcessCpuSeconds() - c0;
      std::printf("  background work left by the batches: CPU %.1f ms per batch\n",
                  leftover_cpu * 1000 / batches);
    }
    bench::Report(fmt::format("view_batch_{}_background_cpu_ms", tag), leftover_cpu * 1000 / batches,
                  "ms");
    // Where the batches' time went: each view's batch durations (triggerExecution) summed.
    for (const auto& [query, t] : progress.BatchTotals()) {
      std::printf("    %-12s %7.1f ms per batch of posts\n", query.c_str(),
                  static_cast<double>(t.first - totals0[query].first) / batches);
    }
    double batch_ms = Median(wall) * 1000, batch_cpu_ms = Median(cpu) * 1000;

    // The eight queries re-run over the same tables (`pinstream report`), once.
    double report_s = 0, report_cpu = 0;
    std::map<std::string, std::size_t> batch_sql_rows;  // view table → rows
    for (std::size_t f = 0; f < files.size(); ++f) {
      auto a = std::chrono::steady_clock::now();
      double c0 = bench::ProcessCpuSeconds();
      auto r = Must(session->QueryAll(ReadFile(files[f])), files[f].string());
      report_s += bench::Seconds(a);
      report_cpu += bench::ProcessCpuSeconds() - c0;
      const auto& tables = view_tables.at(fmt::format("q{}_live", qs[f]));
      if (tables.size() != r.size()) Die(files[f].string() + ": statements differ");
      for (std::size_t i = 0; i < r.size(); ++i) batch_sql_rows[tables[i]] = r[i].rows.num_rows();
    }
    // Reading each view's answer, best of 3; and the check of its row count.
    double read_max_ms = 0;
    for (const auto& [table, expected] : batch_sql_rows) {
      double best = 1e9;
      std::size_t got = 0;
      for (int rep = 0; rep < 3; ++rep) {
        auto a = std::chrono::steady_clock::now();
        auto r = Must(session->QueryAll(fmt::format("SELECT * FROM \"{}\"", table)), table);
        best = std::min(best, bench::Seconds(a));
        got = r.at(0).rows.num_rows();
      }
      if (got != expected)
        Die(fmt::format("{}: the view holds {} rows, the batch SQL answers {}", table, got,
                        expected));
      read_max_ms = std::max(read_max_ms, best * 1000);
      std::printf("  %-12s %6zu rows, read in %.2f ms\n", table.c_str(), got, best * 1000);
    }
    const double state_bytes = static_cast<double>(progress.StateBytes());
    std::printf(
        "%s: batch of %zu posts: views %.1f ms (CPU %.1f ms) vs report %.0f ms (CPU %.0f "
        "ms): %.4fx wall, %.4fx CPU; state %.1f MB (%.1f B per input row)\n",
        tag.c_str(), batch_rows, batch_ms, batch_cpu_ms, report_s * 1000, report_cpu * 1000,
        batch_ms / 1000 / report_s, batch_cpu_ms / 1000 / report_cpu, state_bytes / 1e6,
        state_bytes / (3.0 * static_cast<double>(n)));
    bench::Report(fmt::format("view_batch_{}_ms", tag), batch_ms, "ms");
    bench::Report(fmt::format("view_batch_{}_cpu_ms", tag), batch_cpu_ms, "ms");
    bench::Report(fmt::format("view_report_{}_ms", tag), report_s * 1000, "ms");
    bench::Report(fmt::format("view_report_{}_cpu_ms", tag), report_cpu * 1000, "ms");
    bench::Report(fmt::format("view_vs_report_{}_ratio", tag), batch_ms / 1000 / report_s, "x");
    bench::Report(fmt::format("view_vs_report_{}_cpu_ratio", tag), batch_cpu_ms / 1000 / report_cpu,
                  "x");
    bench::Report(fmt::format("view_read_max_{}_ms", tag), read_max_ms, "ms");
    bench::Report(fmt::format("view_state_bytes_per_input_row_{}", tag),
                  state_bytes / (3.0 * static_cast<double>(n)), "B");
  }
  daemon.RequestDrain();
  runner.join();
  if (daemon_rc != 0) Die(fmt::format("the daemon exited with {}", daemon_rc));
  session.reset();
  store.reset();
  fs::remove_all(out);
  return 0;
}
