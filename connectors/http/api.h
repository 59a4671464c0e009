// The HTTP APIs pinstream serves, independent of the HTTP library (the Beast server in
// http_server.cc turns wire requests into ApiRequest and writes ApiResponse back):
//
//   Kafka REST Proxy v2      POST /topics/{t}, GET /topics, GET /topics/{t}
//   API Gateway → Kinesis    GET /streams, POST|GET|DELETE /streams/{s},
//                            PUT /streams/{s}/record, PUT /streams/{s}/records
//   Native Kinesis JSON      POST / with X-Amz-Target: Kinesis_20131202.<Operation>
//   Admin                    GET /health, /ready, /metrics, /queries, /queries/{q}/progress
//
// Produce requests are answered only once their records are durable in the source log
// (Respond runs on the log's writer thread then; the server moves it back to the connection).
// Errors use each API's own shape: {"error_code": 40401, "message": ...} for the REST Proxy,
// {"__type": "ResourceNotFoundException", "message": ...} for Kinesis.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/http/http_config.h"
#include "engine/config.h"

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
  std::string_view method;  // GET, POST, PUT, DELETE, ...
  std::string_view path;    // percent-decoded, without the query string
  std::string_view query;   // raw query string
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

using Respond = std::function<void(ApiResponse)>;

// What the admin endpoints read from the running daemon; set once the daemon exists.
struct AdminHooks {
  std::function<bool()> ready;
  // Why the store can no longer write (an unrecoverable error: a restart is needed), if so.
  std::function<std::optional<std::string>()> store_failure;
  std::function<std::vector<std::string>()> query_names;
  // The recent progress JSON documents of a query, oldest first; nullopt for unknown queries.
  std::function<std::optional<std::vector<std::string>>(const std::string&)> progress;
  // One JSON object describing a query's state.
  std::function<std::optional<std::string>(const std::string&)> status;
  // Scheduled jobs (absent when the config has none): their states as a JSON array; queue a
  // run now (its run id, or NotFound / FailedPrecondition); one run by id as JSON.
  std::function<std::string()> jobs;
  std::function<Result<std::string>(const std::string&)> trigger_job;
  std::function<std::optional<std::string>(const std::string&)> job_run;
};

class Api {
 public:
  Api(const HttpConfig& config, state::SourceLog* log);
  ~Api();

  void SetAdminHooks(AdminHooks hooks);
  // Handles one request; `respond` is called exactly once (maybe later, from another thread).
  void Handle(const ApiRequest& request, Respond respond);
  // Creates the topics and streams declared in the config (idempotent).
  [[nodiscard]] Status DeclareStreams();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ASCII case-insensitive equality (HTTP field names, tokens).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Percent-decodes a URL path; false on malformed escapes or a decoded NUL.
bool DecodePath(std::string_view raw, std::string* out);

}  // namespace pinstream::connectors::http
