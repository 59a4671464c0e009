// HttpSource (kind: http): a query source over a topic or stream of the HTTP source log.
//
//   sources:
//     pin_topic:  {kind: http, topic: "${PIN_USER_ID}.pin"}          # Kafka REST Proxy topic
//     pin_stream: {kind: http, stream: "streaming-${PIN_USER_ID}-pin",  # Kinesis stream
//                  starting_offsets: earliest}                        # or latest
//
// Partitions are "0".."N-1"; offsets are source-log offsets, so a planned range reads back the
// same records. Each record becomes a row with Spark's Kafka-source columns:
//   key string (null without a key), value raw, topic string, partition int64, offset int64,
//   timestamp timestamp (arrival time).
// The source registers the query as a consumer of the log (retention keeps what it has not
// committed) and reports its committed offsets after each batch.
#pragma once

#include <memory>

#include "connectors/connector_env.h"
#include "engine/registry.h"

namespace pinstream::connectors {

std::shared_ptr<const SourceSpec> ParseHttpSource(const ConfigNode& node, ConnectorEnv* env);
extern const ConfigKeys kHttpSourceKeys;

}  // namespace pinstream::connectors
