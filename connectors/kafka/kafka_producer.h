// KafkaProducer: an idempotent (optionally transactional) producer with delivery reports checked
// (used by the Kafka sink and by `pinstream emulate --mode kafka`).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/kafka/kafka_client.h"
#include "engine/status.h"

namespace pinstream::connectors::kafka {

class KafkaProducer {
 public:
  struct Options {
    std::string bootstrap_servers;
    std::map<std::string, std::string> properties;
    std::string transactional_id;  // empty: not transactional
  };
  static Result<std::unique_ptr<KafkaProducer>> Create(const Options& options);
  ~KafkaProducer();

  // Queues one message (partition by key hash when `key` is set, else librdkafka's partitioner);
  // waits while the local queue is full.
  [[nodiscard]] Status Produce(
      const std::string& topic, const std::string* key, std::string_view value,
      const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Waits until every queued message has its delivery report; the first failure since the last
  // Flush, if any (with how many failed).
  [[nodiscard]] Status Flush(std::chrono::milliseconds timeout);
  // Same, but counts: the messages whose delivery failed since the last flush (an error only
  // when the wait itself timed out).
  Result<std::int64_t> FlushCountingFailures(std::chrono::milliseconds timeout);

  [[nodiscard]] Status InitTransactions(std::chrono::milliseconds timeout);
  [[nodiscard]] Status BeginTransaction();
  [[nodiscard]] Status CommitTransaction(std::chrono::milliseconds timeout);
  [[nodiscard]] Status AbortTransaction(std::chrono::milliseconds timeout);

  rd_kafka_t* handle() const { return rk_.get(); }
  std::int64_t delivered() const { return delivered_.load(); }

 private:
  KafkaProducer() = default;
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);

  KafkaPtr rk_;
  std::atomic<std::int64_t> delivered_{0}, failed_{0};
  std::mutex mu_;
  std::string first_error_;
};

}  // namespace pinstream::connectors::kafka
