// DeltaTable: a versioned table in the store — what Delta Lake gives Spark users.
//
// A table is a gap-free list of versions 0, 1, 2, ... Version v is one commit: a log entry
// (CommitInfo), the row chunks it added, its column statistics and, for a changes commit, new
// deletion vectors of older chunks (keys in table_log.h). Everything a commit writes is staged
// into the caller's CommitTxn, so a version becomes visible atomically with whatever else that
// transaction holds (for streaming queries: the checkpoint's commits/N).
//
// The rows at version v are those of the chunks of the versions in the table's live set at v
// (a few version ranges), less the rows their deletion vectors delete (TableState). An append
// adds its version to the live set, an overwrite replaces the live set with its own version, a
// changes commit adds its version and deletion vectors, OPTIMIZE (table_maintenance.h) swaps a
// run of versions for one holding the same rows in larger chunks.
//
// Log checkpoints: every StoreOptions::table_checkpoint_interval versions the commit also writes
// the table's whole state (live set, deletion vectors, schema id, row count, statistics, each
// writer's last txn). The state at v is the newest checkpoint at or before v and the log entries
// after it, so opening a table, a snapshot and time travel read a bounded number of log entries
// however long the history (log_entries_read() counts them). A data dir written before
// checkpoints existed is read from its whole log once and given a checkpoint when the daemon
// (the primary) loads it.
//
// Readers pin a RocksDB snapshot, so they never block the writer and never see half a commit;
// scans seek to each live range and read only the chunks inside it. Chunks ingested ahead of a
// commit (large versions) are outside every live set until the commit lands; a retry of a
// version whose attempt left more chunks deletes the extra ones in its commit, and chunks of
// versions after the latest are deleted when the primary loads the table.
//
// Schema: stored with the table and enforced on write. A batch column whose type differs from
// the table's is refused with an error naming the column and both types; a new column is added
// as a nullable column (new schema id, recorded in the commit's "addedColumns"); a column the
// batch lacks reads as null.
//
// Idempotent writes (Delta's SetTransaction): a write carrying txn{app id, epoch, batch} is
// refused when that app already committed the same or a later batch in the same epoch.
//
// Threading: Stage* from query threads (serialised by the store's table-commit lock, held by
// the transaction until it commits or is discarded); reads (Snapshot, History, ...) from any
// thread.
#pragma once

#include <atomic>
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
#include "state/table_log.h"

namespace pinstream::state {

class Store;
class StoreSnapshot;
class StoreIterator;

struct WriteOptions {
  std::string operation = "STREAMING UPDATE";
  bool overwrite = false;
  std::string writer;  // query or job name
  std::string app_id;  // non-empty: idempotent write (txn)
  std::int64_t epoch = 0;
  std::int64_t batch_id = -1;
  std::int64_t rows_per_chunk = 16384;
  // Recorded in the commit info's operationMetrics (a live view's input versions).
  std::vector<std::pair<std::string, std::int64_t>> metrics;
  // How chunks are compressed. StageWrite uses the store's (StoreOptions::table_compression);
  // callers of the static Encode pass Store::table_codec() here.
  ChunkCodec codec = ChunkCodec::kLz4;
};

// A write's rows encoded into stored chunks with their column statistics: the CPU-heavy part
// of staging a version (LZ4 per column segment), made without touching any table, so it can be
// prepared while earlier versions are still committing (DeltaTable::Encode).
struct EncodedWrite {
  std::vector<std::string> chunks;
  std::vector<std::uint32_t> chunk_rows;  // rows of each chunk; the input rows in order
  std::vector<ColumnStats> stats;
  std::size_t total_rows = 0;
  std::int64_t bytes = 0;
};

class TableSnapshot;

// Where a scan stands after a step.
enum class ScanStep {
  kChunk,     // positioned on a chunk: chunk(), chunk_rows(), Decode()
  kFinished,  // no chunk left
};

// Which versions a scan reads: given a version's statistics, false skips the version's chunks.
using VersionFilter = std::function<bool(const VersionStats&)>;

// A pull-style scan of a snapshot, one stored chunk at a time: the reader positions on a chunk
// and decodes only the columns it asks for — e.g. its filter columns first, and the others only
// when some row of the chunk passes (SQL's lazy decoding). Rows a deletion vector deletes are
// left out. Valid while its snapshot lives.
class TableScanCursor {
 public:
  ~TableScanCursor();
  // Moves to the next chunk with live rows (of a version that passes the version filter).
  Result<ScanStep> NextChunk();
  std::int64_t chunk_version() const { return chunk_.version; }
  ChunkId chunk() const { return chunk_; }
  std::size_t chunk_rows() const { return chunk_rows_; }  // live rows
  // Decodes `columns` (schema names, in that order) of the current chunk's live rows: missing
  // columns are padded with nulls, every column has the schema's type. Each row's id is its
  // index within the stored chunk.
  Result<RecordBatch> Decode(const std::vector<std::string>& columns) const;

