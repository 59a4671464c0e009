// The daemon's configuration, parsed once from YAML into these typed structs.
//
//   data_dir: /var/lib/pinstream          # RocksDB store, one per daemon
//   log: {level: info, format: text}    # format: text | json (one object per line)
//   sources:   {name: {kind: file|http|kafka|delta, ...}}                (source registry)
//   queries:   [{name, source | sources | inputs, watermark, trigger, max_records_per_trigger,
//                shards, state, operators: [...], sink: {...}, dead_letter: {...}}]
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
  std::string location;     // file:line:col, for start-up errors
  std::string fingerprint;  // its config as canonical YAML (config_diff.h)
  std::shared_ptr<const SourceSpec> spec;
};

struct OperatorConfig {
  std::string kind;
  std::string name;  // optional label, defaults to "<index>:<kind>"
  std::shared_ptr<const OperatorSpec> spec;
  std::string where = {};  // "file:line:col: path" of the operator entry, for errors
};

// `watermark: {column: event_time, delay: 10m}` (Spark's withWatermark): rows whose event time is
// more than `delay` behind the latest event time seen are late (engine/watermark.h).
struct WatermarkConfig {
  std::string column;
  std::int64_t delay_us = 0;
  std::string where;  // of the `column` key
};

// A named input of a query: its sources (unioned), an optional watermark and the operators that
// apply to its rows only (config `inputs: {name: {source, watermark, operators}}`). A query
// written with `source:`/`sources:` has one input, named after the query.
struct InputConfig {
  std::string name;
  std::string where;
  std::vector<std::string> sources;
  std::optional<WatermarkConfig> watermark;
  std::vector<OperatorConfig> operators;
};

// `state: {cache: 64MiB}`: the point-read cache of the query's large state (StateTable), shared
// evenly by its stateful operators' shards.
struct StateConfig {
  std::int64_t cache_bytes = 64 << 20;
};

// One operator slot of a query, as the engine runs them: every input's operators, the watermark
// observers, then the query's operators (QueryConfig::slots).
struct OperatorSlotConfig {
  std::string name;
  std::string where;
  // Names the slot's state ("<query>/<state_id>") and its entry in the checkpoint metadata: the
  // index of a query-level operator, "<input>.<index>" for an input's own operators.
  std::string state_id;
  std::shared_ptr<const OperatorSpec> spec;
  // The input tags whose rows the slot consumes (a batch of any other tag skips it), with their
  // key columns for the exchange (empty lists when the operator is not keyed).
  std::vector<std::uint16_t> input_tags;
  std::vector<std::vector<std::string>> key_columns;  // per input_tags entry
  // The tag of the rows it emits: its input's tag, or a new one (a join).
  std::uint16_t output_tag = 0;
  bool joins_inputs = false;  // consumes several tags into output_tag (ConsumedInputs())
  // The tags among input_tags that a later slot consumes too (QueryConfig::shared_inputs): this
  // slot reads a copy of such a batch while the batch itself goes on to the slots after it.
  std::vector<std::uint16_t> passes_on;
};

struct SinkConfig {
  std::string kind;
  std::shared_ptr<const SinkSpec> spec;
};

struct QueryConfig {
  std::string name;
  std::string location;
  // Set when the query runs a live view (views/view_query.h): the view's name and its SQL
  // statement's text. Empty for a configured query.
  std::string view;
  std::string view_sql;
  // The query's config and its sources' as canonical YAML: equal fingerprints run the same query
  // (a reload leaves it untouched; config_diff.h).
  std::string fingerprint;
  // Every source of the query, input after input (the offset log is keyed by these names), and
  // the input tag of each.
  std::vector<std::string> sources;
  std::vector<std::uint16_t> source_tags;
  // The named inputs, by tag; `inputs:` in the config (multi_input) or one for source/sources.
  std::vector<InputConfig> inputs;
  bool multi_input = false;
  // Set by a live view's query (views/lowering.h, a subplan the view uses twice computed once):
  // an input or operator output may be consumed by several operators, each getting its rows
  // (OperatorSlotConfig::passes_on). Otherwise a second consumer is a config error.
  bool shared_inputs = false;
  TriggerConfig trigger;
  std::int64_t max_records_per_trigger = 200'000;  // 0 = unlimited
  int shards = 0;                                  // 0 = number of cores
  std::int64_t chunk_rows = 4096;                  // records per chunk read from a source
  std::int64_t queue_capacity = 64;                // chunks buffered per shard (backpressure)
  std::vector<OperatorConfig> operators;           // the query-level operators
  // Every slot the engine runs, in order (see OperatorSlotConfig); built at load.
  std::vector<OperatorSlotConfig> slots;
  StateConfig state;
  SinkConfig sink;
  std::optional<SinkConfig> dead_letter;

