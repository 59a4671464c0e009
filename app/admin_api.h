// AdminApi: the daemon's admin endpoints and its web console, served on the HTTP listener
// through routes it adds to the ingest API (connectors/http/api.h AddRoute). The console's pages
// read the same JSON endpoints that scripts use.
//
//   GET  /health                 {"status":"UP"} while the process serves (no authentication)
//   GET  /ready                  200 READY once every query has recovered, 503 RECOVERING
//                                before, 503 STORE_FAILED with the reason once the store has hit
//                                an error only a restart recovers from (no authentication)
//   GET  /metrics                Prometheus text: the process's metrics (among them per query
//                                pinstream_query_record_age_at_commit_seconds{record="oldest"|
//                                "newest"}: each batch's records' age when its commit made them
//                                readable), the source log's group commits and per-stream
//                                backlog, each query's backlog
//   GET  /queries                every query's state (name, id, runId, state, batches, rows,
//                                backlogRecords, error) and its newest batch (lastBatchTime,
//                                inputRowsPerSecond, processedRowsPerSecond, batchDurationMs,
//                                ingestToVisibleMs) with recentInputRowsPerSecond (the last
//                                10 s), and `eventTime` when its progress reports one; a
//                                live view's query has `view` {name, sql}
//   GET  /queries/<q>            one query's state
//   GET  /queries/<q>/progress   its recent progress reports (Spark's StreamingQueryProgress);
//                                `?after=N` only those of batches after N, `&waitMs=M` (at most
//                                60000) waits until there is one or M ms passed (a long poll:
//                                answered the moment such a batch is committed; progress_waiters.h)
//   GET  /queries/<q>/history    its progress since it started, bounded (progress_history.h)
//   GET  /queries/<q>/state      each stateful operator's state rows and bytes (query_state.h)
//   GET  /ingest                 the ingest APIs' requests, refusals, records and
//                                acknowledgement latency: totals, rates, 15 minutes of history
//                                (ingest_monitor.h)
//   GET  /store                  the store's health: status, data dir, disk space, bytes per key
//                                space (live SST files on disk, memtables in memory), the source
//                                log's group commits and streams with backlog
//   GET  /tables[/<t>[/history|/rows]], /deadletters    delta tables and rejected rows
//                                (admin_tables.h)
//   GET  /jobs                   every scheduled job: schedule, next run, state, last run
//   GET  /jobs/runs              the runs since the daemon started, newest first (earlier ones:
//                                the job_runs table)
//   POST /jobs/<name>/run        queue a run now → 202 {"job","runId"}; 404 unknown; 409 busy
//   POST /reload                 reload the daemon's config file (engine/daemon.h "Reload"):
//                                200 {"ok":true,"queries":{started, stopped, restarted,
//                                unchanged, refused, failed},...} once applied; 400
//                                {"ok":false,"error":"file:line:col: ..."} when the file is
//                                invalid (nothing changed) or the daemon is draining
//   GET  /jobs/runs/<run id>     one run (queued, running, succeeded, failed, skipped)
//   GET  /, /console/<file>      the console's page and assets (console.h; no authentication:
//                                they hold no data, and the page asks for the token)
//   POST /tables/<t>/optimize    OPTIMIZE until nothing is left to compact; answers when done
//                                → 200 {"table","commits":[commit info...],"detail"}; 404 unknown
//   POST /tables/<t>/vacuum      VACUUM; optional body {"retainMs": N, "dryRun": bool} (default:
//                                the table's storage.vacuum retention) → 200 {"table","outcome",
//                                "oldestReadable","chunksRemoved","bytesRemoved",...}; 400 bad body
//
// /metrics also carries per table pinstream_table_versions, _rows, _chunks, _bytes,
// _small_chunks, _deletion_vectors and _oldest_readable_version, and the maintenance counters.
//
// Every endpoint but /health, /ready and the console's page and assets needs a token when
// http.auth configures tokens (401 {"error":"unauthorized"} otherwise; connectors/http/auth.h),
// the POST action included.
// Every other endpoint and method is 404 / 405 with {"error": ...}. Until the daemon is ready its
// query list is being built: the query endpoints list nothing and know no query.
//
// Cross-site requests: every request that changes something (any method but GET and HEAD) must
// carry the header `X-Pinstream-Client` (any value) and, when the browser sends them, an Origin
// equal to the request's own and a Sec-Fetch-Site of same-origin or none; otherwise it is
// refused with 403 before its handler runs. A page of another site can send a form POST, but no
// custom header without a CORS preflight, which this server never grants. The CLI and the
// console send the header.
//
// Threading: handlers run on the HTTP server's I/O threads, concurrently.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "app/admin_tables.h"
#include "connectors/http/api.h"

