// TableReaders: the versions of each delta table that running streaming readers still need.
//
// A query reading a table as a stream (connectors/table, kind: delta) holds the oldest version
// it may still read: the version before the next one it reads (a version's changes are read
// against the version before it), moved forward after each committed batch. VACUUM must keep
// every version at or after the oldest one held (OldestHeld), whatever its retention says, so
// that a running reader never finds the versions it needs removed. Holds live in memory: they are
// as old as the process; a stopped query holds nothing, and a VACUUM run while it is stopped may
// remove what it needs (it then fails at start with the oldest readable version, DeltaSource).
//
// A hold and a VACUUM cannot cross: VACUUM raises the table's floor (RaiseFloor) under the
// table-commit lock before it commits a new oldest readable version, and the floor is raised
// only if no holder holds an older version; a Hold of a version below the floor is refused. Both
// happen under one mutex, so either VACUUM sees the hold and keeps the version, or the hold is
// refused with an error naming the oldest readable version — never a hold of a version VACUUM
// deletes. A single snapshot (SQL, scans, jobs) needs no hold: it pins a RocksDB snapshot taken
// with the table's head, and VACUUM deletes only after its commit has moved the head.
//
// Threading: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "engine/status.h"

namespace pinstream::state {

class TableReaders {
 public:
  // `holder` (e.g. "<query>/<source>") needs `table`'s versions from `version` on. A later call
  // by the same holder replaces its hold (it may move back: a checkpoint rewind). OutOfRange,
  // naming the oldest readable version, when `version` is below the table's floor (removed by a
  // VACUUM, or being removed by one now); the holder's earlier hold stays then.
  [[nodiscard]] Status Hold(const std::string& table, const std::string& holder,
                            std::int64_t version);
  // The holder needs nothing of `table` any more.
  void Release(const std::string& table, const std::string& holder);
  // The oldest version any holder needs; nullopt when nobody reads the table as a stream.
  std::optional<std::int64_t> OldestHeld(const std::string& table) const;
  // Every hold of `table`: holder → version (admin and tests).
  std::map<std::string, std::int64_t> Holds(const std::string& table) const;

  // VACUUM, under the table-commit lock, before it commits `floor` as the table's oldest readable
  // version: raises the table's floor to `floor` unless some holder holds an older version —
  // then it changes nothing and returns that version. Atomic with Hold.
  std::optional<std::int64_t> RaiseFloor(const std::string& table, std::int64_t floor);
  // A VACUUM whose commit failed puts the floor back where it was.
  void ResetFloor(const std::string& table, std::int64_t floor);
  // The table's floor: versions below it are not readable (0 until a VACUUM of this process).
  std::int64_t Floor(const std::string& table) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, std::int64_t>> holds_;  // table → holder → version
  std::map<std::string, std::int64_t> floors_;                        // table → floor
};

}  // namespace pinstream::state
