// The SQLite virtual-table modules over delta tables (internal to state/sql; see sql_session.h
// for what users see).
//
//   TableCatalog      what the virtual tables of one connection share: the store, per-statement
//                     snapshots and hash indexes, scan counters
//   RegisterTableModules   the eponymous modules `T` (latest) and `T_at` (time travel) of a table
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "engine/status.h"
#include "state/delta_table.h"

struct sqlite3;

namespace pinstream::state {
class Store;
}

namespace pinstream::state::sql {

struct ScanCounters {
  std::int64_t chunks_read = 0, chunks_skipped = 0, versions_pruned = 0, indexes_built = 0;
};

// Rows of a snapshot decoded once and ordered by one key column, for `col = <join value>`
// lookups (SQLite's automatic index, built by the virtual table).
struct LookupIndex;

class TableCatalog {
 public:
  explicit TableCatalog(Store* store) : store_(store) {}
  ~TableCatalog();

  Store* store() const { return store_; }

  // Starts a statement: a reader catches up with the daemon, the previous statement's pins,
  // snapshots and indexes are released.
  [[nodiscard]] Status BeginStatement();
  // The virtual tables call this while SQLite prepares the statement (xBestIndex): the tables
  // the statement reads.
  void NoteReferenced(const std::string& table) { referenced_.insert(table); }
  // Once the statement is prepared: pins every table it reads (DeltaTable::Pin; a reader's
  // heads are reloaded first), so the statement reads each table — latest and `T_at(v)` alike —
  // as it was when the statement started, whatever commits, OPTIMIZE or VACUUM happen while it
  // runs.
  [[nodiscard]] Status PinStatement();

  // The table's snapshot for this statement: latest (when `version` is empty) or a version, as
  // of the table's pin (taken now if the statement has none yet).
  Result<std::shared_ptr<const TableSnapshot>> Snapshot(const std::string& table,
                                                        std::optional<std::int64_t> version);
  // The latest version committed at or before `timestamp_us` (TIMESTAMP AS OF), as of the pin.
  Result<std::int64_t> VersionAsOf(const std::string& table, std::int64_t timestamp_us);

  using IndexKey = std::tuple<std::string, std::int64_t, int,
                              std::uint64_t>;  // table, version, key column, columns
  std::shared_ptr<LookupIndex> FindIndex(const IndexKey& key) const;
  void PutIndex(const IndexKey& key, std::shared_ptr<LookupIndex> index);

  ScanCounters& counters() { return counters_; }
  // Bumped by every BeginStatement: cursors keep their snapshot and index while it holds.
  std::uint64_t epoch() const { return epoch_; }

 private:
  Result<const TablePin*> PinOf(const std::string& table, DeltaTable** t);

  Store* store_;
  std::set<std::string> referenced_;
  std::map<std::string, TablePin> pins_;
  std::map<std::pair<std::string, std::int64_t>, std::shared_ptr<const TableSnapshot>>
      snapshots_;  // version -1 = latest
  std::map<IndexKey, std::shared_ptr<LookupIndex>> indexes_;
  ScanCounters counters_;
  std::uint64_t epoch_ = 0;
};

// Registers the modules `table` and `table_at` (unless another table has that name).
// SQLITE_OK or an SQLite error code.
int RegisterTableModules(sqlite3* db, TableCatalog* catalog, const std::string& table,
                         bool with_at);

}  // namespace pinstream::state::sql
