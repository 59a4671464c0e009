#include "engine/config.h"

#include "engine/job_schedule.h"

#include <filesystem>
#include <set>

#include <fmt/format.h>

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
    case Kind::kOnce: return "Once";
    case Kind::kAvailableNow: return "AvailableNow";
    case Kind::kContinuous: return "Continuous";
  }
  return "?";
}

namespace {

void CheckName(const ConfigNode& n, const std::string& name, const char* what) {
  if (!IsValidName(name)) {
    n.Fail(fmt::format("invalid {} name '{}': use letters, digits, '_', '.', '-' (not leading '.' or '-')",
                       what, name));
  }
}

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
  CheckName(n, d.name, "topic/stream");
  return d;
}

HttpConfig ParseHttp(const ConfigNode& n) {
  HttpConfig h;
  h.enabled = true;
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
  h.verify_signatures = n.GetBool("verify_signatures", false);
  if (h.verify_signatures) {
    n.Get("verify_signatures").Fail("AWS signature verification is not supported; set it to false");
  }
  std::set<std::string> seen;
  for (const auto& d : h.topics) {
    if (!seen.insert(d.name).second) n.Get("topics").Fail(fmt::format("topic '{}' is declared twice", d.name));
  }
  for (const auto& d : h.streams) {
    if (!seen.insert(d.name).second) n.Get("streams").Fail(fmt::format("'{}' is declared twice", d.name));
  }
  return h;
}

TriggerConfig ParseTrigger(const ConfigNode& n) {
  TriggerConfig t;
  if (n.IsScalar()) {
    std::string s = n.AsString();
    if (s == "once") t.kind = TriggerConfig::Kind::kOnce;
    else if (s == "available_now") t.kind = TriggerConfig::Kind::kAvailableNow;
    else if (s == "continuous") t.kind = TriggerConfig::Kind::kContinuous;
    else {
      std::string hint = NearestMatch(s, {"once", "available_now", "continuous"});
      n.Fail(fmt::format("unknown trigger '{}' (use once, available_now, continuous or "
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
  CheckName(n.Get("name"), j.name, "job");
  int forms = n.Has("every") + n.Has("at") + n.Has("cron");
  if (forms != 1) n.Fail("a job needs exactly one schedule: every: 24h, at: \"02:00\" or cron: \"0 2 * * *\"");
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
    CheckName(e, q.result_table, "table");
    if (!std::filesystem::exists(q.sql_file)) e.Fail(fmt::format("SQL file '{}' does not exist", q.sql_file));
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
  CheckName(n.Get("name"), q.name, "query");
  if (n.Has("source") == n.Has("sources")) n.Fail("a query needs exactly one of 'source' or 'sources'");
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
  if (q.max_records_per_trigger < 0) n.Get("max_records_per_trigger").Fail("must be >= 0 (0 = unlimited)");
  q.shards = static_cast<int>(n.GetInt("shards", 0));
  if (q.shards < 0 || q.shards > 256) n.Get("shards").Fail("shards must be 0 (= cores) .. 256");
  q.chunk_rows = n.GetInt("chunk_rows", q.chunk_rows);
  if (q.chunk_rows < 1 || q.chunk_rows > 1'000'000) n.Get("chunk_rows").Fail("chunk_rows must be 1..1000000");
  q.queue_capacity = n.GetInt("queue_capacity", q.queue_capacity);
  if (q.queue_capacity < 2 || q.queue_capacity > 65536) n.Get("queue_capacity").Fail("queue_capacity must be 2..65536");
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
      CheckName(*d, table, "table");
      ConfigNode expanded = ConfigNode::LoadString(fmt::format("kind: delta\ntable: '{}'\n", table),
                                                   d->Location(), d->base_dir());
      q.dead_letter = ParseSink(expanded, reg, "dead-letter sink");
    } else {
      q.dead_letter = ParseSink(*d, reg, "dead-letter sink");
    }
  }
  return q;
}

DaemonConfig ParseRoot(const ConfigNode& root, const std::string& path, const std::string& config_dir,
                       const Registries& reg) {
  DaemonConfig cfg;
  cfg.path = path;
  cfg.config_dir = config_dir;
  if (!root.IsMap()) root.Fail("the config must be a mapping with data_dir, sources and queries");
  root.ExpectKeys({"data_dir", "log", "storage", "http", "sources", "queries", "jobs"});
  cfg.data_dir = root.GetPath("data_dir");
  if (auto l = root.Find("log")) {
    l->ExpectKeys({"level"});
    cfg.log.level = l->GetEnum("level", {"trace", "debug", "info", "warn", "error"}, "info");
  }
  if (auto s = root.Find("storage")) {
    s->ExpectKeys({"block_cache", "write_buffer", "compression", "source_log_compression",
                   "table_compression", "checkpoint_retention", "ingest_min_bytes"});
    cfg.storage.block_cache_bytes = s->GetByteSize("block_cache", cfg.storage.block_cache_bytes);
    cfg.storage.write_buffer_bytes = s->GetByteSize("write_buffer", cfg.storage.write_buffer_bytes);
    cfg.storage.compression = s->GetEnum("compression", {"none", "lz4", "zstd", "snappy"}, "lz4");
    cfg.storage.source_log_compression =
        s->GetEnum("source_log_compression", {"none", "lz4", "zstd", "snappy"}, "none");
    cfg.storage.table_compression = s->GetEnum("table_compression", {"none", "lz4", "zstd"}, "lz4");
    cfg.storage.checkpoint_retention = static_cast<int>(s->GetInt("checkpoint_retention", 100));
    cfg.storage.ingest_min_bytes = s->GetByteSize("ingest_min_bytes", cfg.storage.ingest_min_bytes);
    if (cfg.storage.checkpoint_retention < 2) {
      s->Get("checkpoint_retention").Fail("checkpoint_retention must be at least 2");
    }
  }
  if (auto h = root.Find("http")) cfg.http = ParseHttp(*h);
  if (auto s = root.Find("sources")) {
    for (auto& [name, node] : s->Entries()) {
      CheckName(node, name, "source");
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
    if (!names.insert(q.name).second) e.Get("name").Fail(fmt::format("query name '{}' is used twice", q.name));
    cfg.queries.push_back(std::move(q));
  }
  if (auto j = root.Find("jobs")) {
    std::set<std::string> job_names;
    for (const auto& e : j->Elements()) {
      JobConfig jc = ParseJob(e, config_dir);
      if (!job_names.insert(jc.name).second) e.Get("name").Fail(fmt::format("job name '{}' is used twice", jc.name));
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
