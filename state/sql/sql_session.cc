#include "state/sql/sql_session.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <variant>

#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/sql/delta_vtab.h"
#include "state/sql/sql_functions.h"
#include "state/store.h"

namespace pinstream::state::sql {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Read-only pragmas a user may ask for (no value assigned).
const std::set<std::string> kReadPragmas = {"table_info",  "table_xinfo", "function_list",
                                            "module_list", "pragma_list", "compile_options"};

const char* ActionName(int action) {
  switch (action) {
    case SQLITE_INSERT:
      return "INSERT";
    case SQLITE_UPDATE:
      return "UPDATE";
    case SQLITE_DELETE:
      return "DELETE";
    case SQLITE_ATTACH:
      return "ATTACH";
    case SQLITE_DETACH:
      return "DETACH";
    case SQLITE_ALTER_TABLE:
      return "ALTER TABLE";
    case SQLITE_REINDEX:
      return "REINDEX";
    case SQLITE_ANALYZE:
      return "ANALYZE";
    case SQLITE_CREATE_VTABLE:
      return "CREATE VIRTUAL TABLE";
    case SQLITE_DROP_VTABLE:
      return "DROP VIRTUAL TABLE";
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_TEMP_TABLE:
      return "CREATE TABLE";
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TEMP_INDEX:
      return "CREATE INDEX";
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_TEMP_VIEW:
      return "CREATE VIEW";
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_TEMP_TRIGGER:
      return "CREATE TRIGGER";
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_TABLE:
      return "DROP TABLE";
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TEMP_INDEX:
      return "DROP INDEX";
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_TEMP_VIEW:
      return "DROP VIEW";
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_TEMP_TRIGGER:
      return "DROP TRIGGER";
    default:
      return "this statement";
  }
}

// One result value, kept with SQLite's storage class until the column's type is known.
using Cell = std::variant<std::monostate, std::int64_t, double, std::string>;

std::string CellText(const Cell& c) {
  if (auto* i = std::get_if<std::int64_t>(&c)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&c)) return fmt::format("{}", *d);
  if (auto* s = std::get_if<std::string>(&c)) return *s;
  return "";
}

// Collects rows and builds a typed RecordBatch: a column of integers is int64, of numbers
// double, of text string — except that a directly selected TIMESTAMP/BOOLEAN/JSON column keeps
// its pinstream type (so job result tables keep the source's timestamps).
class ResultBuilder {
 public:
  void Start(sqlite3_stmt* stmt) {
    int n = sqlite3_column_count(stmt);
    names_.clear();
    decl_.clear();
    cells_.assign(static_cast<std::size_t>(n), {});
    for (int i = 0; i < n; ++i) {
      const char* name = sqlite3_column_name(stmt, i);
      const char* decl = sqlite3_column_decltype(stmt, i);
      names_.push_back(name ? name : fmt::format("col{}", i));
      decl_.push_back(decl ? decl : "");
    }
    // Duplicate names (SELECT a.x, b.x) get a suffix: columns of a batch are unique.
    std::map<std::string, int> seen;
    for (auto& nm : names_) {
      int k = seen[nm]++;
      if (k > 0) nm += fmt::format("_{}", k + 1);
    }
  }
  void AddRow(sqlite3_stmt* stmt) {
    for (std::size_t i = 0; i < cells_.size(); ++i) {
      int ci = static_cast<int>(i);
      switch (sqlite3_column_type(stmt, ci)) {
        case SQLITE_INTEGER:
          cells_[i].emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, ci)));
          break;
        case SQLITE_FLOAT:
          cells_[i].emplace_back(sqlite3_column_double(stmt, ci));
          break;
        case SQLITE_NULL:
          cells_[i].emplace_back(std::monostate{});
          break;
        default: {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, ci));
          cells_[i].emplace_back(
              std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, ci))));
        }
      }
    }
    ++rows_;
  }
  std::size_t rows() const { return rows_; }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<std::string>& decl() const { return decl_; }

  RecordBatch Build() {
    RecordBatch b;
    b.row_ids().resize(rows_);
    for (std::size_t r = 0; r < rows_; ++r) b.row_ids()[r] = r;
    for (std::size_t i = 0; i < cells_.size(); ++i)
      b.AddColumn(names_[i], BuildColumn(cells_[i], decl_[i]));
    for (auto& c : cells_) c.clear();
    rows_ = 0;
    return b;
  }

 private:
  static Column BuildColumn(const std::vector<Cell>& cells, const std::string& decl) {
    bool ints = false, doubles = false, texts = false;
    for (const auto& c : cells) {
      ints |= std::holds_alternative<std::int64_t>(c);
      doubles |= std::holds_alternative<double>(c);
      texts |= std::holds_alternative<std::string>(c);
    }
    TypeId t;
    if (decl.rfind("TIMESTAMP", 0) == 0 && !ints && !doubles) {
      t = TypeId::kTimestamp;
      for (const auto& c : cells) {
        if (auto* s = std::get_if<std::string>(&c); s && !ParseTimestamp(*s).ok())
          t = TypeId::kString;
      }
    } else if (texts) {
      t = TypeId::kString;
    } else if (doubles) {
      t = TypeId::kDouble;
    } else if (ints) {
      t = decl == "BOOLEAN" ? TypeId::kBool : TypeId::kInt64;
    } else if (decl == "DOUBLE") {
      t = TypeId::kDouble;
    } else if (decl == "BIGINT") {
      t = TypeId::kInt64;
    } else if (decl.find("TEXT") != std::string::npos) {
      t = TypeId::kString;
    } else {
      t = TypeId::kNull;  // only nulls and no declared type: a null column takes any type later
    }
    Column col(t);
    col.Reserve(cells.size());
    for (const auto& c : cells) {
      if (std::holds_alternative<std::monostate>(c)) {
        col.AppendNull();
        continue;
      }
      switch (t) {
        case TypeId::kInt64:
          col.AppendInt(std::get<std::int64_t>(c));
          break;
        case TypeId::kBool:
          col.AppendBool(std::get<std::int64_t>(c) != 0);
          break;
        case TypeId::kDouble:
          col.AppendDouble(std::holds_alternative<double>(c)
                               ? std::get<double>(c)
                               : static_cast<double>(std::get<std::int64_t>(c)));
          break;
        case TypeId::kTimestamp:
          col.AppendInt(*ParseTimestamp(std::get<std::string>(c)));
          break;
        default:
          col.AppendString(CellText(c));
      }
    }
    return col;
  }

  std::vector<std::string> names_, decl_;
  std::vector<std::vector<Cell>> cells_;
  std::size_t rows_ = 0;
};

}  // namespace

