#include "connectors/http/rest_proxy.h"

#include <fmt/format.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "engine/bytes.h"
#include "engine/config.h"

namespace pinstream::connectors::http {

using nlohmann::json;
using state::AppendedRecord;
using state::LogApi;

namespace {

constexpr const char* kContentType = "application/vnd.kafka.v2+json";

json PartitionJson(int p) {
  return json{{"partition", p},
              {"leader", 0},
              {"replicas", json::array({{{"broker", 0}, {"leader", true}, {"in_sync", true}}})}};
}

ApiResponse StorageError(const Status& st) {
  ApiResponse r =
      st.retryable()
          ? RestProxyApi::Error(503, 50003, "storage is unavailable, retry: " + st.message())
          : RestProxyApi::Error(500, 50002, "storage error: " + st.message());
  if (st.retryable()) r.headers.emplace_back("Retry-After", "1");
  return r;
}

// The embedded format a produce request's Content-Type names, if it names one the proxy takes.
std::optional<RestEmbeddedFormat> EmbeddedFormat(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media == "application/vnd.kafka.json.v2+json" || media == "application/vnd.kafka.v2+json") {
    return RestEmbeddedFormat::kJson;
  }
  if (media == "application/vnd.kafka.binary.v2+json") return RestEmbeddedFormat::kBinary;
  return std::nullopt;
}

}  // namespace

ApiResponse RestProxyApi::Error(int status, int code, const std::string& message) {
  return JsonResponse(
      status, json{{"error_code", code}, {"message", message}}.dump(-1, ' ', false, kReplace),
      kContentType);
}

void RestProxyApi::Handle(const ApiRequest& req, const PathSegments& seg, Reply reply) {
  state::SourceLog* log = ingest_->log();
  if (seg.size() == 1) {
    if (req.method != "GET") return reply(Error(405, 405, "HTTP 405 Method Not Allowed"));
    json names = json::array();
    for (const auto& s : log->List(LogApi::kKafkaTopic)) names.push_back(s.name);
    return reply(JsonResponse(200, names.dump(), kContentType));
  }
  const std::string topic(seg[1]);
  if (!IsValidName(topic)) return reply(Error(404, 40401, "Topic not found."));
  auto find_topic = [&]() -> std::optional<state::LogStreamInfo> {
    auto info = log->Find(topic);
    if (!info || info->api != LogApi::kKafkaTopic) return std::nullopt;
    return info;
  };
  if (seg.size() == 3 && seg[2] == "partitions" && req.method == "GET") {
    auto info = find_topic();
    if (!info) return reply(Error(404, 40401, "Topic not found."));
    json parts = json::array();
    for (int p = 0; p < info->partitions; ++p) parts.push_back(PartitionJson(p));
    return reply(JsonResponse(200, parts.dump(), kContentType));
  }
  if (seg.size() == 4 && seg[2] == "partitions") {
    // One partition: GET its metadata, POST records into it (the proxy's
    // PartitionProduceRequest).
    int p = -1;
    auto [end, ec] = std::from_chars(seg[3].data(), seg[3].data() + seg[3].size(), p);
    bool number = ec == std::errc() && end == seg[3].data() + seg[3].size() && p >= 0;
    if (req.method == "GET") {
      auto info = find_topic();
      if (!info) return reply(Error(404, 40401, "Topic not found."));
      if (!number || p >= info->partitions) return reply(Error(404, 40402, "Partition not found."));
      return reply(JsonResponse(200, PartitionJson(p).dump(), kContentType));
    }
    if (req.method != "POST") return reply(Error(405, 405, "HTTP 405 Method Not Allowed"));
    if (!number) return reply(Error(404, 40402, "Partition not found."));
    return Produce(req, topic, p, std::move(reply));
  }
  if (seg.size() != 2) return reply(Error(404, 404, "HTTP 404 Not Found"));
  if (req.method == "GET") {
    auto info = find_topic();
    if (!info) return reply(Error(404, 40401, "Topic not found."));
    json parts = json::array();
    for (int p = 0; p < info->partitions; ++p) parts.push_back(PartitionJson(p));
    return reply(JsonResponse(
        200, json{{"name", topic}, {"configs", json::object()}, {"partitions", parts}}.dump(),
        kContentType));
  }
  if (req.method != "POST") return reply(Error(405, 405, "HTTP 405 Method Not Allowed"));
  Produce(req, topic, std::nullopt, std::move(reply));
}

void RestProxyApi::Produce(const ApiRequest& req, const std::string& topic,
                           std::optional<int> partition, Reply reply) {
  std::string_view ct = req.header("content-type");
  std::optional<RestEmbeddedFormat> format = EmbeddedFormat(ct);
  if (!format) {
    return reply(Error(
        415, 415,
        fmt::format(
            "HTTP 415 Unsupported Media Type: '{}' (use application/vnd.kafka.json.v2+json or "
            "application/vnd.kafka.binary.v2+json)",
            ct)));
  }
  auto info = ingest_->Resolve(topic, LogApi::kKafkaTopic);
  if (!info || info->api != LogApi::kKafkaTopic)
    return reply(Error(404, 40401, "Topic not found."));
  ParseResult parsed = ParseRestProduce(req.body, *format, ingest_->limits());
  if (auto* e = std::get_if<BodyError>(&parsed)) {
    switch (e->kind) {
      case BodyErrorKind::kMalformedJson:
        return reply(Error(400, 400, "malformed JSON: " + e->message));
      case BodyErrorKind::kRecordTooLarge:
        return reply(Error(413, 413, e->message));
      default:
        return reply(Error(422, 42201, e->message));
    }
  }
  auto& records = std::get<ParsedRecords>(parsed).records;
  if (partition) {
    if (*partition >= info->partitions) return reply(Error(404, 40402, "Partition not found."));
    for (auto& r : records) r.partition = *partition;
  }
  for (const auto& r : records) {
    if (r.partition >= info->partitions) return reply(Error(404, 40402, "Partition not found."));
  }
  if (auto busy = ingest_->Backpressure(topic)) {
    reply.CountRecords(429, records.size());
    ApiResponse r = Error(429, 42901, *busy);
    r.headers.emplace_back("Retry-After", "1");
    return reply(std::move(r));
  }
  std::size_t n = records.size();
  ingest_->log()->AppendAsync(
      topic, ingest_->PlaceOnPartitions(*info, std::move(records)),
      [reply = std::move(reply), n](Result<std::span<const AppendedRecord>> r) {
        if (!r.ok()) {
          ApiResponse e = r.status().code() == StatusCode::kNotFound
                              ? Error(404, 40401, "Topic not found.")
                              : StorageError(r.status());
          reply.CountRecords(e.status, n);
          return reply(std::move(e));
        }
        reply.CountRecords(200, n);
        std::string body = "{\"offsets\":[";
        bool first = true;
        for (const auto& a : *r) {  // appended, not formatted: this runs once per produced record
          if (!first) body += ',';
          first = false;
          body += "{\"partition\":";
          AppendDecimal(&body, a.partition);
          body += ",\"offset\":";
          AppendDecimal(&body, a.offset);
          body += ",\"error_code\":null,\"error\":null}";
        }
        body += "],\"key_schema_id\":null,\"value_schema_id\":null}";
        reply(JsonResponse(200, std::move(body), kContentType));
      });
}

}  // namespace pinstream::connectors::http
