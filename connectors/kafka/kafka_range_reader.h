// KafkaRangeReader: reads a batch's planned offset ranges exactly, for the `kafka` source.
//
// One consumer (never subscribed: it has partitions assigned) keeps the batch's partitions
// assigned from batch to batch, each with its own queue. When every range of a batch starts
// where the previous read of its partition stopped (the steady state), the records librdkafka
// has already fetched are read on, with no new assign and no re-fetch. Otherwise (first batch, a
// replay, a retry, partitions moved) the batch's partitions are assigned afresh at their starts
// and librdkafka fetches them concurrently. A range is read to its end — messages taken past it
// are carried to the partition's next range, never dropped — or the read fails: Unavailable when
// the range was not delivered within read_timeout (broker down, an open transaction holding it
// back), DataLoss (or Unavailable, to retry from the new log start, with fail_on_data_loss off)
// when retention deletes records while they are read.
//
// Without a group_id the source commits each batch's ends through this consumer to the group
// `pinstream-<query>-<source>`, for lag monitoring only (never read back).
//
// Threading: used by the source's query thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "connectors/kafka/kafka_client.h"
#include "connectors/kafka/kafka_source_config.h"
#include "connectors/log_chunk.h"
#include "engine/source.h"

namespace pinstream::connectors {

class KafkaRangeReader {
 public:
  // `meta` (the source's metadata client) answers watermark queries; it outlives the reader.
  KafkaRangeReader(const KafkaSourceConfig& config, std::string source_name,
                   std::string monitor_group, rd_kafka_t* meta)
      : config_(config),
        name_(std::move(source_name)),
        monitor_group_(std::move(monitor_group)),
        meta_(meta) {}
  ~KafkaRangeReader() { Close(); }

  // Creates the consumer, with `prefetch_kbytes` of prefetch per partition queue. Idempotent.
  [[nodiscard]] Status Open(std::int64_t prefetch_kbytes);
  bool opened() const { return reader_ != nullptr; }

  // Announces a batch's ranges: range i is read from `from[i]` (its start, or past records
  // deleted by retention).
  [[nodiscard]] Status Prepare(const std::vector<ReadRange>& ranges,
                               const std::vector<std::int64_t>& from);
  // Whether `range` was announced and not read yet.
  bool Prepared(const ReadRange& range) const;
  // Reads an announced range, in chunks of up to `max_chunk_rows` of `columns`.
  [[nodiscard]] Status Read(const ReadRange& range, std::size_t max_chunk_rows,
                            const LogColumns& columns, const Source::ChunkConsumer& emit);

  // Commits the ends to the monitoring group, asynchronously (results are logged).
  void CommitForMonitoring(const PartitionOffsets& committed);
  // Drops every assigned partition and closes the consumer.
  void Close();

 private:
  struct Planned {
    std::int64_t start = 0;  // the planned start (what Read is called with)
    std::int64_t from = 0;   // where reading starts (past records deleted by retention)
  };
  struct Fetching {
    kafka::QueuePtr queue;  // the partition's own queue (not forwarded to the consumer queue)
    std::int64_t next = 0;  // the offset reading goes on from (where the last read stopped)
    std::vector<kafka::MessagePtr> carry;  // records taken past the last range's end
  };

  // Drops every assigned partition: queues released, fetching stopped, and anything librdkafka
  // put on the consumer queue (errors, events) drained.
  void Unassign();
  Status ConsumeRange(Fetching& f, const std::string& topic, int p, const ReadRange& range,
                      std::size_t max_chunk_rows, const LogColumns& columns,
                      const Source::ChunkConsumer& emit);
  // Records deleted by retention while the range was being read: fail (fail_on_data_loss), or
  // retry the batch — the retry starts at the new log start.
  Status HandleOutOfRange(const std::string& topic, int p, const ReadRange& range,
                          std::int64_t* next);
  static void OnMonitorCommit(rd_kafka_t*, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t*, void* opaque);

  const KafkaSourceConfig& config_;
  std::string name_;
  std::string monitor_group_;  // the consumer's group id (lag monitoring without a group_id)
  rd_kafka_t* meta_;
  kafka::KafkaPtr reader_;
  kafka::QueuePtr reader_queue_;
  kafka::QueuePtr commit_queue_;              // results of the monitoring commits
  std::map<std::string, Planned> planned_;    // the batch's ranges not read yet
  std::map<std::string, Fetching> fetching_;  // the assigned partitions
  bool assigned_ = false;
};

}  // namespace pinstream::connectors
