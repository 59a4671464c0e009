#include "app/admin_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/daemon.h"
#include "engine/job_scheduler.h"
#include "engine/metrics.h"
#include "state/source_log.h"

namespace pinstream::app {

using connectors::http::ApiResponse;
using connectors::http::JsonResponse;
using nlohmann::json;

namespace {

ApiResponse ErrorResponse(int status, const std::string& message) {
  return JsonResponse(status, json{{"error", message}}.dump());
}

}  // namespace

std::string AdminApi::QueryStatusJson(const StreamingQuery& q, const state::SourceLog* log) {
  QuerySnapshot s = q.snapshot();
  std::int64_t backlog = std::max(s.backlog_records, log ? log->Backlog(s.name) : 0);
  nlohmann::ordered_json j{
      {"name", s.name},
      {"id", s.id},
      {"runId", s.run_id},
      {"state", std::string(QueryStateName(s.state))},
      {"lastBatchId", s.last_batch_id},
      {"batchesCommitted", s.batches_committed},
      {"inputRows", s.input_rows_total},
      {"outputRows", s.output_rows_total},
      {"deadLetterRows", s.dead_letter_rows_total},
      {"backlogRecords", backlog},
      {"error", s.error.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(s.error)}};
  return j.dump();
}

void AdminApi::Install(connectors::http::Api& api) {
  auto get_only = [](auto handle) {
    return [handle](const Request& req, const Segments& seg, Respond respond) {
      if (req.method != "GET") return respond(ErrorResponse(405, "use GET"));
      handle(seg, std::move(respond));
    };
  };
  api.AddRoute({"health", "admin", /*open=*/true, get_only([](const Segments&, Respond respond) {
                  respond(JsonResponse(200, R"({"status":"UP"})"));
                })});
  api.AddRoute({"ready", "admin", /*open=*/true,
                get_only([this](const Segments&, Respond respond) { Ready(std::move(respond)); })});
  api.AddRoute(
      {"metrics", "admin", /*open=*/false,
       get_only([this](const Segments&, Respond respond) { Metrics(std::move(respond)); })});
  api.AddRoute(
      {"queries", "admin", /*open=*/false, get_only([this](const Segments& seg, Respond respond) {
         Queries(seg, std::move(respond));
       })});
  api.AddRoute({"jobs", "admin", /*open=*/false,
                [this](const Request& req, const Segments& seg, Respond respond) {
                  Jobs(req, seg, std::move(respond));
                }});
  pinstream::Metrics().AddCollector([p = p_](MetricsRegistry& m) {
    if (!p.ready()) return;
    for (auto* q : p.daemon->queries()) {
      m.GetGauge("pinstream_query_backlog_records",
                 "Records available to a query that it has not committed", {{"query", q->name()}})
          ->Set(static_cast<double>(std::max(q->backlog_records(), p.log->Backlog(q->name()))));
    }
  });
}

void AdminApi::Ready(Respond respond) const {
  if (auto failure = p_.store_failure ? p_.store_failure() : std::nullopt) {
    return respond(
        JsonResponse(503, json{{"status", "STORE_FAILED"}, {"message", *failure}}.dump()));
  }
  bool ready = p_.ready();
  respond(JsonResponse(ready ? 200 : 503,
                       ready ? R"({"status":"READY"})" : R"({"status":"RECOVERING"})"));
}

void AdminApi::Metrics(Respond respond) const {
  MetricsRegistry& metrics = pinstream::Metrics();
  auto s = p_.log->stats();
  metrics.GetGauge("pinstream_source_log_group_commits", "Synced group commits of the source log")
      ->Set(static_cast<double>(s.group_commits));
  for (const auto& info : p_.log->List()) {
    metrics
        .GetGauge("pinstream_source_log_backlog_records",
                  "Records of a topic/stream its slowest query has not committed",
                  {{"stream", info.name}})
        ->Set(static_cast<double>(p_.log->MaxBacklog(info.name)));
  }
  respond(JsonResponse(200, metrics.RenderPrometheus(), "text/plain; version=0.0.4"));
}

void AdminApi::Queries(const Segments& seg, Respond respond) const {
  // Until the daemon is ready its query list is being built: nothing is listed yet.
  const bool ready = p_.ready();
  if (seg.size() == 1) {
    std::string body = "[";
    bool first = true;
    if (ready) {
      for (auto* q : p_.daemon->queries()) {
        if (!first) body += ",";
        first = false;
        body += QueryStatusJson(*q, p_.log);
      }
    }
    return respond(JsonResponse(200, body + "]"));
  }
  const std::string name(seg[1]);
  StreamingQuery* q = ready ? p_.daemon->FindQuery(name) : nullptr;
  if (seg.size() == 2) {
    if (q == nullptr) return respond(ErrorResponse(404, fmt::format("no query '{}'", name)));
    return respond(JsonResponse(200, QueryStatusJson(*q, p_.log)));
  }
  if (seg.size() == 3 && seg[2] == "progress") {
    if (q == nullptr) return respond(ErrorResponse(404, fmt::format("no query '{}'", name)));
    std::vector<std::string> reports = p_.daemon->RecentProgress(name);
    std::string body = "[";
    for (std::size_t i = 0; i < reports.size(); ++i) body += (i ? "," : "") + reports[i];
    return respond(JsonResponse(200, body + "]"));
  }
  respond(ErrorResponse(404, "no such endpoint"));
}

void AdminApi::Jobs(const Request& req, const Segments& seg, Respond respond) const {
  JobScheduler* jobs = p_.scheduler;
  if (jobs == nullptr) return respond(ErrorResponse(404, "this daemon's config has no jobs"));
  if (seg.size() == 1) {
    if (req.method != "GET") return respond(ErrorResponse(405, "use GET"));
    return respond(JsonResponse(200, jobs->StatusJson()));
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

}  // namespace pinstream::app
