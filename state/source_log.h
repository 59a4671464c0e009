// SourceLog: the durable log behind the HTTP ingest APIs — Kafka topics and Kinesis streams
// that pinstream hosts itself.
//
// A log stream has N partitions (Kinesis: shards); every accepted record gets the next offset of
// its partition and is stored with its key, arrival time and bytes under
//   be32(stream id) be32(partition) be64(offset)   in the `source_log` column family.
// Offsets are dense, survive restarts (the next offset is recovered from the last key) and are
// what HTTP sources plan micro-batches over, so a batch can be read again exactly.
//
// Durability: Append() callers are answered only after their records are in a synced WAL write.
// A single group-commit writer thread takes the records of many concurrent requests and writes
// them as one WriteBatch with one fsync (DESIGN.md "group commit"); a failed write fails every
// request in it and consumes no offsets.
//
// Consumers (queries) report the offsets they have committed; retention (by age and by bytes per
// partition) never deletes a record some consumer has not committed. Backlog = records a
// consumer has not committed yet; ingest uses it for backpressure.
//
// Threading: every method is thread-safe. Append callbacks run on the writer thread and must be
// quick (post to an I/O executor).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/source.h"
#include "engine/status.h"

namespace pinstream::state {

class Store;

enum class LogApi { kKafkaTopic, kKinesisStream };

struct LogStreamInfo {
  std::string name;
  std::uint32_t id = 0;
  int partitions = 1;
  LogApi api = LogApi::kKafkaTopic;
  std::int64_t created_ms = 0;
};

struct LogRecord {
  int partition = -1;         // -1: choose from the key (or round-robin without a key)
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

// How a record chooses its partition: Kafka's DefaultPartitioner (murmur2 of the key bytes)
// for topics; Kinesis' MD5 of the partition key over equal hash-key ranges for streams.
std::int32_t KafkaMurmur2(std::string_view key);  // org.apache.kafka.common.utils.Utils.murmur2
int KafkaPartitionForKey(std::string_view key, int partitions);
int KinesisShardForKey(std::string_view partition_key, int shards);
// Kinesis hash-key range of shard i of n, as decimal strings.
std::pair<std::string, std::string> KinesisHashKeyRange(int shard, int shards);

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
  using AppendCallback = std::function<void(Result<std::vector<AppendedRecord>>)>;
  // Queues the records; `done` runs (on the writer thread) once they are durable, with their
  // partitions and offsets in request order — or with the error that kept them from being stored.
  void AppendAsync(const std::string& stream, std::vector<LogRecord> records, AppendCallback done);
  Result<std::vector<AppendedRecord>> Append(const std::string& stream, std::vector<LogRecord> records);

  // Reading --------------------------------------------------------------------------------------
  // [start, end) of a partition: start = first retained offset, end = next offset to assign.
  Result<std::pair<std::int64_t, std::int64_t>> Bounds(const std::string& stream, int partition) const;
  struct ReadRecord {
    std::int64_t offset;
    std::int64_t arrival_us;
    bool has_key;
    std::string_view key;
    std::string_view value;
  };
  // Visits the records of [start, end) in offset order; OutOfRange/DataLoss if some are gone.
  [[nodiscard]] Status Read(const std::string& stream, int partition, std::int64_t start, std::int64_t end,
                            const std::function<Status(const ReadRecord&)>& visit) const;

  // Consumers ------------------------------------------------------------------------------------
  // A query reading `stream`; retention keeps what it has not committed.
  void RegisterConsumer(const std::string& consumer, const std::string& stream);
  void Commit(const std::string& consumer, const std::string& stream, const PartitionOffsets& committed);
  // Records of `stream` the consumer with the largest backlog has not committed.
  std::int64_t MaxBacklog(const std::string& stream) const;
  std::int64_t Backlog(const std::string& consumer) const;

  // Runs `fn` after every group commit (e.g. to wake queries). Not removable; set up at start.
  void AddAppendListener(std::function<void()> fn);

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
  SourceLog(Store* store, SourceLogOptions options) : store_(store), options_(options) {}
  struct Partition {
    std::int64_t start = 0;  // first retained offset
    std::int64_t end = 0;    // next offset; advanced only once the records are durable
  };
  struct Stream {
    LogStreamInfo info;
    std::vector<Partition> parts;
    std::uint32_t sticky = 0;
  };
  struct Pending {
    std::string stream;
    std::vector<LogRecord> records;
    AppendCallback done;
  };
  Status LoadStreams();
  void WriterLoop();
  void WriteGroup(std::vector<Pending>& group);

  Store* store_;
  SourceLogOptions options_;
  mutable std::mutex mu_;  // streams_ and consumers_
  std::map<std::string, Stream> streams_;
  std::map<std::string, std::map<std::string, PartitionOffsets>> consumers_;  // consumer → stream → offsets

  std::mutex write_mu_;  // one writer of records at a time: group commits, deletes, retention
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Pending> queue_;
  bool stopping_ = false;
  std::thread writer_;
  std::vector<std::function<void()>> listeners_;
  std::atomic<std::uint64_t> group_commits_{0}, records_{0}, bytes_{0}, failed_writes_{0};
};

}  // namespace pinstream::state
