// HttpConfig: the `http:` section of a daemon config, owned by the HTTP connector (the listener,
// the ingest APIs, the source log behind them). Registered as a config section by
// connectors/registry.cc; the daemon serves HTTP only when the section is present.
//
//   http:
//     listen: 127.0.0.1:8082
//     io_threads: 2
//     max_body_size: 8MiB               # whole request body
//     max_record_size: 1MiB             # one record of a produce request
//     request_timeout: 30s              # a whole request must arrive within this
//     idle_timeout: 60s                 # keep-alive connections idle longer are closed
//     auth:                             # none: every request is accepted (README "Security")
//       bearer_tokens: [...]            # Authorization: Bearer <token>
//       bearer_tokens_file: tokens      # one token per line ('#' comments), read at start-up
//       api_keys: [...]                 # x-api-key: <key>
//       api_keys_file: keys
//       aws_sigv4:                      # the native Kinesis API checks AWS Signature Version 4
//         region: us-east-1             # the region clients sign for (absent: any)
//         access_keys: [{id: AKID..., secret_file: aws-secret}]   # or secret: ${VAR}
//         max_clock_skew: 15m           # X-Amz-Date this far from now is refused
//     tls: {cert_file: ..., key_file: ...}
//     auto_create: false                # unknown topics/streams are created on first write
//     default_partitions: 1             # partitions (shards) of an auto-created one
//     topics: [name, {name: t, partitions: 4}]   # Kafka REST Proxy topics
//     streams: [name, {name: s, shards: 2}]      # Kinesis streams
//     retention: {max_age: 7d, max_bytes: 0}     # per partition; 0 = unlimited
//     max_backlog_records: 1000000      # per query, before produce requests are refused (429)
//     group_commit_max_records: 4096    # records per group commit of the source log
//
// Parsing throws ConfigError (file:line:col) on bad values, like every config section.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/registry.h"

namespace pinstream::connectors::http {

// A topic or stream declared in the config, created when the daemon starts (if missing).
struct LogStreamDecl {
  std::string name;
  int partitions = 1;
};

// An AWS access key whose signatures the native Kinesis API accepts (auth.aws_sigv4).
struct AwsAccessKey {
  std::string id;
  std::string secret;
};

struct SigV4Config {
  std::string region;                     // empty: any region
  std::vector<AwsAccessKey> access_keys;  // empty: signatures are not checked
  std::int64_t max_clock_skew_us = 15LL * 60 * 1'000'000;
  bool enabled() const { return !access_keys.empty(); }
};

struct HttpConfig : ConfigSection {
  std::string host = "127.0.0.1";
  int port = 8082;
  int io_threads = 2;
  std::int64_t max_body_bytes = 8LL << 20;
  std::int64_t max_record_bytes = 1LL << 20;
  std::int64_t request_timeout_us = 30'000'000;
  std::int64_t idle_timeout_us = 60'000'000;
  std::vector<std::string> bearer_tokens;  // inline and from bearer_tokens_file
  std::vector<std::string> api_keys;       // inline and from api_keys_file
  SigV4Config aws_sigv4;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool auto_create = false;
  int default_partitions = 1;
  std::vector<LogStreamDecl> topics;   // Kafka REST Proxy topics
  std::vector<LogStreamDecl> streams;  // Kinesis streams
  std::int64_t retention_age_us = 7LL * 86400 * 1000000;
  std::int64_t retention_bytes = 0;  // per partition; 0 = unlimited
  std::int64_t max_backlog_records = 1'000'000;
  std::int64_t group_commit_max_records = 4096;
};

// The section's key in a daemon config.
inline constexpr const char* kHttpSection = "http";

// Parses the `http:` section; throws ConfigError on bad input.
std::shared_ptr<const HttpConfig> ParseHttpConfig(const ConfigNode& node);
extern const ConfigKeys kHttpKeys;
extern const ConfigKeys kHttpAuthKeys;
extern const ConfigKeys kHttpSigV4Keys;
extern const ConfigKeys kHttpAccessKeyKeys;
extern const ConfigKeys kHttpTlsKeys;
extern const ConfigKeys kHttpRetentionKeys;
extern const ConfigKeys kHttpTopicKeys;
extern const ConfigKeys kHttpStreamKeys;

}  // namespace pinstream::connectors::http
