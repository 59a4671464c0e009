// KinesisNativeApi: the Kinesis JSON protocol AWS SDKs and the AWS CLI speak (POST / with
// X-Amz-Target: Kinesis_20131202.<Operation>, application/x-amz-json-1.1), over the source log's
// streams:
//
//   PutRecord, PutRecords                     records (Data base64), answered once durable
//   ListStreams, DescribeStream(Summary),     streams and their shards
//   ListShards, CreateStream, DeleteStream
//   GetShardIterator, GetRecords              reading a shard back (TRIM_HORIZON, LATEST,
//                                             AT_/AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP)
//
// A shard iterator is opaque to clients: here the base64 of {"s": stream, "p": shard,
// "o": offset}. Errors have Kinesis' shape; an unknown operation is UnknownOperationException.
#pragma once

#include <string_view>

#include "connectors/http/kinesis_streams.h"

namespace pinstream::connectors::http {

class KinesisNativeApi {
 public:
  explicit KinesisNativeApi(KinesisStreams* streams) : streams_(streams) {}

  // A request with `target` = its X-Amz-Target header.
  void Handle(const ApiRequest& req, std::string_view target, Reply reply);

 private:
  void ListStreams(const nlohmann::json& body, Reply reply);
  void GetShardIterator(const nlohmann::json& body, const state::LogStreamInfo& info, Reply reply);
  void GetRecords(const ApiRequest& req, Reply reply);

  KinesisStreams* streams_;
};

}  // namespace pinstream::connectors::http
