#include "engine/config.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "engine/job_schedule.h"
#include "engine/watermark.h"

namespace pinstream {

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 200 || name[0] == '.' || name[0] == '-') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

std::string TriggerConfig::ToString() const {
  switch (kind) {
    case Kind::kProcessingTime:
      return fmt::format("ProcessingTime({}ms)", interval_us / 1000);
    case Kind::kOnce:
      return "Once";
    case Kind::kAvailableNow:
      return "AvailableNow";
    case Kind::kContinuous:
      return "Continuous";
  }
  return "?";
}

// The engine's key tables (config_keys.h): what the loader accepts and the reference prints.
namespace {
constexpr KeyDoc kRootDocs[] = {
    {"data_dir",
     KeyType::kPath,
     "",
     "Required. The daemon's data directory: the RocksDB store (tables, source logs, "
     "checkpoints). One daemon per directory.",
     {},
     Reload::kRefused},
    {"log", KeyType::kMap, "", "Logging (see log).", {}, Reload::kLive},
    {"sources", KeyType::kMap, "",
     "Named sources: name → {kind: file|http|kafka|delta, ...} (see sources.<name>)."},
    {"queries", KeyType::kList, "", "Required. The streaming queries (see queries[])."},
    {"jobs", KeyType::kList, "", "Scheduled SQL jobs (see jobs[]).", {}, Reload::kLive},
};
constexpr KeyDoc kLogDocs[] = {
    {"level", KeyType::kEnum, "info",
     "Least severe level written; `pinstream run --log-level` overrides it.",
     "trace|debug|info|warn|error"},
    {"format", KeyType::kEnum, "text",
     "text: one line per event, UTC time with its zone; json: one JSON object per line (time in "
     "UTC, level, message and the event's fields), for log shippers.",
     "text|json"},
};
constexpr KeyDoc kQueryDocs[] = {
    {"name", KeyType::kString, "",
     "Required. The query's name (letters, digits, _ . -): its checkpoint, state and metrics "
     "are kept under it."},
    {"source", KeyType::kString, "", "The one source read (a name under sources)."},
    {"sources", KeyType::kStringList, "", "Several sources read as one stream (a union)."},
    {"inputs", KeyType::kMap, "",
     "Named inputs for operators that read several streams (join): name → {source | sources, "
     "watermark, operators}. Exactly one of source, sources, inputs."},
    {"watermark", KeyType::kMap, "",
     "Event-time watermark of a single-input query (see queries[].watermark)."},
    {"trigger", KeyType::kAny, "(processing_time: 500ms)",
     "When a batch starts: {processing_time: DURATION} (at most one batch per interval), once "
     "(one batch, then the query ends), available_now (everything available, in batches, then "
     "ends) or continuous (a batch as soon as data arrives)."},
    {"max_records_per_trigger", KeyType::kInt, "200000",
     "Most records one batch reads over all sources (0 = unlimited)."},
    {"shards", KeyType::kInt, "0",
     "Parallel shards the operators run in, rows hashed by key (0 = the number of cores; "
     "max 256)."},
    {"chunk_rows", KeyType::kInt, "4096", "Records per chunk read from a source (1..1000000)."},
    {"queue_capacity", KeyType::kInt, "64",
     "Chunks buffered per shard before the reader waits (backpressure; 2..65536)."},
    {"state", KeyType::kMap, "", "The query's keyed state (see queries[].state)."},
    {"operators", KeyType::kList, "",
     "The operators, in order: each {kind: KIND, name: LABEL (optional), ...} (see "
     "operators)."},
    {"sink", KeyType::kMap, "", "Required. Where the batches go: {kind: KIND, ...} (see sinks)."},
    {"dead_letter", KeyType::kAny, "",
     "Where rows an operator rejects go: a sink mapping, or a table name (shorthand for {kind: "
     "delta, table: NAME}). Without it a rejected row fails the batch."},
};
constexpr KeyDoc kInputDocs[] = {
    {"source", KeyType::kString, "", "The one source of this input."},
    {"sources", KeyType::kStringList, "", "Several sources read as this input (a union)."},
    {"watermark", KeyType::kMap, "", "This input's event-time watermark."},
    {"operators", KeyType::kList, "", "Operators applied to this input's rows only."},
};
constexpr KeyDoc kWatermarkDocs[] = {
    {"column", KeyType::kString, "", "Required. The event-time column (a timestamp)."},
    {"delay", KeyType::kDuration, "",
     "Required. How far behind the latest event time seen a row may be before it is late "
     "(Spark's withWatermark delay; >= 0)."},
};
constexpr KeyDoc kTriggerDocs[] = {
    {"processing_time", KeyType::kDuration, "",
     "Required. The interval between batch starts (> 0)."},
};
constexpr KeyDoc kStateDocs[] = {
    {"cache", KeyType::kByteSize, "64MiB",
     "Point-read cache of the query's large state, shared by its stateful operators' shards."},
};
constexpr KeyDoc kJobDocs[] = {
    {"name", KeyType::kString, "", "Required. The job's name."},
    {"every", KeyType::kDuration, "", "Run at this interval. One of every, at, cron."},
    {"at", KeyType::kString, "", "Run daily at \"HH:MM\" (UTC)."},
    {"cron", KeyType::kString, "", "Run on a 5-field cron schedule (UTC), e.g. \"0 2 * * *\"."},
    {"sql", KeyType::kList, "",
     "Required. The SQL files run in order: each a path, or {file, result_table} (see "
     "jobs[].sql[])."},
    {"run_on_start", KeyType::kBool, "false", "Also run once when the daemon starts."},
};
constexpr KeyDoc kJobSqlDocs[] = {
    {"file", KeyType::kPath, "", "Required. A file holding one SELECT."},
    {"result_table", KeyType::kString, "(<file stem>_result)",
     "The table the result is written to (replaced on each run, versioned)."},
};
}  // namespace

