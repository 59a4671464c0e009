// Api: the HTTP APIs pinstream serves, independent of the HTTP library (the Beast server in
// http_server.cc turns wire requests into ApiRequest and writes ApiResponse back). It routes each
// request to the protocol that owns its path:
//
//   Kafka REST Proxy v2      POST /topics/{t}, GET /topics, GET /topics/{t}      (rest_proxy.h)
//   API Gateway → Kinesis    GET /streams, POST|GET|DELETE /streams/{s}, (kinesis_gateway.h)
//                            PUT /streams/{s}/record, PUT /streams/{s}/records
//   Native Kinesis JSON      POST / with X-Amz-Target: Kinesis_20131202.<Op>     (kinesis_native.h)
//   added routes             /<segment>/... registered with AddRoute — the daemon's admin
//                            endpoints (/health, /ready, /metrics, /queries, /jobs, ...) and
//                            its console (/ and /console/...: app/admin_api.h)
//   anything else            404 {"error_code": 404, "message": "HTTP 404 Not Found"}
//
// Every request is counted (pinstream_http_requests_total by API and status) and, unless its
// route is open, authenticated (auth.h: bearer tokens, API keys, AWS SigV4). Produce requests are
// answered only once their records are durable in the source log (Respond runs on the log's
// writer thread then; the server moves it back to the connection). Errors use each API's own
// shape: {"error_code": 40401, "message": ...} for the REST Proxy, {"__type":
// "ResourceNotFoundException", "message": ...} for Kinesis.
//
// Lifecycle: construct, AddRoute (before the server starts), DeclareStreams, then Handle from
// any number of I/O threads at once. A reload calls ApplySettings meanwhile: the requests that
// start afterwards are served with the new limits, timeouts and credentials.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/http/http_config.h"
#include "engine/status.h"

namespace pinstream::state {
class SourceLog;
}

namespace pinstream::connectors::http {

struct ApiHeader {
  std::string_view name;  // as sent
  std::string_view value;
};

// A request, as views into buffers its connection owns: valid during Api::Handle only (what the
// API needs later, such as the records of a produce request, it copies). The server parses every
// request of a keep-alive connection into the same buffers, so none of this allocates.
struct ApiRequest {
  std::string_view method;    // GET, POST, PUT, DELETE, ...
  std::string_view path;      // percent-decoded, without the query string
  std::string_view raw_path;  // the path as sent (percent-encoded); empty: the same as `path`
  std::string_view query;     // raw query string
  std::span<const ApiHeader> headers;
  std::string_view body;
  // The value of the first header called `name` (compared case-insensitively); empty if none.
  std::string_view header(std::string_view name) const;
};

struct ApiResponse {
  int status = 200;
  std::string_view content_type = "application/json";  // a string with static storage
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Answers a request; called exactly once per request, from any thread.
using Respond = std::function<void(ApiResponse)>;

// A path's segments ("/topics/t" → "topics", "t"), as views into it. No route has more than 4:
// a longer path keeps its first kMax and reports kMax + 1 segments, which no route matches.
class PathSegments {
 public:
  static constexpr std::size_t kMax = 8;
  explicit PathSegments(std::string_view path);
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  std::string_view operator[](std::size_t i) const { return seg_[i]; }

 private:
  std::array<std::string_view, kMax> seg_;
  std::size_t n_ = 0;
};

// A route added to the API (the daemon's admin endpoints): requests whose first path segment is
// `segment` — or, for segment "", the root path "/" (other than native Kinesis requests, which
// are POST / with X-Amz-Target).
struct Route {
  std::string segment;    // "health", "queries", ..., "" for "/"
  std::string api_label;  // the `api` label its requests are counted under ("admin")
  bool open = false;      // served without authentication (health and readiness probes)
  // Handles a request (path segments included); must call `respond` exactly once.
  std::function<void(const ApiRequest& request, const PathSegments& segments, Respond respond)>
      handler;
};

class Api {
 public:
  Api(const HttpConfig& config, state::SourceLog* log);
  ~Api();

  // Adds a route. Not thread-safe: call before the server starts.
  void AddRoute(Route route);
  // Creates the topics and streams declared in the config (idempotent).
  [[nodiscard]] Status DeclareStreams();
  // The same for the topics and streams of `config` (a reloaded config's new ones); thread-safe.
  [[nodiscard]] Status DeclareStreams(const HttpConfig& config);
  // The http settings in force: the config given to the constructor or to the last
  // ApplySettings (valid until the Api is destroyed).
  const HttpConfig& settings() const;
  // A reload's new settings, at once, for the requests that start afterwards: auth (tokens, API
  // keys, SigV4 keys), max_body_size, max_record_size, request_timeout, idle_timeout,
  // auto_create, default_partitions, max_backlog_records, and the source log's retention and
  // group_commit_max_records. Not listen, io_threads and tls (the server binds them at start)
  // nor topics and streams (DeclareStreams creates the new ones). Thread-safe.
  void ApplySettings(const HttpConfig& config);
  // Handles one request; `respond` is called exactly once (maybe later, from another thread).
  void Handle(const ApiRequest& request, Respond respond);

 private:
  struct Protocols;  // the REST Proxy and Kinesis handlers, their shared context and routes
  std::unique_ptr<Protocols> protocols_;
};

// ASCII case-insensitive equality (HTTP field names, tokens).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Percent-decodes a URL path; false on malformed escapes or a decoded NUL.
bool DecodePath(std::string_view raw, std::string* out);

// The value of parameter `name` in a raw query string ("a=1&b=x%20y" → "x y" for "b"), decoded
// ('+' is a space); nullopt when absent or malformed. The first occurrence wins.
std::optional<std::string> QueryParameter(std::string_view query, std::string_view name);

// A JSON answer with the given status (the admin endpoints' and the APIs' common shape).
ApiResponse JsonResponse(int status, std::string body,
                         const char* content_type = "application/json");

// For json::dump of error bodies, which quote what the client sent (a path, a header, a name):
// bytes that are not UTF-8 become U+FFFD instead of an exception thrown out of a request handler
// (which ended the daemon).
inline constexpr auto kReplace = nlohmann::json::error_handler_t::replace;

}  // namespace pinstream::connectors::http
