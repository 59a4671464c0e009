// KinesisStreams: what the two Kinesis APIs (kinesis_gateway.h, kinesis_native.h) share — the
// source log's streams in Kinesis' terms (shard ids, sequence numbers, hash-key ranges, stream
// descriptions), creating and deleting streams, putting records, and errors in Kinesis' shape:
// {"__type": "ResourceNotFoundException", "message": ...}.
//
//   shard id          shardId-000000000003 for partition 3
//   sequence number   "49" + 5-digit shard + 20-digit offset (27 digits, ordered like offsets)
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "connectors/http/ingest_context.h"

namespace pinstream::connectors::http {

// The native protocol's content type (the gateway answers application/json).
inline constexpr const char* kAmzJson = "application/x-amz-json-1.1";

std::string ShardId(int shard);
std::string SequenceNumber(int shard, std::int64_t offset);
bool ParseSequenceNumber(const std::string& s, int* shard, std::int64_t* offset);
bool ParseShardId(const std::string& s, int* shard);
std::string StreamArn(const std::string& name);

ApiResponse KinesisError(const std::string& type, const std::string& message, int status = 400,
                         const char* content_type = kAmzJson);

class KinesisStreams {
 public:
  explicit KinesisStreams(IngestContext* ingest) : ingest_(ingest) {}
  IngestContext* ingest() const { return ingest_; }

  // DescribeStream's StreamDescription: shards with their hash-key ranges and first sequence
  // numbers, status ACTIVE.
  nlohmann::ordered_json Describe(const state::LogStreamInfo& info) const;
  ApiResponse NotFound(const std::string& stream, const char* content_type) const;
  ApiResponse Create(const std::string& stream, int shards, const char* content_type);
  ApiResponse Delete(const std::string& stream, const char* content_type);
  // ServiceUnavailable (retryable, with Retry-After) or InternalFailure.
  static ApiResponse StorageError(const Status& st, const char* content_type);

  // PutRecord (`many` false) or PutRecords into `stream` — or, for the native protocol
  // (`native`), into the stream its body names; answered once the records are durable.
  void Put(const std::string& stream, ParseResult parsed, bool many, bool native, Reply reply);

 private:
  IngestContext* ingest_;
};

}  // namespace pinstream::connectors::http
