#include "engine/config.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "engine/job_schedule.h"

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
  n.ExpectKeys({"processing_time"});
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
  n.ExpectKeys({"name", "every", "at", "cron", "sql", "run_on_start"});
  j.location = n.Location();
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
      e.ExpectKeys({"file", "result_table"});
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

QueryConfig ParseQuery(const ConfigNode& n, const Registries& reg, const DaemonConfig& cfg) {
  QueryConfig q;
  n.ExpectKeys({"name", "source", "sources", "trigger", "max_records_per_trigger", "shards",
                "chunk_rows", "queue_capacity", "operators", "sink", "dead_letter"});
  q.location = n.Location();
  q.name = n.GetString("name");
  RequireValidName(n.Get("name"), q.name, "query");
  if (n.Has("source") == n.Has("sources"))
    n.Fail("a query needs exactly one of 'source' or 'sources'");
  auto src_node = n.Has("source") ? n.Get("source") : n.Get("sources");
  q.sources = src_node.AsStringList();
  if (q.sources.empty()) src_node.Fail("at least one source is required");
  std::set<std::string> seen;
  for (const auto& s : q.sources) {
    if (!cfg.sources.count(s)) {
      std::vector<std::string> names;
      for (const auto& [k, v] : cfg.sources) names.push_back(k);
      std::string hint = NearestMatch(s, names);
      src_node.Fail(fmt::format("unknown source '{}'{}", s,
                                hint.empty() ? fmt::format(" (defined: {})", fmt::join(names, ", "))
                                             : fmt::format(" (did you mean '{}'?)", hint)));
    }
    if (!seen.insert(s).second) src_node.Fail(fmt::format("source '{}' is listed twice", s));
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
  if (auto ops = n.Find("operators")) {
    int i = 0;
    for (const auto& e : ops->Elements()) {
      OperatorConfig oc;
      oc.spec = reg.operators.Parse(e, "operator");
      oc.kind = std::string(oc.spec->kind());
      oc.name = e.GetString("name", fmt::format("{}:{}", i, oc.kind));
      q.operators.push_back(std::move(oc));
      ++i;
    }
  }
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
  return q;
}

DaemonConfig ParseRoot(const ConfigNode& root, const std::string& path,
                       const std::string& config_dir, const Registries& reg) {
  DaemonConfig cfg;
  cfg.path = path;
  cfg.config_dir = config_dir;
  if (!root.IsMap()) root.Fail("the config must be a mapping with data_dir, sources and queries");
  std::vector<std::string> keys = {"data_dir", "log", "sources", "queries", "jobs"};
  for (const auto& k : reg.sections.Keys()) keys.push_back(k);
  root.ExpectKeys(keys);
  cfg.data_dir = root.GetPath("data_dir");
  if (auto l = root.Find("log")) {
    l->ExpectKeys({"level", "format"});
    cfg.log.level = l->GetEnum("level", {"trace", "debug", "info", "warn", "error"}, "info");
    cfg.log.format = l->GetEnum("format", {"text", "json"}, "text") == "json" ? LogFormat::kJson
                                                                              : LogFormat::kText;
  }
  for (const auto& key : reg.sections.Keys()) {
    if (auto node = root.Find(key)) cfg.sections[key] = (*reg.sections.Find(key))(*node);
  }
  if (auto s = root.Find("sources")) {
    for (auto& [name, node] : s->Entries()) {
      RequireValidName(node, name, "source");
      SourceConfig sc;
      sc.name = name;
      sc.location = node.Location();
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
