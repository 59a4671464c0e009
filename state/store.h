// Store: the one RocksDB database of a data dir, shared by everything the daemon persists.
//
// Column families (KeySpace below; a CommitTxn's CommitSpace maps onto them, KeySpaceOf):
//   default      catalog: table ids, source-log streams, format version        (KeySpace::kMeta)
//   checkpoint   per query: metadata, offsets/N, commits/N                      (kCheckpoint)
//   tables       delta tables: commit log, schemas, columnar row chunks, txns   (kTables)
//   state        keyed operator state                                           (kState)
//   source_log   the source log of data dirs written before log spaces (migrated on open and
//                left empty)                                                    (kSourceLog)
//   log/<stream id>/<partition>
//                one family per source-log partition (LogSpace): records accepted over HTTP,
//                keyed by be64(base offset)
// Every integer in a key is big-endian, so RocksDB's byte order is numeric order.
//
// Log spaces: a partition of the source log is a column family of its own, so its keys only
// ever grow. Each memtable flush then produces a file whose keys all follow the files before it,
// and RocksDB's leveled compaction moves such files down the levels without rewriting them (a
// "trivial move"): a record is written twice (WAL, flush) and never again, as in a Kafka segment.
// (Partitions sharing one family would make every flush overlap the older files of the others,
// and compactions would rewrite the log again and again.)
//
// Opening:
//   Open()        the daemon (and admin commands that write): read-write, takes an exclusive
//                 lock on the data dir — a second daemon is refused with a message naming the pid
//                 holding it.
//   OpenReader()  CLI reads (tables, scan, sql, ...) while the daemon runs: a RocksDB secondary
//                 instance that follows the primary's WAL; call CatchUp() to see new commits.
//
// Commits: StoreTxn (a CommitTxn backed by one rocksdb::WriteBatch) is applied with Write(sync).
// A StoreTxn that writes delta tables holds the store's table-commit lock from the first table
// write until it is committed or discarded, so versions of a table are allocated in commit order
// even when several queries write it.
//
// The implementation is spread over store.cc (opening, reads), store_txn.cc (transactions and
// writes), log_space.cc, table_catalog.cc and sst_ingest.cc; the checkpoints built on the store
// are in checkpoint_store.h. RocksDB headers are included only by .cc files in state/ and by
// state/store_internal.h.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/commit_txn.h"
#include "engine/status.h"
#include "state/chunk_codec.h"
#include "state/store_options.h"
#include "state/table_readers.h"

namespace pinstream::state {

// The store's column families with fixed names (log spaces come and go with the source log).
enum class KeySpace : unsigned char {
  kCheckpoint = 0,  // offsets / commits logs and query metadata
  kTables = 1,      // delta tables: logs, schemas, row chunks
  kState = 2,       // keyed operator state
  kSourceLog = 3,   // the source log of data dirs written before log spaces
  kMeta = 4,        // catalog (table ids, source-log streams)
};

// Where the engine's commit spaces live: operator state in `state`, sink output in `tables`,
// the catalog in `default`.
KeySpace KeySpaceOf(CommitSpace space);

class DeltaTable;
class Store;

// A snapshot of the whole store; reads through it see one consistent point in time. (On a
// read-only secondary instance the whole view is fixed between CatchUp() calls, so its snapshot
// is just that view.)
class StoreSnapshot {
 public:
  ~StoreSnapshot();
  StoreSnapshot(const StoreSnapshot&) = delete;
  StoreSnapshot& operator=(const StoreSnapshot&) = delete;
  const void* handle() const { return snap_; }

