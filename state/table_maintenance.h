// TableMaintenance: the daemon's service that keeps delta tables cheap to read as they age —
// OPTIMIZE by the `storage.optimize` policy (Delta's auto compaction) and VACUUM by the
// `storage.vacuum` policy, and both on demand (the admin API's POST /tables/<t>/optimize and
// /tables/<t>/vacuum behind `pinstream optimize` and `pinstream vacuum`).
//
// Lifecycle: constructed with the store and the storage options; Start() starts the thread
// `table-maint`; once the daemon is ready (SetReady) it looks at every table of the store every
// `storage.maintenance_interval` and compacts those whose live set holds
// `optimize.min_small_chunks` small chunks or more (or per-table overrides), and vacuums each
// table (dead-letter tables, job_runs and result tables alike) every `vacuum.interval` with its
// retention (`vacuum.retain`, or the table's `retain`); Stop() finishes the
// operation under way and joins. It never keeps the daemon alive on its own.
//
// Threading: every operation runs on the maintenance thread, one at a time; Optimize() queues a
// request from any thread and calls `done` from the maintenance thread. OPTIMIZE commits under
// the table-commit lock only for its commit, so the queries writing a table are not held up while
// it reads and encodes (DeltaTable::Optimize).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/daemon.h"
#include "state/delta_table.h"
#include "state/store_options.h"

namespace pinstream::state {

class Store;

// What an on-demand OPTIMIZE did to a table: every commit it made (it goes on while a run of
// small versions is left).
struct OptimizeReport {
  std::string table;
  std::vector<CommitInfo> commits;
  std::string detail;  // why it stopped
  std::string ToJson() const;
};

// Runs OPTIMIZE on `table` until nothing is left to compact (at most `max_commits` commits).
Result<OptimizeReport> OptimizeTable(DeltaTable* table, const OptimizeOptions& options,
                                     int max_commits = 1000);

class TableMaintenance : public Service {
 public:
  TableMaintenance(Store* store, StoreOptions options);
  ~TableMaintenance() override;

  std::string_view name() const override { return "table-maint"; }
  [[nodiscard]] Status Start() override;
  void SetReady() override;
  void StopAccepting() override;
  void Stop() override;
  bool keeps_daemon_alive() const override { return false; }

  // Queues an OPTIMIZE of `table` (until nothing is left to compact); `done` runs on the
  // maintenance thread with its report, or the error.
  void Optimize(const std::string& table, std::function<void(Result<OptimizeReport>)> done);

  const StoreOptions& options() const { return options_; }

  // Queues a VACUUM of `table` (options as given; the writer is set here).
  void Vacuum(const std::string& table, VacuumOptions options,
              std::function<void(Result<VacuumResult>)> done);

  // One pass of the policy over every table, on the calling thread (tests; the thread does the
  // same every interval).
  void RunPolicyOnce();

  struct Counters {
    std::int64_t optimize_commits = 0, vacuum_commits = 0, conflicts = 0, errors = 0, passes = 0;
  };
  Counters counters() const;

 private:
  void Loop();
  // The table's OPTIMIZE under the policy, counting what happened.
  void PolicyOptimize(const std::string& table);
  // The table's VACUUM under the policy, when its interval has passed.
  void PolicyVacuum(const std::string& table);
  // Queues `run` (false when stopping: the caller answers it).
  bool Enqueue(std::function<void(bool cancelled)> run);

  Store* store_;
  StoreOptions options_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false;
  bool stop_ = false;
  std::deque<std::function<void(bool cancelled)>> requests_;
  Counters counters_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_vacuum_;  // thread only
};

}  // namespace pinstream::state