constexpr ConfigKeys kConfigRootKeys{
    "(top level)",
    "The config file's top-level keys. Every other top-level key is a section a plugin folder "
    "owns (http, storage, views).",
    kRootDocs};
constexpr ConfigKeys kConfigLogKeys{"log", "Logging.", kLogDocs, Reload::kLive};
constexpr ConfigKeys kConfigQueryKeys{
    "queries[]",
    "A streaming query: its sources are read in micro-batches, each batch runs through the "
    "operators and is committed to the sink exactly once, with the sources' offsets and the "
    "operators' state.",
    kQueryDocs};
constexpr ConfigKeys kConfigInputKeys{
    "queries[].inputs.<name>", "A named input of a query that reads several streams.", kInputDocs};
constexpr ConfigKeys kConfigWatermarkKeys{
    "queries[].watermark",
    "Event-time watermark (also queries[].inputs.<name>.watermark): rows older than the latest "
    "event time minus delay are late; windows and state older than it are finished.",
    kWatermarkDocs};
constexpr ConfigKeys kConfigTriggerKeys{"queries[].trigger",
                                        "The mapping form of the trigger (the scalar forms: once, "
                                        "available_now, continuous).",
                                        kTriggerDocs};
constexpr ConfigKeys kConfigStateKeys{"queries[].state", "The query's keyed state.", kStateDocs};
constexpr ConfigKeys kConfigJobKeys{
    "jobs[]",
    "A scheduled SQL job: its SELECTs run over the tables and replace their result tables. "
    "Exactly one schedule: every, at or cron.",
    kJobDocs, Reload::kLive};
constexpr ConfigKeys kConfigJobSqlKeys{"jobs[].sql[]", "The mapping form of a job's SQL file.",
                                       kJobSqlDocs, Reload::kLive};

void RequireValidName(const ConfigNode& n, const std::string& name, const char* what) {
  if (!IsValidName(name)) {
    n.Fail(fmt::format(
        "invalid {} name '{}': use letters, digits, '_', '.', '-' (not leading '.' or '-')", what,
        name));
  }
}