 private:
  friend class Store;
  StoreSnapshot(Store* store, const void* snap) : store_(store), snap_(snap) {}
  Store* store_;
  const void* snap_;
};

// Iterates keys of one key space with a given prefix, in key order.
class StoreIterator {
 public:
  virtual ~StoreIterator() = default;
  virtual void Seek(std::string_view key) = 0;
  virtual void SeekForPrev(std::string_view key) = 0;
  virtual bool Valid() const = 0;  // false at the end of the prefix or the key space
  virtual void Next() = 0;
  virtual void Prev() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual Status status() const = 0;
};

// One source-log partition's column family (see the header comment). Owned by the Store: valid
// until the Store is destroyed, also after DropLogSpace (reads through it then still see the
// family's data as of the drop; writes fail).
class LogSpace {
 public:
  const std::string& name() const { return name_; }

 private:
  friend class Store;
  friend class StoreTxn;
  LogSpace(std::string name, void* handle) : name_(std::move(name)), handle_(handle) {}
  std::string name_;
  void* handle_;  // rocksdb::ColumnFamilyHandle*
};

class StoreTxn : public CommitTxn {
 public:
  explicit StoreTxn(Store* store, std::int64_t batch_id);
  ~StoreTxn() override;

  std::int64_t batch_id() const override { return batch_id_; }
  // CommitTxn: the engine's spaces, placed by KeySpaceOf.
  void Put(CommitSpace space, std::string_view key, std::string_view value) override {
    Put(KeySpaceOf(space), key, value);
  }
  void Delete(CommitSpace space, std::string_view key) override { Delete(KeySpaceOf(space), key); }
  void DeleteRange(CommitSpace space, std::string_view begin, std::string_view end) override {
    DeleteRange(KeySpaceOf(space), begin, end);
  }
  void OnCommitted(std::function<void()> fn) override { hooks_.push_back(std::move(fn)); }
  void HoldUntilDone(std::mutex& commit_order) override;
  std::map<std::string, std::int64_t>& staged_versions() override { return staged_versions_; }
  std::size_t staged_bytes() const override;

  // The store's own writes, by column family.
  void Put(KeySpace space, std::string_view key, std::string_view value);
  // Put of the concatenation of `parts`, gathered straight into the write batch (no joined copy).
  void PutParts(KeySpace space, std::string_view key, std::span<const std::string_view> parts);
  void PutParts(const LogSpace& space, std::string_view key,
                std::span<const std::string_view> parts);
  void DeleteRange(const LogSpace& space, std::string_view begin, std::string_view end);
  void Delete(KeySpace space, std::string_view key);
  void DeleteRange(KeySpace space, std::string_view begin, std::string_view end);
  // Empties the transaction for reuse (Store::Write); its write batch keeps its buffer, so a
  // writer that commits many small transactions allocates none after the first.
  void Clear();

 private:
  friend class Store;
  struct Batch;  // the rocksdb::WriteBatch (store_internal.h)
  Store* store_;
  std::int64_t batch_id_;
  std::unique_ptr<Batch> batch_;
  std::vector<std::function<void()>> hooks_;
  std::vector<std::unique_lock<std::mutex>> held_;  // HoldUntilDone
  std::map<std::string, std::int64_t> staged_versions_;
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  // Read-only view of a data dir a daemon may be writing (RocksDB secondary instance).
  static Result<std::unique_ptr<Store>> OpenReader(const std::string& data_dir);
  ~Store();

  const StoreOptions& options() const { return options_; }
  // options().table_compression, parsed (Open refuses an unknown name).
  ChunkCodec table_codec() const { return table_codec_; }
  bool read_only() const { return read_only_; }
  // Set once a write failed with an error RocksDB cannot recover from without reopening the
  // store (a failed WAL sync): what happened, and that a restart is needed. Empty otherwise.
  std::optional<std::string> unrecoverable_error() const;
  // Set while writes fail with an error the store recovers from without a restart (a full disk:
  // "disk full: ..."): the error writes wait on. Writes answer Unavailable (retryable) until
  // RocksDB's recovery or a Resume() succeeds.
  std::optional<std::string> write_error() const;
  // write_error(), after trying to resume writing (for a probe such as /ready: it turns healthy
  // once space is freed, without waiting for the next write).
  std::optional<std::string> PendingWriteError();
  // Secondary instances: replay the primary's latest writes. No-op on the primary.
  [[nodiscard]] Status CatchUp();

