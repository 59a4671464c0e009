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
// Exit status: 0 when all queries finished or were drained, 1 when any query failed.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/config.h"
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

class Daemon {
 public:
  explicit Daemon(DaemonParts parts);
  ~Daemon();

  [[nodiscard]] Status Start();
  int Run();
  // Thread-safe and signal-thread-safe (no allocation on the first call's critical path).
  void RequestDrain();
  bool draining() const { return drain_.load(); }

  // Queries by name, for the admin endpoints (valid between Start() and destruction).
  StreamingQuery* FindQuery(const std::string& name) const;
  std::vector<StreamingQuery*> queries() const;
  // The last (up to 100) progress reports of a query, oldest first, as JSON.
  std::vector<std::string> RecentProgress(const std::string& query) const;

  // Starts a thread that turns the first SIGINT/SIGTERM into RequestDrain() and the second into
  // an immediate exit; SIGHUP (systemd's ExecReload) is logged and changes nothing: reloading is
  // not supported yet. BlockTerminationSignals() must have run before any other thread started.
  void InstallSignalHandling();

 private:
  void OnProgress(const QueryProgress& p);

  DaemonParts parts_;
  std::vector<std::unique_ptr<StreamingQuery>> queries_;
  std::vector<std::thread> threads_;
  std::atomic<bool> drain_{false};
  std::atomic<int> running_{0};
  std::atomic<bool> any_failed_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<std::string>> progress_;
  std::thread signal_thread_;
};

}  // namespace pinstream