namespace {

TriggerConfig ParseTrigger(const ConfigNode& n) {
  TriggerConfig t;
  if (n.IsScalar()) {
    std::string s = n.AsString();
    if (s == "once")
      t.kind = TriggerConfig::Kind::kOnce;
    else if (s == "available_now")
      t.kind = TriggerConfig::Kind::kAvailableNow;
    else if (s == "continuous")
      t.kind = TriggerConfig::Kind::kContinuous;
    else {
      std::string hint = NearestMatch(s, {"once", "available_now", "continuous"});
      n.Fail(
          fmt::format("unknown trigger '{}' (use once, available_now, continuous or "
                      "{{processing_time: 500ms}}){}",
                      s, hint.empty() ? "" : fmt::format("; did you mean '{}'?", hint)));
    }
    return t;
  }
  n.ExpectKeys(kConfigTriggerKeys);
  t.kind = TriggerConfig::Kind::kProcessingTime;
  t.interval_us = n.Get("processing_time").AsDurationMicros();
  if (t.interval_us <= 0) n.Get("processing_time").Fail("interval must be positive");
  return t;
}

SinkConfig ParseSink(const ConfigNode& n, const Registries& reg, const char* what) {
  SinkConfig s;
  s.spec = reg.sinks.Parse(n, what);
  s.kind = std::string(s.spec->kind());
  return s;
}

JobConfig ParseJob(const ConfigNode& n, const std::string& config_dir) {
  JobConfig j;
  n.ExpectKeys(kConfigJobKeys);
  j.location = n.Location();
  j.fingerprint = n.Canonical();
  j.name = n.GetString("name");
  RequireValidName(n.Get("name"), j.name, "job");
  int forms = n.Has("every") + n.Has("at") + n.Has("cron");
  if (forms != 1)
    n.Fail("a job needs exactly one schedule: every: 24h, at: \"02:00\" or cron: \"0 2 * * *\"");
  if (n.Has("every")) {
    j.schedule_kind = "every";
    j.every_us = n.Get("every").AsDurationMicros();
    if (auto s = JobSchedule::Every(j.every_us); !s.ok()) n.Get("every").Fail(s.status().message());
  } else if (n.Has("at")) {
    j.schedule_kind = "at";
    j.at = n.GetString("at");
    if (auto s = JobSchedule::DailyAt(j.at); !s.ok()) n.Get("at").Fail(s.status().message());
  } else {
    j.schedule_kind = "cron";
    j.cron = n.GetString("cron");
    if (auto s = JobSchedule::Cron(j.cron); !s.ok()) n.Get("cron").Fail(s.status().message());
  }
  j.run_on_start = n.GetBool("run_on_start", false);
  auto sql = n.Get("sql");
  for (const auto& e : sql.Elements()) {
    JobQueryConfig q;
    if (e.IsScalar()) {
      q.sql_file = ResolvePath(config_dir, e.AsString());
    } else {
      e.ExpectKeys(kConfigJobSqlKeys);
      q.sql_file = ResolvePath(config_dir, e.GetString("file"));
      q.result_table = e.GetString("result_table", "");
    }
    if (q.result_table.empty()) {
      q.result_table = std::filesystem::path(q.sql_file).stem().string() + "_result";
    }
    RequireValidName(e, q.result_table, "table");
    if (!std::filesystem::exists(q.sql_file))
      e.Fail(fmt::format("SQL file '{}' does not exist", q.sql_file));
    j.queries.push_back(std::move(q));
  }
  if (j.queries.empty()) sql.Fail("a job needs at least one SQL file");
  return j;
}

std::vector<std::string> ParseSourceList(const ConfigNode& node, const DaemonConfig& cfg,
                                         std::set<std::string>* seen) {
  std::vector<std::string> out = node.AsStringList();
  if (out.empty()) node.Fail("at least one source is required");
  for (const auto& s : out) {
    if (!cfg.sources.count(s)) {
      std::vector<std::string> names;
      for (const auto& [k, v] : cfg.sources) names.push_back(k);
      std::string hint = NearestMatch(s, names);
      node.Fail(fmt::format("unknown source '{}'{}", s,
                            hint.empty() ? fmt::format(" (defined: {})", fmt::join(names, ", "))
                                         : fmt::format(" (did you mean '{}'?)", hint)));
    }
    if (!seen->insert(s).second)
      node.Fail(fmt::format("source '{}' is read twice by this query", s));
  }
  return out;
}

WatermarkConfig ParseWatermark(const ConfigNode& n) {
  n.ExpectKeys(kConfigWatermarkKeys);
  WatermarkConfig w;
  w.column = n.GetString("column");
  w.where = n.Get("column").Where();
  w.delay_us = n.Get("delay").AsDurationMicros();
  if (w.delay_us < 0) n.Get("delay").Fail("the watermark delay must be >= 0");
  return w;
}

std::vector<OperatorConfig> ParseOperators(const ConfigNode& ops, const Registries& reg,
                                           const std::string& label_prefix) {
  std::vector<OperatorConfig> out;
  int i = 0;
  for (const auto& e : ops.Elements()) {
    OperatorConfig oc;
    oc.spec = reg.operators.Parse(e, "operator");
    oc.kind = std::string(oc.spec->kind());
    oc.name = e.GetString("name", fmt::format("{}{}:{}", label_prefix, i, oc.kind));
    oc.where = e.Where();
    out.push_back(std::move(oc));
    ++i;
  }
  return out;
}

[[noreturn]] void FailAt(const std::string& where, const std::string& message) {
  throw ConfigError(fmt::format("{}: {}", where, message));
}

}  // namespace

