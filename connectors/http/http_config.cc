#include "connectors/http/http_config.h"

#include <fmt/format.h>

#include <set>

#include "engine/config.h"

namespace pinstream::connectors::http {

namespace {

LogStreamDecl ParseLogStream(const ConfigNode& n, const char* count_key) {
  LogStreamDecl d;
  if (n.IsScalar()) {
    d.name = n.AsString();
  } else {
    n.ExpectKeys({"name", count_key});
    d.name = n.GetString("name");
    d.partitions = static_cast<int>(n.GetInt(count_key, 1));
    if (d.partitions < 1 || d.partitions > 1024) {
      n.Get(count_key).Fail(fmt::format("{} must be between 1 and 1024", count_key));
    }
  }
  RequireValidName(n, d.name, "topic/stream");
  return d;
}

}  // namespace

std::shared_ptr<const HttpConfig> ParseHttpConfig(const ConfigNode& n) {
  auto config = std::make_shared<HttpConfig>();
  HttpConfig& h = *config;
  n.ExpectKeys({"listen", "io_threads", "max_body_size", "max_record_size", "request_timeout",
                "idle_timeout", "auth", "tls", "auto_create", "default_partitions", "topics",
                "streams", "retention", "max_backlog_records", "group_commit_max_records",
                "verify_signatures"});
  std::string listen = n.GetString("listen", "127.0.0.1:8082");
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) n.Get("listen").Fail("expected host:port, e.g. 127.0.0.1:8082");
  h.host = listen.substr(0, colon);
  try {
    h.port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    n.Get("listen").Fail(fmt::format("invalid port in '{}'", listen));
  }
  if (h.port < 0 || h.port > 65535) n.Get("listen").Fail("port must be 0..65535");
  h.io_threads = static_cast<int>(n.GetInt("io_threads", 2));
  if (h.io_threads < 1 || h.io_threads > 64) n.Get("io_threads").Fail("io_threads must be 1..64");
  h.max_body_bytes = n.GetByteSize("max_body_size", h.max_body_bytes);
  h.max_record_bytes = n.GetByteSize("max_record_size", h.max_record_bytes);
  h.request_timeout_us = n.GetDurationMicros("request_timeout", h.request_timeout_us);
  h.idle_timeout_us = n.GetDurationMicros("idle_timeout", h.idle_timeout_us);
  if (auto a = n.Find("auth")) {
    a->ExpectKeys({"bearer_tokens", "api_keys"});
    h.bearer_tokens = a->GetStringList("bearer_tokens");
    h.api_keys = a->GetStringList("api_keys");
  }
  if (auto t = n.Find("tls")) {
    t->ExpectKeys({"cert_file", "key_file"});
    h.tls_cert_file = t->GetString("cert_file");
    h.tls_key_file = t->GetString("key_file");
  }
  h.auto_create = n.GetBool("auto_create", false);
  h.default_partitions = static_cast<int>(n.GetInt("default_partitions", 1));
  if (auto t = n.Find("topics")) {
    for (const auto& e : t->Elements()) h.topics.push_back(ParseLogStream(e, "partitions"));
  }
  if (auto s = n.Find("streams")) {
    for (const auto& e : s->Elements()) h.streams.push_back(ParseLogStream(e, "shards"));
  }
  if (auto r = n.Find("retention")) {
    r->ExpectKeys({"max_age", "max_bytes"});
    h.retention_age_us = r->GetDurationMicros("max_age", h.retention_age_us);
    h.retention_bytes = r->GetByteSize("max_bytes", 0);
  }
  h.max_backlog_records = n.GetInt("max_backlog_records", h.max_backlog_records);
  h.group_commit_max_records = n.GetInt("group_commit_max_records", h.group_commit_max_records);
  if (n.GetBool("verify_signatures", false)) {
    n.Get("verify_signatures").Fail("AWS signature verification is not supported; set it to false");
  }
  std::set<std::string> seen;
  for (const auto& d : h.topics) {
    if (!seen.insert(d.name).second)
      n.Get("topics").Fail(fmt::format("topic '{}' is declared twice", d.name));
  }
  for (const auto& d : h.streams) {
    if (!seen.insert(d.name).second)
      n.Get("streams").Fail(fmt::format("'{}' is declared twice", d.name));
  }
  return config;
}

}  // namespace pinstream::connectors::http