struct SqlSession::Connection {
  Store* store = nullptr;
  std::unique_ptr<TableCatalog> catalog;
  std::unique_ptr<sqlite3, DbCloser> db;
  std::map<std::string, std::string> registered;  // table → schema at registration
  std::string denied;                             // why the authorizer refused the last statement
  ScanCounters last;
  std::function<void()> before_first_row;  // tests

  static int Authorize(void* self, int action, const char* a, const char* b, const char*,
                       const char*) {
    auto* conn = static_cast<Connection*>(self);
    switch (action) {
      case SQLITE_SELECT:
      case SQLITE_READ:
      case SQLITE_RECURSIVE:
      case SQLITE_TRANSACTION:
      case SQLITE_SAVEPOINT:
        return SQLITE_OK;
      case SQLITE_FUNCTION:
        if (b != nullptr && sqlite3_stricmp(b, "load_extension") == 0) {
          conn->denied =
              "load_extension() is not allowed: the SQL connection only reads pinstream's tables";
          return SQLITE_DENY;
        }
        return SQLITE_OK;
      case SQLITE_PRAGMA:
        if (a != nullptr && kReadPragmas.count(a)) return SQLITE_OK;
        conn->denied =
            fmt::format("PRAGMA {} is not allowed: pinstream sql is read-only", a ? a : "");
        return SQLITE_DENY;
      case SQLITE_ATTACH:
      case SQLITE_DETACH:
        conn->denied =
            fmt::format("{} is not allowed: the SQL connection only reads pinstream's tables",
                        ActionName(action));
        return SQLITE_DENY;
      default: {
        if (!conn->denied.empty()) return SQLITE_DENY;  // keep the first reason
        // Connecting an eponymous virtual table (ours, json_each, pragma_*) inside a statement
        // records its declaration as an UPDATE of the in-memory schema table. Users cannot
        // write the schema table themselves: SQLITE_DBCONFIG_DEFENSIVE refuses it.
        if (action == SQLITE_UPDATE && a != nullptr &&
            (sqlite3_stricmp(a, "sqlite_master") == 0 ||
             sqlite3_stricmp(a, "sqlite_temp_master") == 0)) {
          return SQLITE_OK;
        }
        bool schema = a != nullptr && (sqlite3_stricmp(a, "sqlite_master") == 0 ||
                                       sqlite3_stricmp(a, "sqlite_temp_master") == 0 ||
                                       sqlite3_stricmp(a, "sqlite_schema") == 0);
        if (schema) {
          conn->denied =
              "changing the schema (CREATE, DROP, ALTER) is not allowed: pinstream sql is "
              "read-only; "
              "delta tables are created by queries and jobs";
          return SQLITE_DENY;
        }
        std::string target =
            a != nullptr && action != SQLITE_FUNCTION ? fmt::format(" on '{}'", a) : "";
        conn->denied = fmt::format(
            "{}{} is not allowed: pinstream sql is read-only (delta tables are written by queries "
            "and jobs)",
            ActionName(action), target);
        return SQLITE_DENY;
      }
    }
  }