// The slots the engine runs (OperatorSlotConfig): each input's operators and watermark
// observer, then the query's operators, with the tags each consumes and emits.
void BuildQuerySlots(QueryConfig& q) {
  q.slots.clear();
  if (q.inputs.empty()) {
    InputConfig ic;
    ic.name = q.name;
    ic.sources = q.sources;
    q.inputs.push_back(std::move(ic));
  }
  q.sources.clear();
  q.source_tags.clear();
  for (std::size_t t = 0; t < q.inputs.size(); ++t) {
    for (const auto& s : q.inputs[t].sources) {
      q.sources.push_back(s);
      q.source_tags.push_back(static_cast<std::uint16_t>(t));
    }
  }
  std::vector<std::uint16_t> live;
  for (std::size_t t = 0; t < q.inputs.size(); ++t) live.push_back(static_cast<std::uint16_t>(t));
  auto add = [&q](const OperatorConfig& oc, std::vector<std::uint16_t> tags, std::string id) {
    OperatorSlotConfig slot;
    slot.state_id = std::move(id);
    slot.name = oc.name;
    slot.where = oc.where;
    slot.spec = oc.spec;
    for (std::size_t i = 0; i < tags.size(); ++i) slot.key_columns.push_back(oc.spec->KeyColumns());
    slot.output_tag = tags.size() == 1 ? tags.front() : 0;
    slot.input_tags = std::move(tags);
    q.slots.push_back(std::move(slot));
  };
  auto add_watermark = [&q](std::uint16_t tag) {
    const InputConfig& in = q.inputs[tag];
    OperatorSlotConfig slot;
    slot.name = fmt::format("{}:watermark", in.name);
    slot.where = in.watermark->where;
    slot.spec = MakeWatermarkObserverSpec(in.name, in.watermark->column, in.watermark->delay_us);
    slot.input_tags = {tag};
    slot.key_columns = {{}};
    slot.output_tag = tag;
    q.slots.push_back(std::move(slot));
  };
  for (std::size_t t = 0; t < q.inputs.size(); ++t) {
    auto tag = static_cast<std::uint16_t>(t);
    for (std::size_t i = 0; i < q.inputs[t].operators.size(); ++i)
      add(q.inputs[t].operators[i], {tag}, fmt::format("{}.{}", q.inputs[t].name, i));
    if (q.multi_input && q.inputs[t].watermark) add_watermark(tag);
  }
  // A single input's watermark is observed where the stateful operators start (its column may
  // be made by the operators before them: parse_json, cast).
  bool watermark_pending = !q.multi_input && q.inputs.front().watermark.has_value();
  std::map<std::string, std::uint16_t> named;  // input and join-output names → tags
  for (std::size_t t = 0; t < q.inputs.size(); ++t)
    named[q.inputs[t].name] = static_cast<std::uint16_t>(t);
  auto next_tag = static_cast<std::uint16_t>(q.inputs.size());
  std::vector<bool> next_tag_consumed;  // by tag: consumed by a slot already (shared_inputs)
  for (std::size_t oi = 0; oi < q.operators.size(); ++oi) {
    const OperatorConfig& oc = q.operators[oi];
    if (watermark_pending && oc.spec->stateful()) {
      add_watermark(0);
      watermark_pending = false;
    }
    std::vector<std::string> consumed = oc.spec->ConsumedInputs();
    if (consumed.empty()) {
      add(oc, live, std::to_string(oi));
      continue;
    }
    if (!q.multi_input) {
      FailAt(oc.where, fmt::format("a {} reads several inputs: give the query `inputs:` (e.g. "
                                   "inputs: {{left: {{source: a}}, right: {{source: b}}}})",
                                   oc.kind));
    }
    OperatorSlotConfig slot;
    slot.state_id = std::to_string(oi);
    slot.name = oc.name;
    slot.where = oc.where;
    slot.spec = oc.spec;
    slot.joins_inputs = true;
    for (std::size_t i = 0; i < consumed.size(); ++i) {
      auto it = named.find(consumed[i]);
      if (it == named.end()) {
        std::vector<std::string> names;
        for (const auto& [k, v] : named) names.push_back(k);
        FailAt(oc.where, fmt::format("{}: '{}' is not an input of query '{}' (inputs: {})", oc.kind,
                                     consumed[i], q.name, fmt::join(names, ", ")));
      }
      auto pos = std::find(live.begin(), live.end(), it->second);
      if (pos == live.end() && !(q.shared_inputs && it->second < next_tag_consumed.size() &&
                                 next_tag_consumed[it->second]))
        FailAt(oc.where, fmt::format("{}: input '{}' is already consumed by an operator before "
                                     "this one",
                                     oc.kind, consumed[i]));
      if (std::find(slot.input_tags.begin(), slot.input_tags.end(), it->second) !=
          slot.input_tags.end())
        FailAt(oc.where, fmt::format("{}: input '{}' is named twice", oc.kind, consumed[i]));
      slot.input_tags.push_back(it->second);
      slot.key_columns.push_back(oc.spec->KeyColumnsOf(i));
    }
    for (auto t : slot.input_tags) {
      auto pos = std::find(live.begin(), live.end(), t);
      if (pos != live.end()) live.erase(pos);
      if (next_tag_consumed.size() <= t) next_tag_consumed.resize(t + 1u, false);
      next_tag_consumed[t] = true;
    }
    slot.output_tag = next_tag++;
    live.push_back(slot.output_tag);
    if (named.count(oc.name))
      FailAt(oc.where,
             fmt::format("{}: its name '{}' is already an input's name", oc.kind, oc.name));
    named[oc.name] = slot.output_tag;
    q.slots.push_back(std::move(slot));
  }
  if (watermark_pending) add_watermark(0);
  // A tag several slots consume (shared_inputs): each but the last passes the rows on.
  for (std::size_t i = 0; i < q.slots.size(); ++i) {
    if (!q.slots[i].joins_inputs) continue;
    for (auto t : q.slots[i].input_tags) {
      for (std::size_t j = i + 1; j < q.slots.size(); ++j) {
        const auto& later = q.slots[j].input_tags;
        if (q.slots[j].joins_inputs && std::find(later.begin(), later.end(), t) != later.end()) {
          q.slots[i].passes_on.push_back(t);
          break;
        }
      }
    }
  }
}