 private:
  friend class TableSnapshot;
  TableScanCursor() = default;
  Result<ScanStep> Advance();
  Status LoadDeletionVector(std::size_t stored_rows);
  Result<bool> KeepVersion(std::int64_t v);
  // An error of the chunk iterator: Corruption naming the table and the versions whose chunks
  // are in the damaged file when it holds some the scan reads; OK when it holds none.
  Status CheckIterator();
  // A read error named by the versions whose chunks the damaged file holds (OK when it holds
  // none the scan reads, or only versions the filter skips: remembered in ignored_error_; then
  // with `reposition` the chunk iterator goes on after the file).
  Status Attribute(const Status& st, bool reposition);
  // The chunks the scan must read: the log's count for the whole live set unfiltered, else the
  // sum of the chunk counts in the statistics of the versions in its ranges that the filter keeps
  // (nullopt: a version's count was not recorded).
  Result<std::optional<std::int64_t>> ChunksToRead();
  // At the end of a scan: every chunk ChunksToRead() lists was read.
  Status CheckCount();
  const TableSnapshot* snap_ = nullptr;
  VersionFilter keep_version_;
  std::vector<VersionRange> ranges_;
  std::unique_ptr<StoreIterator> it_;
  std::unique_ptr<StoreIterator> stats_it_;  // 'T' keys, with a version filter
  std::size_t range_ = 0;
  bool positioned_ = false;  // it_ is on the first candidate key of the current range
  bool done_ = false;
  ChunkId chunk_{-1, 0};
  std::size_t chunk_rows_ = 0;
  std::size_t stored_rows_ = 0;         // the current chunk's rows, deleted ones included
  std::int64_t reached_ = -1;           // the version the scan last sought or read
  std::string ignored_error_;           // a damaged file that holds no chunk the scan reads
  std::int64_t chunks_read_ = 0;        // chunk keys of the versions read, deleted ones too
  std::int64_t skip_to_ = -1;           // the first version after a damaged file not needed
  std::vector<std::pair<std::int64_t, bool>> decided_;  // the filter's answer per version asked
  std::int64_t filtered_version_ = -1;  // the last version the filter was asked about
  bool keep_filtered_ = true;
  std::vector<std::uint32_t> deleted_;  // the current chunk's deletion vector
};

class TableSnapshot {
 public:
  std::int64_t version() const { return state_->version; }
  const Schema& schema() const { return schema_; }
  std::int64_t num_rows() const { return state_->num_rows; }
  const TableState& state() const { return *state_; }

  // Visits the snapshot's rows chunk by chunk, in live-set order. `columns` (names, in the
  // order wanted) projects; null = every schema column. Missing columns are padded with nulls so
  // every batch has exactly the requested columns with the schema's types.
  using ChunkVisitor = std::function<Status(RecordBatch&&)>;
  [[nodiscard]] Status Scan(const std::vector<std::string>* columns,
                            const ChunkVisitor& visit) const;
  // Same, limited to versions whose statistics pass `keep_version` (stats-based pruning).
  [[nodiscard]] Status ScanVersions(const std::vector<std::string>* columns,
                                    const VersionFilter& keep_version,
                                    const ChunkVisitor& visit) const;
  // A pull-style cursor over the snapshot's chunks; `keep_version` as for ScanVersions;
  // `only` limits it to those versions (within the live set).
  std::unique_ptr<TableScanCursor> OpenCursor(
      VersionFilter keep_version = nullptr, const std::vector<VersionRange>* only = nullptr) const;
  // Everything in one batch (small tables, tests, export).
  Result<RecordBatch> ReadAll(const std::vector<std::string>* columns = nullptr) const;

