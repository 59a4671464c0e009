// AdminClient: one HTTP/1.1 request to a running daemon's admin endpoints (the CLI's
// `jobs run` when the daemon holds the data dir). Plain HTTP on loopback; sends the daemon's
// first bearer token / API key when the config requires one, and X-Pinstream-Client (which the
// admin API requires of requests that change something).
#pragma once

#include <chrono>
#include <string>

#include "connectors/http/http_config.h"
#include "engine/config.h"
#include "engine/status.h"

namespace pinstream::app {

struct AdminReply {
  int status = 0;
  std::string body;
};

// `method` GET or POST; `target` e.g. "/jobs/daily/run". Unavailable when the daemon cannot be
// reached; FailedPrecondition when it serves TLS (use curl with the certificate instead).
// `timeout` bounds the whole exchange; a non-empty `json_body` is sent as application/json.
Result<AdminReply> CallAdmin(const connectors::http::HttpConfig& http, const std::string& method,
                             const std::string& target,
                             std::chrono::seconds timeout = std::chrono::seconds(30),
                             const std::string& json_body = "");

// The same to the daemon running `config` (whose data dir it holds): FailedPrecondition naming
// `what` when the config has no `http:` listener to reach it through.
Result<AdminReply> CallDaemon(const DaemonConfig& config, const std::string& method,
                              const std::string& target, const std::string& what,
                              std::chrono::seconds timeout = std::chrono::seconds(30),
                              const std::string& json_body = "");

// The message of an admin error answer ({"error": ...}, or the body as it came) with its status.
std::string AdminErrorMessage(const AdminReply& reply);

}  // namespace pinstream::app
