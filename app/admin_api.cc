#include "app/admin_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "app/console.h"
#include "app/ingest_monitor.h"
#include "app/progress_history.h"
#include "app/progress_waiters.h"
#include "app/query_state.h"
#include "engine/daemon.h"
#include "engine/job_scheduler.h"
#include "engine/metrics.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/source_log.h"
#include "state/store.h"
#include "state/table_maintenance.h"

namespace pinstream::app {

using connectors::http::ApiResponse;
using connectors::http::EqualsIgnoreCase;
using connectors::http::JsonResponse;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

// The window of /queries' recentInputRowsPerSecond.
constexpr std::int64_t kRecentWindowMs = 10'000;

ApiResponse ErrorResponse(int status, const std::string& message) {
  return JsonResponse(status, json{{"error", message}}.dump());
}

bool ChangesSomething(std::string_view method) { return method != "GET" && method != "HEAD"; }

// Per table: versions, rows, live chunks and bytes, small chunks, deletion vectors.
void TableGauges(state::Store& store, MetricsRegistry& m) {
  for (const auto& name : store.ListTables()) {
    auto t = store.Table(name, false);
    if (!t.ok()) continue;  // a table being created: its catalog entry comes with version 0
    state::TableInfo i = (*t)->info();
    auto gauge = [&](const char* metric, const char* help, std::int64_t v) {
      m.GetGauge(metric, help, {{"table", name}})->Set(static_cast<double>(v));
    };
    gauge("pinstream_table_versions", "Versions of a delta table (latest + 1)", i.version + 1);
    gauge("pinstream_table_rows", "Rows of a delta table at its latest version", i.rows);
    gauge("pinstream_table_chunks", "Stored chunks the latest version of a table reads",
          i.live_chunks);
    gauge("pinstream_table_bytes", "Bytes of the chunks the latest version of a table reads",
          i.live_bytes);
    gauge("pinstream_table_small_chunks",
          "Chunks of a table's latest version below half the target size", i.small_chunks);
    gauge("pinstream_table_deletion_vectors",
          "Chunks of a table's latest version with deleted rows", i.deletion_vectors);
    gauge("pinstream_table_oldest_readable_version",
          "The oldest version of a table VACUUM left readable", i.oldest_readable);
  }
}

int StatusOf(const Status& st) {
  switch (st.code()) {
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kCancelled:
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

}  // namespace

AdminApi::AdminApi(AdminParts parts)
    : p_(std::move(parts)),
      tables_(p_.store, p_.dead_letter_tables),
      collector_parts_(std::make_shared<const AdminParts>(p_)) {}

std::optional<std::string> AdminApi::CrossSiteRefusal(const Request& req) {
  if (!ChangesSomething(req.method)) return std::nullopt;
  if (req.header("x-pinstream-client").empty()) {
    return "a request that changes something must carry the header X-Pinstream-Client (any "
           "value)";
  }
  std::string_view site = req.header("sec-fetch-site");
  if (!site.empty() && !EqualsIgnoreCase(site, "same-origin") && !EqualsIgnoreCase(site, "none")) {
    return fmt::format("cross-site request refused (Sec-Fetch-Site: {})", site);
  }
  std::string_view origin = req.header("origin");
  if (!origin.empty()) {
    std::string_view host = origin;
    for (std::string_view scheme : {"http://", "https://"}) {
      if (host.rfind(scheme, 0) == 0) host.remove_prefix(scheme.size());
    }
    if (host == origin || !EqualsIgnoreCase(host, req.header("host"))) {
      return fmt::format("cross-site request refused (Origin {} is not this server's)", origin);
    }
  }
  return std::nullopt;
}

std::string AdminApi::QueryStatusJson(const StreamingQuery& q) const {
  QuerySnapshot s = q.snapshot();
  std::int64_t backlog = std::max(s.backlog_records, p_.log ? p_.log->Backlog(s.name) : 0);
  ordered_json j{{"name", s.name},
                 {"id", s.id},
                 {"runId", s.run_id},
                 {"state", std::string(QueryStateName(s.state))},
                 {"lastBatchId", s.last_batch_id},
                 {"batchesCommitted", s.batches_committed},
                 {"inputRows", s.input_rows_total},
                 {"outputRows", s.output_rows_total},
                 {"deadLetterRows", s.dead_letter_rows_total},
                 {"backlogRecords", backlog},
                 {"error", s.error.empty() ? ordered_json() : ordered_json(s.error)}};
  // A live view's query (views/view_query.h): the view and its SQL.
  if (!q.config().view.empty()) {
    j["view"] = {{"name", q.config().view}, {"sql", q.config().view_sql}};
  }
  auto sum = p_.history ? p_.history->Summarize(s.name, NowMicros() / 1000, kRecentWindowMs)
                        : std::nullopt;
  if (sum) {
    j["lastBatchTime"] = FormatTimestamp(sum->last_batch_ms * 1000, TimestampStyle::kIso);
    j["inputRowsPerSecond"] = sum->input_rows_per_second;
    j["processedRowsPerSecond"] = sum->processed_rows_per_second;
    j["batchDurationMs"] = sum->batch_duration_ms;
    j["ingestToVisibleMs"] =
        sum->latency_max_ms >= 0 ? ordered_json(sum->latency_max_ms) : ordered_json();
    j["recentInputRowsPerSecond"] = sum->recent_input_rows_per_second;
  } else {
    for (const char* k : {"lastBatchTime", "inputRowsPerSecond", "processedRowsPerSecond",
                          "batchDurationMs", "ingestToVisibleMs"})
      j[k] = nullptr;
    j["recentInputRowsPerSecond"] = 0.0;
  }
  // Event time (watermarks) as the newest progress report carries it, for queries that have it.
  if (p_.daemon != nullptr) {
    std::vector<std::string> reports = p_.daemon->RecentProgress(s.name);
    if (!reports.empty()) {
      json last = json::parse(reports.back(), nullptr, /*allow_exceptions=*/false);
      if (last.is_object() && last.contains("eventTime")) j["eventTime"] = last["eventTime"];
    }
  }
  return j.dump();
}

void AdminApi::Install(connectors::http::Api& api) {
  auto get_only = [](auto handle) {
    return [handle](const Request& req, const Segments& seg, Respond respond) {
      if (req.method != "GET" && req.method != "HEAD")
        return respond(ErrorResponse(405, "use GET"));
      handle(req, seg, std::move(respond));
    };
  };
  // Routes whose handlers may change something: refused when possibly cross-site.
  auto guarded = [](auto handle) {
    return [handle](const Request& req, const Segments& seg, Respond respond) {
      if (auto refusal = CrossSiteRefusal(req)) return respond(ErrorResponse(403, *refusal));
      handle(req, seg, std::move(respond));
    };
  };
  auto route = [&api](std::string segment, bool open, auto handler) {
    api.AddRoute({std::move(segment), "admin", open, std::move(handler)});
  };
  route("health", true, get_only([](const Request&, const Segments&, Respond respond) {
          respond(JsonResponse(200, R"({"status":"UP"})"));
        }));
  route("ready", true, get_only([this](const Request&, const Segments&, Respond respond) {
          Ready(std::move(respond));
        }));
  route("metrics", false, get_only([this](const Request&, const Segments&, Respond respond) {
          Metrics(std::move(respond));
        }));
  route("queries", false,
        get_only([this](const Request& req, const Segments& seg, Respond respond) {
          Queries(req, seg, std::move(respond));
        }));
  route("ingest", false, get_only([this](const Request&, const Segments& seg, Respond respond) {
          if (seg.size() != 1) return respond(ErrorResponse(404, "no such endpoint"));
          if (p_.ingest == nullptr)
            return respond(ErrorResponse(404, "this daemon has no ingest API"));
          respond(JsonResponse(200, p_.ingest->Json()));
        }));
  route("store", false, get_only([this](const Request&, const Segments& seg, Respond respond) {
          if (seg.size() != 1) return respond(ErrorResponse(404, "no such endpoint"));
          Store(std::move(respond));
        }));
  route("tables", false, guarded([this](const Request& req, const Segments& seg, Respond respond) {
          if (p_.store == nullptr) return respond(ErrorResponse(404, "no store"));
          if (seg.size() == 3 && (seg[2] == "optimize" || seg[2] == "vacuum"))
            return Maintain(req, seg, std::move(respond));
          if (req.method != "GET" && req.method != "HEAD")
            return respond(ErrorResponse(405, "use GET"));
          respond(tables_.Tables(seg, req.query));
        }));
  route("deadletters", false,
        get_only([this](const Request& req, const Segments& seg, Respond respond) {
          if (seg.size() != 1) return respond(ErrorResponse(404, "no such endpoint"));
          if (p_.store == nullptr) return respond(ErrorResponse(404, "no store"));
          respond(tables_.DeadLetters(req.query));
        }));
  route("jobs", false, guarded([this](const Request& req, const Segments& seg, Respond respond) {
          Jobs(req, seg, std::move(respond));
        }));
  route("reload", false, guarded([this](const Request& req, const Segments& seg, Respond respond) {
          if (seg.size() != 1) return respond(ErrorResponse(404, "no such endpoint"));
          if (req.method != "POST") return respond(ErrorResponse(405, "use POST"));
          if (!p_.reload) return respond(ErrorResponse(503, "this daemon cannot reload"));
          // The reload runs on the daemon's reload thread; the answer comes from there.
          p_.reload([respond](std::string result) {
            bool ok = result.find(R"("ok":true)") != std::string::npos;
            respond(JsonResponse(ok ? 200 : 400, std::move(result)));
          });
        }));
  // The console: its page at "/" and its assets (console.h). Open: they hold no data.
  route("", true, get_only([](const Request& req, const Segments&, Respond respond) {
          respond(ConsoleAsset("index.html", req.header("if-none-match"),
                               req.header("accept-encoding")));
        }));
  route("console", true, get_only([](const Request& req, const Segments& seg, Respond respond) {
          if (seg.size() != 2) return respond(ErrorResponse(404, "no such console file"));
          respond(ConsoleAsset(seg[1], req.header("if-none-match"), req.header("accept-encoding")));
        }));
  if (p_.daemon == nullptr || p_.log == nullptr) return;
  // The registry outlives this object: the collector does nothing once it is gone.
  pinstream::Metrics().AddCollector([weak = std::weak_ptr<const AdminParts>(collector_parts_)](
                                        MetricsRegistry& m) {
    auto p = weak.lock();
    if (p == nullptr || !p->ready()) return;
    if (p->store != nullptr) TableGauges(*p->store, m);
    if (p->maintenance != nullptr) {
      auto c = p->maintenance->counters();
      m.GetGauge("pinstream_table_optimize_commits", "OPTIMIZE commits of table maintenance")
          ->Set(static_cast<double>(c.optimize_commits));
      m.GetGauge("pinstream_table_vacuum_commits", "VACUUM commits of table maintenance")
          ->Set(static_cast<double>(c.vacuum_commits));
      m.GetGauge("pinstream_table_vacuum_commits", "VACUUM commits of table maintenance")
          ->Set(static_cast<double>(c.vacuum_commits));
      m.GetGauge("pinstream_table_maintenance_conflicts",
                 "Table maintenance operations that gave way to a concurrent commit")
          ->Set(static_cast<double>(c.conflicts));
      m.GetGauge("pinstream_table_maintenance_errors", "Table maintenance operations that failed")
          ->Set(static_cast<double>(c.errors));
    }
    for (const auto& q : p->daemon->queries()) {
      m.GetGauge("pinstream_query_backlog_records",
                 "Records available to a query that it has not committed", {{"query", q->name()}})
          ->Set(static_cast<double>(std::max(q->backlog_records(), p->log->Backlog(q->name()))));
    }
  });
}

void AdminApi::Ready(Respond respond) const {
  if (auto failure = p_.store_failure ? p_.store_failure() : std::nullopt) {
    return respond(
        JsonResponse(503, json{{"status", "STORE_FAILED"}, {"message", *failure}}.dump()));
  }
  // Writes wait for the store to recover (a full disk): not ready for traffic, but no restart
  // needed; ingest answers 503 with Retry-After meanwhile.
  if (auto waiting = p_.store_write_error ? p_.store_write_error() : std::nullopt) {
    bool disk_full = waiting->rfind("disk full", 0) == 0;
    return respond(JsonResponse(
        503, json{{"status", disk_full ? "DISK_FULL" : "STORE_WRITE_ERROR"}, {"message", *waiting}}
                 .dump()));
  }
  bool ready = p_.ready();
  if (!ready) return respond(JsonResponse(503, R"({"status":"RECOVERING"})"));
  // A failed query (damaged stored data, an error that is not retried) stays failed until the
  // daemon restarts or reloads it: DEGRADED, naming each with its error, but still 200 — ingest
  // and the other queries go on, and a load balancer or probe watching /ready must not take
  // ingest out of service for one query (as a failed Kafka Connect task leaves its worker up).
  json failed = json::array();
  std::string message;
  if (p_.daemon != nullptr) {
    for (const auto& q : p_.daemon->queries()) {
      auto snap = q->snapshot();
      if (snap.state != QueryState::kFailed) continue;
      failed.push_back(json{{"name", snap.name}, {"error", snap.error}});
      message += fmt::format("{}query '{}' failed: {}", message.empty() ? "" : "; ", snap.name,
                             snap.error);
    }
  }
  if (!failed.empty()) {
    return respond(JsonResponse(
        200, json{{"status", "DEGRADED"}, {"message", message}, {"queries", failed}}.dump()));
  }
  respond(JsonResponse(200, R"({"status":"READY"})"));
}

void AdminApi::Metrics(Respond respond) const {
  MetricsRegistry& metrics = pinstream::Metrics();
  if (p_.log != nullptr) {
    auto s = p_.log->stats();
    metrics
        .GetGauge("pinstream_source_log_group_commits", "Synced group commits of the source log")
        ->Set(static_cast<double>(s.group_commits));
    for (const auto& info : p_.log->List()) {
      metrics
          .GetGauge("pinstream_source_log_backlog_records",
                    "Records of a topic/stream its slowest query has not committed",
                    {{"stream", info.name}})
          ->Set(static_cast<double>(p_.log->MaxBacklog(info.name)));
    }
  }
  respond(JsonResponse(200, metrics.RenderPrometheus(), "text/plain; version=0.0.4"));
}

void AdminApi::Queries(const Request& req, const Segments& seg, Respond respond) const {
  // Until the daemon is ready its query list is being built: nothing is listed yet.
  const bool ready = p_.ready();
  if (seg.size() == 1) {
    std::string body = "[";
    bool first = true;
    if (ready) {
      for (const auto& q : p_.daemon->queries()) {
        if (!first) body += ",";
        first = false;
        body += QueryStatusJson(*q);
      }
    }
    return respond(JsonResponse(200, body + "]"));
  }
  const std::string name(seg[1]);
  std::shared_ptr<StreamingQuery> q = ready ? p_.daemon->FindQuery(name) : nullptr;
  if (seg.size() > 3) return respond(ErrorResponse(404, "no such endpoint"));
  if (q == nullptr) return respond(ErrorResponse(404, fmt::format("no query '{}'", name)));
  if (seg.size() == 2) return respond(JsonResponse(200, QueryStatusJson(*q)));
  if (seg[2] == "progress") return Progress(req, name, std::move(respond));
  if (seg[2] == "state") {
    // Each stateful operator's state rows and bytes, from the query's checkpoint.
    if (p_.store == nullptr) return respond(ErrorResponse(404, "no store"));
    auto state = QueryStateJson(p_.store, name);
    if (!state.ok()) {
      return respond(ErrorResponse(
          state.status().code() == StatusCode::kNotFound ? 404 : 500, state.status().message()));
    }
    return respond(JsonResponse(200, state->dump()));
  }
  if (seg[2] == "history") {
    auto h = p_.history ? p_.history->Json(name) : std::nullopt;
    if (!h) {  // no batch yet
      return respond(
          JsonResponse(200, ordered_json{{"name", name}, {"points", json::array()}}.dump()));
    }
    return respond(JsonResponse(200, std::move(*h)));
  }
  respond(ErrorResponse(404, "no such endpoint"));
}

namespace {

// The batch id of a progress report (QueryProgress::ToJson writes `"batchId":N` near its start).
std::int64_t ReportBatchId(const std::string& report) {
  constexpr std::string_view kKey = "\"batchId\":";
  auto at = report.find(kKey);
  if (at == std::string::npos) return -1;
  return std::strtoll(report.c_str() + at + kKey.size(), nullptr, 10);
}

// A non-negative integer query parameter no greater than `max`, or the reason it is not one.
Result<std::optional<std::int64_t>> IntParameter(std::string_view query, std::string_view name,
                                                 std::int64_t min, std::int64_t max) {
  auto text = connectors::http::QueryParameter(query, name);
  if (!text) return std::optional<std::int64_t>();
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || v < min || v > max) {
    return InvalidArgument(
        fmt::format("{} must be an integer from {} to {}, not '{}'", name, min, max, *text));
  }
  return std::optional<std::int64_t>(v);
}

}  // namespace

void AdminApi::Progress(const Request& req, const std::string& query, Respond respond) const {
  auto after = IntParameter(req.query, "after", -1, INT64_MAX);
  auto wait_ms = IntParameter(req.query, "waitMs", 0, 60'000);
  for (const auto* r : {&after, &wait_ms}) {
    if (!r->ok()) return respond(ErrorResponse(400, r->status().message()));
  }
  const std::int64_t after_batch = after->value_or(-1);
  auto answer = [daemon = p_.daemon, query, after_batch, respond = std::move(respond)] {
    std::string body = "[";
    bool first = true;
    for (const std::string& report : daemon->RecentProgress(query)) {
      if (after_batch >= 0 && ReportBatchId(report) <= after_batch) continue;
      body += (first ? "" : ",") + report;
      first = false;
    }
    respond(JsonResponse(200, body + "]"));
  };
  if (wait_ms->value_or(0) == 0 || p_.waiters == nullptr) return answer();
  p_.waiters->Wait(query, after_batch,
                   ProgressWaiters::Clock::now() + std::chrono::milliseconds(**wait_ms),
                   std::move(answer));
}

void AdminApi::Store(Respond respond) const {
  ordered_json j;
  auto failure = p_.store_failure ? p_.store_failure() : std::nullopt;
  auto waiting = !failure && p_.store_write_error ? p_.store_write_error() : std::nullopt;
  j["status"] = failure ? "FAILED" : (waiting ? "RECOVERING" : "OK");
  j["error"] = failure ? ordered_json(*failure) : (waiting ? ordered_json(*waiting) : ordered_json());
  if (p_.store != nullptr) {
    const std::string& dir = p_.store->options().data_dir;
    j["dataDir"] = dir;
    std::error_code ec;
    auto space = std::filesystem::space(dir, ec);
    if (ec) {
      j["disk"] = {{"error", ec.message()}};
    } else {
      j["disk"] = {{"freeBytes", space.available}, {"capacityBytes", space.capacity}};
    }
    ordered_json bytes = ordered_json::object();
    for (auto [name, space] : {std::pair{"tables", state::KeySpace::kTables},
                               std::pair{"state", state::KeySpace::kState},
                               std::pair{"checkpoints", state::KeySpace::kCheckpoint},
                               std::pair{"meta", state::KeySpace::kMeta}}) {
      state::Store::SpaceBytes b = p_.store->SpaceSize(space);
      bytes[name] = {{"sstFiles", b.sst_files}, {"memtables", b.memtables}};
    }
    j["bytes"] = std::move(bytes);
  }
  if (p_.log != nullptr) {
    auto s = p_.log->stats();
    ordered_json streams = ordered_json::array();
    for (const auto& info : p_.log->List()) {
      streams.push_back(
          {{"name", info.name},
           {"api", info.api == state::LogApi::kKafkaTopic ? "kafka-topic" : "kinesis-stream"},
           {"partitions", info.partitions},
           {"backlogRecords", p_.log->MaxBacklog(info.name)}});
    }
    j["sourceLog"] = {{"groupCommits", s.group_commits},
                      {"records", s.records},
                      {"bytes", s.bytes},
                      {"failedWrites", s.failed_writes},
                      {"streams", streams}};
  }
  respond(JsonResponse(200, j.dump()));
}

void AdminApi::Jobs(const Request& req, const Segments& seg, Respond respond) const {
  JobScheduler* jobs = p_.scheduler;
  if (jobs == nullptr) return respond(ErrorResponse(404, "this daemon's config has no jobs"));
  if (seg.size() == 1) {
    if (req.method != "GET") return respond(ErrorResponse(405, "use GET"));
    return respond(JsonResponse(200, jobs->StatusJson()));
  }
  if (seg.size() == 2 && seg[1] == "runs") {
    if (req.method != "GET") return respond(ErrorResponse(405, "use GET"));
    std::vector<JobRun> runs = jobs->RecentRuns();
    std::string body = "[";
    for (auto it = runs.rbegin(); it != runs.rend(); ++it)
      body += (it == runs.rbegin() ? "" : ",") + it->ToJson();
    return respond(JsonResponse(200, body + "]"));
  }
  if (seg.size() == 3 && seg[1] == "runs") {
    if (req.method != "GET") return respond(ErrorResponse(405, "use GET"));
    auto run = jobs->FindRun(std::string(seg[2]));
    if (!run) return respond(ErrorResponse(404, fmt::format("no run '{}'", seg[2])));
    return respond(JsonResponse(200, run->ToJson()));
  }
  if (seg.size() == 3 && seg[2] == "run") {
    if (req.method != "POST") return respond(ErrorResponse(405, "use POST"));
    auto id = jobs->Trigger(std::string(seg[1]));
    if (!id.ok()) {
      int code = id.status().code() == StatusCode::kNotFound ? 404 : 409;
      return respond(ErrorResponse(code, id.status().message()));
    }
    return respond(JsonResponse(202, json{{"job", seg[1]}, {"runId", *id}}.dump()));
  }
  respond(ErrorResponse(404, "no such endpoint"));
}

void AdminApi::Maintain(const Request& req, const Segments& seg, Respond respond) const {
  if (req.method != "POST") return respond(ErrorResponse(405, "use POST"));
  const std::string name(seg[1]);
  auto t = p_.store->Table(name, false);
  if (!t.ok()) return respond(ErrorResponse(StatusOf(t.status()), t.status().message()));
  if (p_.maintenance == nullptr)
    return respond(ErrorResponse(503, "this daemon runs no table maintenance"));
  if (seg[2] == "optimize") {
    p_.maintenance->Optimize(name, [respond](Result<state::OptimizeReport> r) {
      if (!r.ok()) return respond(ErrorResponse(StatusOf(r.status()), r.status().message()));
      respond(JsonResponse(200, r->ToJson()));
    });
    return;
  }
  // VACUUM: the table's retention unless the body says otherwise.
  state::VacuumOptions o;
  o.retain_us = p_.maintenance->options().MaintenanceFor(name).vacuum_retain_us;
  if (!req.body.empty()) {
    json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || (body.contains("retainMs") && !body["retainMs"].is_number_integer()) ||
        (body.contains("dryRun") && !body["dryRun"].is_boolean())) {
      return respond(ErrorResponse(
          400, R"(the body is a JSON object {"retainMs": <integer >= 0>, "dryRun": <boolean>})"));
    }
    if (body.contains("retainMs")) {
      const auto ms = body["retainMs"].get<std::int64_t>();
      if (ms < 0) return respond(ErrorResponse(400, "retainMs must not be negative"));
      o.retain_us = ms * 1000;
    }
    o.dry_run = body.value("dryRun", false);
  }
  p_.maintenance->Vacuum(name, o, [respond](Result<state::VacuumResult> r) {
    if (!r.ok()) return respond(ErrorResponse(StatusOf(r.status()), r.status().message()));
    respond(JsonResponse(200, r->ToJson()));
  });
}

}  // namespace pinstream::app
