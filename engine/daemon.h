// Daemon: the long-running process behind `pinstream run CONFIG`.
//
// It owns the configured queries (one StreamingQuery and one thread each) and the services
// that run beside them (the HTTP ingest server, the job scheduler), and implements the
// lifecycle:
//   Start()  services start (HTTP answers /health, /ready is 503), every query recovers from
//            its checkpoint, then the daemon is ready.
//   Run()    until every query has finished (Once / AvailableNow triggers) and no service keeps
//            the daemon alive, or until RequestDrain() (SIGINT/SIGTERM):
//              1. services stop accepting new work (HTTP: no new connections; in-flight requests
//                 are answered),
//              2. queries stop planning; the running batch of each finishes and commits,
//              3. services stop; Run() returns.
//            A second signal exits the process at once (what was acknowledged is already
//            durable, so this loses nothing).
//   Reload   RequestReload() (SIGHUP, the admin API's POST /reload) runs the reload handler the
//            binary installs on the daemon's reload thread, one at a time; the handler validates
//            the new file and calls ReloadQueries() with it: queries added start, removed ones
//            drain (their running batch commits) and stop, changed ones stop and start again from
//            their checkpoint — unless the change would misread the checkpoint (its sources,
//            inputs or stateful operators: CheckMetadataCompatible), which is refused for that
//            query while it keeps running — and unchanged ones are not touched (same runId).
// Exit status: 0 when all queries finished or were drained, 1 when any query failed.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/config_diff.h"
#include "engine/progress.h"
#include "engine/streaming_query.h"

namespace pinstream {

// Something that runs beside the queries (HTTP server, scheduler).
class Service {
 public:
  virtual ~Service() = default;
  virtual std::string_view name() const = 0;
  [[nodiscard]] virtual Status Start() = 0;
  // Called once all queries have recovered.
  virtual void SetReady() {}
  // Stop taking new work; finish what was accepted. May block until in-flight work is answered.
  virtual void StopAccepting() = 0;
  // Release resources; called after the queries have stopped.
  virtual void Stop() = 0;
  // True when the daemon must keep running for this service even if no query is running.
  virtual bool keeps_daemon_alive() const { return true; }
};

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread; threads created afterwards inherit the
// mask, so the signals stay pending until the daemon's signal thread takes them. Call first in
// main().
void BlockTerminationSignals();

// The exit watchdog (like Flink's task-cancellation watchdog): once Run() has returned, every
// batch is committed and what is left is releasing connections — leaving a Kafka consumer group,
// closing clients and the store. Some of that (librdkafka's group leave racing a rebalance) can
// block far longer than a stopping daemon may take. ArmExitWatchdog() starts a timer; unless
// DisarmExitWatchdog() runs within `limit` (main() calls it when everything is released), the
// process logs what was still being released and exits with `exit_code`. Losing the rest of the
// clean-up loses no data: it was all committed (the group member is expired by its session
// timeout instead of leaving).
void ArmExitWatchdog(std::chrono::milliseconds limit, int exit_code, std::string what);
void DisarmExitWatchdog();

struct DaemonParts {
  const DaemonConfig* config = nullptr;
  CheckpointStore* checkpoints = nullptr;
  std::vector<Service*> services;
  // Called for every committed batch of every query (metrics), in addition to the daemon's own
  // log line and progress history.
  ProgressListener on_progress;
};

// What ReloadQueries() did, by query name.
struct QueryReload {
  std::vector<std::string> started;    // added by the new config
  std::vector<std::string> stopped;    // removed by it (drained: the running batch committed)
  std::vector<std::string> restarted;  // changed: stopped, then started from the checkpoint
  std::vector<std::string> unchanged;  // left running untouched
  // Of the restarted, live views whose statement changed: started over (state and table rows
  // dropped, the answer recomputed from the inputs' first versions; StreamingQuery::Start).
  std::vector<std::string> reset;
  // Changed queries whose change is refused (the old config's query keeps running), and queries
  // that could not start (a changed one is started again with its old config), with the reason.
  std::vector<std::pair<std::string, std::string>> refused;
  std::vector<std::pair<std::string, std::string>> failed;
};

class Daemon {
 public:
  explicit Daemon(DaemonParts parts);
  ~Daemon();