  [[nodiscard]] Status Get(KeySpace space, std::string_view key, std::string* value,
                           const StoreSnapshot* snap = nullptr) const;  // NotFound if absent
  // Point reads of several keys of one space at once (`keys` ascending; RocksDB's batched
  // MultiGet): values[i] is nullopt when keys[i] is absent.
  [[nodiscard]] Status MultiGet(KeySpace space, std::span<const std::string> keys,
                                std::vector<std::optional<std::string>>* values) const;
  std::unique_ptr<StoreIterator> NewIterator(KeySpace space, std::string_view prefix,
                                             const StoreSnapshot* snap = nullptr) const;
  std::unique_ptr<StoreSnapshot> GetSnapshot();
  // The smallest and largest keys of the SST file a read error names (RocksDB's checksum errors
  // end "in <path>/<number>.sst ..."), when it is a live file of `space`.
  std::optional<std::pair<std::string, std::string>> DamagedFileKeys(KeySpace space,
                                                                     const Status& error) const;
  std::optional<std::pair<std::string, std::string>> DamagedFileKeys(const LogSpace& space,
                                                                     const Status& error) const;
  // Iterates the keys of [begin, end) of one key space, in key order (operator state scans).
  std::unique_ptr<StoreIterator> NewRangeIterator(KeySpace space, std::string_view begin,
                                                  std::string_view end) const;
  // Bytes the keys of [begin, end) take: RocksDB's estimate for SST files plus the memtables'
  // entries counted (key + value; estimated past 4096 entries).
  std::uint64_t ApproximateRangeSize(KeySpace space, std::string_view begin,
                                     std::string_view end) const;

  // Log spaces (source-log partitions; see the header comment). Names are "log/..." and are
  // created on first use; a reader (OpenReader) sees the spaces that existed when it opened.
  Result<LogSpace*> OpenLogSpace(const std::string& name);
  // Every log space in the store (the daemon drops those no stream owns).
  std::vector<std::string> LogSpaceNames() const;
  // Drops the space's column family and its files. The LogSpace stays valid (see LogSpace).
  [[nodiscard]] Status DropLogSpace(const std::string& name);
  // Iterates a log space front to back; its blocks do not enter the block cache (each query
  // reads a record once, like a Kafka fetch). `at_first` false: positioned nowhere until a seek
  // (the first batch is not read: a reader that seeks elsewhere neither pays for it nor fails
  // on it when it is damaged).
  std::unique_ptr<StoreIterator> NewIterator(const LogSpace& space, bool at_first = true) const;
  // Deletes the files of a log space whose keys all lie in [begin, end) — whole files, at once,
  // without a write (retention; RocksDB DeleteFilesInRange). Keys in files that straddle `end`
  // stay: pair with StoreTxn::DeleteRange.
  [[nodiscard]] Status DeleteFilesInRange(const LogSpace& space, std::string_view begin,
                                          std::string_view end);
  // Bytes the store's compactions have written since it opened, and bytes they moved without
  // rewriting (trivial moves), over the log spaces (tests and benchmarks).
  struct CompactionIo {
    std::uint64_t written = 0;
    std::uint64_t moved = 0;
    int files = 0;  // live SST files of the log spaces
  };
  CompactionIo LogCompactionIo() const;

  std::unique_ptr<StoreTxn> BeginTxn(std::int64_t batch_id = -1);
  // Applies the txn atomically (sync = fsync the WAL before returning) and runs its hooks.
  [[nodiscard]] Status Commit(std::unique_ptr<StoreTxn> txn, bool sync = true);
  // The same for a transaction the caller keeps: applies it, runs its hooks and Clear()s it
  // (also when the write fails).
  [[nodiscard]] Status Write(StoreTxn& txn, bool sync);
  // Makes every write so far durable (fsync of the WAL); pairs with Commit(txn, /*sync=*/false).
  [[nodiscard]] Status SyncWal();
  // A single synced put (offsets/N, metadata).
  [[nodiscard]] Status PutSync(KeySpace space, std::string_view key, std::string_view value);

