// TableReaders: the versions of each delta table that running streaming readers still need.
//
// A query reading a table as a stream (connectors/table, kind: delta) holds the oldest version
// it may still read: the version where its checkpoint stands (a restart or a replayed batch reads
// from there), moved forward after each committed batch. VACUUM must keep every version at or
// after the oldest one held (OldestHeld), whatever its retention says, so that a running reader
// never finds the versions it needs removed. Holds live in memory: they are as old as the
// process; a stopped query holds nothing, and a VACUUM run while it is stopped may remove what it
// needs (it then fails at start with the oldest readable version, DeltaSource).
//
// Threading: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace pinstream::state {

class TableReaders {
 public:
  // `holder` (e.g. "<query>/<source>") needs `table`'s versions from `version` on. A later call
  // by the same holder replaces its hold (it may move back: a checkpoint rewind).
  void Hold(const std::string& table, const std::string& holder, std::int64_t version);
  // The holder needs nothing of `table` any more.
  void Release(const std::string& table, const std::string& holder);
  // The oldest version any holder needs; nullopt when nobody reads the table as a stream.
  std::optional<std::int64_t> OldestHeld(const std::string& table) const;
  // Every hold of `table`: holder → version (admin and tests).
  std::map<std::string, std::int64_t> Holds(const std::string& table) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, std::int64_t>> holds_;  // table → holder → version
};

}  // namespace pinstream::state
