// SourceLog: the durable log behind the HTTP ingest APIs — the Kafka topics and Kinesis streams
// that pinstream hosts itself.
//
// A log stream has N partitions (Kinesis: shards); every accepted record gets the next offset of
// the partition its producer chose (the HTTP APIs choose as Kafka and Kinesis clients expect) and
// is stored with its key, arrival time and bytes. Records are kept in record batches, like Kafka's:
// each group commit writes, per partition it touches, ONE value
//   key   be64(base offset), in the partition's own column family `log/<stream id>/<partition>`
//   value varint arrival µs | varint count | count × (has-key byte, [key], value)
// so a request of 500 records (or 30 requests of one) costs one RocksDB put per partition, not
// one per record. A partition's keys only grow, so RocksDB moves its flushed files down the levels
// without rewriting them (store.h "Log spaces"). Data dirs from before log spaces kept every
// partition in one `source_log` family; their batches are moved into the partitions' spaces when
// the log opens. Offsets are dense, survive restarts (recovered from the last batch) and are what
// HTTP sources plan micro-batches over, so a batch can be read again exactly. A damaged first or
// last batch does not stop the log from opening; a partition whose last batch is unreadable (its
// next offset unknown) refuses appends (state/README.md "Damaged data").
//
// Durability: Append() callers are answered only after their records are in a synced WAL.
// Group commit: the log thread takes the records of every queued request, appends them as one
// WriteBatch and fsyncs the WAL, then acknowledges them; what arrives meanwhile waits in the
// queue, so the next write and fsync cover everything that arrived during the previous one.
// Partition ends — what queries can plan — advance only after the sync. A failed write or sync
// fails every request in the group. A group whose WAL write failed is not in the store: its
// offsets are given out again. A group whose sync failed may be on disk: its offsets stay taken
// (RocksDB refuses writes until it recovers — after a local fsync failure only a restart does —
// and its recovery makes the group durable; a client that retries may find its records twice,
// as with a Kafka producer after a timeout).
//
// Consumers (queries) report the offsets they have committed; retention (by age and by bytes per
// partition) removes whole record batches and never one holding a record some consumer has not
// committed — the files holding only such batches at once, like Kafka's segment deletion.
// Backlog = records a consumer has not committed yet; ingest uses it for backpressure.
//
// Threading: every method is thread-safe. Append callbacks run on the log thread (`log-writer`)
// and must be quick (post to an I/O executor).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "engine/source.h"
#include "engine/status.h"

namespace pinstream::state {

class Store;
class LogSpace;

enum class LogApi { kKafkaTopic, kKinesisStream };

struct LogStreamInfo {
  std::string name;
  std::uint32_t id = 0;
  int partitions = 1;
  LogApi api = LogApi::kKafkaTopic;
  std::int64_t created_ms = 0;
};

struct LogRecord {
  int partition = 0;  // the partition it is appended to (the producer's choice)
  bool has_key = false;
  std::string key;
  std::string value;
};

struct AppendedRecord {
  int partition = 0;
  std::int64_t offset = 0;
};

struct SourceLogOptions {
  std::int64_t retention_age_us = 7LL * 86400 * 1000000;
  std::int64_t retention_bytes = 0;  // per partition; 0 = unlimited
  std::int64_t group_commit_max_records = 4096;
  std::int64_t retention_check_interval_us = 10'000'000;
};

class SourceLog {
 public:
  static Result<std::unique_ptr<SourceLog>> Open(Store* store, SourceLogOptions options);
  ~SourceLog();

  // Streams ------------------------------------------------------------------------------------
  Result<LogStreamInfo> Create(const std::string& name, int partitions, LogApi api);
  [[nodiscard]] Status Delete(const std::string& name);
  std::optional<LogStreamInfo> Find(const std::string& name) const;
  std::vector<LogStreamInfo> List(std::optional<LogApi> api = std::nullopt) const;

  // Appending ------------------------------------------------------------------------------------
  // Each record goes to the partition it names; a request naming a partition the stream does
  // not have is refused whole (NotFound). `done` gets the records' partitions and offsets in
  // request order (a view, valid during the call) — or the error that kept them from being
  // stored.
  using AppendCallback = std::function<void(Result<std::span<const AppendedRecord>>)>;
  // Queues the records; `done` runs on the log thread once they are durable (or at once,
  // on the caller's thread, when the log is shutting down).
  void AppendAsync(const std::string& stream, std::vector<LogRecord> records, AppendCallback done);
  Result<std::vector<AppendedRecord>> Append(const std::string& stream,
                                             std::vector<LogRecord> records);

  // Reading --------------------------------------------------------------------------------------
  // [start, end) of a partition: start = first retained offset, end = next offset to assign.
  Result<std::pair<std::int64_t, std::int64_t>> Bounds(const std::string& stream,
                                                       int partition) const;
  struct ReadRecord {
    std::int64_t offset;
    std::int64_t arrival_us;
    bool has_key;
    std::string_view key;
    std::string_view value;
  };
  // Visits the records of [start, end) in offset order; OutOfRange/DataLoss if some are gone.
  [[nodiscard]] Status Read(const std::string& stream, int partition, std::int64_t start,
                            std::int64_t end,
                            const std::function<Status(const ReadRecord&)>& visit) const;