  Status RegisterTables() {
    for (const auto& name : store->ListTables()) {
      auto t = store->Table(name, false);
      if (!t.ok()) continue;
      if (store->read_only()) PS_RETURN_IF_ERROR((*t)->Refresh());
      if ((*t)->latest_version() < 0) continue;
      std::string schema = (*t)->schema().ToString();
      auto it = registered.find(name);
      if (it != registered.end() && it->second == schema) continue;
      if (it != registered.end()) {
        // The schema grew: drop and re-register this table's modules (and only those).
        std::vector<std::string> keep;
        for (const auto& [n, s] : registered) {
          if (n == name) continue;
          keep.push_back(n);
          keep.push_back(n + "_at");
        }
        std::vector<const char*> ptrs;
        for (const auto& k : keep) ptrs.push_back(k.c_str());
        ptrs.push_back(nullptr);
        sqlite3_drop_modules(db.get(), ptrs.data());
      }
      bool with_at = true;
      for (const auto& other : store->ListTables()) with_at &= other != name + "_at";
      int rc = RegisterTableModules(db.get(), catalog.get(), name, with_at);
      if (rc != SQLITE_OK)
        return Internal(
            fmt::format("registering table '{}' with SQLite: {}", name, sqlite3_errstr(rc)));
      registered[name] = schema;
    }
    return Status::Ok();
  }

  Status BeginStatement() {
    denied.clear();
    PS_RETURN_IF_ERROR(catalog->BeginStatement());
    return RegisterTables();
  }

  Status Error(const std::string& what) const {
    std::string msg = sqlite3_errmsg(db.get());
    if (!denied.empty()) msg = denied;
    if (msg.find("may not be modified") != std::string::npos) {
      msg += " (pinstream sql is read-only: delta tables are written by queries and jobs)";
    }
    return InvalidArgument(fmt::format("{}: {}", what, msg));
  }

  // Runs every statement; `on_row` per row of each statement that returns rows.
  Status Run(std::string_view sql,
             const std::function<Status(sqlite3_stmt*, std::string_view text)>& on_start,
             const std::function<Status(sqlite3_stmt*)>& on_row) {
    const char* p = sql.data();
    const char* end = sql.data() + sql.size();
    bool any = false;
    while (p < end) {
      PS_RETURN_IF_ERROR(BeginStatement());
      sqlite3_stmt* raw = nullptr;
      const char* next = nullptr;
      int rc = sqlite3_prepare_v2(db.get(), p, static_cast<int>(end - p), &raw, &next);
      StmtPtr stmt(raw);
      if (rc != SQLITE_OK) return Error("SQL error");
      if (next == p) {  // SQLite reads no further than a NUL byte: without this, a loop forever
        return InvalidArgument(
            fmt::format("SQL error: the text has a NUL byte at offset {}", p - sql.data()));
      }
      std::string_view text(p, static_cast<std::size_t>(next - p));
      p = next;
      if (!stmt) continue;  // whitespace or a comment
      any = true;
      if (!sqlite3_stmt_readonly(stmt.get())) {
        return InvalidArgument(
            "SQL error: pinstream sql is read-only (delta tables are written by queries and jobs)");
      }
      // Every table the statement reads is pinned now, before its first row: a commit, OPTIMIZE
      // or VACUUM while it runs changes nothing it reads.
      PS_RETURN_IF_ERROR(catalog->PinStatement());
      if (before_first_row) before_first_row();
      PS_RETURN_IF_ERROR(on_start(stmt.get(), text));
      for (;;) {
        rc = sqlite3_step(stmt.get());
        if (rc == SQLITE_ROW) {
          PS_RETURN_IF_ERROR(on_row(stmt.get()));
          continue;
        }
        if (rc == SQLITE_DONE) break;
        if (rc == SQLITE_INTERRUPT) return Cancelled("the statement was interrupted");
        return Error("SQL error");
      }
      last = catalog->counters();
    }
    if (!any) return InvalidArgument("SQL error: no statement to run");
    return Status::Ok();
  }
};

