// DeltaTable: an append-only, versioned table in the store — what Delta Lake gives Spark users.
//
// A table is a gap-free list of versions 0, 1, 2, ... Version v is one commit:
//   log entry   be32(table id) 'L' be64(v)            → CommitInfo JSON (operation, txn, stats)
//   row chunks  be32(table id) 'C' be64(v) be32(i)    → columnar chunks (chunk_codec.h)
//   schema      be32(table id) 'S' be32(schema id)    → schema JSON, when it changed
//   txn         be32(table id) 'X' <app id>           → the last (epoch, batch) an app committed
// all staged into the caller's CommitTxn, so a version becomes visible atomically with whatever
// else that transaction holds (for streaming queries: the checkpoint's commits/N).
//
// Snapshot at version v = the chunks of versions base(v)..v, where base(v) is the latest
// overwrite at or before v (0 for append-only tables). Readers pin a RocksDB snapshot, so they
// never block the writer and never see half a commit.
//
// Schema: stored with the table and enforced on write. A batch column whose type differs from
// the table's is refused with an error naming the column and both types; a new column is added
// as a nullable column (new schema id, recorded in the commit's "addedColumns"); a column the
// batch lacks reads as null.
//
// Idempotent writes (Delta's SetTransaction): a write carrying txn{app id, epoch, batch} is
// refused when that app already committed the same or a later batch in the same epoch.
//
// Threading: StageWrite from query threads (serialised by the store's table-commit lock);
// reads (Snapshot, History) from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/commit_txn.h"
#include "engine/record_batch.h"
#include "engine/status.h"
#include "engine/types.h"
#include "state/chunk_codec.h"

namespace pinstream::state {

class Store;
class StoreSnapshot;

struct ColumnStats {
  std::string name;
  std::int64_t null_count = 0;
  Value min, max;  // null when not tracked (arrays, raw), all values null, or bounds_unknown
  // Some value's bound could not be kept (a string column holding bytes that are not UTF-8,
  // which the commit log's JSON cannot carry): min and max stay null, i.e. "anything".
  bool bounds_unknown = false;
};

struct CommitInfo {
  std::int64_t version = 0;
  std::int64_t timestamp_ms = 0;
  std::string operation;   // STREAMING UPDATE, WRITE, ...
  bool overwrite = false;  // mode Overwrite: earlier versions' rows are not in this snapshot
  std::string query_name;  // the writer (query or job)
  std::string app_id;      // txn app id (query id), empty for writes without txn
  std::int64_t epoch = 0;
  std::int64_t batch_id = -1;
  std::int64_t rows_added = 0;
  std::int64_t chunks = 0;
  std::int64_t bytes = 0;
  int schema_id = 0;
  std::vector<std::string> added_columns;
  std::vector<ColumnStats> stats;

  std::string ToJson() const;
  static Result<CommitInfo> Parse(std::string_view json);
};

struct WriteOptions {
  std::string operation = "STREAMING UPDATE";
  bool overwrite = false;
  std::string writer;  // query or job name
  std::string app_id;  // non-empty: idempotent write (txn)
  std::int64_t epoch = 0;
  std::int64_t batch_id = -1;
  std::int64_t rows_per_chunk = 16384;
  // How chunks are compressed. StageWrite uses the store's (StoreOptions::table_compression);
  // callers of the static Encode pass Store::table_codec() here.
  ChunkCodec codec = ChunkCodec::kLz4;
};

// A write's rows encoded into stored chunks with their column statistics: the CPU-heavy part
// of staging a version (LZ4 per column segment), made without touching any table, so it can be
// prepared while earlier versions are still committing (DeltaTable::Encode).
struct EncodedWrite {
  std::vector<std::string> chunks;
  std::vector<ColumnStats> stats;
  std::size_t total_rows = 0;
  std::int64_t bytes = 0;
};

class TableSnapshot;
class StoreIterator;

// Where a scan stands after a step.
enum class ScanStep {
  kChunk,     // positioned on a chunk: chunk_version(), chunk_rows(), Decode()
  kFinished,  // no chunk left
};

// A pull-style scan of a snapshot, one stored chunk at a time: the reader positions on a chunk
// and decodes only the columns it asks for — e.g. its filter columns first, and the others only
// when some row of the chunk passes (SQL's lazy decoding). Valid while its snapshot lives.
class TableScanCursor {
 public:
  ~TableScanCursor();
  // Moves to the next chunk (of a version that passes the version filter).
  Result<ScanStep> NextChunk();
  std::int64_t chunk_version() const { return chunk_version_; }
  std::size_t chunk_rows() const { return chunk_rows_; }
  // Decodes `columns` (schema names, in that order) of the current chunk: missing columns are
  // padded with nulls, every column has the schema's type. Row ids are 0..rows-1.
  Result<RecordBatch> Decode(const std::vector<std::string>& columns) const;

