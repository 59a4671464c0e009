// KafkaGroupMember: the `kafka` source's membership in a consumer group (group_id), so that
// daemons with the same group_id split the topics' partitions.
//
// The member subscribes and is paused: it never fetches, it only receives assignments (a poller
// thread, `kafka-poll`, serves librdkafka's callbacks). The source plans only the partitions the
// member owns. After each batch commits, the owned partitions' ends go to the group: a progress
// record (key "<group>/<topic>/<partition>" on group_progress_topic, written even while the group
// rebalances) and the broker's committed offsets (for lag monitoring; refused during a rebalance,
// harmlessly). When partitions are revoked, the revocation waits (up to rebalance_wait) for the
// running batch to commit, then hands the committed ends over the same way. A new owner resumes
// a partition from the later of its own checkpoint, the broker's committed offset and the
// progress record.
//
// Threading: the query thread calls Join/OwnedPartitions/BatchPlanned/BatchCommitted/Leave; the
// rebalance callbacks run on the poller thread; the state they share is under one mutex.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "connectors/kafka/kafka_client.h"
#include "connectors/kafka/kafka_producer.h"
#include "connectors/kafka/kafka_source_config.h"
#include "engine/source.h"

namespace pinstream::connectors {

class KafkaGroupMember {
 public:
  // `meta` (the source's metadata client) reads the progress topic's metadata; it outlives the
  // member.
  KafkaGroupMember(const KafkaSourceConfig& config, std::string source_name, rd_kafka_t* meta)
      : config_(config), name_(std::move(source_name)), meta_(meta) {}
  ~KafkaGroupMember() { Leave(); }

  // Subscribes to the source's topics (or pattern) in group_id and starts the poller.
  [[nodiscard]] Status Join();
  bool joined() const { return group_ != nullptr; }

  // The partitions this member owns now, as (topic, partition).
  std::vector<std::pair<std::string, int>> OwnedPartitions() const;
  std::size_t owned_count() const;
  // Where the group left `partition` when it was assigned here (-1: no committed offset), or
  // nullopt for a partition never assigned here.
  std::optional<std::int64_t> GroupOffset(const std::string& partition) const;

  // A batch was planned over the `committed` ends; `reads` says whether it reads anything. A
  // revocation waits until it commits.
  void BatchPlanned(const PartitionOffsets& committed, bool reads);
  // The batch committed: the ends of the owned partitions go to the group.
  void BatchCommitted(const PartitionOffsets& committed);
  // Nothing more will commit: a revocation need not wait for a batch.
  void NoMoreBatches();
  // Leaves the group (its partitions are revoked and handed over) and closes the member.
  void Leave();

 private:
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque);
  void Assigned(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts);
  void Revoked(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts);
  // Progress records: key "<group>/<topic>/<partition>", value the next offset to read.
  Status PublishProgress(const PartitionOffsets& ends);
  // The latest progress record of every partition of this group.
  Result<PartitionOffsets> ReadProgress();

  const KafkaSourceConfig& config_;
  std::string name_;
  rd_kafka_t* meta_;
  kafka::KafkaPtr group_;
  std::unique_ptr<kafka::KafkaProducer> progress_producer_;
  std::thread poller_;
  std::atomic<bool> polling_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> assigned_;
  std::map<std::string, std::int64_t> group_offsets_;  // where the group left each partition
  PartitionOffsets committed_;  // the last committed ends: what a revocation hands over
  bool in_batch_ = false;       // a planned batch has not committed yet
};

}  // namespace pinstream::connectors
