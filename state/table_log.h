// The delta-table log's vocabulary: what one commit says (CommitInfo), what a table is at a
// version (TableState, folded from commits and saved as log checkpoints), and the small stored
// records beside them — per-version column statistics (VersionStats) and deletion vectors.
//
// Keys, in the `tables` column family (all integers big-endian, so key order = numeric order):
//   be32(table) 'L' be64(v)                     log entry: CommitInfo JSON of version v
//   be32(table) 'K' be64(v)                     log checkpoint: TableState JSON at version v
//   be32(table) 'T' be64(v)                     VersionStats of version v (binary)
//   be32(table) 'C' be64(v) be32(i)             chunk i written by version v (chunk_codec.h)
//   be32(table) 'D' be64(v) be32(i) be64(w)     deletion vector of chunk (v, i) as of version w
//   be32(table) 'I' <key bytes> be64(v) be32(i) be32(r)
//                                               key index: a live row with that key (writer only)
//   be32(table) 'S' be32(schema id)             schema JSON
//
// Nothing here touches the store: these are values and pure functions over them (DeltaTable
// reads and writes the keys).
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/record_batch.h"
#include "engine/status.h"
#include "engine/types.h"

namespace pinstream::state {

struct ColumnStats {
  std::string name;
  std::int64_t null_count = 0;
  Value min, max;  // null when not tracked (arrays, raw), all values null, or bounds_unknown
  // Some value's bound could not be kept (a string column holding bytes that are not UTF-8,
  // which the commit log's JSON cannot carry): min and max stay null, i.e. "anything".
  bool bounds_unknown = false;
};

// Per-column statistics of a batch's rows (Delta's stats: min/max/null count).
std::vector<ColumnStats> ComputeStats(const RecordBatch& b);
// Folds `more` into `acc` (bounds widen, null counts add).
void MergeStats(std::vector<ColumnStats>* acc, std::vector<ColumnStats> more);

// Versions first..last, both included.
struct VersionRange {
  std::int64_t first = 0;
  std::int64_t last = -1;
  bool Contains(std::int64_t v) const { return v >= first && v <= last; }
  bool operator==(const VersionRange&) const = default;
};

// A stored chunk: the version that wrote it and its index within that version.
struct ChunkId {
  std::int64_t version = 0;
  std::uint32_t index = 0;
  auto operator<=>(const ChunkId&) const = default;
};

// A commit's new deletion vector for a chunk (stored under the commit's version): `deleted` is
// how many of the chunk's rows it marks, all of them, not only the newly deleted ones.
struct DvUpdate {
  ChunkId chunk;
  std::int64_t deleted = 0;
};

// How a commit changes the rows (operationParameters.outputMode in the log).
enum class WriteMode {
  kAppend,     // adds its rows
  kOverwrite,  // its rows replace every earlier row
  kUpdate,     // adds rows and deletes earlier ones (deletion vectors): a changes commit
};

struct CommitInfo {
  std::int64_t version = 0;
  std::int64_t timestamp_ms = 0;  // never earlier than the previous version's
  std::string operation;          // STREAMING UPDATE, WRITE, OPTIMIZE, VACUUM START, ...
  WriteMode mode = WriteMode::kAppend;
  // False for commits that leave the rows as they were (OPTIMIZE, VACUUM): streaming readers of
  // the table skip them.
  bool data_change = true;
  std::string query_name;  // the writer (query or job)
  std::string app_id;      // txn app id (query id), empty for writes without txn
  std::int64_t epoch = 0;
  std::int64_t batch_id = -1;
  std::int64_t rows_added = 0;
  std::int64_t rows_removed = 0;
  std::int64_t chunks = 0;  // chunks added
  std::int64_t bytes = 0;   // bytes of the chunks added
  std::int64_t chunks_removed = 0;
  std::int64_t bytes_removed = 0;
  // Chunks added / removed holding fewer than half the rows their writer aimed at (OPTIMIZE's
  // candidates).
  std::int64_t small_chunks = 0;
  std::int64_t small_chunks_removed = 0;
  int schema_id = 0;
  std::vector<std::string> added_columns;
  std::vector<ColumnStats> stats;  // of the rows added
  // Versions whose chunks leave the live set (OPTIMIZE: the versions it rewrote).
  std::vector<VersionRange> removed;
  // Chunks whose deletion vector this commit replaces.
  std::vector<DvUpdate> dv_updates;
  // The key columns of the table's key index, declared by its first changes commit.
  std::vector<std::string> key_columns;
  // VACUUM START: versions before this one can no longer be read.
  std::optional<std::int64_t> oldest_readable;
  // VACUUM END: the live set re-expressed once the versions between its ranges are deleted.
  std::optional<std::vector<VersionRange>> live;
  // Delta's operationMetrics beyond the counts above (durations, versions rewritten, ...).
  std::vector<std::pair<std::string, std::int64_t>> metrics;

