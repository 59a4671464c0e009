// RestProxyApi: the Kafka REST Proxy v2 subset pinstream serves over the source log's topics.
//
//   GET  /topics                               topic names
//   GET  /topics/{t}                           name, configs, partitions
//   GET  /topics/{t}/partitions[/{p}]          partition metadata (leader 0, one replica)
//   POST /topics/{t}                           records, each to its named partition, its key's
//                                              (murmur2) or round-robin
//   POST /topics/{t}/partitions/{p}            records, all into partition p
//
// Produce bodies are application/vnd.kafka.json.v2+json (embedded JSON values and keys) or
// application/vnd.kafka.binary.v2+json (base64); the answer lists each record's partition and
// offset once they are durable. Errors have the proxy's shape: {"error_code": 40401,
// "message": "Topic not found."}, with the proxy's codes (40401 topic, 40402 partition,
// 42201 invalid records, 42901 backpressure, 50003 storage unavailable).
#pragma once

#include <optional>
#include <string>

#include "connectors/http/ingest_context.h"

namespace pinstream::connectors::http {

class RestProxyApi {
 public:
  explicit RestProxyApi(IngestContext* ingest) : ingest_(ingest) {}

  // A request under /topics.
  void Handle(const ApiRequest& req, const PathSegments& seg, Reply reply);

  // An answer in the proxy's error shape.
  static ApiResponse Error(int status, int code, const std::string& message);

 private:
  void Produce(const ApiRequest& req, const std::string& topic, std::optional<int> partition,
               Reply reply);

  IngestContext* ingest_;
};

}  // namespace pinstream::connectors::http