  // The watermark of input `tag`, if declared.
  const WatermarkConfig* watermark_of(std::uint16_t tag) const {
    return tag < inputs.size() && inputs[tag].watermark ? &*inputs[tag].watermark : nullptr;
  }
  bool has_watermark() const {
    for (const auto& in : inputs) {
      if (in.watermark) return true;
    }
    return false;
  }
};

// Fills in what the engine runs from a parsed query: its single input (for `source`/`sources`,
// when `inputs` is empty), the sources' tags and the slots. Throws ConfigError on an operator
// that names inputs the query does not have. (LoadConfig calls it; tests building a QueryConfig
// by hand call it too.)
void BuildQuerySlots(QueryConfig& query);

// What the query's slots derive from its inputs' schemas (OperatorSpec::DeriveSchema), slot by
// slot: the schemas each slot receives (one per consumed tag) and what reaches the sink.
struct QuerySchemas {
  std::vector<std::vector<StreamSchema>> slot_inputs;  // per slot, per input_tags entry
  std::vector<StreamSchema> sink_inputs;               // per tag still flowing at the end
};
// Runs the derivation over `config.slots` from the inputs' schemas (`input_schemas[tag]`). A
// failed check is an InvalidArgument whose message starts with the slot's file:line:column.
Result<QuerySchemas> DeriveQuerySchemas(const QueryConfig& config,
                                        const std::vector<StreamSchema>& input_schemas);
// The schema of an input made of `sources` (their declared schemas merged: a union).
StreamSchema MergeSourceSchemas(const std::vector<StreamSchema>& sources);

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
  std::string fingerprint;  // its config as canonical YAML (config_diff.h)
};

struct DaemonConfig {
  std::string path;        // the config file
  std::string config_dir;  // its directory: relative paths in the config are resolved from here
  std::string data_dir;
  LogConfig log;
  // The plugins' sections present in the file, by key, as their registered parsers returned them.
  std::map<std::string, std::shared_ptr<const ConfigSection>> sections;
  std::map<std::string, std::string> section_fingerprints;  // canonical YAML, by key
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

// The engine's own key tables (config_keys.h), which engine/config_reference.cc prints around
// the registries' tables.
extern const ConfigKeys kConfigRootKeys;
extern const ConfigKeys kConfigLogKeys;
extern const ConfigKeys kConfigQueryKeys;
extern const ConfigKeys kConfigInputKeys;
extern const ConfigKeys kConfigWatermarkKeys;
extern const ConfigKeys kConfigTriggerKeys;
extern const ConfigKeys kConfigStateKeys;
extern const ConfigKeys kConfigJobKeys;
extern const ConfigKeys kConfigJobSqlKeys;

// Valid names for queries, tables, topics: [A-Za-z0-9_.-]{1,200}, not starting with '.' or '-'.
bool IsValidName(std::string_view name);
// Fails `node` (ConfigError) unless IsValidName(name); `what` names the thing ("query", "table").
void RequireValidName(const ConfigNode& node, const std::string& name, const char* what);

// Resolves `path` against `base_dir` unless it is absolute.
std::string ResolvePath(const std::string& base_dir, const std::string& path);

}  // namespace pinstream
