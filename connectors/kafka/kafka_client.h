// RAII for librdkafka's C handles and the one place librdkafka errors become pinstream Statuses.
// librdkafka headers appear only under connectors/kafka/.
//
//   KafkaPtr, ConfPtr, PartitionListPtr, MessagePtr, QueuePtr, MetadataPtr   owning handles
//   KafkaStatus(err, context)      rd_kafka_resp_err_t → Status (retryable for transport errors)
//   KafkaStatus(rd_kafka_error_t*) the transactional API's error objects (consumed)
//   MakeConf(properties)           client properties → conf, errors name the property
//   NewClient(type, conf)          a producer or consumer; takes the conf on success
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/status.h"

namespace pinstream::connectors::kafka {

struct KafkaDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
  void operator()(const rd_kafka_metadata_t* p) const { rd_kafka_metadata_destroy(p); }
  void operator()(rd_kafka_headers_t* p) const { rd_kafka_headers_destroy(p); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, KafkaDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, KafkaDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, KafkaDeleter>;

// The single mapping of librdkafka error codes: transport, timeout and leadership errors are
// Unavailable (retryable); unknown topics/partitions NotFound; offsets out of range DataLoss;
// authentication/authorization Unauthenticated; fencing FailedPrecondition; others IOError.
Status KafkaStatus(rd_kafka_resp_err_t err, std::string_view context);
// Same for an rd_kafka_error_t (destroys it); retriable errors are retryable, an error that
// requires aborting the transaction is Unavailable (retry the batch), a fatal one is not.
Status KafkaStatus(rd_kafka_error_t* error, std::string_view context);

// Builds a conf from client properties (bootstrap.servers, security.protocol, sasl.*, ssl.*, ...).
Result<ConfPtr> MakeConf(const std::map<std::string, std::string>& properties);
// Creates a client; on success the conf belongs to it.
Result<KafkaPtr> NewClient(rd_kafka_type_t type, ConfPtr conf);

// Low and high watermarks of partitions, in the order asked. One ListOffsets round trip per
// bound for all partitions (rd_kafka_offsets_for_times with the earliest/latest markers), and the
// timeout holds even when brokers are down (rd_kafka_query_watermark_offsets of librdkafka < 2.3
// waits forever then).
struct Watermarks {
  std::int64_t low = 0;
  std::int64_t high = 0;
};
Result<std::vector<Watermarks>> QueryWatermarks(
    rd_kafka_t* rk, const std::vector<std::pair<std::string, int>>& partitions, int timeout_ms);

// "topic/partition" names the engine uses for Kafka partitions ('/' cannot occur in a topic).
std::string PartitionName(std::string_view topic, int partition);
bool ParsePartitionName(std::string_view name, std::string* topic, int* partition);
// A librdkafka partition list of "topic/partition" → offset (names that do not parse are left
// out), e.g. the ends of a batch to commit to a group.
PartitionListPtr OffsetList(const std::map<std::string, std::int64_t>& offsets);

}  // namespace pinstream::connectors::kafka