namespace {

QueryConfig ParseQuery(const ConfigNode& n, const Registries& reg, const DaemonConfig& cfg) {
  QueryConfig q;
  n.ExpectKeys(kConfigQueryKeys);
  q.location = n.Location();
  q.fingerprint = n.Canonical();
  q.name = n.GetString("name");
  RequireValidName(n.Get("name"), q.name, "query");
  int forms = n.Has("source") + n.Has("sources") + n.Has("inputs");
  if (forms != 1) n.Fail("a query needs exactly one of 'source', 'sources' or 'inputs'");
  std::set<std::string> seen;
  if (auto inputs = n.Find("inputs")) {
    q.multi_input = true;
    if (n.Has("watermark"))
      n.Get("watermark").Fail("with several inputs, declare the watermark per input");
    for (auto& [name, in] : inputs->Entries()) {
      RequireValidName(in, name, "input");
      in.ExpectKeys(kConfigInputKeys);
      if (in.Has("source") == in.Has("sources"))
        in.Fail("an input needs exactly one of 'source' or 'sources'");
      InputConfig ic;
      ic.name = name;
      ic.where = in.Where();
      ic.sources =
          ParseSourceList(in.Has("source") ? in.Get("source") : in.Get("sources"), cfg, &seen);
      if (auto w = in.Find("watermark")) ic.watermark = ParseWatermark(*w);
      if (auto ops = in.Find("operators")) ic.operators = ParseOperators(*ops, reg, name + ".");
      q.inputs.push_back(std::move(ic));
    }
    if (q.inputs.empty()) inputs->Fail("at least one input is required");
    if (q.inputs.size() > 1000) inputs->Fail("too many inputs");
  } else {
    InputConfig ic;
    ic.name = q.name;
    ic.where = n.Where();
    ic.sources = ParseSourceList(n.Has("source") ? n.Get("source") : n.Get("sources"), cfg, &seen);
    if (auto w = n.Find("watermark")) ic.watermark = ParseWatermark(*w);
    q.inputs.push_back(std::move(ic));
  }
  if (auto t = n.Find("trigger")) q.trigger = ParseTrigger(*t);
  q.max_records_per_trigger = n.GetInt("max_records_per_trigger", q.max_records_per_trigger);
  if (q.max_records_per_trigger < 0)
    n.Get("max_records_per_trigger").Fail("must be >= 0 (0 = unlimited)");
  q.shards = static_cast<int>(n.GetInt("shards", 0));
  if (q.shards < 0 || q.shards > 256) n.Get("shards").Fail("shards must be 0 (= cores) .. 256");
  q.chunk_rows = n.GetInt("chunk_rows", q.chunk_rows);
  if (q.chunk_rows < 1 || q.chunk_rows > 1'000'000)
    n.Get("chunk_rows").Fail("chunk_rows must be 1..1000000");
  q.queue_capacity = n.GetInt("queue_capacity", q.queue_capacity);
  if (q.queue_capacity < 2 || q.queue_capacity > 65536)
    n.Get("queue_capacity").Fail("queue_capacity must be 2..65536");
  if (auto st = n.Find("state")) {
    st->ExpectKeys(kConfigStateKeys);
    q.state.cache_bytes = st->GetByteSize("cache", q.state.cache_bytes);
    if (q.state.cache_bytes < 0) st->Get("cache").Fail("the state cache must be >= 0");
  }
  if (auto ops = n.Find("operators")) q.operators = ParseOperators(*ops, reg, "");
  BuildQuerySlots(q);
  q.sink = ParseSink(n.Get("sink"), reg, "sink");
  if (auto d = n.Find("dead_letter")) {
    if (d->IsScalar()) {
      // Shorthand: `dead_letter: pin_errors` is a delta table of that name.
      std::string table = d->AsString();
      RequireValidName(*d, table, "table");
      ConfigNode expanded = ConfigNode::LoadString(fmt::format("kind: delta\ntable: '{}'\n", table),
                                                   d->Location(), d->base_dir());
      q.dead_letter = ParseSink(expanded, reg, "dead-letter sink");
    } else {
      q.dead_letter = ParseSink(*d, reg, "dead-letter sink");
    }
  }
  // What the config says of the data is checked now, with what the sources declare before they
  // open (the daemon checks again at start, when e.g. a delta table's schema is known).
  std::vector<StreamSchema> in_schemas;
  for (const auto& in : q.inputs) {
    std::vector<StreamSchema> parts;
    for (const auto& s : in.sources) parts.push_back(cfg.sources.at(s).spec->DeclaredSchema());
    in_schemas.push_back(MergeSourceSchemas(parts));
  }
  auto derived = DeriveQuerySchemas(q, in_schemas);
  if (!derived.ok()) throw ConfigError(derived.status().message());
  for (const auto& s : q.sources)
    q.fingerprint += fmt::format("\nsource {}: {}", s, cfg.sources.at(s).fingerprint);
  return q;
}

DaemonConfig ParseRoot(const ConfigNode& root, const std::string& path,
                       const std::string& config_dir, const Registries& reg) {
  DaemonConfig cfg;
  cfg.path = path;
  cfg.config_dir = config_dir;
  if (!root.IsMap()) root.Fail("the config must be a mapping with data_dir, sources and queries");
  root.ExpectKeys(kConfigRootKeys, reg.sections.Keys());
  cfg.data_dir = root.GetPath("data_dir");
  if (auto l = root.Find("log")) {
    l->ExpectKeys(kConfigLogKeys);
    cfg.log.level = l->GetEnum("level", {"trace", "debug", "info", "warn", "error"}, "info");
    cfg.log.format = l->GetEnum("format", {"text", "json"}, "text") == "json" ? LogFormat::kJson
                                                                              : LogFormat::kText;
  }
  for (const auto& key : reg.sections.Keys()) {
    if (auto node = root.Find(key)) {
      cfg.sections[key] = (*reg.sections.Find(key))(*node);
      cfg.section_fingerprints[key] = node->Canonical();
    }
  }
  if (auto s = root.Find("sources")) {
    for (auto& [name, node] : s->Entries()) {
      RequireValidName(node, name, "source");
      SourceConfig sc;
      sc.name = name;
      sc.location = node.Location();
      sc.fingerprint = node.Canonical();
      sc.spec = reg.sources.Parse(node, "source");
      cfg.sources[name] = std::move(sc);
    }
  }
  auto queries = root.Get("queries");
  std::set<std::string> names;
  for (const auto& e : queries.Elements()) {
    QueryConfig q = ParseQuery(e, reg, cfg);
    if (!names.insert(q.name).second)
      e.Get("name").Fail(fmt::format("query name '{}' is used twice", q.name));
    cfg.queries.push_back(std::move(q));
  }
  if (auto j = root.Find("jobs")) {
    std::set<std::string> job_names;
    for (const auto& e : j->Elements()) {
      JobConfig jc = ParseJob(e, config_dir);
      if (!job_names.insert(jc.name).second)
        e.Get("name").Fail(fmt::format("job name '{}' is used twice", jc.name));
      cfg.jobs.push_back(std::move(jc));
    }
  }
  return cfg;
}

}  // namespace

