// KinesisGatewayApi: the REST API an AWS API Gateway puts in front of Kinesis (the shape of the
// original pipeline's gateway), over the source log's streams.
//
//   GET    /streams                   stream names
//   GET    /streams/{s}               DescribeStream
//   POST   /streams/{s}               CreateStream ({"ShardCount": n}, default 1)
//   DELETE /streams/{s}               DeleteStream
//   PUT    /streams/{s}/record        PutRecord  {"StreamName", "Data", "PartitionKey"}
//   PUT    /streams/{s}/records       PutRecords {"records": [{"data", "partition-key"}]}
//
// `Data` may be a JSON object, a string holding JSON, or base64 text (request_parsers.h).
// Answers are application/json; errors have Kinesis' shape.
#pragma once

#include "connectors/http/kinesis_streams.h"

namespace pinstream::connectors::http {

class KinesisGatewayApi {
 public:
  explicit KinesisGatewayApi(KinesisStreams* streams) : streams_(streams) {}

  // A request under /streams.
  void Handle(const ApiRequest& req, const PathSegments& seg, Reply reply);

 private:
  KinesisStreams* streams_;
};

}  // namespace pinstream::connectors::http