  [[nodiscard]] Status Start();
  int Run();
  // Thread-safe and signal-thread-safe (no allocation on the first call's critical path).
  void RequestDrain();
  bool draining() const { return drain_.load(); }

  // Queries by name, for the admin endpoints (between Start() and destruction; a reload may
  // remove a query from the list, the pointer keeps it alive).
  std::shared_ptr<StreamingQuery> FindQuery(const std::string& name) const;
  std::vector<std::shared_ptr<StreamingQuery>> queries() const;
  // The config the queries run (the last one reloaded).
  const DaemonConfig& config() const;

  // Reload ------------------------------------------------------------------------------------
  // Computes a reload's result as JSON (installed by the binary: validate the file, apply it).
  using ReloadHandler = std::function<std::string()>;
  void SetReloadHandler(ReloadHandler handler);
  // Queues a reload on the reload thread; `done` (may be null) gets the handler's JSON, or an
  // error object when no handler is installed or the daemon is draining. Thread-safe.
  void RequestReload(std::function<void(std::string)> done);
  // Applies `next` (loaded and validated in full; kept alive by the daemon) to the queries as
  // `diff` (DiffConfigs(config(), *next)) says. FailedPrecondition while draining.
  Result<QueryReload> ReloadQueries(std::shared_ptr<const DaemonConfig> next,
                                    const ConfigDiff& diff);
  // The last (up to 100) progress reports of a query, oldest first, as JSON.
  std::vector<std::string> RecentProgress(const std::string& query) const;

  // Starts a thread that turns the first SIGINT/SIGTERM into RequestDrain() and the second into
  // an immediate exit, and SIGHUP (systemd's ExecReload) into RequestReload(). Also starts the
  // reload thread. BlockTerminationSignals() must have run before any other thread started.
  void InstallSignalHandling();

 private:
  struct Running {
    std::shared_ptr<StreamingQuery> query;
    std::thread thread;
  };
  void OnProgress(const QueryProgress& p);
  // Creates and starts (recovers) query `qc` of `cfg`. With `keep_damaged`, a query whose
  // recovery reads damaged stored data (Corruption, DataLoss: its checkpoint) is returned failed
  // (StreamingQuery::FailBeforeRunning) instead of failing the daemon's start.
  Result<std::shared_ptr<StreamingQuery>> StartQuery(const QueryConfig& qc, const DaemonConfig& cfg,
                                                     bool keep_damaged = false);
  void RunThread(Running& r);    // starts r.thread running r.query
  void StopAndJoin(Running& r);  // drains r.query and joins its thread
  void ReloadLoop();

  DaemonParts parts_;
  std::vector<Running> queries_;          // membership guarded by mu_; changed under reload_mu_
  const DaemonConfig* config_ = nullptr;  // guarded by mu_
  std::vector<std::shared_ptr<const DaemonConfig>> kept_;  // reloaded configs (queries point in)
  std::mutex reload_mu_;      // one reload at a time; Run()'s shutdown waits for it
  bool run_started_ = false;  // guarded by reload_mu_
  bool stopped_ = false;      // guarded by reload_mu_: Run() has stopped every query
  ReloadHandler reload_handler_;
  std::deque<std::function<void(std::string)>> reload_requests_;  // guarded by mu_
  bool reload_thread_exit_ = false;                               // guarded by mu_
  std::condition_variable reload_cv_;
  std::thread reload_thread_;
  std::atomic<bool> drain_{false};
  std::atomic<int> running_{0};
  std::atomic<bool> any_failed_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<std::string>> progress_;
  std::thread signal_thread_;
};

}  // namespace pinstream
