// The daemon's configuration, parsed once from YAML into these typed structs.
//
//   data_dir: /var/lib/pinstream          # RocksDB store, one per daemon
//   log: {level: info, format: text}    # format: text | json (one object per line)
//   sources:   {name: {kind: file|http|kafka, ...}}                      (source registry)
//   queries:   [{name, sources, trigger, max_records_per_trigger, shards,
//                operators: [...], sink: {...}, dead_letter: {...}}]
//   jobs:      [{name, schedule, sql: [...]}]                            (scheduled SQL)
//   <section>: {...}                                                     (section registry)
//
// The engine parses data_dir, log, sources, queries and jobs. Every other top-level key is a
// section a plugin folder owns and registers with its parser (SectionRegistry): `storage:` is
// state's (state/store_options.h), `http:` the HTTP connector's (connectors/http/http_config.h).
// An unknown key is an error that names the known ones.
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

#include "engine/logging.h"
#include "engine/registry.h"

namespace pinstream {

struct LogConfig {
  std::string level = "info";           // trace, debug, info, warn, error
  LogFormat format = LogFormat::kText;  // text | json (engine/logging.h)
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
  // The plugins' sections present in the file, by key, as their registered parsers returned them.
  std::map<std::string, std::shared_ptr<const ConfigSection>> sections;
  std::map<std::string, SourceConfig> sources;
  std::vector<QueryConfig> queries;
  std::vector<JobConfig> jobs;

  // The typed config of section `key`; null when the file has no such section. T is the type
  // the section's parser returns (a mismatch is a programming error and also yields null).
  template <typename T>
  const T* Section(const std::string& key) const {
    auto it = sections.find(key);
    return it == sections.end() ? nullptr : dynamic_cast<const T*>(it->second.get());
  }
};

// Parses and validates; throws ConfigError (file:line:col) on any problem.
DaemonConfig LoadConfig(const std::string& path, const Registries& registries);
DaemonConfig LoadConfigFromString(const std::string& yaml, const std::string& name,
                                  const std::string& config_dir, const Registries& registries);

// Valid names for queries, tables, topics: [A-Za-z0-9_.-]{1,200}, not starting with '.' or '-'.
bool IsValidName(std::string_view name);
// Fails `node` (ConfigError) unless IsValidName(name); `what` names the thing ("query", "table").
void RequireValidName(const ConfigNode& node, const std::string& name, const char* what);

// Resolves `path` against `base_dir` unless it is absolute.
std::string ResolvePath(const std::string& base_dir, const std::string& path);

}  // namespace pinstream
