#include "connectors/http/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "connectors/http/request_parsers.h"
#include "engine/bytes.h"
#include "engine/metrics.h"
#include "engine/row_format.h"
#include "engine/time_util.h"
#include "state/source_log.h"

namespace pinstream::connectors::http {

using nlohmann::json;
using nlohmann::ordered_json;
using state::AppendedRecord;
using state::LogApi;
using state::LogStreamInfo;

bool DecodePath(std::string_view raw, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= raw.size()) return false;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int hi = hex(raw[i + 1]), lo = hex(raw[i + 2]);
      if (hi < 0 || lo < 0) return false;
      char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return false;
      out->push_back(d);
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + ('a' - 'A'));
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + ('a' - 'A'));
    if (x != y) return false;
  }
  return true;
}

std::string_view ApiRequest::header(std::string_view name) const {
  for (const ApiHeader& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return h.value;
  }
  return {};
}

namespace {

enum class ApiKind { kRest, kGateway, kNative, kAdmin };
const char* ApiLabel(ApiKind k) {
  switch (k) {
    case ApiKind::kRest: return "kafka-rest";
    case ApiKind::kGateway: return "kinesis-gateway";
    case ApiKind::kNative: return "kinesis";
    case ApiKind::kAdmin: return "admin";
  }
  return "?";
}

// A path's segments ("/topics/t" → "topics", "t"), as views into it. No route has more than 4:
// a longer path keeps its first kMax and reports kMax + 1 segments, which no route matches.
class Segments {
 public:
  static constexpr std::size_t kMax = 8;
  explicit Segments(std::string_view path) {
    std::size_t i = 0;
    while (i < path.size()) {
      while (i < path.size() && path[i] == '/') ++i;
      std::size_t j = path.find('/', i);
      if (j == std::string_view::npos) j = path.size();
      if (j > i) {
        if (n_ == kMax) {
          n_ = kMax + 1;
          return;
        }
        seg_[n_++] = path.substr(i, j - i);
      }
      i = j;
    }
  }
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  std::string_view operator[](std::size_t i) const { return seg_[i]; }

