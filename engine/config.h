// The daemon's configuration, parsed once from YAML into these typed structs.
//
//   data_dir: /var/lib/pinstream          # RocksDB store, one per daemon
//   log: {level: info}
//   storage: {block_cache: 64MiB, write_buffer: 64MiB, compression: lz4,
//             source_log_compression: none, table_compression: lz4, checkpoint_retention: 100,
//             ingest_min_bytes: 4MiB}
//   http: {listen: 127.0.0.1:8082, topics: [...], streams: [...], ...}   (connectors/http)
//   sources:   {name: {kind: file|http|kafka, ...}}                      (connector registry)
//   queries:   [{name, sources, trigger, max_records_per_trigger, shards,
//                operators: [...], sink: {...}, dead_letter: {...}}]
//   jobs:      [{name, schedule, sql: [...]}]                            (scheduled SQL)
//
// LoadConfig() validates everything it can without opening the store or the network: kinds,
// references between sections, names, durations and sizes. Errors carry file:line:column.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/registry.h"

namespace pinstream {

struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error
};

struct StorageConfig {
  std::int64_t block_cache_bytes = 64LL << 20;
  std::int64_t write_buffer_bytes = 64LL << 20;
  std::string compression = "lz4";  // none, lz4, zstd, snappy (RocksDB block compression)
  std::string source_log_compression = "none";  // same choices, for the HTTP source log
  std::string table_compression = "lz4";  // none, lz4, zstd: delta-table chunks (our own codec)
  int checkpoint_retention = 100;   // offsets/commits entries kept per query
  std::int64_t ingest_min_bytes = 4LL << 20;  // table versions this large are ingested as SSTs
};

struct LogStreamDecl {
  std::string name;
  int partitions = 1;
};

struct HttpConfig {
  bool enabled = false;  // true when the `http` section is present
  std::string host = "127.0.0.1";
  int port = 8082;
  int io_threads = 2;
  std::int64_t max_body_bytes = 8LL << 20;
  std::int64_t max_record_bytes = 1LL << 20;
  std::int64_t request_timeout_us = 30'000'000;  // whole request must arrive within this
  std::int64_t idle_timeout_us = 60'000'000;     // keep-alive connections idle longer are closed
  std::vector<std::string> bearer_tokens;
  std::vector<std::string> api_keys;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool auto_create = false;  // unknown topics/streams are created on first write
  int default_partitions = 1;
  std::vector<LogStreamDecl> topics;   // Kafka REST Proxy topics
  std::vector<LogStreamDecl> streams;  // Kinesis streams
  std::int64_t retention_age_us = 7LL * 86400 * 1000000;
  std::int64_t retention_bytes = 0;  // 0 = unlimited
  std::int64_t max_backlog_records = 1'000'000;  // per query, before ingest answers 429
  std::int64_t group_commit_max_records = 4096;
  bool verify_signatures = false;  // AWS SigV4 (not verified; accepted and ignored when false)
};

struct TriggerConfig {
  enum class Kind { kProcessingTime, kOnce, kAvailableNow, kContinuous };
  Kind kind = Kind::kProcessingTime;
  std::int64_t interval_us = 500'000;
  std::string ToString() const;
};

struct SourceConfig {
  std::string name;
  std::string location;  // file:line:col, for start-up errors
  std::shared_ptr<const SourceSpec> spec;
};

struct OperatorConfig {
  std::string kind;
  std::string name;  // optional label, defaults to "<index>:<kind>"
  std::shared_ptr<const OperatorSpec> spec;
};

struct SinkConfig {
  std::string kind;
  std::shared_ptr<const SinkSpec> spec;
};

struct QueryConfig {
  std::string name;
  std::string location;
  std::vector<std::string> sources;
  TriggerConfig trigger;
  std::int64_t max_records_per_trigger = 200'000;  // 0 = unlimited
  int shards = 0;                                  // 0 = number of cores
  std::int64_t chunk_rows = 4096;                  // records per chunk read from a source
  std::int64_t queue_capacity = 64;                // chunks buffered per shard (backpressure)
  std::vector<OperatorConfig> operators;
  SinkConfig sink;
  std::optional<SinkConfig> dead_letter;
};

struct JobQueryConfig {
  std::string sql_file;      // path, relative to the config file's directory
  std::string result_table;  // defaults to "<file stem>_result"
};

struct JobConfig {
  std::string name;
  std::string location;
  // One of: every (interval), daily_at ("HH:MM", UTC), cron (5 fields).
  std::string schedule_kind;
  std::int64_t every_us = 0;
  std::string at;
  std::string cron;
  std::vector<JobQueryConfig> queries;
  bool run_on_start = false;
};

struct DaemonConfig {
  std::string path;        // the config file
  std::string config_dir;  // its directory: relative paths in the config are resolved from here
  std::string data_dir;
  LogConfig log;
  StorageConfig storage;
  HttpConfig http;
  std::map<std::string, SourceConfig> sources;
  std::vector<QueryConfig> queries;
  std::vector<JobConfig> jobs;
};

// Parses and validates; throws ConfigError (file:line:col) on any problem.
DaemonConfig LoadConfig(const std::string& path, const Registries& registries);
DaemonConfig LoadConfigFromString(const std::string& yaml, const std::string& name,
                                  const std::string& config_dir, const Registries& registries);

// Valid names for queries, tables, topics: [A-Za-z0-9_.-]{1,200}, not starting with '.' or '-'.
bool IsValidName(std::string_view name);

// Resolves `path` against `base_dir` unless it is absolute.
std::string ResolvePath(const std::string& base_dir, const std::string& path);

}  // namespace pinstream