  bool overwrite() const { return mode == WriteMode::kOverwrite; }
  std::string ToJson() const;
  // Stats' bounds are typed by the schema the commit names (from `schemas`); without it they
  // are left out.
  static Result<CommitInfo> Parse(std::string_view json,
                                  const std::map<int, Schema>* schemas = nullptr);
};

const char* WriteModeName(WriteMode mode);

// The last batch an app (a query) committed to the table (Delta's SetTransaction).
struct TxnMark {
  std::int64_t epoch = 0;
  std::int64_t batch = -1;
  std::int64_t version = -1;
};

// A chunk's deletion vector in force at some version: the version that wrote it, and how many
// rows it deletes.
struct DvRef {
  std::int64_t dv_version = 0;
  std::int64_t deleted = 0;
};

// A table at one version: which chunks hold its rows, and what the writer needs to go on. The
// rows at version v are those of every chunk of every version in `live`, less the rows of each
// chunk's deletion vector in `dvs`.
struct TableState {
  std::int64_t version = -1;
  std::int64_t timestamp_ms = 0;
  int schema_id = -1;
  std::vector<VersionRange> live;  // sorted, disjoint, not adjacent
  std::map<ChunkId, DvRef> dvs;    // chunks of live versions that have deleted rows
  std::int64_t num_rows = 0;       // live rows
  std::int64_t live_chunks = 0;
  std::int64_t live_bytes = 0;
  std::int64_t small_chunks = 0;   // live chunks below half their writer's target size
  std::vector<ColumnStats> stats;  // bounds over every live version's rows (deleted ones too)
  std::map<std::string, TxnMark> txns;
  std::vector<std::string> key_columns;  // non-empty: the table keeps a key index
  std::int64_t oldest_readable = 0;      // VACUUM: earlier versions are gone

  // The state after commit `c` (which must be version + 1).
  [[nodiscard]] Status Apply(const CommitInfo& c);
  bool IsLive(std::int64_t version) const;
  std::int64_t live_versions() const;

  std::string ToCheckpointJson() const;
  // `schemas` types the stats' bounds (schema ids → schemas).
  static Result<TableState> FromCheckpoint(std::string_view json,
                                           const std::map<int, Schema>& schemas);
};

// Live-set helpers over sorted, disjoint ranges.
void AddVersion(std::vector<VersionRange>* live, std::int64_t v);
void RemoveRange(std::vector<VersionRange>* live, VersionRange r);
// The ranges of `live` that lie within `within` (cut at its ends).
std::vector<VersionRange> Intersect(const std::vector<VersionRange>& live, VersionRange within);

// What a scan needs of a version to skip it by a filter (its rows and column statistics) and
// OPTIMIZE to choose what to rewrite (its chunks, bytes and small chunks). Stored apart from the
// log entry (key 'T') in a compact binary form, so a scan reads it beside the version's chunks.
struct VersionStats {
  std::int64_t version = 0;
  std::int64_t rows = 0;
  std::int64_t chunks = 0;
  std::int64_t bytes = 0;
  std::int64_t small_chunks = 0;
  std::vector<ColumnStats> stats;
  std::string Encode() const;
  static Result<VersionStats> Decode(std::int64_t version, std::string_view bytes);
};

// The statistics record of a commit.
VersionStats StatsOf(const CommitInfo& c);
// How many of chunks with `chunk_rows` rows are small for a writer aiming at `rows_per_chunk`.
std::int64_t CountSmallChunks(const std::vector<std::uint32_t>& chunk_rows,
                              std::int64_t rows_per_chunk);

// Deletion vectors: the deleted row indexes of a chunk, sorted and distinct.
std::string EncodeDeletionVector(const std::vector<std::uint32_t>& rows);
Result<std::vector<std::uint32_t>> DecodeDeletionVector(std::string_view bytes);

// Keys.
std::string TableKey(std::uint32_t table_id, char kind);
std::string TableVersionKey(std::uint32_t table_id, char kind, std::int64_t version);
std::string ChunkKey(std::uint32_t table_id, ChunkId chunk);
std::string DeletionVectorKey(std::uint32_t table_id, ChunkId chunk, std::int64_t dv_version);
// The key index: the prefix of one key's entries, and one entry.
std::string KeyIndexPrefix(std::uint32_t table_id, std::string_view key);
std::string KeyIndexEntry(std::uint32_t table_id, std::string_view key, ChunkId chunk,
                          std::uint32_t row);

}  // namespace pinstream::state
