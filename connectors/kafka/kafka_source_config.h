// The `kafka` source's typed config (parsed in kafka_source.cc) and what its parts — the source,
// its range reader and its consumer-group member — build their librdkafka clients from.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/status.h"

namespace pinstream::connectors {

struct KafkaSourceConfig {
  std::string bootstrap_servers;
  std::vector<std::string> topics;
  std::string topic_pattern;
  std::string starting = "earliest";  // earliest | latest | json
  std::map<std::string, std::map<int, std::int64_t>> starting_json;
  std::int64_t max_offsets_per_trigger = 0;
  bool fail_on_data_loss = true;
  std::string group_id;
  std::map<std::string, std::string> properties;
  std::int64_t read_timeout_us = 60'000'000;
  std::int64_t rebalance_wait_us = 30'000'000;
  int request_timeout_ms = 10'000;  // metadata, watermarks, group offsets
  std::string progress_topic = "pinstream-group-progress";
};

// The librdkafka properties every consumer of the source starts from: the source's own
// `properties`, its brokers, no automatic commits or offset stores, and `client_id`.
std::map<std::string, std::string> ConsumerProperties(const KafkaSourceConfig& c,
                                                      const std::string& client_id);

// DataLoss: offsets [from, low) of `partition` were deleted by retention before `source` read
// them (with what to set to skip them).
Status KafkaDataLossError(const std::string& source, const std::string& partition,
                          std::int64_t from, std::int64_t low);

}  // namespace pinstream::connectors