StreamSchema MergeSourceSchemas(const std::vector<StreamSchema>& sources) {
  if (sources.empty()) return StreamSchema::Unknown();
  StreamSchema out = sources.front();
  for (std::size_t i = 1; i < sources.size(); ++i) {
    const StreamSchema& s = sources[i];
    if (out.complete || s.complete || s.unlisted_type != out.unlisted_type)
      out.unlisted_type = TypeId::kNull;
    out.complete = out.complete && s.complete;
    for (const auto& f : s.schema.fields()) {
      TypeId have = out.TypeOf(f.name);
      if (out.schema.FieldIndex(f.name) < 0 || have == TypeId::kNull) {
        out.Put(f.name, f.type);
      } else if (f.type != TypeId::kNull && f.type != have) {
        out.Put(f.name, TypeId::kNull);  // sources disagree: the data decides (the sink refuses)
      }
    }
    if (s.changes != ChangeKind::kInsertOnly) out.changes = s.changes;
  }
  return out;
}

Result<QuerySchemas> DeriveQuerySchemas(const QueryConfig& q,
                                        const std::vector<StreamSchema>& input_schemas) {
  QuerySchemas out;
  std::map<std::uint16_t, StreamSchema> live;
  for (std::size_t t = 0; t < q.inputs.size(); ++t) {
    live[static_cast<std::uint16_t>(t)] =
        t < input_schemas.size() ? input_schemas[t] : StreamSchema::Unknown();
  }
  for (const auto& slot : q.slots) {
    std::vector<StreamSchema> ins;
    for (auto t : slot.input_tags) ins.push_back(live.at(t));
    out.slot_inputs.push_back(ins);
    auto fail = [&](const Status& st) {
      return InvalidArgument(fmt::format("{}: {}", slot.where, st.message()));
    };
    if (slot.joins_inputs) {
      auto derived = slot.spec->DeriveSchema(ins);
      if (!derived.ok()) return fail(derived.status());
      for (auto t : slot.input_tags) {
        if (std::find(slot.passes_on.begin(), slot.passes_on.end(), t) == slot.passes_on.end())
          live.erase(t);
      }
      live[slot.output_tag] = std::move(derived).value();
      continue;
    }
    for (std::size_t i = 0; i < slot.input_tags.size(); ++i) {
      auto derived = slot.spec->DeriveSchema(std::span<const StreamSchema>(&ins[i], 1));
      if (!derived.ok()) return fail(derived.status());
      live[slot.input_tags[i]] = std::move(derived).value();
    }
  }
  for (auto& [tag, schema] : live) out.sink_inputs.push_back(std::move(schema));
  return out;
}

DaemonConfig LoadConfig(const std::string& path, const Registries& registries) {
  ConfigNode root = ConfigNode::LoadFile(path);
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return ParseRoot(root, path, dir, registries);
}

DaemonConfig LoadConfigFromString(const std::string& yaml, const std::string& name,
                                  const std::string& config_dir, const Registries& registries) {
  return ParseRoot(ConfigNode::LoadString(yaml, name, config_dir), name, config_dir, registries);
}

}  // namespace pinstream
