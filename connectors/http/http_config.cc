#include "connectors/http/http_config.h"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

#include "engine/config.h"

namespace pinstream::connectors::http {

namespace {
constexpr KeyDoc kHttpDocs[] = {
    {"listen",
     KeyType::kString,
     "127.0.0.1:8082",
     "host:port of the HTTP server. Kafka REST Proxy, Kinesis, the admin "
     "API and the console share it.",
     {},
     Reload::kRestart},
    {"io_threads",
     KeyType::kInt,
     "2",
     "Threads serving connections (1..64).",
     {},
     Reload::kRestart},
    {"max_body_size", KeyType::kByteSize, "8MiB", "Largest request body."},
    {"max_record_size", KeyType::kByteSize, "1MiB", "Largest record of a produce request."},
    {"request_timeout", KeyType::kDuration, "30s", "A whole request must arrive within this."},
    {"idle_timeout", KeyType::kDuration, "60s", "Keep-alive connections idle longer are closed."},
    {"auth", KeyType::kMap, "",
     "Tokens, API keys and AWS signatures (see http.auth). Without it every request is served."},
    {"tls", KeyType::kMap, "", "HTTPS (see http.tls).", {}, Reload::kRestart},
    {"auto_create", KeyType::kBool, "false",
     "Unknown topics and streams are created on their first write."},
    {"default_partitions", KeyType::kInt, "1", "Partitions (shards) of an auto-created one."},
    {"topics",
     KeyType::kList,
     "",
     "Kafka REST Proxy topics: each a name or {name, partitions} (see http.topics[]).",
     {},
     Reload::kCreate},
    {"streams",
     KeyType::kList,
     "",
     "Kinesis streams: each a name or {name, shards} (see http.streams[]).",
     {},
     Reload::kCreate},
    {"retention", KeyType::kMap, "", "How long the source log keeps records (see http.retention)."},
    {"max_backlog_records", KeyType::kInt, "1000000",
     "Records acknowledged but not yet committed by a query, before produce requests are refused "
     "(429, retryable)."},
    {"group_commit_max_records", KeyType::kInt, "4096",
     "Records per group commit of the source log."},
};
constexpr KeyDoc kHttpAuthDocs[] = {
    {"bearer_tokens", KeyType::kStringList, "",
     "Tokens accepted as `Authorization: Bearer <token>` (or x-api-key)."},
    {"bearer_tokens_file", KeyType::kPath, "",
     "A file of tokens, one per line ('#' starts a comment), read at start-up and by every "
     "reload; empty is an error."},
    {"api_keys", KeyType::kStringList, "", "Keys accepted as `x-api-key: <key>`."},
    {"api_keys_file", KeyType::kPath, "", "A file of API keys, one per line."},
    {"aws_sigv4", KeyType::kMap, "",
     "The native Kinesis API checks AWS Signature Version 4 (see http.auth.aws_sigv4)."},
};
constexpr KeyDoc kHttpSigV4Docs[] = {
    {"region", KeyType::kString, "", "The region clients sign for (default: any)."},
    {"access_keys", KeyType::kList, "",
     "Required. The access keys: each {id, secret | secret_file} (see "
     "http.auth.aws_sigv4.access_keys[])."},
    {"max_clock_skew", KeyType::kDuration, "15m",
     "A request time this far from the daemon's clock is refused (Signature expired)."},
};
constexpr KeyDoc kHttpAccessKeyDocs[] = {
    {"id", KeyType::kString, "", "Required. The access key id (AWS_ACCESS_KEY_ID)."},
    {"secret", KeyType::kString, "", "The secret (use ${VAR}); one of secret, secret_file."},
    {"secret_file", KeyType::kPath, "", "A file holding the secret."},
};
constexpr KeyDoc kHttpTlsDocs[] = {
    {"cert_file", KeyType::kString, "", "Required. The certificate chain (PEM)."},
    {"key_file", KeyType::kString, "", "Required. The private key (PEM)."},
};
constexpr KeyDoc kHttpRetentionDocs[] = {
    {"max_age", KeyType::kDuration, "168h",
     "Records older than this are deleted from the source log."},
    {"max_bytes", KeyType::kByteSize, "0", "Bytes kept per partition (0 = unlimited)."},
};
constexpr KeyDoc kHttpTopicDocs[] = {
    {"name", KeyType::kString, "", "Required. The topic's name."},
    {"partitions", KeyType::kInt, "1", "Partitions (1..1024)."},
};
constexpr KeyDoc kHttpStreamDocs[] = {
    {"name", KeyType::kString, "", "Required. The stream's name."},
    {"shards", KeyType::kInt, "1", "Shards (1..1024)."},
};
}  // namespace

constexpr ConfigKeys kHttpKeys{
    "http",
    "HTTP ingest: the Kafka REST Proxy v2 and Kinesis APIs over the source log, the admin API "
    "and the console. The daemon serves HTTP only when the section is present.",
    kHttpDocs, Reload::kLive};
constexpr ConfigKeys kHttpAuthKeys{
    "http.auth",
    "Who may call: ingest and admin requests need a token or key; /health, /ready and the "
    "console's page do not.",
    kHttpAuthDocs, Reload::kLive};
constexpr ConfigKeys kHttpSigV4Keys{"http.auth.aws_sigv4",
                                    "AWS Signature Version 4 for the native Kinesis API.",
                                    kHttpSigV4Docs, Reload::kLive};
constexpr ConfigKeys kHttpAccessKeyKeys{"http.auth.aws_sigv4.access_keys[]", "One access key.",
                                        kHttpAccessKeyDocs, Reload::kLive};
constexpr ConfigKeys kHttpTlsKeys{"http.tls", "HTTPS on the listener.", kHttpTlsDocs,
                                  Reload::kRestart};
constexpr ConfigKeys kHttpRetentionKeys{"http.retention",
                                        "The source log's retention, per partition.",
                                        kHttpRetentionDocs, Reload::kLive};
constexpr ConfigKeys kHttpTopicKeys{"http.topics[]", "A topic declared with its partitions.",
                                    kHttpTopicDocs, Reload::kCreate};
constexpr ConfigKeys kHttpStreamKeys{"http.streams[]", "A stream declared with its shards.",
                                     kHttpStreamDocs, Reload::kCreate};

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The non-empty lines of the file at `key` (trimmed; '#' starts a comment line), at least one.
std::vector<std::string> ReadSecretLines(const ConfigNode& n, std::string_view key) {
  std::string path = n.GetPath(key);
  std::ifstream in(path);
  if (!in) n.Get(key).Fail(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view v = Trim(line);
    if (!v.empty() && v[0] != '#') out.emplace_back(v);
  }
  if (out.empty()) n.Get(key).Fail(fmt::format("'{}' holds no token", path));
  return out;
}

// A secret given inline (`secret`) or as the content of a file (`secret_file`), exactly one.
std::string ReadSecret(const ConfigNode& n) {
  if (n.Has("secret") == n.Has("secret_file"))
    n.Fail("give the key's secret as either secret or secret_file");
  if (n.Has("secret")) return n.GetString("secret");
  std::string path = n.GetPath("secret_file");
  std::ifstream in(path);
  if (!in)
    n.Get("secret_file").Fail(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string secret(Trim(text));
  if (secret.empty()) n.Get("secret_file").Fail(fmt::format("'{}' is empty", path));
  return secret;
}

void ParseAuth(const ConfigNode& a, HttpConfig& h) {
  a.ExpectKeys(kHttpAuthKeys);
  h.bearer_tokens = a.GetStringList("bearer_tokens");
  if (a.Has("bearer_tokens_file")) {
    for (auto& t : ReadSecretLines(a, "bearer_tokens_file")) h.bearer_tokens.push_back(t);
  }
  h.api_keys = a.GetStringList("api_keys");
  if (a.Has("api_keys_file")) {
    for (auto& k : ReadSecretLines(a, "api_keys_file")) h.api_keys.push_back(k);
  }
  for (const auto& t : h.bearer_tokens) {
    if (Trim(t).empty()) a.Get("bearer_tokens").Fail("a token is empty");
  }
  for (const auto& k : h.api_keys) {
    if (Trim(k).empty()) a.Get("api_keys").Fail("an API key is empty");
  }
  if (auto s = a.Find("aws_sigv4")) {
    s->ExpectKeys(kHttpSigV4Keys);
    h.aws_sigv4.region = s->GetString("region", "");
    h.aws_sigv4.max_clock_skew_us =
        s->GetDurationMicros("max_clock_skew", h.aws_sigv4.max_clock_skew_us);
    if (h.aws_sigv4.max_clock_skew_us <= 0) s->Get("max_clock_skew").Fail("must be positive");
    ConfigNode keys = s->Get("access_keys");
    std::set<std::string> ids;
    for (const auto& k : keys.Elements()) {
      k.ExpectKeys(kHttpAccessKeyKeys);
      AwsAccessKey key{k.GetString("id"), ReadSecret(k)};
      if (key.id.empty()) k.Get("id").Fail("the access key id is empty");
      if (!ids.insert(key.id).second)
        k.Get("id").Fail(fmt::format("access key '{}' is listed twice", key.id));
      h.aws_sigv4.access_keys.push_back(std::move(key));
    }
    if (h.aws_sigv4.access_keys.empty()) keys.Fail("list at least one access key");
  }
}

LogStreamDecl ParseLogStream(const ConfigNode& n, const char* count_key) {
  LogStreamDecl d;
  if (n.IsScalar()) {
    d.name = n.AsString();
  } else {
    n.ExpectKeys(std::string_view(count_key) == "shards" ? kHttpStreamKeys : kHttpTopicKeys);
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
  n.ExpectKeys(kHttpKeys);
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
  if (auto a = n.Find("auth")) ParseAuth(*a, h);
  if (auto t = n.Find("tls")) {
    t->ExpectKeys(kHttpTlsKeys);
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
    r->ExpectKeys(kHttpRetentionKeys);
    h.retention_age_us = r->GetDurationMicros("max_age", h.retention_age_us);
    h.retention_bytes = r->GetByteSize("max_bytes", 0);
  }
  h.max_backlog_records = n.GetInt("max_backlog_records", h.max_backlog_records);
  h.group_commit_max_records = n.GetInt("group_commit_max_records", h.group_commit_max_records);
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