 private:
  std::array<std::string_view, kMax> seg_;
  std::size_t n_ = 0;
};

ApiResponse JsonResponse(int status, std::string body, const char* content_type = "application/json") {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = content_type;
  return r;
}

ApiResponse RestError(int status, int code, const std::string& message) {
  return JsonResponse(status, json{{"error_code", code}, {"message", message}}.dump(),
                      "application/vnd.kafka.v2+json");
}

constexpr const char* kAmzJson = "application/x-amz-json-1.1";

ApiResponse KinesisError(const std::string& type, const std::string& message, int status = 400,
                         const char* content_type = kAmzJson) {
  return JsonResponse(status, json{{"__type", type}, {"message", message}}.dump(), content_type);
}

std::string ShardId(int shard) { return fmt::format("shardId-{:012d}", shard); }

std::string SequenceNumber(int shard, std::int64_t offset) { return fmt::format("49{:05d}{:020d}", shard, offset); }

bool ParseSequenceNumber(const std::string& s, int* shard, std::int64_t* offset) {
  if (s.size() != 27 || s.compare(0, 2, "49") != 0) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  *shard = std::stoi(s.substr(2, 5));
  *offset = std::stoll(s.substr(7));
  return true;
}

bool ParseShardId(const std::string& s, int* shard) {
  if (s.rfind("shardId-", 0) != 0 || s.size() <= 8) return false;
  for (std::size_t i = 8; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  *shard = std::stoi(s.substr(8));
  return true;
}

std::string StreamArn(const std::string& name) { return "arn:aws:kinesis:local:000000000000:stream/" + name; }

ordered_json DescribeStream(const LogStreamInfo& info, state::SourceLog* log) {
  ordered_json shards = ordered_json::array();
  for (int s = 0; s < info.partitions; ++s) {
    auto range = state::KinesisHashKeyRange(s, info.partitions);
    auto bounds = log->Bounds(info.name, s);
    std::int64_t start = bounds.ok() ? bounds->first : 0;
    shards.push_back({{"ShardId", ShardId(s)},
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

// A Kinesis shard iterator: opaque to clients; here the base64 of stream/shard/offset.
std::string MakeIterator(const std::string& stream, int shard, std::int64_t offset) {
  return Base64Encode(json{{"s", stream}, {"p", shard}, {"o", offset}}.dump());
}
bool ReadIterator(const std::string& it, std::string* stream, int* shard, std::int64_t* offset) {
  std::string raw;
  if (!Base64Decode(it, &raw)) return false;
  json j = json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("s") || !j.contains("p") || !j.contains("o")) return false;
  if (!j["s"].is_string() || !j["p"].is_number_integer() || !j["o"].is_number_integer()) return false;
  *stream = j["s"].get<std::string>();
  *shard = j["p"].get<int>();
  *offset = j["o"].get<std::int64_t>();
  return true;
}

}  // namespace

struct Api::Impl {
  const HttpConfig& cfg;
  state::SourceLog* log;
  ParseLimits limits;
  std::mutex hooks_mu;
  AdminHooks hooks;
  Histogram* ack_latency;
  Counter* request_bytes;

  Impl(const HttpConfig& c, state::SourceLog* l) : cfg(c), log(l) {
    limits.max_record_bytes = c.max_record_bytes;
    ack_latency = Metrics().GetHistogram("pinstream_http_ack_latency_seconds",
                                         "Time from a produce request's arrival to its durable acknowledgement", {},
                                         LatencyBuckets());
    request_bytes = Metrics().GetCounter("pinstream_http_request_bytes_total", "Bytes of request bodies received");
  }

  // Counters by (API, status), resolved once each: the registry's lookup takes a lock and builds
  // label strings, too much for every request.
  static constexpr int kApis = 4;
  std::array<std::array<std::atomic<Counter*>, 600>, kApis> request_counters{};
  std::array<std::array<std::atomic<Counter*>, 600>, kApis> record_counters{};

  Counter* CachedCounter(std::array<std::array<std::atomic<Counter*>, 600>, kApis>& cache, const char* name,
                         const char* help, ApiKind api, int status) {
    auto& slot = cache[static_cast<std::size_t>(api)][static_cast<std::size_t>(std::clamp(status, 0, 599))];
    Counter* c = slot.load(std::memory_order_acquire);
    if (c == nullptr) {
      c = Metrics().GetCounter(name, help, {{"api", ApiLabel(api)}, {"status", std::to_string(status)}});
      slot.store(c, std::memory_order_release);
    }
    return c;
  }

  // A request's answer: the server's callback, called once, and what the request is counted
  // under — by API and status, with the acknowledgement latency of produce requests. Moved along
  // with the request (instead of wrapping the callback in another std::function: an allocation
  // per request).
  class Reply {
   public:
    Reply(Impl* m, Respond respond, ApiKind api, bool produce)
        : m_(m), respond_(std::move(respond)), api_(api), produce_(produce), t0_(std::chrono::steady_clock::now()) {}
    void operator()(ApiResponse r) const {
      m_->CachedCounter(m_->request_counters, "pinstream_http_requests_total", "HTTP requests by API and status", api_,
                        r.status)->Inc();
      if (produce_ && r.status == 200) {
        m_->ack_latency->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
      }
      respond_(std::move(r));
    }

   private:
    Impl* m_;
    Respond respond_;
    ApiKind api_;
    bool produce_;
    std::chrono::steady_clock::time_point t0_;
  };
  void CountRecords(ApiKind api, int status, std::size_t n) {
    CachedCounter(record_counters, "pinstream_http_records_total", "Records in produce requests by API and outcome", api,
                  status)->Inc(n);
  }

  bool Authorized(const ApiRequest& req) const {
    if (cfg.bearer_tokens.empty() && cfg.api_keys.empty()) return true;
    std::string_view auth = req.header("authorization");
    if (auth.rfind("Bearer ", 0) == 0) {
      std::string_view token = auth.substr(7);
      if (std::find(cfg.bearer_tokens.begin(), cfg.bearer_tokens.end(), token) != cfg.bearer_tokens.end()) return true;
    }
    std::string_view key = req.header("x-api-key");
    return !key.empty() && std::find(cfg.api_keys.begin(), cfg.api_keys.end(), key) != cfg.api_keys.end();
  }

  // The stream, created on first use when auto_create is on.
  std::optional<LogStreamInfo> Resolve(const std::string& name, LogApi api) {
    if (auto s = log->Find(name)) return s;
    if (!cfg.auto_create || !IsValidName(name)) return std::nullopt;
    auto created = log->Create(name, cfg.default_partitions, api);
    if (created.ok()) return *created;
    return log->Find(name);  // created concurrently
  }

  std::optional<ApiResponse> Backpressure(const std::string& stream, ApiKind api) {
    std::int64_t backlog = log->MaxBacklog(stream);
    if (backlog <= cfg.max_backlog_records) return std::nullopt;
    std::string msg = fmt::format(
        "'{}' has {} records not yet processed by its queries (limit {}); retry later", stream, backlog,
        cfg.max_backlog_records);
    ApiResponse r = api == ApiKind::kRest ? RestError(429, 42901, msg)
                                          : KinesisError("ProvisionedThroughputExceededException", msg, 400,
                                                         api == ApiKind::kNative ? kAmzJson : "application/json");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }

  ApiResponse StorageError(const Status& st, ApiKind api) {
    ApiResponse r;
    if (api == ApiKind::kRest) {
      r = st.retryable() ? RestError(503, 50003, "storage is unavailable, retry: " + st.message())
                         : RestError(500, 50002, "storage error: " + st.message());
    } else {
      r = KinesisError(st.retryable() ? "ServiceUnavailable" : "InternalFailure", st.message(), st.retryable() ? 503 : 500,
                       api == ApiKind::kNative ? kAmzJson : "application/json");
    }
    if (st.retryable()) r.headers.emplace_back("Retry-After", "1");
    return r;
  }

  // ---- Kafka REST Proxy v2 ------------------------------------------------------------------
  void Rest(const ApiRequest& req, const Segments& seg, Reply respond) {
    if (seg.size() == 1) {
      if (req.method != "GET") return respond(RestError(405, 405, "HTTP 405 Method Not Allowed"));
      json names = json::array();
      for (const auto& s : log->List(LogApi::kKafkaTopic)) names.push_back(s.name);
      return respond(JsonResponse(200, names.dump(), "application/vnd.kafka.v2+json"));
    }
    const std::string topic(seg[1]);
    if (!IsValidName(topic)) return respond(RestError(404, 40401, "Topic not found."));
    if (seg.size() == 3 && seg[2] == "partitions" && req.method == "GET") {
      auto info = log->Find(topic);
      if (!info || info->api != LogApi::kKafkaTopic) return respond(RestError(404, 40401, "Topic not found."));
      json parts = json::array();
      for (int p = 0; p < info->partitions; ++p) parts.push_back(PartitionJson(p));
      return respond(JsonResponse(200, parts.dump(), "application/vnd.kafka.v2+json"));
    }
    if (seg.size() == 4 && seg[2] == "partitions") {
      // One partition: GET its metadata, POST records into it (the proxy's
      // PartitionProduceRequest).
      int p = -1;
      auto [end, ec] = std::from_chars(seg[3].data(), seg[3].data() + seg[3].size(), p);
      bool number = ec == std::errc() && end == seg[3].data() + seg[3].size() && p >= 0;
      if (req.method == "GET") {
        auto info = log->Find(topic);
        if (!info || info->api != LogApi::kKafkaTopic)
          return respond(RestError(404, 40401, "Topic not found."));
        if (!number || p >= info->partitions)
          return respond(RestError(404, 40402, "Partition not found."));
        return respond(JsonResponse(200, PartitionJson(p).dump(), "application/vnd.kafka.v2+json"));
      }
      if (req.method != "POST") return respond(RestError(405, 405, "HTTP 405 Method Not Allowed"));
      if (!number) return respond(RestError(404, 40402, "Partition not found."));
      return Produce(req, topic, p, std::move(respond));
    }
    if (seg.size() != 2) return respond(RestError(404, 404, "HTTP 404 Not Found"));
    if (req.method == "GET") {
      auto info = log->Find(topic);
      if (!info || info->api != LogApi::kKafkaTopic) return respond(RestError(404, 40401, "Topic not found."));
      json parts = json::array();
      for (int p = 0; p < info->partitions; ++p) parts.push_back(PartitionJson(p));
      return respond(JsonResponse(200, json{{"name", topic}, {"configs", json::object()}, {"partitions", parts}}.dump(),
                                  "application/vnd.kafka.v2+json"));
    }
    if (req.method != "POST") return respond(RestError(405, 405, "HTTP 405 Method Not Allowed"));
    Produce(req, topic, std::nullopt, std::move(respond));
  }

  // POST /topics/{topic}[/partitions/{partition}]: records into the topic, each to its own
  // partition, its key's or round-robin — or all into `partition`.
  void Produce(const ApiRequest& req, const std::string& topic, std::optional<int> partition,
               Reply respond) {
    std::string_view ct = req.header("content-type");
    std::string_view media = ct.substr(0, ct.find(';'));
    while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
    RestEmbeddedFormat fmt_;
    if (media == "application/vnd.kafka.json.v2+json" || media == "application/vnd.kafka.v2+json") {
      fmt_ = RestEmbeddedFormat::kJson;
    } else if (media == "application/vnd.kafka.binary.v2+json") {
      fmt_ = RestEmbeddedFormat::kBinary;
    } else {
      return respond(RestError(415, 415, fmt::format("HTTP 415 Unsupported Media Type: '{}' (use "
                                                     "application/vnd.kafka.json.v2+json or application/vnd.kafka.binary.v2+json)",
                                                     ct)));
    }
    auto info = Resolve(topic, LogApi::kKafkaTopic);
    if (!info || info->api != LogApi::kKafkaTopic) return respond(RestError(404, 40401, "Topic not found."));
    ParseResult parsed = ParseRestProduce(req.body, fmt_, limits);
    if (auto* e = std::get_if<BodyError>(&parsed)) {
      switch (e->kind) {
        case BodyErrorKind::kMalformedJson: return respond(RestError(400, 400, "malformed JSON: " + e->message));
        case BodyErrorKind::kRecordTooLarge: return respond(RestError(413, 413, e->message));
        default: return respond(RestError(422, 42201, e->message));
      }
    }
    auto& records = std::get<ParsedRecords>(parsed).records;
    if (partition) {
      if (*partition >= info->partitions)
        return respond(RestError(404, 40402, "Partition not found."));
      for (auto& r : records) r.partition = *partition;
    }
    for (const auto& r : records) {
      if (r.partition >= info->partitions) return respond(RestError(404, 40402, "Partition not found."));
    }
    if (auto bp = Backpressure(topic, ApiKind::kRest)) {
      CountRecords(ApiKind::kRest, 429, records.size());
      return respond(*bp);
    }
    std::size_t n = records.size();
    log->AppendAsync(topic, std::move(records), [this, counted = std::move(respond), n](Result<std::span<const AppendedRecord>> r) {
      if (!r.ok()) {
        ApiResponse e = r.status().code() == StatusCode::kNotFound ? RestError(404, 40401, "Topic not found.")
                                                                   : StorageError(r.status(), ApiKind::kRest);
        CountRecords(ApiKind::kRest, e.status, n);
        return counted(std::move(e));
      }
      CountRecords(ApiKind::kRest, 200, n);
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
      counted(JsonResponse(200, std::move(body), "application/vnd.kafka.v2+json"));
    });
  }

  static json PartitionJson(int p) {
    return json{{"partition", p}, {"leader", 0}, {"replicas", json::array({{{"broker", 0}, {"leader", true}, {"in_sync", true}}})}};
  }

  // ---- API Gateway over Kinesis ---------------------------------------------------------------
  void Gateway(const ApiRequest& req, const Segments& seg, Reply respond) {
    const char* ct = "application/json";
    if (seg.size() == 1) {
      if (req.method != "GET") return respond(KinesisError("MethodNotAllowed", "use GET /streams", 405, ct));
      json names = json::array();
      for (const auto& s : log->List(LogApi::kKinesisStream)) names.push_back(s.name);
      return respond(JsonResponse(200, json{{"StreamNames", names}, {"HasMoreStreams", false}}.dump()));
    }
    const std::string stream(seg[1]);
    if (!IsValidName(stream)) {
      return respond(KinesisError("ValidationException", fmt::format("'{}' is not a valid stream name", stream), 400, ct));
    }
    if (seg.size() == 2) {
      if (req.method == "GET") {
        auto info = log->Find(stream);
        if (!info || info->api != LogApi::kKinesisStream) return respond(NotFoundStream(stream, ct));
        return respond(JsonResponse(200, ordered_json{{"StreamDescription", DescribeStream(*info, log)}}.dump()));
      }
      if (req.method == "POST") {
        int shards = 1;
        if (!req.body.empty()) {
          json j = json::parse(req.body, nullptr, false);
          if (j.is_discarded() || !j.is_object()) return respond(KinesisError("SerializationException", "the body is not a JSON object", 400, ct));
          if (j.contains("ShardCount")) {
            if (!j["ShardCount"].is_number_integer()) return respond(KinesisError("ValidationException", "ShardCount must be an integer", 400, ct));
            shards = j["ShardCount"].get<int>();
          }
        }
        return respond(CreateStream(stream, shards, ct));
      }
      if (req.method == "DELETE") return respond(DeleteStream(stream, ct));
      return respond(KinesisError("MethodNotAllowed", "use GET, POST or DELETE on /streams/{name}", 405, ct));
    }
    if (seg.size() != 3 || (seg[2] != "record" && seg[2] != "records")) {
      return respond(KinesisError("NotFound", "no such resource", 404, ct));
    }
    if (req.method != "PUT" && req.method != "POST") {
      return respond(KinesisError("MethodNotAllowed", fmt::format("use PUT /streams/{}/{}", stream, seg[2]), 405, ct));
    }
    bool many = seg[2] == "records";
    Put(stream, many ? ParseGatewayPutRecords(req.body, limits) : ParseGatewayPutRecord(req.body, limits), many,
        ApiKind::kGateway, std::move(respond));
  }

  ApiResponse NotFoundStream(const std::string& stream, const char* ct) {
    return KinesisError("ResourceNotFoundException",
                        fmt::format("Stream {} under account 000000000000 not found.", stream), 400, ct);
  }

  ApiResponse CreateStream(const std::string& stream, int shards, const char* ct) {
    if (!IsValidName(stream)) return KinesisError("ValidationException", fmt::format("'{}' is not a valid stream name", stream), 400, ct);
    if (shards < 1 || shards > 1024) return KinesisError("ValidationException", "ShardCount must be between 1 and 1024", 400, ct);
    auto r = log->Create(stream, shards, LogApi::kKinesisStream);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kAlreadyExists) {
        return KinesisError("ResourceInUseException",
                            fmt::format("Stream {} under account 000000000000 already exists.", stream), 400, ct);
      }
      return StorageError(r.status(), ApiKind::kNative);
    }
    return JsonResponse(200, "{}", ct);
  }

  ApiResponse DeleteStream(const std::string& stream, const char* ct) {
    auto info = log->Find(stream);
    if (!info || info->api != LogApi::kKinesisStream) return NotFoundStream(stream, ct);
    Status st = log->Delete(stream);
    if (!st.ok()) return StorageError(st, ApiKind::kNative);
    return JsonResponse(200, "{}", ct);
  }

  void Put(const std::string& stream, ParseResult parsed, bool many, ApiKind api, Reply respond) {
    const char* ct = api == ApiKind::kNative ? kAmzJson : "application/json";
    if (auto* e = std::get_if<BodyError>(&parsed)) {
      const char* type = e->kind == BodyErrorKind::kMalformedJson ? "SerializationException" : "ValidationException";
      return respond(KinesisError(type, e->message, 400, ct));
    }
    auto& pr = std::get<ParsedRecords>(parsed);
    std::string name = api == ApiKind::kNative ? pr.stream_name : stream;
    if (name.empty()) return respond(KinesisError("ValidationException", "StreamName is required", 400, ct));
    if (!IsValidName(name)) return respond(KinesisError("ValidationException", fmt::format("'{}' is not a valid stream name", name), 400, ct));
    auto info = Resolve(name, LogApi::kKinesisStream);
    if (!info || info->api != LogApi::kKinesisStream) return respond(NotFoundStream(name, ct));
    std::size_t n = pr.records.size();
    if (auto bp = Backpressure(name, api)) {
      CountRecords(api, 400, n);
      return respond(*bp);
    }
    log->AppendAsync(name, std::move(pr.records), [this, counted = std::move(respond), many, api, ct, name, n](
                                                      Result<std::span<const AppendedRecord>> r) {
      if (!r.ok()) {
        ApiResponse e = r.status().code() == StatusCode::kNotFound ? NotFoundStream(name, ct) : StorageError(r.status(), api);
        CountRecords(api, e.status, n);
        return counted(std::move(e));
      }
      CountRecords(api, 200, n);
      if (!many) {
        const auto& a = r->front();
        ordered_json j;
        j["SequenceNumber"] = SequenceNumber(a.partition, a.offset);
        j["ShardId"] = ShardId(a.partition);
        if (api == ApiKind::kNative) j["EncryptionType"] = "NONE";
        return counted(JsonResponse(200, j.dump(), ct));
      }
      std::string body = "{\"FailedRecordCount\":0,\"Records\":[";
      bool first = true;
      for (const auto& a : *r) {
        if (!first) body += ',';
        first = false;
        fmt::format_to(std::back_inserter(body), "{{\"SequenceNumber\":\"{}\",\"ShardId\":\"{}\"}}",
                       SequenceNumber(a.partition, a.offset), ShardId(a.partition));
      }
      body += "],\"EncryptionType\":\"NONE\"}";
      counted(JsonResponse(200, std::move(body), ct));
    });
  }

  // ---- Native Kinesis JSON protocol -----------------------------------------------------------
  void Native(const ApiRequest& req, std::string_view target, Reply respond) {
    constexpr std::string_view prefix = "Kinesis_20131202.";
    if (target.rfind(prefix, 0) != 0) {
      return respond(KinesisError("UnknownOperationException", fmt::format("unknown target '{}'", target)));
    }
    std::string_view op = target.substr(prefix.size());
    if (op == "PutRecord") return Put("", ParseNativePutRecord(req.body, limits), false, ApiKind::kNative, std::move(respond));
    if (op == "PutRecords") return Put("", ParseNativePutRecords(req.body, limits), true, ApiKind::kNative, std::move(respond));
    json j = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return respond(KinesisError("SerializationException", "the body is not a JSON object"));
    auto str = [&](const char* k) -> std::string {
      return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
    };
    std::string name = str("StreamName");
    if (op == "ListStreams") {
      std::size_t limit = j.contains("Limit") && j["Limit"].is_number_integer() ? j["Limit"].get<std::size_t>() : 100;
      std::string after = str("ExclusiveStartStreamName");
      json names = json::array(), summaries = json::array();
      auto all = log->List(LogApi::kKinesisStream);
      std::size_t shown = 0;
      bool more = false;
      for (const auto& s : all) {
        if (!after.empty() && s.name <= after) continue;
        if (shown == limit) {
          more = true;
          break;
        }
        names.push_back(s.name);
        summaries.push_back({{"StreamName", s.name}, {"StreamARN", StreamArn(s.name)}, {"StreamStatus", "ACTIVE"},
                             {"StreamModeDetails", {{"StreamMode", "PROVISIONED"}}},
                             {"StreamCreationTimestamp", static_cast<double>(s.created_ms) / 1000.0}});
        ++shown;
      }
      return respond(JsonResponse(200, json{{"StreamNames", names}, {"HasMoreStreams", more}, {"StreamSummaries", summaries}}.dump(), kAmzJson));
    }
    if (name.empty()) return respond(KinesisError("ValidationException", "StreamName is required"));
    if (op == "CreateStream") {
      int shards = j.contains("ShardCount") && j["ShardCount"].is_number_integer() ? j["ShardCount"].get<int>() : 1;
      return respond(CreateStream(name, shards, kAmzJson));
    }
    if (op == "DeleteStream") return respond(DeleteStream(name, kAmzJson));
    auto info = log->Find(name);
    if (!info || info->api != LogApi::kKinesisStream) return respond(NotFoundStream(name, kAmzJson));
    if (op == "DescribeStream") {
      return respond(JsonResponse(200, ordered_json{{"StreamDescription", DescribeStream(*info, log)}}.dump(), kAmzJson));
    }
    if (op == "DescribeStreamSummary") {
      ordered_json d = DescribeStream(*info, log);
      d.erase("Shards");
      d.erase("HasMoreShards");
      d["OpenShardCount"] = info->partitions;
      d["ConsumerCount"] = 0;
      return respond(JsonResponse(200, ordered_json{{"StreamDescriptionSummary", d}}.dump(), kAmzJson));
    }
    if (op == "ListShards") {
      return respond(JsonResponse(200, ordered_json{{"Shards", DescribeStream(*info, log)["Shards"]}}.dump(), kAmzJson));
    }
    if (op == "GetShardIterator") {
      int shard;
      if (!ParseShardId(str("ShardId"), &shard) || shard >= info->partitions) {
        return respond(KinesisError("ResourceNotFoundException", fmt::format("Shard {} in stream {} under account 000000000000 does not exist", str("ShardId"), name)));
      }
      auto bounds = log->Bounds(name, shard);
      if (!bounds.ok()) return respond(StorageError(bounds.status(), ApiKind::kNative));
      std::string type = str("ShardIteratorType");
      std::int64_t offset;
      if (type == "TRIM_HORIZON") {
        offset = bounds->first;
      } else if (type == "LATEST") {
        offset = bounds->second;
      } else if (type == "AT_SEQUENCE_NUMBER" || type == "AFTER_SEQUENCE_NUMBER") {
        int s2;
        std::int64_t o;
        if (!ParseSequenceNumber(str("StartingSequenceNumber"), &s2, &o) || s2 != shard) {
          return respond(KinesisError("InvalidArgumentException", "StartingSequenceNumber is not a sequence number of this shard"));
        }
        offset = type == "AT_SEQUENCE_NUMBER" ? o : o + 1;
      } else if (type == "AT_TIMESTAMP") {
        if (!j.contains("Timestamp") || !j["Timestamp"].is_number()) {
          return respond(KinesisError("InvalidArgumentException", "AT_TIMESTAMP needs a numeric Timestamp (epoch seconds)"));
        }
        auto ts_us = static_cast<std::int64_t>(j["Timestamp"].get<double>() * 1e6);
        offset = bounds->second;
        Status st = log->Read(name, shard, bounds->first, bounds->second, [&](const state::SourceLog::ReadRecord& r) {
          if (r.arrival_us >= ts_us) {
            offset = r.offset;
            return Cancelled("found");
          }
          return Status::Ok();
        });
        if (!st.ok() && st.code() != StatusCode::kCancelled) return respond(StorageError(st, ApiKind::kNative));
      } else {
        return respond(KinesisError("InvalidArgumentException", fmt::format("unknown ShardIteratorType '{}'", type)));
      }
      offset = std::clamp(offset, bounds->first, bounds->second);
      return respond(JsonResponse(200, json{{"ShardIterator", MakeIterator(name, shard, offset)}}.dump(), kAmzJson));
    }
    return respond(KinesisError("UnknownOperationException", fmt::format("operation '{}' is not supported", op)));
  }

  void GetRecords(const ApiRequest& req, Reply respond) {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("ShardIterator") || !j["ShardIterator"].is_string()) {
      return respond(KinesisError("ValidationException", "ShardIterator is required"));
    }
    std::string stream;
    int shard;
    std::int64_t offset;
    if (!ReadIterator(j["ShardIterator"].get<std::string>(), &stream, &shard, &offset)) {
      return respond(KinesisError("InvalidArgumentException", "the shard iterator is malformed"));
    }
    std::int64_t limit = j.contains("Limit") && j["Limit"].is_number_integer() ? j["Limit"].get<std::int64_t>() : 10000;
    limit = std::clamp<std::int64_t>(limit, 1, 10000);
    auto bounds = log->Bounds(stream, shard);
    if (!bounds.ok()) return respond(NotFoundStream(stream, kAmzJson));
    offset = std::max(offset, bounds->first);
    std::int64_t end = std::min(bounds->second, offset + limit);
    std::string body = "{\"Records\":[";
    bool first = true;
    Status st = log->Read(stream, shard, offset, end, [&](const state::SourceLog::ReadRecord& r) {
      if (!first) body += ',';
      first = false;
      body += fmt::format("{{\"SequenceNumber\":\"{}\",\"ApproximateArrivalTimestamp\":{:.3f},\"Data\":\"{}\",\"PartitionKey\":",
                          SequenceNumber(shard, r.offset), static_cast<double>(r.arrival_us) / 1e6, Base64Encode(r.value));
      AppendJsonString(r.has_key ? r.key : std::string_view(), &body);
      body += "}";
      return Status::Ok();
    });
    if (!st.ok()) return respond(StorageError(st, ApiKind::kNative));
    body += fmt::format("],\"NextShardIterator\":\"{}\",\"MillisBehindLatest\":0}}", MakeIterator(stream, shard, end));
    respond(JsonResponse(200, std::move(body), kAmzJson));
  }

  // ---- Admin ----------------------------------------------------------------------------------
  //   GET  /jobs                  every job: schedule, next run, state, last run
  //   POST /jobs/<name>/run       queue a run now → 202 {"job","runId"}; 404 unknown; 409 busy
  //   GET  /jobs/runs/<run id>    one run (queued, running, succeeded, failed, skipped)
  void Jobs(const ApiRequest& req, const Segments& seg, const AdminHooks& h, Reply respond) {
    if (!h.jobs) return respond(JsonResponse(404, json{{"error", "this daemon's config has no jobs"}}.dump()));
    if (seg.size() == 1) {
      if (req.method != "GET") return respond(JsonResponse(405, json{{"error", "use GET"}}.dump()));
      return respond(JsonResponse(200, h.jobs()));
    }
    if (seg.size() == 3 && seg[1] == "runs") {
      if (req.method != "GET") return respond(JsonResponse(405, json{{"error", "use GET"}}.dump()));
      auto run = h.job_run(std::string(seg[2]));
      if (!run) return respond(JsonResponse(404, json{{"error", fmt::format("no run '{}'", seg[2])}}.dump()));
      return respond(JsonResponse(200, *run));
    }
    if (seg.size() == 3 && seg[2] == "run") {
      if (req.method != "POST") return respond(JsonResponse(405, json{{"error", "use POST"}}.dump()));
      auto id = h.trigger_job(std::string(seg[1]));
      if (!id.ok()) {
        int code = id.status().code() == StatusCode::kNotFound ? 404 : 409;
        return respond(JsonResponse(code, json{{"error", id.status().message()}}.dump()));
      }
      return respond(JsonResponse(202, json{{"job", seg[1]}, {"runId", *id}}.dump()));
    }
    respond(JsonResponse(404, json{{"error", "no such endpoint"}}.dump()));
  }

  void Admin(const ApiRequest& req, const Segments& seg, Reply respond) {
    AdminHooks h;
    {
      std::lock_guard lock(hooks_mu);
      h = hooks;
    }
    if (seg[0] == "jobs") return Jobs(req, seg, h, std::move(respond));
    if (req.method != "GET") return respond(JsonResponse(405, json{{"error", "use GET"}}.dump()));
    std::string_view what = seg[0];
    if (what == "health") return respond(JsonResponse(200, R"({"status":"UP"})"));
    if (what == "ready") {
      if (auto failure = h.store_failure ? h.store_failure() : std::nullopt) {
        return respond(JsonResponse(503, json{{"status", "STORE_FAILED"}, {"message", *failure}}.dump()));
      }
      bool ready = h.ready && h.ready();
      return respond(JsonResponse(ready ? 200 : 503, ready ? R"({"status":"READY"})" : R"({"status":"RECOVERING"})"));
    }
    if (what == "metrics") {
      auto s = log->stats();
      Metrics().GetGauge("pinstream_source_log_group_commits", "Synced group commits of the source log")->Set(static_cast<double>(s.group_commits));
      for (const auto& info : log->List()) {
        Metrics().GetGauge("pinstream_source_log_backlog_records", "Records of a topic/stream its slowest query has not committed",
                           {{"stream", info.name}})->Set(static_cast<double>(log->MaxBacklog(info.name)));
      }
      return respond(JsonResponse(200, Metrics().RenderPrometheus(), "text/plain; version=0.0.4"));
    }
    if (what == "queries") {
      if (seg.size() == 1) {
        std::string body = "[";
        bool first = true;
        if (h.query_names && h.status) {
          for (const auto& q : h.query_names()) {
            auto s = h.status(q);
            if (!s) continue;
            if (!first) body += ",";
            first = false;
            body += *s;
          }
        }
        return respond(JsonResponse(200, body + "]"));
      }
      const std::string q(seg[1]);
      if (seg.size() == 2) {
        auto s = h.status ? h.status(q) : std::nullopt;
        if (!s) return respond(JsonResponse(404, json{{"error", fmt::format("no query '{}'", q)}}.dump()));
        return respond(JsonResponse(200, *s));
      }
      if (seg.size() == 3 && seg[2] == "progress") {
        auto p = h.progress ? h.progress(q) : std::nullopt;
        if (!p) return respond(JsonResponse(404, json{{"error", fmt::format("no query '{}'", q)}}.dump()));
        std::string body = "[";
        for (std::size_t i = 0; i < p->size(); ++i) body += (i ? "," : "") + (*p)[i];
        return respond(JsonResponse(200, body + "]"));
      }
    }
    respond(JsonResponse(404, json{{"error", "no such endpoint"}}.dump()));
  }
};

Api::Api(const HttpConfig& config, state::SourceLog* log) : impl_(std::make_unique<Impl>(config, log)) {}
Api::~Api() = default;

void Api::SetAdminHooks(AdminHooks hooks) {
  std::lock_guard lock(impl_->hooks_mu);
  impl_->hooks = std::move(hooks);
}

Status Api::DeclareStreams() {
  for (const auto& t : impl_->cfg.topics) {
    auto existing = impl_->log->Find(t.name);
    if (existing) {
      if (existing->api != LogApi::kKafkaTopic) return FailedPrecondition(fmt::format("'{}' exists as a Kinesis stream, not a topic", t.name));
      continue;
    }
    PS_RETURN_IF_ERROR(impl_->log->Create(t.name, t.partitions, LogApi::kKafkaTopic).status());
  }
  for (const auto& s : impl_->cfg.streams) {
    auto existing = impl_->log->Find(s.name);
    if (existing) {
      if (existing->api != LogApi::kKinesisStream) return FailedPrecondition(fmt::format("'{}' exists as a Kafka topic, not a stream", s.name));
      continue;
    }
    PS_RETURN_IF_ERROR(impl_->log->Create(s.name, s.partitions, LogApi::kKinesisStream).status());
  }
  return Status::Ok();
}

void Api::Handle(const ApiRequest& req, Respond respond) {
  Impl& m = *impl_;
  Segments seg(req.path);
  std::string_view amz_target = req.header("x-amz-target");  // the native Kinesis operation
  ApiKind api;
  if (req.method == "POST" && seg.empty() && !amz_target.empty()) {
    api = ApiKind::kNative;
  } else if (!seg.empty() && seg[0] == "topics") {
    api = ApiKind::kRest;
  } else if (!seg.empty() && seg[0] == "streams") {
    api = ApiKind::kGateway;
  } else if (!seg.empty() && (seg[0] == "health" || seg[0] == "ready" || seg[0] == "metrics" || seg[0] == "queries" ||
                             seg[0] == "jobs")) {
    api = ApiKind::kAdmin;
  } else {
    Metrics().GetCounter("pinstream_http_requests_total", "HTTP requests by API and status", {{"api", "none"}, {"status", "404"}})->Inc();
    return respond(JsonResponse(404, json{{"error_code", 404}, {"message", "HTTP 404 Not Found"}}.dump()));
  }
  m.request_bytes->Inc(req.body.size());
  bool open = api == ApiKind::kAdmin && (seg[0] == "health" || seg[0] == "ready");
  bool produce = (api == ApiKind::kRest && req.method == "POST") || (api == ApiKind::kGateway && seg.size() == 3) ||
                 (api == ApiKind::kNative && amz_target.rfind("Kinesis_20131202.PutRecord", 0) == 0);
  Impl::Reply counted(&m, std::move(respond), api, produce);
  if (!open && !m.Authorized(req)) {
    if (api == ApiKind::kRest) return counted(RestError(401, 40101, "Authentication failed: send 'Authorization: Bearer <token>' or 'x-api-key'"));
    if (api == ApiKind::kAdmin) return counted(JsonResponse(401, R"({"error":"unauthorized"})"));
    return counted(KinesisError("UnrecognizedClientException", "The security token included in the request is invalid.", 401,
                                api == ApiKind::kNative ? kAmzJson : "application/json"));
  }
  switch (api) {
    case ApiKind::kRest: return m.Rest(req, seg, std::move(counted));
    case ApiKind::kGateway: return m.Gateway(req, seg, std::move(counted));
    case ApiKind::kNative:
      if (amz_target == "Kinesis_20131202.GetRecords") return m.GetRecords(req, std::move(counted));
      return m.Native(req, amz_target, std::move(counted));
    case ApiKind::kAdmin: return m.Admin(req, seg, std::move(counted));
  }
}

}  // namespace pinstream::connectors::http
