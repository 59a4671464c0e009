// SQL over the delta tables: `pinstream sql` (a statement, a file, stdin or an interactive shell)
// and `pinstream report` (the analysis queries of conf/queries/, each with its title). Both read
// through a RocksDB secondary instance, so they work while the daemon runs.

#include <editline/readline.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/commands.h"
#include "engine/row_format.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/sql/sql_session.h"
#include "state/store.h"

namespace pinstream::app {

namespace fs = std::filesystem;

namespace {

struct SqlOptions {
  DataDirOptions dd;
  std::string sql;
  std::string file;
  std::string format = "table";
  std::int64_t limit = -1;
  std::size_t width = 40;
};

// Prints a result in the chosen format; the row count and time go to stderr.
void PrintResult(const RecordBatch& b, const std::string& format, std::int64_t limit,
                 std::size_t width, FILE* out) {
  std::size_t n = limit >= 0 ? std::min<std::size_t>(b.num_rows(), static_cast<std::size_t>(limit))
                             : b.num_rows();
  std::string buf;
  if (format == "table") {
    buf = FormatTable(b, n, width);
  } else if (format == "markdown") {
    if (n < b.num_rows()) {
      std::vector<std::uint32_t> head(n);
      for (std::size_t i = 0; i < n; ++i) head[i] = static_cast<std::uint32_t>(i);
      buf = FormatMarkdown(b.Take(head));
    } else {
      buf = FormatMarkdown(b);
    }
  } else if (format == "csv") {
    AppendCsvHeader(b, &buf);
    for (std::size_t r = 0; r < n; ++r) AppendCsvRow(b, r, &buf);
  } else {
    for (std::size_t r = 0; r < n; ++r) {
      AppendJsonRow(b, r, &buf);
      buf.push_back('\n');
    }
  }
  std::fwrite(buf.data(), 1, buf.size(), out);
}

std::string Elapsed(std::chrono::nanoseconds d) {
  double ms = static_cast<double>(d.count()) / 1e6;
  return ms < 1000 ? fmt::format("{:.1f} ms", ms) : fmt::format("{:.2f} s", ms / 1000);
}

// Runs the statements of `sql` and prints every result (as the sqlite3 shell does).
int RunStatement(state::sql::SqlSession& session, const std::string& sql, const SqlOptions& o) {
  auto all = session.QueryAll(sql);
  if (!all.ok()) {
    std::fprintf(stderr, "pinstream: %s\n", all.status().message().c_str());
    return kExitError;
  }
  for (const auto& r : *all) {
    PrintResult(r.rows, o.format, o.limit, o.width, stdout);
    std::fflush(stdout);
    std::fprintf(stderr, "(%zu row%s, %s)\n", r.rows.num_rows(), r.rows.num_rows() == 1 ? "" : "s",
                 Elapsed(r.elapsed).c_str());
  }
  return kExitOk;
}

std::atomic<state::sql::SqlSession*> g_interruptible{nullptr};

void OnSigint(int) {
  if (auto* s = g_interruptible.load()) s->Interrupt();
}

const char* kShellHelp =
    R"(Statements end with ';'. Every delta table T is a table; T_at(3) reads version 3,
T_at('2026-11-22 10:00:00') the version of that time. Functions: median, percentile_approx,
year, month, day, hour, unix_timestamp, unix_micros, to_timestamp, concat_ws (and SQLite's own).
  .tables               list tables with version and rows
  .schema TABLE         its columns and types
  .mode table|csv|jsonl|markdown
  .help                 this text
  .quit                 leave (or Ctrl-D)
Ctrl-C cancels a running statement.
)";

int Shell(state::Store* store, state::sql::SqlSession& session, SqlOptions o) {
  std::fprintf(
      stderr,
      "pinstream sql — SQLite %s over pinstream's delta tables. .help for help, .quit to leave.\n",
      state::sql::SqlSession::SqliteVersion());
  struct sigaction sa {};
  sa.sa_handler = OnSigint;
  sigaction(SIGINT, &sa, nullptr);
  g_interruptible = &session;
  std::string history =
      std::getenv("HOME") ? std::string(std::getenv("HOME")) + "/.pinstream_history" : "";
  if (!history.empty()) read_history(history.c_str());
  std::string pending;
  for (;;) {
    char* line = readline(pending.empty() ? "pinstream> " : "      ...> ");
    if (line == nullptr) break;
    std::string text(line);
    std::free(line);
    if (pending.empty()) {
      std::string t = text;
      t.erase(0, t.find_first_not_of(" \t"));
      if (!t.empty() && t[0] == '.') {
        add_history(text.c_str());
        std::istringstream in(t);
        std::string cmd, arg;
        in >> cmd >> arg;
        if (cmd == ".quit" || cmd == ".exit") break;
        if (cmd == ".help") {
          std::fputs(kShellHelp, stderr);
        } else if (cmd == ".mode") {
          if (arg == "table" || arg == "csv" || arg == "jsonl" || arg == "markdown") {
            o.format = arg;
          } else {
            std::fprintf(stderr, "unknown mode '%s' (table, csv, jsonl, markdown)\n", arg.c_str());
          }
        } else if (cmd == ".tables") {
          if (Status st = store->CatchUp(); !st.ok())
            std::fprintf(stderr, "pinstream: %s\n", st.message().c_str());
          for (const auto& t : store->ListTables()) {
            auto table = store->Table(t, false);
            if (!table.ok()) continue;
            if (Status st = (*table)->Refresh(); !st.ok())
              std::fprintf(stderr, "pinstream: %s\n", st.message().c_str());
            std::printf("%-24s version %-6lld %lld rows\n", t.c_str(),
                        static_cast<long long>((*table)->latest_version()),
                        static_cast<long long>((*table)->num_rows()));
          }
        } else if (cmd == ".schema" && !arg.empty()) {
          RunStatement(session, fmt::format("SELECT name, type FROM pragma_table_info('{}')", arg),
                       o);
        } else {
          std::fprintf(stderr, "unknown command '%s' (.help lists them)\n", cmd.c_str());
        }
        continue;
      }
    }
    pending += text;
    pending += '\n';
    if (!state::sql::SqlSession::IsCompleteStatement(pending)) continue;
    add_history(pending.substr(0, pending.size() - 1).c_str());
    RunStatement(session, pending, o);
    pending.clear();
  }
  if (!history.empty()) write_history(history.c_str());
  g_interruptible = nullptr;
  return kExitOk;
}

int Sql(SqlOptions o) {
  std::string dir = o.dd.Resolve();
  if (dir.empty()) return kExitConfig;
  auto store = OpenForReading(dir);
  if (!store) return kExitError;
  auto session = state::sql::SqlSession::Open(store.get());
  if (!session.ok()) return Fail(session.status());
  std::string sql = o.sql;
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) return Fail(NotFound(fmt::format("cannot read SQL file '{}'", o.file)));
    sql.assign(std::istreambuf_iterator<char>(in), {});
  } else if (sql.empty()) {
    if (isatty(STDIN_FILENO)) return Shell(store.get(), **session, o);
    sql.assign(std::istreambuf_iterator<char>(std::cin), {});
  }
  return RunStatement(**session, sql, o);
}