Result<std::unique_ptr<SqlSession>> SqlSession::Open(Store* store) {
  // No global memory statistics: they take a process-wide mutex on every allocation. Must come
  // before SQLite initialises; later calls are refused by SQLite and change nothing.
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  std::unique_ptr<SqlSession> s(new SqlSession());
  s->conn_ = std::make_unique<Connection>();
  Connection& conn = *s->conn_;
  conn.store = store;
  conn.catalog = std::make_unique<TableCatalog>(store);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(
      ":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  conn.db.reset(raw);
  if (rc != SQLITE_OK) return Internal(fmt::format("cannot open SQLite: {}", sqlite3_errstr(rc)));
  sqlite3_db_config(raw, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_limit(raw, SQLITE_LIMIT_ATTACHED, 0);
  // Large sorts (GROUP BY, ORDER BY, window partitions) may use every core. (Measured on the
  // eight queries: keeping sorts in memory — temp_store, a bigger cache_size — made them slower.)
  std::string tuning =
      fmt::format("PRAGMA threads = {};", std::max(1u, std::thread::hardware_concurrency()));
  if (sqlite3_exec(raw, tuning.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Internal(fmt::format("configuring SQLite: {}", sqlite3_errmsg(raw)));
  }
  if (RegisterSqlFunctions(raw) != SQLITE_OK)
    return Internal(fmt::format("registering SQL functions: {}", sqlite3_errmsg(raw)));
  PS_RETURN_IF_ERROR(conn.RegisterTables());
  sqlite3_set_authorizer(raw, &Connection::Authorize, &conn);
  return s;
}

SqlSession::~SqlSession() = default;

// The first line of the comment that precedes a statement: "-- Q1. Most popular ..." → "Q1. ...".
std::string LeadingCommentTitle(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t eol = text.find('\n', i);
    std::string_view line =
        text.substr(i, eol == std::string_view::npos ? text.size() - i : eol - i);
    std::size_t a = line.find_first_not_of(" \t\r");
    if (a != std::string_view::npos) {
      if (line.substr(a, 2) != "--") return "";
      std::string_view t = line.substr(a + 2);
      std::size_t b = t.find_first_not_of(" \t");
      std::size_t e = t.find_last_not_of(" \t\r");
      if (b != std::string_view::npos) return std::string(t.substr(b, e - b + 1));
    }
    if (eol == std::string_view::npos) break;
    i = eol + 1;
  }
  return "";
}

Result<std::vector<SqlResult>> SqlSession::QueryAll(std::string_view sql) {
  std::vector<SqlResult> out;
  ResultBuilder rb;
  std::int64_t t0 = 0;
  auto finish = [&] {
    if (out.empty()) return;
    out.back().declared_types = rb.decl();
    out.back().rows = rb.Build();
    out.back().elapsed = std::chrono::nanoseconds(MonotonicNanos() - t0);
  };
  PS_RETURN_IF_ERROR(conn_->Run(
      sql,
      [&](sqlite3_stmt* st, std::string_view text) {
        finish();
        t0 = MonotonicNanos();
        out.emplace_back();
        out.back().title = LeadingCommentTitle(text);
        rb = ResultBuilder();
        rb.Start(st);
        return Status::Ok();
      },
      [&](sqlite3_stmt* st) {
        rb.AddRow(st);
        return Status::Ok();
      }));
  finish();
  return out;
}

Result<SqlResult> SqlSession::Query(std::string_view sql) {
  PS_ASSIGN_OR_RETURN(auto all, QueryAll(sql));
  return std::move(all.back());
}

Status SqlSession::Stream(std::string_view sql,
                          const std::function<void(const std::vector<std::string>&)>& header,
                          const std::function<Status(const RecordBatch&)>& batch) {
  ResultBuilder rb;
  bool started = false;
  auto flush = [&]() -> Status {
    if (rb.rows() == 0) return Status::Ok();
    RecordBatch b = rb.Build();
    return batch(b);
  };
  PS_RETURN_IF_ERROR(conn_->Run(
      sql,
      [&](sqlite3_stmt* st, std::string_view) -> Status {
        if (started) PS_RETURN_IF_ERROR(flush());
        rb = ResultBuilder();
        rb.Start(st);
        started = true;
        header(rb.names());
        return Status::Ok();
      },
      [&](sqlite3_stmt* st) {
        rb.AddRow(st);
        if (rb.rows() >= 4096) return flush();
        return Status::Ok();
      }));
  return flush();
}

bool SqlSession::IsCompleteStatement(const std::string& text) {
  return sqlite3_complete(text.c_str()) != 0;
}
const char* SqlSession::SqliteVersion() { return sqlite3_libversion(); }

void SqlSession::Interrupt() { sqlite3_interrupt(conn_->db.get()); }

void SqlSession::set_before_first_row_for_test(std::function<void()> hook) {
  conn_->before_first_row = std::move(hook);
}

SqlSession::ScanStats SqlSession::last_scan_stats() const {
  const ScanCounters& c = conn_->last;
  return ScanStats{c.chunks_read, c.chunks_skipped, c.versions_pruned, c.indexes_built};
}

}  // namespace pinstream::state::sql
