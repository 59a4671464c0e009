#include "connectors/kafka/kafka_mock.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>  // before rdkafka_mock.h, which needs it
#include <librdkafka/rdkafka_mock.h>

#include "connectors/kafka/kafka_client.h"

namespace pinstream::connectors::kafka {

struct MockKafkaCluster::MockHandles {
  KafkaPtr owner;  // the handle librdkafka keeps the cluster's bookkeeping on
  rd_kafka_mock_cluster_t* cluster = nullptr;
  ~MockHandles() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);  // before its owner handle
  }
};

Result<std::unique_ptr<MockKafkaCluster>> MockKafkaCluster::Start(int brokers) {
  std::unique_ptr<MockKafkaCluster> m(new MockKafkaCluster());
  m->handles_ = std::make_unique<MockHandles>();
  PS_ASSIGN_OR_RETURN(auto conf,
                      MakeConf({{"client.id", "pinstream-kafka-mock"}, {"log_level", "3"}}));
  PS_ASSIGN_OR_RETURN(m->handles_->owner, NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
  m->handles_->cluster = rd_kafka_mock_cluster_new(m->handles_->owner.get(), brokers);
  if (m->handles_->cluster == nullptr) return Internal("librdkafka could not start a mock cluster");
  return m;
}

MockKafkaCluster::~MockKafkaCluster() = default;

std::string MockKafkaCluster::bootstrap_servers() const {
  return rd_kafka_mock_cluster_bootstraps(handles_->cluster);
}

Status MockKafkaCluster::CreateTopic(const std::string& topic, int partitions) {
  return KafkaStatus(rd_kafka_mock_topic_create(handles_->cluster, topic.c_str(), partitions, 1),
                     fmt::format("creating topic '{}' on the mock cluster", topic));
}

Status MockKafkaCluster::SetBrokersDown() {
  return KafkaStatus(rd_kafka_mock_broker_set_down(handles_->cluster, -1),
                     "setting the mock brokers down");
}

Status MockKafkaCluster::SetBrokersUp() {
  return KafkaStatus(rd_kafka_mock_broker_set_up(handles_->cluster, -1),
                     "setting the mock brokers up");
}

}  // namespace pinstream::connectors::kafka