  // Delta tables (one object per table per process).
  std::vector<std::string> ListTables() const;
  // The table, loading its head from storage; NotFound when it does not exist and !create.
  Result<DeltaTable*> Table(const std::string& name, bool create);

  // Streaming readers of the tables and the oldest version each still needs (VACUUM keeps them).
  TableReaders& table_readers() { return table_readers_; }
  // Runs `fn(table name)` after every committed version of a table, on the committing thread
  // (queries reading the table as a stream wake up). Listeners are never removed; adding one is
  // thread-safe, also while tables commit.
  void AddTableCommitListener(std::function<void(const std::string&)> fn);
  // Called by DeltaTable once a version's transaction committed.
  void NotifyTableCommitted(const std::string& table) const;

  // Catalog ids (tables, source-log streams): allocated once, never reused.
  Result<std::uint32_t> AllocateId(std::string_view kind);

  // Writes `entries` (keys strictly ascending) as one SST file under <data_dir>/ingest and
  // ingests it into `space`, durably, outside any transaction and without the WAL: each byte is
  // written once instead of to the WAL and again by the memtable flush. For large values that a
  // later transaction makes visible (delta-table chunks); until then readers must not find them.
  [[nodiscard]] Status IngestSorted(
      KeySpace space, std::span<const std::pair<std::string, std::string_view>> entries);

  // Property/metric access for /metrics and benchmarks.
  std::uint64_t ApproximateSize(KeySpace space) const;
  // What a key space takes: its live SST files on disk and its memtables in memory (bytes,
  // RocksDB's properties; the admin API's /store).
  struct SpaceBytes {
    std::uint64_t sst_files = 0;
    std::uint64_t memtables = 0;
  };
  SpaceBytes SpaceSize(KeySpace space) const;

  // Compacts a key space range (used after retention deletes; benchmarks).
  void CompactRange(KeySpace space);
  // Flushes memtables (benchmarks and tests of recovery from SST files).
  [[nodiscard]] Status Flush();
  // Polls until no flush or compaction is running or pending (benchmarks: start the clock on a
  // quiet store). False when `timeout` passed first.
  bool WaitForBackgroundWork(std::chrono::milliseconds timeout);

  struct Rocks;  // the RocksDB database and its column families (store_internal.h)
  Rocks* rocks() const { return rocks_.get(); }
  std::mutex& table_commit_mutex() { return table_commit_mu_; }

 private:
  Store() = default;
  friend class StoreSnapshot;
  // Takes the opened database and its column families, (name, rocksdb::ColumnFamilyHandle*).
  void AdoptHandles(void* db, const std::vector<std::pair<std::string, void*>>& families);
  // A write failed with a recoverable error: remember it, resume before the next write.
  void NoteWriteError(const std::string& message);
  // Resumes writing after such an error (Unavailable while it still fails; an unrecoverable
  // error is recorded for unrecoverable_error()).
  [[nodiscard]] Status Resume();
  StoreOptions options_;
  bool read_only_ = false;
  ChunkCodec table_codec_ = ChunkCodec::kLz4;
  std::atomic<std::uint64_t> ingest_seq_{0};
  std::unique_ptr<Rocks> rocks_;
  std::mutex table_commit_mu_;
  mutable std::mutex tables_mu_;
  std::map<std::string, std::unique_ptr<DeltaTable>> tables_;
  std::mutex id_mu_;
  TableReaders table_readers_;
  mutable std::mutex listeners_mu_;
  std::vector<std::function<void(const std::string&)>> table_listeners_;
};

// Maps a RocksDB status (by its code and message) to a pinstream Status. The one place where
// RocksDB errors are translated (errors are mapped once, at the boundary of the folder that owns
// the library).
Status FromRocks(int code, int subcode, const std::string& message, std::string_view context);

}  // namespace pinstream::state