 private:
  friend class TableSnapshot;
  TableScanCursor() = default;
  const TableSnapshot* snap_ = nullptr;
  std::function<bool(const CommitInfo&)> keep_version_;
  std::unique_ptr<StoreIterator> it_;
  bool started_ = false;
  bool done_ = false;
  std::size_t vi_ = 0;
  std::int64_t chunk_version_ = -1;
  std::size_t chunk_rows_ = 0;
};

class TableSnapshot {
 public:
  std::int64_t version() const { return version_; }
  const Schema& schema() const { return schema_; }
  std::int64_t num_rows() const { return num_rows_; }
  // Commit infos of the versions that contribute rows (base..version).
  const std::vector<CommitInfo>& versions() const { return versions_; }

  // Visits the snapshot's rows chunk by chunk, in commit order. `columns` (names, in the order
  // wanted) projects; null = every schema column. Missing columns are padded with nulls so every
  // batch has exactly the requested columns with the schema's types.
  using ChunkVisitor = std::function<Status(RecordBatch&&)>;
  [[nodiscard]] Status Scan(const std::vector<std::string>* columns,
                            const ChunkVisitor& visit) const;
  // Same, limited to versions whose commit info passes `keep_version` (stats-based pruning).
  [[nodiscard]] Status ScanVersions(const std::vector<std::string>* columns,
                                    const std::function<bool(const CommitInfo&)>& keep_version,
                                    const ChunkVisitor& visit) const;
  // A pull-style cursor over the snapshot's chunks; `keep_version` as for ScanVersions.
  std::unique_ptr<TableScanCursor> OpenCursor(
      std::function<bool(const CommitInfo&)> keep_version = nullptr) const;
  // Everything in one batch (small tables, tests, export).
  Result<RecordBatch> ReadAll(const std::vector<std::string>* columns = nullptr) const;

 private:
  friend class DeltaTable;
  friend class TableScanCursor;
  const Store* store_ = nullptr;
  std::shared_ptr<StoreSnapshot> snap_;
  std::uint32_t table_id_ = 0;
  std::int64_t version_ = -1;
  std::int64_t base_version_ = 0;
  std::int64_t num_rows_ = 0;
  Schema schema_;
  std::vector<CommitInfo> versions_;
};

class DeltaTable {
 public:
  static Result<std::unique_ptr<DeltaTable>> Load(Store* store, const std::string& name,
                                                  std::uint32_t id);
  static std::unique_ptr<DeltaTable> CreateNew(Store* store, const std::string& name,
                                               std::uint32_t id);

  const std::string& name() const { return name_; }
  std::uint32_t id() const { return id_; }
  std::int64_t latest_version() const;
  Schema schema() const;
  std::int64_t num_rows() const;  // at the latest version