  // Consumers ------------------------------------------------------------------------------------
  // A query reading `stream`; retention keeps what it has not committed.
  void RegisterConsumer(const std::string& consumer, const std::string& stream);
  void Commit(const std::string& consumer, const std::string& stream,
              const PartitionOffsets& committed);
  // Records of `stream` the consumer with the largest backlog has not committed.
  std::int64_t MaxBacklog(const std::string& stream) const;
  std::int64_t Backlog(const std::string& consumer) const;

  // Runs `fn` after every group commit with the names of the streams (topics) that got records
  // in it, each once (e.g. to wake the queries reading them). Not removable; set up at start.
  using AppendListener = std::function<void(const std::vector<std::string>& streams)>;
  void AddAppendListener(AppendListener fn);

  // A reload's new retention and group-commit limit (http.retention, group_commit_max_records):
  // the next group commit and the next retention pass use them. Any thread.
  void SetLimits(std::int64_t retention_age_us, std::int64_t retention_bytes,
                 std::int64_t group_commit_max_records);

  // Retention pass (also run periodically by the writer thread). Returns records deleted.
  Result<std::int64_t> EnforceRetention(std::int64_t now_us);

  // Stops the writer after the queued appends are written.
  void Shutdown();

  struct Stats {
    std::uint64_t group_commits = 0;
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    std::uint64_t failed_writes = 0;
  };
  Stats stats() const;

 private:
  SourceLog(Store* store, SourceLogOptions options);
  struct Partition {
    const LogSpace* space = nullptr;  // the partition's column family (set once)
    std::int64_t start = 0;           // first retained offset
    std::int64_t end = 0;             // end of the durable records: what readers and planners see
    std::int64_t next = 0;            // next offset to assign (> end while groups await their sync)
    // Why appends are refused: the last record batch is damaged, so `next` is unknown
    // (RefuseAppends); empty otherwise.
    std::string refused;
  };
  struct Stream {
    LogStreamInfo info;
    std::vector<Partition> parts;
  };
  struct Pending {
    std::string stream;
    std::vector<LogRecord> records;
    AppendCallback done;
  };
  // A partition a group wrote to, and where its records end after the group.
  struct PartitionEnd {
    std::uint32_t stream;
    int partition;
    std::int64_t begin, end;  // the group's offsets in the partition
  };
  // A group of requests: taken from the queue, written to the WAL and synced together. The log
  // thread reuses one: its containers keep their capacity, so a steady stream of group commits
  // allocates nothing here.
  struct Written {
    std::vector<Pending> requests;
    std::vector<AppendedRecord> offsets;   // every request's, in request order
    std::vector<std::size_t> offsets_end;  // per request: the end of its offsets in `offsets`
    std::vector<Status> errors;            // per request (validation)
    std::vector<PartitionEnd> ends;
    std::uint64_t records = 0, bytes = 0;
    void Clear();
  };
  struct WriterScratch;  // the log thread's reused record-batch builders and transaction
  Status LoadStreams();
  // A partition's start and end from its first and last record batches; a damaged one does not
  // fail the open (see the .cc).
  Status LoadBounds(const LogStreamInfo& info, int p, Partition& part);
  // The last batch (at `last_base`) is damaged: its record count, so the next offset, is unknown.
  // Appends to the partition are refused; readers read up to the batch (and fail on it).
  Status RefuseAppends(const LogStreamInfo& info, int p, Partition& part, std::int64_t last_base,
                       const std::string& why);
  // Moves a partition's batches from the one `source_log` family of data dirs written before log
  // spaces into its own space.
  Status MigrateLegacy(const LogStreamInfo& info, int partition, const LogSpace& space);
  void WriterLoop();
  // Assigns the group's offsets and appends it to the WAL, unsynced.
  Status WriteGroup(Written& w);
  // Settles a group — its partitions' durable ends, or after a failure its offsets (see the .cc);
  // its requests' callbacks — and clears it. `written`: the group reached the WAL (and so the
  // memtable), whatever `st` says about its sync.
  void Complete(Written& w, const Status& st, bool written);
  // After a successful sync: the groups whose sync had failed are durable (see Complete()).
  void SettleInDoubt();
  Partition* PartitionById(std::uint32_t stream, int partition);  // under mu_; null once deleted

  Store* store_;
  SourceLogOptions options_;  // its limits below are read from the atomics (SetLimits)
  std::atomic<std::int64_t> retention_age_us_;
  std::atomic<std::int64_t> retention_bytes_;
  std::atomic<std::int64_t> group_commit_max_records_;
  mutable std::mutex mu_;  // streams_ and consumers_
  std::map<std::string, Stream> streams_;
  std::map<std::uint32_t, Stream*> by_id_;  // the same streams, by id
  std::map<std::string, std::map<std::string, PartitionOffsets>>
      consumers_;  // consumer → stream → offsets

  std::mutex write_mu_;  // one writer of records at a time: group commits, deletes, retention
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Pending> queue_;
  bool stopping_ = false;
  std::thread writer_;
  std::unique_ptr<WriterScratch> scratch_;
  // Partitions written by groups whose sync failed (log thread only; see Complete()).
  std::vector<PartitionEnd> in_doubt_;
  // Copied on write, so the log thread calls them without copying the list (or holding a lock).
  std::shared_ptr<const std::vector<AppendListener>> listeners_ =
      std::make_shared<std::vector<AppendListener>>();
  std::atomic<std::uint64_t> group_commits_{0}, records_{0}, bytes_{0}, failed_writes_{0};
};

}  // namespace pinstream::state
