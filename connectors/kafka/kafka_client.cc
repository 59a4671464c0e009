#include "connectors/kafka/kafka_client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace pinstream::connectors::kafka {

Status KafkaStatus(rd_kafka_resp_err_t err, std::string_view context) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  std::string msg =
      fmt::format("{}: {} ({})", context, rd_kafka_err2str(err), rd_kafka_err2name(err));
  switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
      return Unavailable(msg);
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return NotFound(msg);
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      return DataLoss(msg);
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return Unauthenticated(msg);
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
      return FailedPrecondition(msg);
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__CONFLICT:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
      return InvalidArgument(msg);
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      return ResourceExhausted(msg);
    default:
      return IOError(msg);
  }
}

Status KafkaStatus(rd_kafka_error_t* error, std::string_view context) {
  if (error == nullptr) return Status::Ok();
  std::string msg =
      fmt::format("{}: {} ({})", context, rd_kafka_error_string(error), rd_kafka_error_name(error));
  bool retriable = rd_kafka_error_is_retriable(error);
  bool abort = rd_kafka_error_txn_requires_abort(error);
  bool fatal = rd_kafka_error_is_fatal(error);
  rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  rd_kafka_error_destroy(error);
  if (fatal) return FailedPrecondition(msg + "; the producer cannot go on (restart the query)");
  if (retriable || abort) return Unavailable(msg);
  return KafkaStatus(code, context);
}

namespace {

// librdkafka's log lines go to pinstream's log (syslog levels → spdlog levels).
void LogToSpdlog(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // Connection failures come at LOG_ERR (3); they are expected while a broker is down and are
  // retried, so they are warnings here.
  auto lvl = level <= 2 ? spdlog::level::err
                        : (level <= 5 ? spdlog::level::warn
                                      : (level == 6 ? spdlog::level::info : spdlog::level::debug));
  spdlog::log(lvl, "kafka {} {}: {}", rk ? rd_kafka_name(rk) : "", fac, buf);
}

}  // namespace

Result<ConfPtr> MakeConf(const std::map<std::string, std::string>& properties) {
  ConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), &LogToSpdlog);
  char err[512];
  for (const auto& [k, v] : properties) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      return InvalidArgument(fmt::format("Kafka client property '{}': {}", k, err));
    }
  }
  return conf;
}

Result<KafkaPtr> NewClient(rd_kafka_type_t type, ConfPtr conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (rk == nullptr) {
    return InvalidArgument(fmt::format("cannot create the Kafka {}: {}",
                                       type == RD_KAFKA_PRODUCER ? "producer" : "consumer", err));
  }
  (void)conf.release();  // rd_kafka_new took ownership
  return KafkaPtr(rk);
}

std::string PartitionName(std::string_view topic, int partition) {
  return fmt::format("{}/{}", topic, partition);
}

Result<std::vector<Watermarks>> QueryWatermarks(
    rd_kafka_t* rk, const std::vector<std::pair<std::string, int>>& partitions, int timeout_ms) {
  std::vector<Watermarks> out(partitions.size());
  if (partitions.empty()) return out;
  for (std::int64_t marker : {static_cast<std::int64_t>(RD_KAFKA_OFFSET_BEGINNING),
                              static_cast<std::int64_t>(RD_KAFKA_OFFSET_END)}) {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
    for (const auto& [topic, p] : partitions)
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = marker;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, list.get(), timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaStatus(err, marker == RD_KAFKA_OFFSET_BEGINNING ? "querying log start offsets"
                                                                  : "querying log end offsets");
    }
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      // The list keeps the order it was built in; look each element up to be safe all the same.
      const rd_kafka_topic_partition_t* e = rd_kafka_topic_partition_list_find(
          list.get(), partitions[i].first.c_str(), partitions[i].second);
      if (e == nullptr)
        return IOError(fmt::format("no offset returned for {}",
                                   PartitionName(partitions[i].first, partitions[i].second)));
      if (e->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return KafkaStatus(
            e->err, "offsets of " + PartitionName(partitions[i].first, partitions[i].second));
      }
      (marker == RD_KAFKA_OFFSET_BEGINNING ? out[i].low : out[i].high) = e->offset;
    }
  }
  return out;
}

bool ParsePartitionName(std::string_view name, std::string* topic, int* partition) {
  std::size_t slash = name.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  auto [p, ec] = std::from_chars(name.data() + slash + 1, name.data() + name.size(), *partition);
  if (ec != std::errc() || p != name.data() + name.size() || *partition < 0) return false;
  topic->assign(name.substr(0, slash));
  return true;
}

PartitionListPtr OffsetList(const std::map<std::string, std::int64_t>& offsets) {
  PartitionListPtr tpl(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [name, offset] : offsets) {
    std::string topic;
    int p = 0;
    if (ParsePartitionName(name, &topic, &p))
      rd_kafka_topic_partition_list_add(tpl.get(), topic.c_str(), p)->offset = offset;
  }
  return tpl;
}

}  // namespace pinstream::connectors::kafka
