// The eight analysis queries (conf/queries) over 1M pin, 1M geo and 1M user rows, resampled from
// the cleaned bundled data: pinstream SQL (SQLite over delta-table virtual tables) beside the same
// SQL in SQLite on native tables holding the same rows, in the same run. Also writes the rows as
// CSV for the pandas and DuckDB runs of run_benchmarks.sh.
//
//   sql_bench BASE_DATA_DIR OUT_DIR [rows=1000000]
//
// BASE_DATA_DIR holds the cleaned pin/geo/user tables (conf/pinterest-files.yaml's output).
// Both engines get the same SQL functions (median, year); the native tables have no indexes
// (SQLite builds its automatic indexes for the joins, as pinstream builds its hash indexes).

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "bench/bench_util.h"
#include "engine/row_format.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/sql/sql_functions.h"
#include "state/sql/sql_session.h"
#include "state/store.h"

using namespace pinstream;
namespace fs = std::filesystem;

namespace {

constexpr const char* kTables[] = {"pin", "geo", "user"};

std::vector<fs::path> QueryFiles() {
  std::vector<fs::path> files;
  for (const auto& e :
       fs::directory_iterator(fs::path(PINSTREAM_SOURCE_DIR) / "conf" / "queries")) {
    if (e.path().extension() == ".sql") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

const char* SqliteType(TypeId t) {
  switch (t) {
    case TypeId::kInt64:
    case TypeId::kBool:
      return "INTEGER";
    case TypeId::kDouble:
      return "REAL";
    default:
      return "TEXT";
  }
}

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "sqlite (%s): %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

void InsertNative(sqlite3* db, const std::string& table, const RecordBatch& b, bool create) {
  if (create) {
    std::string ddl = fmt::format("CREATE TABLE \"{}\" (", table);
    for (std::size_t c = 0; c < b.num_columns(); ++c)
      ddl += fmt::format("{}\"{}\" {}", c ? ", " : "", b.name(c), SqliteType(b.column(c).type()));
    Check(sqlite3_exec(db, (ddl + ")").c_str(), nullptr, nullptr, nullptr), db, "create");
  }
  std::string ins = fmt::format("INSERT INTO \"{}\" VALUES (", table);
  for (std::size_t c = 0; c < b.num_columns(); ++c) ins += c ? ",?" : "?";
  ins += ")";
  sqlite3_stmt* st = nullptr;
  Check(sqlite3_prepare_v2(db, ins.c_str(), -1, &st, nullptr), db, "prepare insert");
  for (std::size_t r = 0; r < b.num_rows(); ++r) {
    for (std::size_t c = 0; c < b.num_columns(); ++c) {
      const Column& col = b.column(c);
      int i = static_cast<int>(c) + 1;
      if (col.type() == TypeId::kNull || col.IsNull(r)) {
        sqlite3_bind_null(st, i);
        continue;
      }
      switch (col.type()) {
        case TypeId::kInt64:
        case TypeId::kBool:
          sqlite3_bind_int64(st, i, col.Int(r));
          break;
        case TypeId::kDouble:
          sqlite3_bind_double(st, i, col.Double(r));
          break;
        case TypeId::kTimestamp: {
          std::string s = FormatTimestamp(col.Int(r), TimestampStyle::kSql);
          sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
          break;
        }
        case TypeId::kDoubleArray: {
          std::string s = "[";
          auto a = col.Array(r);
          for (std::size_t k = 0; k < a.size(); ++k) s += fmt::format("{}{}", k ? "," : "", a[k]);
          s += "]";
          sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
          break;
        }
        default: {
          std::string_view s = col.Str(r);
          sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
        }
      }
    }
    Check(sqlite3_step(st), db, "insert");
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
}

// Runs every statement of `sql` on a native connection; returns the rows rendered as text (for
// the cross-check) and the number of rows.
std::vector<std::string> RunNative(sqlite3* db, const std::string& sql) {
  std::vector<std::string> rows;
  const char* p = sql.c_str();
  while (*p) {
    sqlite3_stmt* st = nullptr;
    const char* tail = nullptr;
    Check(sqlite3_prepare_v2(db, p, -1, &st, &tail), db, "prepare query");
    p = tail;
    if (st == nullptr) continue;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const unsigned char* t = sqlite3_column_text(st, c);
        row += fmt::format("{}|", t ? reinterpret_cast<const char*>(t) : "null");
      }
      rows.push_back(std::move(row));
    }
    Check(rc, db, "step");
    sqlite3_finalize(st);
  }
  return rows;
}

std::vector<std::string> Render(const std::vector<state::sql::SqlResult>& results) {
  std::vector<std::string> rows;
  for (const auto& r : results) {
    for (std::size_t i = 0; i < r.rows.num_rows(); ++i) {
      std::string row;
      for (std::size_t c = 0; c < r.rows.num_columns(); ++c) {
        const Column& col = r.rows.column(c);
        std::string v = col.IsNull(i) || col.type() == TypeId::kNull ? "null"
                        : col.type() == TypeId::kTimestamp
                            ? FormatTimestamp(col.Int(i), TimestampStyle::kSql)
                        : col.type() == TypeId::kDouble ? fmt::format("{}", col.Double(i))
                                                        : DisplayValue(col, i);
        row += v + "|";
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  if (argc < 3) {
    std::fprintf(stderr, "usage: sql_bench BASE_DATA_DIR OUT_DIR [rows]\n");
    return 2;
  }
  std::string base_dir = argv[1];
  fs::path out = argv[2];
  std::size_t n = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1000000;
  fs::remove_all(out);
  fs::create_directories(out / "csv");

  auto base_store = std::move(state::Store::OpenReader(base_dir)).value();
  state::StoreOptions so;
  so.data_dir = (out / "data").string();
  auto store = std::move(state::Store::Open(so)).value();
  sqlite3* native = nullptr;
  Check(sqlite3_open((out / "native.db").string().c_str(), &native), native, "open");
  Check(sqlite3_exec(native, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN", nullptr,
                     nullptr, nullptr),
        native, "pragma");

  std::mt19937_64 rng(42);
  auto t0 = std::chrono::steady_clock::now();
  for (const char* name : kTables) {
    auto base = std::move((*(*base_store->Table(name, false))->Snapshot())->ReadAll()).value();
    std::ofstream csv(out / "csv" / (std::string(name) + ".csv"), std::ios::binary);
    constexpr std::size_t kVersion = 100000;  // 10 versions, like 10 streaming batches
    for (std::size_t from = 0; from < n; from += kVersion) {
      RecordBatch part = bench::ResampleRows(base, from, std::min(n, from + kVersion), rng);
      auto* t = *store->Table(name, true);
      auto txn = store->BeginTxn();
      if (!t->StageWrite(*txn, part, state::WriteOptions{}).ok() ||
          !store->Commit(std::move(txn)).ok())
        return 1;
      InsertNative(native, name, part, from == 0);
      std::string buf;
      if (from == 0) AppendCsvHeader(part, &buf);
      for (std::size_t r = 0; r < part.num_rows(); ++r) AppendCsvRow(part, r, &buf);
      csv.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    }
  }
  Check(sqlite3_exec(native, "COMMIT", nullptr, nullptr, nullptr), native, "commit");
  std::printf("generated %zu rows per table in %.1f s (delta tables, native SQLite, CSV) in %s\n",
              n, bench::Seconds(t0), out.string().c_str());
  if (state::sql::RegisterSqlFunctions(native) != SQLITE_OK) return 1;
  // The same sorter setting pinstream's SQL connection uses.
  Check(sqlite3_exec(
            native,
            fmt::format("PRAGMA threads = {}", std::max(1u, std::thread::hardware_concurrency()))
                .c_str(),
            nullptr, nullptr, nullptr),
        native, "pragma threads");

  auto session = std::move(state::sql::SqlSession::Open(store.get())).value();
  double total_ps = 0, total_native = 0;
  bool same = true;
  for (const auto& f : QueryFiles()) {
    std::string sql = ReadFile(f);
    std::string q = f.stem().string();
    double best_ps = 1e9, best_native = 1e9;
    std::vector<std::string> ps_rows, native_rows;
    for (int rep = 0; rep < 3; ++rep) {
      auto a = std::chrono::steady_clock::now();
      auto r = session->QueryAll(sql);
      double s = bench::Seconds(a);
      if (!r.ok()) {
        std::fprintf(stderr, "%s: %s\n", q.c_str(), r.status().ToString().c_str());
        return 1;
      }
      best_ps = std::min(best_ps, s);
      ps_rows = Render(*r);
      a = std::chrono::steady_clock::now();
      native_rows = RunNative(native, sql);
      best_native = std::min(best_native, bench::Seconds(a));
    }
    if (ps_rows != native_rows) {
      same = false;
      std::fprintf(stderr, "%s: pinstream and native SQLite disagree (%zu vs %zu rows)\n",
                   q.c_str(), ps_rows.size(), native_rows.size());
    }
    total_ps += best_ps;
    total_native += best_native;
    bench::Report("sql_pinstream_" + q + "_ms", best_ps * 1000, "ms");
    bench::Report("sql_sqlite_native_" + q + "_ms", best_native * 1000, "ms");
    std::printf("  %-4s pinstream %8.1f ms   sqlite native %8.1f ms   ratio %.2f   (%zu rows)\n",
                q.c_str(), best_ps * 1000, best_native * 1000, best_ps / best_native,
                ps_rows.size());
  }
  sqlite3_close(native);
  bench::Report("sql_pinstream_total_s", total_ps, "s");
  bench::Report("sql_sqlite_native_total_s", total_native, "s");
  bench::Report("sql_pinstream_vs_sqlite_native_ratio", total_ps / total_native, "x");
  if (!same) {
    std::fprintf(stderr, "results differ\n");
    return 1;
  }
  return 0;
}
