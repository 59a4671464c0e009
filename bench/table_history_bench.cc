// Reading a table costs the same whatever its history: the same pin, geo and user rows written as
// 1 version, 10k versions and 200k versions per table, each history read with the storage
// policy's OPTIMIZE (the daemon's table-maint pass every 20 versions: a 500 ms trigger and the
// default 10 s maintenance interval) and with OPTIMIZE off (log checkpoints alone). For each:
// opening the tables, `SELECT count(*)`, a full scan (every column decoded) and the eight
// analysis queries (conf/queries), each best of 3, against the 1-version table in the same run;
// the queries' results must equal the 1-version ones. Then, with the policy, VACUUM keeping only
// the latest version and a compaction of the tables key space: bytes on disk against the bytes
// of the live rows' chunks.
//
//   table_history_bench BASE_DATA_DIR OUT_DIR [rows=200000] [versions=10000,200000]
//
// BASE_DATA_DIR holds the cleaned pin/geo/user tables (conf/pinterest-files.yaml's output).
// Versions are written straight through the table API (StageWrite, one RocksDB write each, no
// fsync), not through the HTTP path.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "bench/bench_util.h"
#include "engine/row_format.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/sql/sql_session.h"
#include "state/store.h"
#include "state/table_maintenance.h"

using namespace pinstream;
namespace fs = std::filesystem;

