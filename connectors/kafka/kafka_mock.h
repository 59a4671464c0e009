// MockKafkaCluster: librdkafka's own mock cluster (rdkafka_mock.h) on loopback — the real Kafka
// wire protocol, in memory — for `pinstream kafka-mock`, the tests and the benchmark.
//
// Its limits (librdkafka 2.0): each partition keeps at most ~5 MiB or 100,000 message sets and
// silently drops the oldest beyond that (the log start offset moves, as retention would); no
// CreateTopics admin API (topics are created here or auto-created on first produce); no
// replication or persistence.
#pragma once

#include <memory>
#include <string>

#include "engine/status.h"

struct rd_kafka_mock_cluster_s;

namespace pinstream::connectors::kafka {

class MockKafkaCluster {
 public:
  static Result<std::unique_ptr<MockKafkaCluster>> Start(int brokers = 1);
  ~MockKafkaCluster();

  // "127.0.0.1:PORT[,...]"
  std::string bootstrap_servers() const;
  [[nodiscard]] Status CreateTopic(const std::string& topic, int partitions);
  // Every broker refuses connections (and drops the open ones) / accepts them again.
  [[nodiscard]] Status SetBrokersDown();
  [[nodiscard]] Status SetBrokersUp();

 private:
  MockKafkaCluster() = default;
  struct MockHandles;  // the mock cluster and the client handle that owns it
  std::unique_ptr<MockHandles> handles_;
};

}  // namespace pinstream::connectors::kafka
