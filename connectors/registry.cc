#include "connectors/registry.h"

#include "connectors/file/file_source.h"
#include "connectors/http/http_config.h"
#include "connectors/http/http_source.h"
#include "connectors/kafka/kafka_sink.h"
#include "connectors/kafka/kafka_source.h"
#include "connectors/sinks/console_sink.h"
#include "connectors/sinks/delta_sink.h"
#include "connectors/sinks/jsonl_sink.h"
#include "connectors/table/delta_source.h"

namespace pinstream::connectors {

void RegisterConnectors(Registries& reg, ConnectorEnv* env) {
  // Config sections
  reg.sections.Register(http::kHttpSection,
                        "HTTP ingest: the Kafka REST Proxy and Kinesis APIs over the source log",
                        http::ParseHttpConfig,
                        {&http::kHttpKeys, &http::kHttpAuthKeys, &http::kHttpSigV4Keys,
                         &http::kHttpAccessKeyKeys, &http::kHttpTlsKeys, &http::kHttpTopicKeys,
                         &http::kHttpStreamKeys, &http::kHttpRetentionKeys});
  // Sources
  reg.sources.Register("file", "a directory of .jsonl/.json/.csv files", ParseFileSource,
                       {&kFileSourceKeys, &kFileCsvKeys});
  reg.sources.Register("http", "a topic (Kafka REST) or stream (Kinesis) of the HTTP source log",
                       [env](const ConfigNode& n) { return ParseHttpSource(n, env); },
                       {&kHttpSourceKeys});
  reg.sources.Register("kafka", "Kafka topics (offsets in the checkpoint; consumer groups)",
                       ParseKafkaSource, {&kKafkaSourceKeys});
  reg.sources.Register(
      "delta", "a delta table read as a stream: the versions committed after the checkpoint",
      [env](const ConfigNode& n) { return ParseDeltaSource(n, env); }, {&kDeltaSourceKeys});
  // Sinks
  reg.sinks.Register("delta", "an append-only versioned table in the store",
                     [env](const ConfigNode& n) { return ParseDeltaSink(n, env); },
                     {&kDeltaSinkKeys});
  reg.sinks.Register("jsonl", "JSON Lines files, one per batch", ParseJsonlSink, {&kJsonlSinkKeys});
  reg.sinks.Register("console", "print batches to standard output", ParseConsoleSink,
                     {&kConsoleSinkKeys});
  reg.sinks.Register(
      "kafka", "JSON messages on a Kafka topic (at-least-once, or exactly-once transactional)",
      ParseKafkaSink, {&kKafkaSinkKeys});
}

}  // namespace pinstream::connectors