 private:
  friend class DeltaTable;
  friend class TableScanCursor;
  const Store* store_ = nullptr;
  std::shared_ptr<StoreSnapshot> snap_;
  std::uint32_t table_id_ = 0;
  std::string table_name_;
  std::shared_ptr<const TableState> state_;
  Schema schema_;
};

// What `pinstream tables` and the metrics show of a table.
struct TableInfo {
  std::int64_t version = -1;
  std::int64_t timestamp_ms = 0;
  std::int64_t rows = 0;
  std::int64_t live_chunks = 0;
  std::int64_t live_bytes = 0;
  std::int64_t live_ranges = 0;
  std::int64_t small_chunks = 0;
  std::int64_t deletion_vectors = 0;
  std::int64_t oldest_readable = 0;
  std::vector<std::string> key_columns;
};

// OPTIMIZE (table_maintenance.cc): which runs of versions are rewritten, and how.
struct OptimizeOptions {
  std::int64_t rows_per_chunk = 16384;  // the chunks written; smaller than half of it is small
  // A run of versions is rewritten when it holds at least this many small chunks and chunks with
  // deleted rows (together).
  std::int64_t min_small_chunks = 2;
  std::int64_t max_bytes = 64LL << 20;  // stored bytes one OPTIMIZE reads at most
  // Size-tiered (the background policy): the oldest version of a run leaves it while it holds
  // more bytes than the rest of the run together, so a partly filled chunk that an earlier
  // OPTIMIZE wrote is rewritten only once as many bytes have arrived after it — each row is
  // rewritten about log2(rows_per_chunk / rows per version) times, not once per OPTIMIZE.
  // Off (on demand: `pinstream optimize`), every small chunk of the run is rewritten.
  bool tiered = false;
  std::string writer = "OPTIMIZE";      // shown as the commit's writer
  // Tests: runs after the rows are rewritten, before the commit takes the lock (commits made
  // here are the ones "made while OPTIMIZE ran").
  std::function<void()> before_commit;
};

// What a table-maintenance operation did.
enum class MaintenanceOutcome {
  kCommitted,    // a version was committed (commit says what it did)
  kNothingToDo,  // the table does not need it
  kConflict,     // a concurrent commit changed what it read; try again later
  kDryRun,       // VACUUM --dry-run: what it would delete, nothing deleted
};

struct OptimizeResult {
  MaintenanceOutcome outcome = MaintenanceOutcome::kNothingToDo;
  CommitInfo commit;   // when committed
  std::string detail;  // why not, otherwise
};

// VACUUM (table_vacuum.cc): what it keeps.
struct VacuumOptions {
  // Versions committed within this window stay readable, and so does the version in force at
  // its start (time travel to any instant of the window works).
  std::int64_t retain_us = 7LL * 24 * 3600 * 1'000'000;
  bool dry_run = false;
  std::string writer = "VACUUM";  // shown as the commit's writer
  std::int64_t now_us = 0;        // the clock; 0 = now (tests pass their own)
  // Tests: runs under the table-commit lock once VACUUM has raised the table's floor for
  // streaming readers (TableReaders::RaiseFloor), just before it commits — what a reader does
  // here is what it does "while VACUUM commits".
  std::function<void()> before_commit;
};

// What a VACUUM did (or, dry run, would do).
struct VacuumResult {
  MaintenanceOutcome outcome = MaintenanceOutcome::kNothingToDo;
  CommitInfo commit;   // when committed
  std::string detail;  // why nothing was done
  std::string table;
  std::int64_t oldest_readable_before = 0;
  std::int64_t oldest_readable = 0;  // after it (dry run: what it would be)
  std::int64_t held_from = -1;       // the oldest version a reader holds, -1 for none
  std::int64_t versions_removed = 0, chunks_removed = 0, bytes_removed = 0;
  std::int64_t log_entries_removed = 0, deletion_vectors_removed = 0;
  std::string ToJson() const;
  static Result<VacuumResult> FromJson(std::string_view json);
};

// A table's head, schemas and a store snapshot taken together (DeltaTable::Pin).
struct TablePin {
  std::shared_ptr<const TableState> head;
  std::map<int, Schema> schemas;
  std::shared_ptr<StoreSnapshot> snap;
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
  TableInfo info() const;

  // Stages a new version holding `batches` (in order) into `txn` (a transaction of this table's
  // store: a StoreTxn, or the checkpoint's commit of a query over this store). Visible after
  // commit. Small batches are combined into chunks of up to options.rows_per_chunk rows. Rows
  // must have weight +1 (weighted rows go through StageChanges).
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

  // A changes commit (Delta's MERGE with deletion vectors; update-mode aggregations and views):
  // stages a version from the weighted rows of `changes` (RecordBatch::weights(), empty = every
  // row +1): a row of weight +n inserts n copies of it; a row of weight -n deletes n rows live at
  // the previous version whose `key_columns` equal the row's (the oldest first); a retraction
  // that finds no live row cancels an inserted copy of the same call with that key. The order of
  // the rows does not matter. Rows of weight 0 do nothing.
  //
  // `key_columns` empty means the table's declared key, or — on its first changes commit — every
  // column of the schema (multiset semantics, for views). The table's first changes commit
  // declares its key columns (a later call naming other ones is refused) and builds a key index
  // of its live rows (key bytes → the chunk and row of each live row, in the tables key space);
  // from then on every write to the table keeps the index current in its own transaction.
  //
  // A retraction that matches no live row and no insert of the call is an Internal error naming
  // the table, the version and the key, and nothing is staged. The rows are encoded under the
  // table's lock (changes commits are expected to be small: a batch's changed groups or rows).
  [[nodiscard]] Status StageChanges(CommitTxn& txn, std::span<const RecordBatch> changes,
                                    std::vector<std::string> key_columns,
                                    const WriteOptions& options);