namespace pinstream {
class Daemon;
class JobScheduler;
class StreamingQuery;
namespace state {
class SourceLog;
class Store;
class TableMaintenance;
}  // namespace state
}  // namespace pinstream

namespace pinstream::app {

class IngestMonitor;
class ProgressHistory;
class ProgressWaiters;

struct AdminParts {
  Daemon* daemon = nullptr;
  // Whether the daemon has recovered its queries (the HTTP server's readiness).
  std::function<bool()> ready;
  // Why the store can no longer write (Store::unrecoverable_error), if so.
  std::function<std::optional<std::string>()> store_failure;
  // The error writes are waiting on while the store recovers by itself (a full disk:
  // Store::PendingWriteError), if any.
  std::function<std::optional<std::string>()> store_write_error;
  const state::SourceLog* log = nullptr;           // group commits and backlogs
  JobScheduler* scheduler = nullptr;               // null: GET /jobs answers 404
  state::Store* store = nullptr;                   // tables, dead letters, the store's health
  std::vector<std::string> dead_letter_tables;     // the queries' dead_letter tables
  const ProgressHistory* history = nullptr;        // the queries' progress since they started
  const IngestMonitor* ingest = nullptr;           // the ingest APIs' traffic
  ProgressWaiters* waiters = nullptr;  // long polls of /queries/<q>/progress (null: no waiting)
  state::TableMaintenance* maintenance = nullptr;  // OPTIMIZE / VACUUM on demand
  // Queues a reload of the config; the callback gets its JSON result (Daemon::RequestReload).
  std::function<void(std::function<void(std::string)>)> reload;
};

class AdminApi {
 public:
  explicit AdminApi(AdminParts parts);

  // Adds the admin endpoints and the console to `api`, and the per-query backlog gauges to the
  // process's metrics. The parts must outlive the server.
  void Install(connectors::http::Api& api);

  // One JSON object describing a query's state (the /queries entries).
  std::string QueryStatusJson(const StreamingQuery& q) const;

  // Why a request that changes something is refused as possibly cross-site (see above), or
  // nullopt when it may go on.
  static std::optional<std::string> CrossSiteRefusal(const connectors::http::ApiRequest& req);

 private:
  using Segments = connectors::http::PathSegments;
  using Request = connectors::http::ApiRequest;
  using Respond = connectors::http::Respond;
  void Ready(Respond respond) const;
  void Metrics(Respond respond) const;
  void Queries(const Request& req, const Segments& seg, Respond respond) const;
  // GET /queries/<q>/progress[?after=N[&waitMs=M]].
  void Progress(const Request& req, const std::string& query, Respond respond) const;
  void Store(Respond respond) const;
  void Jobs(const Request& req, const Segments& seg, Respond respond) const;
  // POST /tables/<t>/optimize (and vacuum): run on the maintenance thread, answered when done.
  void Maintain(const Request& req, const Segments& seg, Respond respond) const;

  AdminParts p_;
  TablesApi tables_;
  std::shared_ptr<const AdminParts> collector_parts_;  // what the metrics collector may use
};

}  // namespace pinstream::app
