#include "connectors/kafka/kafka_source_config.h"

#include <fmt/format.h>

namespace pinstream::connectors {

std::map<std::string, std::string> ConsumerProperties(const KafkaSourceConfig& c,
                                                      const std::string& client_id) {
  std::map<std::string, std::string> props = c.properties;
  props["bootstrap.servers"] = c.bootstrap_servers;
  props["enable.auto.commit"] = "false";
  props["enable.auto.offset.store"] = "false";
  props["client.id"] = client_id;
  return props;
}

Status KafkaDataLossError(const std::string& source, const std::string& partition,
                          std::int64_t from, std::int64_t low) {
  return DataLoss(
      fmt::format("source '{}': offsets {}..{} of {} were deleted (retention) before pinstream "
                  "read them; set "
                  "fail_on_data_loss: false on the source to skip them and go on",
                  source, from, low - 1, partition));
}

}  // namespace pinstream::connectors
