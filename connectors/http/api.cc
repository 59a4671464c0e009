#include "connectors/http/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "connectors/http/auth.h"
#include "connectors/http/ingest_context.h"
#include "connectors/http/kinesis_gateway.h"
#include "connectors/http/kinesis_native.h"
#include "connectors/http/kinesis_streams.h"
#include "connectors/http/rest_proxy.h"
#include "engine/metrics.h"

namespace pinstream::connectors::http {

using nlohmann::json;
using state::LogApi;

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

std::optional<std::string> QueryParameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    std::string raw(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    std::replace(raw.begin(), raw.end(), '+', ' ');
    std::string out;
    if (!DecodePath(raw, &out)) return std::nullopt;
    return out;
  }
  return std::nullopt;
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

PathSegments::PathSegments(std::string_view path) {
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

ApiResponse JsonResponse(int status, std::string body, const char* content_type) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = content_type;
  return r;
}

// A route added with AddRoute, with its counters.
struct AddedRoute {
  explicit AddedRoute(Route r) : route(std::move(r)), counters(route.api_label) {}
  Route route;
  ApiCounters counters;
};

struct Api::Protocols {
  Protocols(const HttpConfig& config, state::SourceLog* log)
      : ingest(config, log), streams(&ingest), rest(&ingest), gateway(&streams), native(&streams) {}

  AddedRoute* FindRoute(std::string_view segment) {
    for (auto& r : routes) {
      if (r->route.segment == segment) return r.get();
    }
    return nullptr;
  }

  IngestContext ingest;
  KinesisStreams streams;
  RestProxyApi rest;
  KinesisGatewayApi gateway;
  KinesisNativeApi native;
  ApiCounters rest_counters{"kafka-rest"};
  ApiCounters gateway_counters{"kinesis-gateway"};
  ApiCounters native_counters{"kinesis"};
  Counter* request_bytes = Metrics().GetCounter("pinstream_http_request_bytes_total",
                                                "Bytes of request bodies received");
  std::vector<std::unique_ptr<AddedRoute>> routes;  // fixed once the server runs
};

Api::Api(const HttpConfig& config, state::SourceLog* log)
    : protocols_(std::make_unique<Protocols>(config, log)) {}
Api::~Api() = default;

void Api::AddRoute(Route route) {
  protocols_->routes.push_back(std::make_unique<AddedRoute>(std::move(route)));
}

Status Api::DeclareStreams() { return DeclareStreams(protocols_->ingest.config()); }

const HttpConfig& Api::settings() const { return protocols_->ingest.config(); }

void Api::ApplySettings(const HttpConfig& config) {
  protocols_->ingest.ApplySettings(config);
  protocols_->ingest.log()->SetLimits(config.retention_age_us, config.retention_bytes,
                                      config.group_commit_max_records);
}

Status Api::DeclareStreams(const HttpConfig& cfg) {
  state::SourceLog* log = protocols_->ingest.log();
  auto declare = [&](const LogStreamDecl& d, LogApi api) -> Status {
    auto existing = log->Find(d.name);
    if (!existing) return log->Create(d.name, d.partitions, api).status();
    if (existing->api == api) return Status::Ok();
    return FailedPrecondition(
        api == LogApi::kKafkaTopic
            ? fmt::format("'{}' exists as a Kinesis stream, not a topic", d.name)
            : fmt::format("'{}' exists as a Kafka topic, not a stream", d.name));
  };
  for (const auto& t : cfg.topics) PS_RETURN_IF_ERROR(declare(t, LogApi::kKafkaTopic));
  for (const auto& s : cfg.streams) PS_RETURN_IF_ERROR(declare(s, LogApi::kKinesisStream));
  return Status::Ok();
}

void Api::Handle(const ApiRequest& req, Respond respond) {
  Protocols& p = *protocols_;
  const Authenticator& auth = p.ingest.settings().auth;
  PathSegments seg(req.path);
  std::string_view amz_target = req.header("x-amz-target");  // the native Kinesis operation
  if (req.method == "POST" && seg.empty() && !amz_target.empty()) {
    p.request_bytes->Inc(req.body.size());
    bool produce = amz_target.rfind("Kinesis_20131202.PutRecord", 0) == 0;
    Reply reply(&p.native_counters, produce ? p.ingest.ack_latency() : nullptr, std::move(respond));
    auto now = std::chrono::system_clock::now().time_since_epoch();
    if (auto denied = auth.CheckKinesisNative(
            req, std::chrono::duration_cast<std::chrono::microseconds>(now).count()))
      return reply(std::move(*denied));
    return p.native.Handle(req, amz_target, std::move(reply));
  }
  if (!seg.empty() && seg[0] == "topics") {
    p.request_bytes->Inc(req.body.size());
    Reply reply(&p.rest_counters, req.method == "POST" ? p.ingest.ack_latency() : nullptr,
                std::move(respond));
    if (!auth.TokenAllowed(req)) {
      return reply(RestProxyApi::Error(
          401, 40101,
          "Authentication failed: send 'Authorization: Bearer <token>' or 'x-api-key'"));
    }
    return p.rest.Handle(req, seg, std::move(reply));
  }
  if (!seg.empty() && seg[0] == "streams") {
    p.request_bytes->Inc(req.body.size());
    Reply reply(&p.gateway_counters, seg.size() == 3 ? p.ingest.ack_latency() : nullptr,
                std::move(respond));
    if (!auth.TokenAllowed(req)) {
      return reply(KinesisError("UnrecognizedClientException",
                                "The security token included in the request is invalid.", 401,
                                "application/json"));
    }
    return p.gateway.Handle(req, seg, std::move(reply));
  }
  // A route's segment is the path's first; the route with segment "" serves the root path "/".
  if (AddedRoute* r = p.FindRoute(seg.empty() ? std::string_view() : seg[0])) {
    p.request_bytes->Inc(req.body.size());
    Reply reply(&r->counters, nullptr, std::move(respond));
    if (!r->route.open && !auth.TokenAllowed(req))
      return reply(JsonResponse(401, R"({"error":"unauthorized"})"));
    return r->route.handler(
        req, seg, [reply = std::move(reply)](ApiResponse resp) { reply(std::move(resp)); });
  }
  Metrics()
      .GetCounter("pinstream_http_requests_total", "HTTP requests by API and status",
                  {{"api", "none"}, {"status", "404"}})
      ->Inc();
  respond(JsonResponse(404, json{{"error_code", 404}, {"message", "HTTP 404 Not Found"}}.dump()));
}

}  // namespace pinstream::connectors::http
