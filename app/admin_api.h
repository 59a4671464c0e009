// AdminApi: the daemon's admin endpoints, served on the HTTP listener through routes it adds to
// the ingest API (connectors/http/api.h AddRoute):
//
//   GET  /health                 {"status":"UP"} while the process serves (no authentication)
//   GET  /ready                  200 READY once every query has recovered, 503 RECOVERING
//                                before, 503 STORE_FAILED with the reason once the store has hit
//                                an error only a restart recovers from (no authentication)
//   GET  /metrics                Prometheus text: the process's metrics, the source log's group
//                                commits and per-stream backlog, each query's backlog
//   GET  /queries                every query's state (name, id, runId, state, batches, rows,
//                                backlogRecords, error)
//   GET  /queries/<q>            one query's state
//   GET  /queries/<q>/progress   its recent progress reports (Spark's StreamingQueryProgress)
//   GET  /jobs                   every scheduled job: schedule, next run, state, last run
//   POST /jobs/<name>/run        queue a run now → 202 {"job","runId"}; 404 unknown; 409 busy
//   GET  /jobs/runs/<run id>     one run (queued, running, succeeded, failed, skipped)
//
// Every endpoint but /health and /ready needs a token when http.auth configures tokens (401
// {"error":"unauthorized"} otherwise; connectors/http/auth.h), the POST action included.
// Every other endpoint and method is 404 / 405 with {"error": ...}. Until the daemon is ready its
// query list is being built: the query endpoints list nothing and know no query.
//
// Threading: handlers run on the HTTP server's I/O threads, concurrently.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "connectors/http/api.h"

namespace pinstream {
class Daemon;
class JobScheduler;
class StreamingQuery;
namespace state {
class SourceLog;
}
}  // namespace pinstream

namespace pinstream::app {

struct AdminParts {
  Daemon* daemon = nullptr;
  // Whether the daemon has recovered its queries (the HTTP server's readiness).
  std::function<bool()> ready;
  // Why the store can no longer write (Store::unrecoverable_error), if so.
  std::function<std::optional<std::string>()> store_failure;
  const state::SourceLog* log = nullptr;  // group commits and backlogs
  JobScheduler* scheduler = nullptr;      // null when the config has no jobs
};

class AdminApi {
 public:
  explicit AdminApi(AdminParts parts) : p_(parts) {}

  // Adds /health, /ready, /metrics, /queries and /jobs to `api`, and the per-query backlog
  // gauges to the process's metrics. The parts must outlive the server.
  void Install(connectors::http::Api& api);

  // One JSON object describing a query's state (the /queries entries).
  static std::string QueryStatusJson(const StreamingQuery& q, const state::SourceLog* log);

 private:
  using Segments = connectors::http::PathSegments;
  using Request = connectors::http::ApiRequest;
  using Respond = connectors::http::Respond;
  void Ready(Respond respond) const;
  void Metrics(Respond respond) const;
  void Queries(const Segments& seg, Respond respond) const;
  void Jobs(const Request& req, const Segments& seg, Respond respond) const;

  AdminParts p_;
};

}  // namespace pinstream::app
