// SqlSession: a read-only SQLite connection whose tables are pinstream's delta tables.
//
// Every delta table T is an (eponymous) virtual table `T` at its latest version, and a
// table-valued form `T_at(v)` reads version v — or, given a timestamp text, the latest version
// committed at or before it (Delta's VERSION AS OF / TIMESTAMP AS OF):
//
//   SELECT count(*) FROM pin;
//   SELECT * FROM pin_at(3) WHERE category = 'art';
//   SELECT * FROM geo_at('2026-11-22 10:00:00');
//
// Types: int64 → INTEGER, double → REAL, string → TEXT, bool → INTEGER 0/1, timestamp → TEXT
// 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC (sorts and compares correctly as text) plus a hidden
// INTEGER column `<name>_us` (microseconds since the epoch) usable in comparisons,
// array<double> → JSON text '[1.5,2]', raw → TEXT.
//
// Each statement sees one consistent snapshot of every table it reads (taken when it starts;
// a reader following a running daemon catches up first). Constraints `col op constant`
// (=, <, <=, >, >=) and the columns a statement uses are pushed into the scan: versions whose
// column statistics exclude a match are skipped, a chunk's filter columns are decoded first and
// its other columns only when a row passes. Joins on a column (`a.ind = b.ind`) look rows up in
// a hash index built once per statement and table.
//
// Read-only: INSERT, UPDATE, DELETE, CREATE, DROP, ATTACH, PRAGMA writes and load_extension are
// refused with an error saying so.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/record_batch.h"
#include "engine/status.h"

struct sqlite3;

namespace pinstream::state {
class Store;
}

namespace pinstream::state::sql {

// A statement's result: columns with names and pinstream types (inferred from the values and
// the declared types of directly selected columns), rows in a RecordBatch.
struct SqlResult {
  std::string title;  // the first line of the comment before the statement ("-- Q1. ..."), if any
  RecordBatch rows;
  std::vector<std::string> declared_types;  // SQLite decltype per column ("" for expressions)
  std::chrono::nanoseconds elapsed{0};
};

class SqlSession {
 public:
  // `store` must outlive the session; a secondary (reader) store is caught up per statement.
  static Result<std::unique_ptr<SqlSession>> Open(Store* store);
  ~SqlSession();
  SqlSession(const SqlSession&) = delete;
  SqlSession& operator=(const SqlSession&) = delete;

  // Runs every statement of `sql` (separated by ';') and returns the last one's result.
  // Errors name the statement's problem as SQLite and pinstream see it.
  Result<SqlResult> Query(std::string_view sql);
  // Runs every statement and returns each one's result, in order.
  Result<std::vector<SqlResult>> QueryAll(std::string_view sql);

  // Runs one or more statements, handing each result row's values to `row` as they come
  // (streaming output of large results). `header` gets the column names first.
  Status Stream(std::string_view sql,
                const std::function<void(const std::vector<std::string>&)>& header,
                const std::function<Status(const RecordBatch& one_row)>& row);

  // True when `text` ends a complete statement (the shell's continuation prompt).
  static bool IsCompleteStatement(const std::string& text);
  static const char* SqliteVersion();

  // Cancels the running statement from another thread (Ctrl-C in the shell).
  void Interrupt();

  // Tests: runs in each statement once it is prepared and the tables it reads are pinned, just
  // before its first row — what happens here happens "while the statement runs".
  void set_before_first_row_for_test(std::function<void()> hook);

  // Statistics of the last statement, for tests and benchmarks: chunks decoded / skipped by
  // pushed-down filters, versions pruned by statistics, hash indexes built.
  struct ScanStats {
    std::int64_t chunks_read = 0, chunks_skipped = 0, versions_pruned = 0, indexes_built = 0;
  };
  ScanStats last_scan_stats() const;

  struct Connection;  // the SQLite connection, its table catalog and authorizer

 private:
  SqlSession() = default;
  std::unique_ptr<Connection> conn_;
};

}  // namespace pinstream::state::sql
