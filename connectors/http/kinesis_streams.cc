#include "connectors/http/kinesis_streams.h"

#include <fmt/format.h>

#include <charconv>

#include "engine/config.h"

namespace pinstream::connectors::http {

using nlohmann::json;
using nlohmann::ordered_json;
using state::AppendedRecord;
using state::LogApi;
using state::LogStreamInfo;

std::string ShardId(int shard) { return fmt::format("shardId-{:012d}", shard); }

std::string SequenceNumber(int shard, std::int64_t offset) {
  return fmt::format("49{:05d}{:020d}", shard, offset);
}

bool ParseSequenceNumber(const std::string& s, int* shard, std::int64_t* offset) {
  if (s.size() != 27 || s.compare(0, 2, "49") != 0) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  // 20 digits may exceed int64 (std::stoll would throw out of a request handler): refused.
  const char* d = s.data();
  return std::from_chars(d + 2, d + 7, *shard).ec == std::errc() &&
         std::from_chars(d + 7, d + s.size(), *offset).ec == std::errc();
}

bool ParseShardId(const std::string& s, int* shard) {
  if (s.rfind("shardId-", 0) != 0 || s.size() <= 8) return false;
  for (std::size_t i = 8; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  // Any number of digits may come: one over int's range is not a shard (no exception).
  return std::from_chars(s.data() + 8, s.data() + s.size(), *shard).ec == std::errc();
}

std::string StreamArn(const std::string& name) {
  return "arn:aws:kinesis:local:000000000000:stream/" + name;
}

ApiResponse KinesisError(const std::string& type, const std::string& message, int status,
                         const char* content_type) {
  return JsonResponse(status,
                      json{{"__type", type}, {"message", message}}.dump(-1, ' ', false, kReplace),
                      content_type);
}

ordered_json KinesisStreams::Describe(const LogStreamInfo& info) const {
  ordered_json shards = ordered_json::array();
  for (int s = 0; s < info.partitions; ++s) {
    auto range = KinesisHashKeyRange(s, info.partitions);
    auto bounds = ingest_->log()->Bounds(info.name, s);
    std::int64_t start = bounds.ok() ? bounds->first : 0;
    shards.push_back(
        {{"ShardId", ShardId(s)},
         {"HashKeyRange", {{"StartingHashKey", range.first}, {"EndingHashKey", range.second}}},
         {"SequenceNumberRange", {{"StartingSequenceNumber", SequenceNumber(s, start)}}}});
  }
  ordered_json d;
  d["StreamName"] = info.name;
  d["StreamARN"] = StreamArn(info.name);
  d["StreamStatus"] = "ACTIVE";
  d["StreamModeDetails"] = {{"StreamMode", "PROVISIONED"}};
  d["Shards"] = shards;
  d["HasMoreShards"] = false;
  d["RetentionPeriodHours"] = 24;
  d["StreamCreationTimestamp"] = static_cast<double>(info.created_ms) / 1000.0;
  d["EnhancedMonitoring"] = ordered_json::array({{{"ShardLevelMetrics", ordered_json::array()}}});
  d["EncryptionType"] = "NONE";
  return d;
}

ApiResponse KinesisStreams::NotFound(const std::string& stream, const char* content_type) const {
  return KinesisError("ResourceNotFoundException",
                      fmt::format("Stream {} under account 000000000000 not found.", stream), 400,
                      content_type);
}

ApiResponse KinesisStreams::StorageError(const Status& st, const char* content_type) {
  ApiResponse r = KinesisError(st.retryable() ? "ServiceUnavailable" : "InternalFailure",
                               st.message(), st.retryable() ? 503 : 500, content_type);
  if (st.retryable()) r.headers.emplace_back("Retry-After", "1");
  return r;
}

ApiResponse KinesisStreams::Create(const std::string& stream, int shards, const char* ct) {
  if (!IsValidName(stream)) {
    return KinesisError("ValidationException",
                        fmt::format("'{}' is not a valid stream name", stream), 400, ct);
  }
  if (shards < 1 || shards > 1024)
    return KinesisError("ValidationException", "ShardCount must be between 1 and 1024", 400, ct);
  auto r = ingest_->log()->Create(stream, shards, LogApi::kKinesisStream);
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kAlreadyExists) {
      return KinesisError(
          "ResourceInUseException",
          fmt::format("Stream {} under account 000000000000 already exists.", stream), 400, ct);
    }
    return StorageError(r.status(), kAmzJson);
  }
  return JsonResponse(200, "{}", ct);
}

ApiResponse KinesisStreams::Delete(const std::string& stream, const char* ct) {
  auto info = ingest_->log()->Find(stream);
  if (!info || info->api != LogApi::kKinesisStream) return NotFound(stream, ct);
  Status st = ingest_->log()->Delete(stream);
  if (!st.ok()) return StorageError(st, kAmzJson);
  return JsonResponse(200, "{}", ct);
}

void KinesisStreams::Put(const std::string& stream, ParseResult parsed, bool many, bool native,
                         Reply reply) {
  const char* ct = native ? kAmzJson : "application/json";
  if (auto* e = std::get_if<BodyError>(&parsed)) {
    const char* type =
        e->kind == BodyErrorKind::kMalformedJson ? "SerializationException" : "ValidationException";
    return reply(KinesisError(type, e->message, 400, ct));
  }
  auto& pr = std::get<ParsedRecords>(parsed);
  std::string name = native ? pr.stream_name : stream;
  if (name.empty())
    return reply(KinesisError("ValidationException", "StreamName is required", 400, ct));
  if (!IsValidName(name)) {
    return reply(KinesisError("ValidationException",
                              fmt::format("'{}' is not a valid stream name", name), 400, ct));
  }
  auto info = ingest_->Resolve(name, LogApi::kKinesisStream);
  if (!info || info->api != LogApi::kKinesisStream) return reply(NotFound(name, ct));
  std::size_t n = pr.records.size();
  if (auto busy = ingest_->Backpressure(name)) {
    reply.CountRecords(400, n);
    ApiResponse r = KinesisError("ProvisionedThroughputExceededException", *busy, 400, ct);
    r.headers.emplace_back("Retry-After", "1");
    return reply(std::move(r));
  }
  ingest_->log()->AppendAsync(
      name, ingest_->PlaceOnPartitions(*info, std::move(pr.records)),
      [this, reply = std::move(reply), many, native, ct, name,
       n](Result<std::span<const AppendedRecord>> r) {
        if (!r.ok()) {
          ApiResponse e = r.status().code() == StatusCode::kNotFound ? NotFound(name, ct)
                                                                     : StorageError(r.status(), ct);
          reply.CountRecords(e.status, n);
          return reply(std::move(e));
        }
        reply.CountRecords(200, n);
        if (!many) {
          const auto& a = r->front();
          ordered_json j;
          j["SequenceNumber"] = SequenceNumber(a.partition, a.offset);
          j["ShardId"] = ShardId(a.partition);
          if (native) j["EncryptionType"] = "NONE";
          return reply(JsonResponse(200, j.dump(), ct));
        }
        std::string body = "{\"FailedRecordCount\":0,\"Records\":[";
        bool first = true;
        for (const auto& a : *r) {
          if (!first) body += ',';
          first = false;
          fmt::format_to(std::back_inserter(body),
                         "{{\"SequenceNumber\":\"{}\",\"ShardId\":\"{}\"}}",
                         SequenceNumber(a.partition, a.offset), ShardId(a.partition));
        }
        body += "],\"EncryptionType\":\"NONE\"}";
        reply(JsonResponse(200, std::move(body), ct));
      });
}

}  // namespace pinstream::connectors::http