int Report(const DataDirOptions& dd, std::string queries_dir, const std::string& format) {
  if (queries_dir.empty()) {
    queries_dir = !dd.config.empty() ? (fs::path(dd.config).parent_path() / "queries").string()
                                     : "conf/queries";
    if (!dd.config.empty() && !fs::exists(queries_dir)) queries_dir = "conf/queries";
  }
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(queries_dir, ec)) {
    if (e.path().extension() == ".sql") files.push_back(e.path());
  }
  if (ec)
    return Fail(
        NotFound(fmt::format("cannot list the query folder '{}': {}", queries_dir, ec.message())));
  if (files.empty()) return Fail(NotFound(fmt::format("no .sql files in '{}'", queries_dir)));
  // q1, q2, ..., q10 in numeric order.
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    auto num = [](const fs::path& p) {
      std::string s = p.stem().string();
      auto d = s.find_first_of("0123456789");
      return d == std::string::npos ? 0L : std::strtol(s.c_str() + d, nullptr, 10);
    };
    return std::make_pair(num(a), a.string()) < std::make_pair(num(b), b.string());
  });
  std::string dir = dd.Resolve();
  if (dir.empty()) return kExitConfig;
  auto store = OpenForReading(dir);
  if (!store) return kExitError;
  auto session = state::sql::SqlSession::Open(store.get());
  if (!session.ok()) return Fail(session.status());
  int rc = kExitOk;
  std::int64_t total_ns = 0;
  std::size_t results = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string sql((std::istreambuf_iterator<char>(in)), {});
    auto all = (*session)->QueryAll(sql);
    if (!all.ok()) {
      std::printf("%s%s\n", format == "markdown" ? "### " : "== ", f.stem().string().c_str());
      std::fprintf(stderr, "pinstream: %s: %s\n", f.string().c_str(),
                   all.status().message().c_str());
      rc = kExitError;
      continue;
    }
    for (const auto& r : *all) {
      std::string title = r.title.empty() ? f.stem().string() : r.title;
      std::printf("%s%s\n", format == "markdown" ? "### " : "== ", title.c_str());
      total_ns += r.elapsed.count();
      ++results;
      PrintResult(r.rows, format, -1, 40, stdout);
      if (format == "table" || format == "markdown") {
        std::printf("(%zu row%s, %s)\n\n", r.rows.num_rows(), r.rows.num_rows() == 1 ? "" : "s",
                    Elapsed(r.elapsed).c_str());
      }
      std::fflush(stdout);
    }
  }
  std::fprintf(stderr, "%zu results from %zu query files in %s\n", results, files.size(),
               Elapsed(std::chrono::nanoseconds(total_ns)).c_str());
  return rc;
}

}  // namespace

void AddSqlCommands(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<SqlOptions>();
  auto* sql = app.add_subcommand(
      "sql", "run SQL over the delta tables (a statement, -f FILE, stdin, or a shell)");
  sql->add_option("statement", o->sql, "SQL to run (omit for -f, stdin or the interactive shell)");
  sql->add_option("--file,-f", o->file, "run the statements of a file");
  o->dd.Add(sql);
  sql->add_option("--format", o->format, "table, csv, jsonl or markdown")
      ->check(CLI::IsMember({"table", "csv", "jsonl", "markdown"}));
  sql->add_option("--limit,-n", o->limit, "print at most N rows");
  sql->add_option("--width", o->width, "cut table cells to this many characters");
  sql->callback([o, exit_code] { *exit_code = Sql(*o); });

  auto dd = std::make_shared<DataDirOptions>();
  auto queries = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("table");
  auto* rep = app.add_subcommand(
      "report",
      "run the analysis queries (conf/queries/*.sql) and print each result with its title");
  dd->Add(rep);
  rep->add_option("--queries", *queries,
                  "folder of .sql files (default: <config dir>/queries or conf/queries)");
  rep->add_option("--format", *format, "table, csv, jsonl or markdown")
      ->check(CLI::IsMember({"table", "csv", "jsonl", "markdown"}));
  rep->callback([dd, queries, format, exit_code] { *exit_code = Report(*dd, *queries, *format); });
}

}  // namespace pinstream::app
