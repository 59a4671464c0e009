#include "connectors/http/kinesis_native.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/row_format.h"

namespace pinstream::connectors::http {

using nlohmann::json;
using nlohmann::ordered_json;
using state::LogApi;

namespace {

std::string MakeIterator(const std::string& stream, int shard, std::int64_t offset) {
  return Base64Encode(json{{"s", stream}, {"p", shard}, {"o", offset}}.dump());
}

bool ReadIterator(const std::string& it, std::string* stream, int* shard, std::int64_t* offset) {
  std::string raw;
  if (!Base64Decode(it, &raw)) return false;
  json j = json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("s") || !j.contains("p") ||
      !j.contains("o"))
    return false;
  if (!j["s"].is_string() || !j["p"].is_number_integer() || !j["o"].is_number_integer())
    return false;
  *stream = j["s"].get<std::string>();
  *shard = j["p"].get<int>();
  *offset = j["o"].get<std::int64_t>();
  return true;
}

// A string field of a request body; empty when absent or not a string.
std::string StringField(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

}  // namespace

void KinesisNativeApi::Handle(const ApiRequest& req, std::string_view target, Reply reply) {
  constexpr std::string_view prefix = "Kinesis_20131202.";
  if (target.rfind(prefix, 0) != 0) {
    return reply(
        KinesisError("UnknownOperationException", fmt::format("unknown target '{}'", target)));
  }
  std::string_view op = target.substr(prefix.size());
  const ParseLimits& limits = streams_->ingest()->limits();
  if (op == "PutRecord")
    return streams_->Put("", ParseNativePutRecord(req.body, limits), false, true, std::move(reply));
  if (op == "PutRecords")
    return streams_->Put("", ParseNativePutRecords(req.body, limits), true, true, std::move(reply));
  if (op == "GetRecords") return GetRecords(req, std::move(reply));
  json j = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return reply(KinesisError("SerializationException", "the body is not a JSON object"));
  if (op == "ListStreams") return ListStreams(j, std::move(reply));
  std::string name = StringField(j, "StreamName");
  if (name.empty()) return reply(KinesisError("ValidationException", "StreamName is required"));
  if (op == "CreateStream") {
    int shards = j.contains("ShardCount") && j["ShardCount"].is_number_integer()
                     ? j["ShardCount"].get<int>()
                     : 1;
    return reply(streams_->Create(name, shards, kAmzJson));
  }
  if (op == "DeleteStream") return reply(streams_->Delete(name, kAmzJson));
  auto info = streams_->ingest()->log()->Find(name);
  if (!info || info->api != LogApi::kKinesisStream)
    return reply(streams_->NotFound(name, kAmzJson));
  if (op == "DescribeStream") {
    return reply(JsonResponse(
        200, ordered_json{{"StreamDescription", streams_->Describe(*info)}}.dump(), kAmzJson));
  }
  if (op == "DescribeStreamSummary") {
    ordered_json d = streams_->Describe(*info);
    d.erase("Shards");
    d.erase("HasMoreShards");
    d["OpenShardCount"] = info->partitions;
    d["ConsumerCount"] = 0;
    return reply(JsonResponse(200, ordered_json{{"StreamDescriptionSummary", d}}.dump(), kAmzJson));
  }
  if (op == "ListShards") {
    return reply(JsonResponse(
        200, ordered_json{{"Shards", streams_->Describe(*info)["Shards"]}}.dump(), kAmzJson));
  }
  if (op == "GetShardIterator") return GetShardIterator(j, *info, std::move(reply));
  reply(KinesisError("UnknownOperationException",
                     fmt::format("operation '{}' is not supported", op)));
}

void KinesisNativeApi::ListStreams(const json& j, Reply reply) {
  std::size_t limit =
      j.contains("Limit") && j["Limit"].is_number_integer() ? j["Limit"].get<std::size_t>() : 100;
  std::string after = StringField(j, "ExclusiveStartStreamName");
  json names = json::array(), summaries = json::array();
  std::size_t shown = 0;
  bool more = false;
  for (const auto& s : streams_->ingest()->log()->List(LogApi::kKinesisStream)) {
    if (!after.empty() && s.name <= after) continue;
    if (shown == limit) {
      more = true;
      break;
    }
    names.push_back(s.name);
    summaries.push_back({{"StreamName", s.name},
                         {"StreamARN", StreamArn(s.name)},
                         {"StreamStatus", "ACTIVE"},
                         {"StreamModeDetails", {{"StreamMode", "PROVISIONED"}}},
                         {"StreamCreationTimestamp", static_cast<double>(s.created_ms) / 1000.0}});
    ++shown;
  }
  reply(JsonResponse(
      200,
      json{{"StreamNames", names}, {"HasMoreStreams", more}, {"StreamSummaries", summaries}}.dump(),
      kAmzJson));
}

void KinesisNativeApi::GetShardIterator(const json& j, const state::LogStreamInfo& info,
                                        Reply reply) {
  state::SourceLog* log = streams_->ingest()->log();
  const std::string& name = info.name;
  int shard;
  if (!ParseShardId(StringField(j, "ShardId"), &shard) || shard >= info.partitions) {
    return reply(
        KinesisError("ResourceNotFoundException",
                     fmt::format("Shard {} in stream {} under account 000000000000 does not exist",
                                 StringField(j, "ShardId"), name)));
  }
  auto bounds = log->Bounds(name, shard);
  if (!bounds.ok()) return reply(KinesisStreams::StorageError(bounds.status(), kAmzJson));
  std::string type = StringField(j, "ShardIteratorType");
  std::int64_t offset;
  if (type == "TRIM_HORIZON") {
    offset = bounds->first;
  } else if (type == "LATEST") {
    offset = bounds->second;
  } else if (type == "AT_SEQUENCE_NUMBER" || type == "AFTER_SEQUENCE_NUMBER") {
    int s2;
    std::int64_t o;
    if (!ParseSequenceNumber(StringField(j, "StartingSequenceNumber"), &s2, &o) || s2 != shard) {
      return reply(KinesisError("InvalidArgumentException",
                                "StartingSequenceNumber is not a sequence number of this shard"));
    }
    // (the last int64 has no successor: clamped to the shard's end below either way)
    offset =
        type == "AT_SEQUENCE_NUMBER" || o == std::numeric_limits<std::int64_t>::max() ? o : o + 1;
  } else if (type == "AT_TIMESTAMP") {
    // Seconds beyond ±9e12 (year ±285,000) would not fit in int64 microseconds.
    if (!j.contains("Timestamp") || !j["Timestamp"].is_number() ||
        !(std::abs(j["Timestamp"].get<double>()) < 9e12)) {
      return reply(KinesisError("InvalidArgumentException",
                                "AT_TIMESTAMP needs a numeric Timestamp (epoch seconds)"));
    }
    auto ts_us = static_cast<std::int64_t>(j["Timestamp"].get<double>() * 1e6);
    offset = bounds->second;
    Status st = log->Read(name, shard, bounds->first, bounds->second,
                          [&](const state::SourceLog::ReadRecord& r) {
                            if (r.arrival_us >= ts_us) {
                              offset = r.offset;
                              return Cancelled("found");
                            }
                            return Status::Ok();
                          });
    if (!st.ok() && st.code() != StatusCode::kCancelled)
      return reply(KinesisStreams::StorageError(st, kAmzJson));
  } else {
    return reply(KinesisError("InvalidArgumentException",
                              fmt::format("unknown ShardIteratorType '{}'", type)));
  }
  offset = std::clamp(offset, bounds->first, bounds->second);
  reply(JsonResponse(200, json{{"ShardIterator", MakeIterator(name, shard, offset)}}.dump(),
                     kAmzJson));
}

void KinesisNativeApi::GetRecords(const ApiRequest& req, Reply reply) {
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ShardIterator") ||
      !j["ShardIterator"].is_string()) {
    return reply(KinesisError("ValidationException", "ShardIterator is required"));
  }
  std::string stream;
  int shard;
  std::int64_t offset;
  if (!ReadIterator(j["ShardIterator"].get<std::string>(), &stream, &shard, &offset)) {
    return reply(KinesisError("InvalidArgumentException", "the shard iterator is malformed"));
  }
  std::int64_t limit = j.contains("Limit") && j["Limit"].is_number_integer()
                           ? j["Limit"].get<std::int64_t>()
                           : 10000;
  limit = std::clamp<std::int64_t>(limit, 1, 10000);
  state::SourceLog* log = streams_->ingest()->log();
  auto bounds = log->Bounds(stream, shard);
  if (!bounds.ok()) return reply(streams_->NotFound(stream, kAmzJson));
  offset = std::max(offset, bounds->first);
  // (an iterator may carry any offset: no offset + limit past the shard's end, nor overflow)
  std::int64_t end =
      offset >= bounds->second ? bounds->second : std::min(bounds->second, offset + limit);
  std::string body = "{\"Records\":[";
  bool first = true;
  Status st = log->Read(stream, shard, offset, end, [&](const state::SourceLog::ReadRecord& r) {
    if (!first) body += ',';
    first = false;
    body += fmt::format(
        "{{\"SequenceNumber\":\"{}\",\"ApproximateArrivalTimestamp\":{:.3f},\"Data\":\"{}\","
        "\"PartitionKey\":",
        SequenceNumber(shard, r.offset), static_cast<double>(r.arrival_us) / 1e6,
        Base64Encode(r.value));
    AppendJsonString(r.has_key ? r.key : std::string_view(), &body);
    body += "}";
    return Status::Ok();
  });
  if (!st.ok()) return reply(KinesisStreams::StorageError(st, kAmzJson));
  body += fmt::format("],\"NextShardIterator\":\"{}\",\"MillisBehindLatest\":0}}",
                      MakeIterator(stream, shard, end));
  reply(JsonResponse(200, std::move(body), kAmzJson));
}

}  // namespace pinstream::connectors::http