  // Stages a new version holding `batches` (in order) into `txn` (a transaction of this table's
  // store: a StoreTxn, or the checkpoint's commit of a query over this store). Visible after
  // commit. Small batches are combined into chunks of up to options.rows_per_chunk rows.
  // Chunks of StoreOptions::ingest_min_bytes or more in total are not staged but ingested into
  // the store at once (Store::IngestSorted); they stay invisible unless `txn` commits.
  [[nodiscard]] Status StageWrite(CommitTxn& txn, std::span<const RecordBatch> batches,
                                  const WriteOptions& options);
  // The same in two steps: Encode (any thread, no table state) and StageEncoded (as StageWrite;
  // `batches` must be the ones encoded — their columns decide the schema).
  static Result<EncodedWrite> Encode(std::span<const RecordBatch> batches,
                                     const WriteOptions& options);
  [[nodiscard]] Status StageEncoded(CommitTxn& txn, std::span<const RecordBatch> batches,
                                    EncodedWrite encoded, const WriteOptions& options);
  [[nodiscard]] Status StageWrite(CommitTxn& txn, const RecordBatch& rows,
                                  const WriteOptions& options) {
    return StageWrite(txn, std::span<const RecordBatch>(&rows, 1), options);
  }

  // Commit infos, newest first; `limit` 0 = all.
  Result<std::vector<CommitInfo>> History(std::size_t limit = 0) const;
  // The snapshot at `version` (latest when empty). OutOfRange for versions that do not exist.
  Result<std::unique_ptr<TableSnapshot>> Snapshot(
      std::optional<std::int64_t> version = std::nullopt) const;
  // The last batch an app committed, if any (epoch, batch).
  std::optional<std::pair<std::int64_t, std::int64_t>> LastTxn(const std::string& app_id) const;

  // Reloads the head from storage (readers following a running daemon).
  [[nodiscard]] Status Refresh();

 private:
  DeltaTable(Store* store, std::string name, std::uint32_t id)
      : store_(store), name_(std::move(name)), id_(id) {}
  Status LoadHead();
  std::string Prefix(char kind) const;
  // Deletes chunks of versions after the latest committed one (left by an ingestion whose
  // commit never happened). Primary store only; called on Load.
  Status DropUncommittedChunks();

  struct VersionHead {
    std::int64_t base = 0;  // first version whose rows are visible at this version
    std::int64_t rows = 0;  // rows visible at this version
    int schema_id = 0;
  };
  struct Txn {
    std::int64_t epoch = 0, batch = -1, version = -1;
  };
  // The table's schema after a write: enforced (types cannot change) and evolved (new columns,
  // a first real type for a column so far only null).
  struct SchemaChange {
    Schema schema;
    int schema_id = -1;
    bool changed = false;            // a new schema id is written with the version
    std::vector<std::string> added;  // columns new to an existing table
  };
  // The steps of StageEncoded, under mu_:
  // An idempotent write of a batch its app already committed is refused (AlreadyExists).
  Status RefuseCommittedBatch(const WriteOptions& opt) const;
  Result<SchemaChange> EvolveSchema(std::span<const RecordBatch> batches,
                                    const std::string& writer) const;
  // The new schema, and the table's catalog entry on its first version.
  void StageSchemaAndCatalogEntry(CommitTxn& txn, const SchemaChange& schema) const;
  // Into the transaction, or — at StoreOptions::ingest_min_bytes and more — ingested ahead of it.
  Status StageChunks(CommitTxn& txn, std::int64_t version, const std::vector<std::string>& chunks);
  static CommitInfo MakeCommitInfo(std::int64_t version, EncodedWrite& encoded,
                                   const SchemaChange& schema, const WriteOptions& opt);
  // The in-memory head (versions, schema, last txn) follows once the transaction has committed.
  void AdvanceHeadOnCommit(CommitTxn& txn, CommitInfo info, SchemaChange schema);

  Store* store_;
  std::string name_;
  std::uint32_t id_;
  mutable std::mutex mu_;
  bool created_ = false;  // catalog entry written
  std::vector<VersionHead> versions_;
  std::map<int, Schema> schemas_;
  int current_schema_ = -1;
  std::map<std::string, Txn> txns_;
};

// Key helpers (exposed for tests and tools).
std::string TableKey(std::uint32_t table_id, char kind);
std::string TableVersionKey(std::uint32_t table_id, char kind, std::int64_t version);

}  // namespace pinstream::state