namespace {

using bench::Die;
using bench::Must;
using bench::ReadFile;

constexpr const char* kTables[] = {"pin", "geo", "user"};
constexpr int kPolicyEvery = 20;  // versions between two passes of the maintenance policy

std::vector<fs::path> QueryFiles() {
  std::vector<fs::path> files;
  for (const auto& e :
       fs::directory_iterator(fs::path(PINSTREAM_SOURCE_DIR) / "conf" / "queries")) {
    if (e.path().extension() == ".sql") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Every result row as text, sorted (the check that every history answers the same).
std::vector<std::string> Render(const std::vector<state::sql::SqlResult>& results) {
  std::vector<std::string> rows;
  for (const auto& r : results) {
    for (std::size_t i = 0; i < r.rows.num_rows(); ++i) {
      std::string row;
      for (std::size_t c = 0; c < r.rows.num_columns(); ++c) {
        const Column& col = r.rows.column(c);
        row += (col.IsNull(i) || col.type() == TypeId::kNull ? std::string("null")
                : col.type() == TypeId::kDouble              ? fmt::format("{:.9g}", col.Double(i))
                                                             : DisplayValue(col, i)) +
               "|";
      }
      rows.push_back(std::move(row));
    }
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

struct Measured {
  double write_s = 0;
  std::int64_t optimize_commits = 0;
  double store_open_ms = 0;
  double table_open_ms = 0;           // the three tables, after the store is open
  std::int64_t log_entries_read = 0;  // by opening the three tables
  std::int64_t live_ranges = 0, live_chunks = 0, versions = 0;
  double count_ms = 0;    // SELECT count(*) FROM pin
  double scan_ms = 0;     // every column of every row of pin decoded
  double queries_ms = 0;  // the eight queries, each best of 3
  std::map<std::string, double> query_ms;
  std::map<std::string, std::vector<std::string>> answers;
  std::uint64_t sst_bytes = 0, live_bytes = 0;  // after VACUUM + compaction (policy runs)
};

template <typename F>
double BestMs(int reps, F&& f) {
  double best = 1e18;
  for (int i = 0; i < reps; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    best = std::min(best, bench::Seconds(a) * 1000);
  }
  return best;
}

state::StoreOptions Options(const fs::path& dir, bool optimize) {
  state::StoreOptions so;
  so.data_dir = dir.string();
  so.maintenance.auto_optimize = optimize;
  so.maintenance.auto_vacuum = false;  // VACUUM is measured apart, at the end
  return so;
}

// Writes `rows` of each table as `versions` versions per table (the tables' versions
// interleaved, as the pipeline's three queries commit), the policy passing every kPolicyEvery.
Measured Write(const fs::path& dir, const std::map<std::string, RecordBatch>& rows,
               std::int64_t versions, bool optimize) {
  Measured m;
  fs::remove_all(dir);
  const state::StoreOptions so = Options(dir, optimize);
  auto store = Must(state::Store::Open(so), "open " + dir.string());
  state::TableMaintenance policy(store.get(), so);
  std::map<std::string, state::DeltaTable*> tables;
  for (const char* name : kTables) tables[name] = Must(store->Table(name, true), name);
  auto txn = store->BeginTxn();
  std::vector<std::uint32_t> pick;
  auto a = std::chrono::steady_clock::now();
  for (std::int64_t v = 0; v < versions; ++v) {
    for (const char* name : kTables) {
      const RecordBatch& all = rows.at(name);
      const std::size_t n = all.num_rows();
      const auto from = static_cast<std::size_t>(static_cast<std::size_t>(v) * n /
                                                 static_cast<std::size_t>(versions));
      const auto to = static_cast<std::size_t>(static_cast<std::size_t>(v + 1) * n /
                                               static_cast<std::size_t>(versions));
      pick.resize(to - from);
      for (std::size_t i = from; i < to; ++i) pick[i - from] = static_cast<std::uint32_t>(i);
      const RecordBatch part = all.Take(pick);
      if (Status st = tables[name]->StageWrite(*txn, part, state::WriteOptions{}); !st.ok())
        Die("write: " + st.ToString());
      if (Status st = store->Write(*txn, /*sync=*/false); !st.ok()) Die("commit: " + st.ToString());
    }
    if (optimize && (v + 1) % kPolicyEvery == 0) policy.RunPolicyOnce();
  }
  if (optimize) policy.RunPolicyOnce();
  if (Status st = store->SyncWal(); !st.ok()) Die("sync: " + st.ToString());
  m.write_s = bench::Seconds(a);
  m.optimize_commits = policy.counters().optimize_commits;
  if (Status st = store->Flush(); !st.ok()) Die("flush: " + st.ToString());
  store->WaitForBackgroundWork(std::chrono::minutes(5));
  return m;
}

void Read(const fs::path& dir, bool optimize, Measured* m) {
  auto a = std::chrono::steady_clock::now();
  auto store = Must(state::Store::Open(Options(dir, optimize)), "reopen " + dir.string());
  m->store_open_ms = bench::Seconds(a) * 1000;
  a = std::chrono::steady_clock::now();
  std::map<std::string, state::DeltaTable*> tables;
  for (const char* name : kTables) tables[name] = Must(store->Table(name, false), name);
  m->table_open_ms = bench::Seconds(a) * 1000;
  for (auto& [name, t] : tables) m->log_entries_read += t->log_entries_read();
  const state::TableInfo pin = tables["pin"]->info();
  m->live_ranges = pin.live_ranges;
  m->live_chunks = pin.live_chunks;
  m->versions = pin.version + 1;

  auto session = Must(state::sql::SqlSession::Open(store.get()), "sql session");
  m->count_ms = BestMs(3, [&] {
    auto r = Must(session->QueryAll("SELECT count(*) FROM pin"), "count");
    m->answers["count"] = Render(r);
  });
  m->scan_ms = BestMs(3, [&] {
    auto snap = Must(tables["pin"]->Snapshot(), "snapshot");
    std::size_t n = 0;
    Status st = snap->Scan(nullptr, [&](RecordBatch&& b) {
      n += b.num_rows();
      return Status::Ok();
    });
    if (!st.ok() || n != static_cast<std::size_t>(snap->num_rows())) Die("scan: " + st.ToString());
  });
  for (const auto& f : QueryFiles()) {
    const std::string sql = ReadFile(f), q = f.stem().string();
    const double ms = BestMs(3, [&] { m->answers[q] = Render(Must(session->QueryAll(sql), q)); });
    m->query_ms[q] = ms;
    m->queries_ms += ms;
  }
}

// VACUUM keeping only the latest version of every table, then a compaction of the tables key
// space: SST bytes of the tables family against the bytes of the live chunks.
void VacuumAndMeasure(const fs::path& dir, Measured* m) {
  auto store = Must(state::Store::Open(Options(dir, true)), "reopen " + dir.string());
  for (const char* name : kTables) {
    state::DeltaTable* t = Must(store->Table(name, false), name);
    state::VacuumOptions vo;
    vo.retain_us = 0;
    vo.now_us = NowMicros() + 1000;
    auto r = Must(t->Vacuum(vo), std::string("vacuum ") + name);
    std::printf("    VACUUM %s: %s, %lld chunks (%lld bytes) and %lld log entries deleted\n", name,
                r.outcome == state::MaintenanceOutcome::kCommitted ? "committed" : r.detail.c_str(),
                static_cast<long long>(r.chunks_removed), static_cast<long long>(r.bytes_removed),
                static_cast<long long>(r.log_entries_removed));
    m->live_bytes += static_cast<std::uint64_t>(t->info().live_bytes);
  }
  if (Status st = store->Flush(); !st.ok()) Die("flush: " + st.ToString());
  store->CompactRange(state::KeySpace::kTables);
  store->WaitForBackgroundWork(std::chrono::minutes(5));
  m->sst_bytes = store->SpaceSize(state::KeySpace::kTables).sst_files;
}

void Print(const std::string& label, const Measured& m, const Measured* base) {
  auto ratio = [&](double v, double b) { return base == nullptr ? 1.0 : v / b; };
  std::printf(
      "  %-22s write %7.1f s (%lld OPTIMIZE)  open %6.2f ms (+store %6.1f ms, %lld log entries)  "
      "count %7.2f ms (%.2fx)  scan %7.1f ms (%.2fx)  8 queries %8.1f ms (%.2fx)  [pin: %lld "
      "versions, %lld live ranges, %lld live chunks]\n",
      label.c_str(), m.write_s, static_cast<long long>(m.optimize_commits), m.table_open_ms,
      m.store_open_ms, static_cast<long long>(m.log_entries_read), m.count_ms,
      ratio(m.count_ms, base ? base->count_ms : 1), m.scan_ms,
      ratio(m.scan_ms, base ? base->scan_ms : 1), m.queries_ms,
      ratio(m.queries_ms, base ? base->queries_ms : 1), static_cast<long long>(m.versions),
      static_cast<long long>(m.live_ranges), static_cast<long long>(m.live_chunks));
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: table_history_bench BASE_DATA_DIR OUT_DIR [rows=200000] "
                 "[versions=10000,200000]\n");
    return 2;
  }
  const std::string base_dir = argv[1];
  const fs::path out = argv[2];
  const std::size_t n = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 200000;
  std::vector<std::int64_t> histories;
  {
    std::string list = argc > 4 ? argv[4] : "10000,200000";
    for (std::size_t p = 0; p < list.size();) {
      std::size_t q = list.find(',', p);
      if (q == std::string::npos) q = list.size();
      histories.push_back(std::strtoll(list.substr(p, q - p).c_str(), nullptr, 10));
      p = q + 1;
    }
  }
  fs::remove_all(out);
  fs::create_directories(out);

  std::map<std::string, RecordBatch> rows;
  {
    auto base_store = Must(state::Store::OpenReader(base_dir), "open " + base_dir);
    std::mt19937_64 rng(42);
    for (const char* name : kTables) {
      auto t = Must(base_store->Table(name, false), name);
      rows[name] = bench::ResampleRows(Must(Must(t->Snapshot(), name)->ReadAll(), name), 0, n, rng);
    }
  }
  std::printf("%zu rows per table (pin, geo, user); reads best of 3\n", n);

  // The baseline: every row in one version.
  Measured one = Write(out / "v1", rows, 1, false);
  Read(out / "v1", false, &one);
  Print("1 version", one, nullptr);
  VacuumAndMeasure(out / "v1", &one);
  bench::Report("history_1v_open_ms", one.table_open_ms, "ms");
  bench::Report("history_1v_count_ms", one.count_ms, "ms");
  bench::Report("history_1v_scan_ms", one.scan_ms, "ms");
  bench::Report("history_1v_queries_ms", one.queries_ms, "ms");
  bench::Report("history_1v_disk_vs_live_chunks_ratio",
                static_cast<double>(one.sst_bytes) / static_cast<double>(one.live_bytes), "x");

  bool same = true;
  for (std::int64_t versions : histories) {
    for (bool optimize : {true, false}) {
      const std::string mode = optimize ? "policy" : "checkpoints";
      const std::string label = fmt::format("{} versions, {}", versions, mode);
      const fs::path dir = out / fmt::format("v{}-{}", versions, mode);
      Measured m = Write(dir, rows, versions, optimize);
      Read(dir, optimize, &m);
      Print(label, m, &one);
      for (const auto& [q, answer] : one.answers) {
        if (m.answers[q] != answer) {
          same = false;
          std::fprintf(stderr, "%s: %s answers differently from 1 version (%zu vs %zu rows)\n",
                       label.c_str(), q.c_str(), m.answers[q].size(), answer.size());
        }
      }
      const std::string p = fmt::format("history_{}v_{}_", versions, mode);
      bench::Report(p + "write_s", m.write_s, "s");
      bench::Report(p + "versions_per_s", static_cast<double>(versions) * 3 / m.write_s,
                    "versions/s");
      bench::Report(p + "open_ms", m.table_open_ms, "ms");
      bench::Report(p + "store_open_ms", m.store_open_ms, "ms");
      bench::Report(p + "open_log_entries_read", static_cast<double>(m.log_entries_read),
                    "entries");
      bench::Report(p + "count_vs_1v_ratio", m.count_ms / one.count_ms, "x");
      bench::Report(p + "scan_vs_1v_ratio", m.scan_ms / one.scan_ms, "x");
      bench::Report(p + "queries_vs_1v_ratio", m.queries_ms / one.queries_ms, "x");
      for (const auto& [q, ms] : m.query_ms)
        std::printf("      %-4s %8.1f ms (1 version %8.1f ms, %.2fx)\n", q.c_str(), ms,
                    one.query_ms[q], ms / one.query_ms[q]);
      if (optimize) {
        VacuumAndMeasure(dir, &m);
        const double r = static_cast<double>(m.sst_bytes) / static_cast<double>(m.live_bytes);
        std::printf("    after VACUUM + compaction: %llu bytes on disk, live chunks %llu bytes\n",
                    static_cast<unsigned long long>(m.sst_bytes),
                    static_cast<unsigned long long>(m.live_bytes));
        bench::Report(p + "disk_vs_live_chunks_ratio", r, "x");
      }
      fs::remove_all(dir);
    }
  }
  if (!same) {
    std::fprintf(stderr, "results differ between histories\n");
    return 1;
  }
  return 0;
}