  // Commit infos, newest first, down to the oldest readable version; `limit` 0 = all.
  Result<std::vector<CommitInfo>> History(std::size_t limit = 0) const;
  // The commit info of one version.
  Result<CommitInfo> Commit(std::int64_t version) const;
  // The snapshot at `version` (latest when empty). OutOfRange for versions that do not exist or
  // that VACUUM removed (the message names the oldest readable version).
  Result<std::unique_ptr<TableSnapshot>> Snapshot(
      std::optional<std::int64_t> version = std::nullopt) const;
  // The table as it is now, for a reader that opens snapshots of it later (a SQL statement
  // pins every table it names when it starts): Snapshot(version, pin) and VersionAsOf(ts, &pin)
  // then answer as they would have at Pin() — "latest" is the pinned head, and a version that a
  // VACUUM committed since has removed stays readable through the pin's store snapshot.
  TablePin Pin() const;
  Result<std::unique_ptr<TableSnapshot>> Snapshot(std::optional<std::int64_t> version,
                                                  const TablePin& pin) const;
  // The latest version committed at or before `timestamp_us` (TIMESTAMP AS OF), by a binary
  // search of the log (as of `pin` when given); OutOfRange before the first readable version.
  Result<std::int64_t> VersionAsOf(std::int64_t timestamp_us,
                                   const TablePin* pin = nullptr) const;
  // The last batch an app committed, if any (epoch, batch).
  std::optional<std::pair<std::int64_t, std::int64_t>> LastTxn(const std::string& app_id) const;

  // Reloads the head from storage (readers following a running daemon).
  [[nodiscard]] Status Refresh();

  // OPTIMIZE (Delta's bin-packing compaction): rewrites the run of consecutive small versions
  // (every chunk small, or some chunk with deleted rows) holding the most small chunks, up to
  // options.max_bytes, into chunks of options.rows_per_chunk rows, as a new version with
  // operation OPTIMIZE and dataChange false. The rows at that version are exactly those of the
  // version before it (deleted rows are left out, and rows deleted by commits made while it ran
  // get deletion vectors on the new chunks); the rewritten versions leave the live set, older
  // versions stay readable, and the key index points at the new chunks. It reads a snapshot and
  // encodes without any lock, then takes the table-commit lock to ingest and commit, so a writer
  // waits only for that. If a commit made meanwhile removed a rewritten version from the live
  // set (an overwrite), nothing is committed (kConflict). One maintenance operation per table at
  // a time. Kill points: optimize_before_commit, optimize_after_commit.
  Result<OptimizeResult> Optimize(const OptimizeOptions& options);

  // VACUUM (Delta's VACUUM): deletes the chunks, statistics, deletion vectors, log entries and
  // checkpoints that no version from the oldest one to keep onwards needs. The oldest version
  // kept is the one in force at the start of the retention window (now - options.retain_us),
  // lowered to the oldest version a streaming reader holds (Store::table_readers(), checked
  // again under the table-commit lock before the commit); it never passes the
  // latest version, whose rows are never deleted. A chunk of version u < keep is needed only if u
  // is in the live set at `keep` (versions never re-enter a live set), so what goes is every
  // version below `keep` outside that live set.
  //
  // Steps, each crash-safe: (1) under the table-commit lock, one commit writes a log checkpoint
  // at `keep` and a version with operation VACUUM, dataChange false and oldestReadableVersion
  // `keep`, carrying what it deletes as metrics; from then on snapshots and time travel before
  // `keep` are refused with an error naming it (a snapshot opened before it keeps its RocksDB
  // snapshot and reads on); (2) one more write deletes the keys (range deletes; the log entries
  // last). A crash between them leaves garbage that the next VACUUM finds (a log entry older
  // than the oldest readable version) and deletes. Dry run: reports what it would delete and
  // changes nothing. Kill points: vacuum_before_commit, vacuum_after_commit,
  // vacuum_after_delete. One maintenance operation per table at a time.
  Result<VacuumResult> Vacuum(const VacuumOptions& options);

  // Log entries and checkpoints this object has read from storage (tests: reading is bounded).
  std::int64_t log_entries_read() const { return log_entries_read_.load(); }
  std::int64_t checkpoints_read() const { return checkpoints_read_.load(); }

 private:
  DeltaTable(Store* store, std::string name, std::uint32_t id)
      : store_(store), name_(std::move(name)), id_(id) {}
  std::string Prefix(char kind) const;

  // Loading.
  Status LoadSchemas(const StoreSnapshot* snap, std::map<int, Schema>* schemas) const;
  // The context of a table-log read error: the table and the version being read.
  std::string LogError(std::optional<std::int64_t> version) const;
  // The state at `version` (latest when nullopt) read through `snap`: the newest checkpoint at
  // or before it and the log entries after. *legacy: no checkpoint (a data dir written before
  // them), read from the whole log.
  Result<std::shared_ptr<const TableState>> ReadState(std::optional<std::int64_t> version,
                                                      const std::map<int, Schema>& schemas,
                                                      const StoreSnapshot* snap,
                                                      bool* legacy) const;
  Status LoadHead();
  // Gives a data dir written before log checkpoints its statistics keys and a checkpoint, and
  // deletes chunks no committed version declared. Primary store only; called on Load.
  Status UpgradeLegacyLog();
  // Deletes chunks of versions after the latest committed one (left by an ingestion whose
  // commit never happened). Primary store only; called on Load.
  Status DropUncommittedChunks();
  Result<CommitInfo> ReadCommit(std::int64_t version, const std::map<int, Schema>* schemas,
                                const StoreSnapshot* snap) const;

  // The table's schema after a write: enforced (types cannot change) and evolved (new columns,
  // a first real type for a column so far only null).
  struct SchemaChange {
    Schema schema;
    int schema_id = -1;
    bool changed = false;            // a new schema id is written with the version
    std::vector<std::string> added;  // columns new to an existing table
  };
  // The steps of staging a version, under mu_ (and the table-commit lock):
  // Refuses a read-only store and a second version of this table in `txn`.
  Status BeginStaging(CommitTxn& txn) const;
  // An idempotent write of a batch its app already committed is refused (AlreadyExists).
  Status RefuseCommittedBatch(const WriteOptions& opt) const;
  Result<SchemaChange> EvolveSchema(std::span<const RecordBatch> batches,
                                    const std::string& writer) const;
  // The new schema, and the table's catalog entry on its first version.
  void StageSchemaAndCatalogEntry(CommitTxn& txn, const SchemaChange& schema) const;
  // Into the transaction, or — at StoreOptions::ingest_min_bytes and more — ingested ahead of it.
  Status StageChunks(CommitTxn& txn, std::int64_t version, const std::vector<std::string>& chunks);
  CommitInfo MakeCommitInfo(const EncodedWrite& encoded, const SchemaChange& schema,
                            const WriteOptions& opt) const;
  // Key-index entries for rows written by this version: `rows` are the encoded rows, in order.
  Status StageKeyIndexEntries(CommitTxn& txn, std::span<const RecordBatch> rows,
                              const EncodedWrite& encoded, std::int64_t version) const;
  // The log entry, the version's statistics, a checkpoint when due, and the in-memory head,
  // which follows once the transaction has committed.
  Status StageCommit(CommitTxn& txn, CommitInfo info, const SchemaChange* schema,
                     const std::vector<ColumnStats>* version_stats);

  // OPTIMIZE's steps (table_maintenance.cc).
  struct Run;
  struct Rewrite;
  Result<Run> ChooseRun(const TableSnapshot& snap, const OptimizeOptions& opt) const;
  Result<Rewrite> RewriteRun(const TableSnapshot& snap, const Run& run,
                             const OptimizeOptions& opt) const;

  Store* store_;
  std::string name_;
  std::uint32_t id_;
  mutable std::mutex mu_;
  std::mutex maintenance_mu_;  // one OPTIMIZE / VACUUM of the table at a time
  bool created_ = false;       // catalog entry written
  std::shared_ptr<const TableState> head_ = std::make_shared<TableState>();
  std::map<int, Schema> schemas_;
  bool legacy_ = false;  // the head was read from a log without checkpoints
  // Chunks ingested for versions not committed yet (version → chunk count): a retry that writes
  // fewer deletes the rest in its commit.
  std::map<std::int64_t, std::size_t> ingested_ahead_;
  mutable std::atomic<std::int64_t> log_entries_read_{0};
  mutable std::atomic<std::int64_t> checkpoints_read_{0};
};

}  // namespace pinstream::state
