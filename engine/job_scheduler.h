// JobScheduler: runs the config's `jobs:` on their schedules (the Airflow DAG's role) as a daemon
// service.
//
// One scheduler thread runs one job run at a time, so runs never overlap — neither two runs of
// a job nor runs of different jobs. A scheduled time that passes while a run is still going is
// not made up afterwards (Airflow's catchup=False): it is recorded once as a "skipped" run with
// the reason. A run that fails is recorded with its error and the daemon goes on. A run can be
// triggered now (`pinstream jobs run NAME`, POST /jobs/NAME/run); the daemon's stop cancels a
// running run (recorded as failed) and waits for it to end.
//
// What a run does is the JobRunner's business (state/sql: run the SQL files, write result
// tables and the history row in one commit).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/clock.h"
#include "engine/config.h"
#include "engine/daemon.h"
#include "engine/job_schedule.h"
#include "engine/status.h"

namespace pinstream {

struct JobRunResult {
  std::string table;
  std::int64_t version = -1;
  std::int64_t rows = 0;
};

struct JobRun {
  std::string job;
  std::string run_id;   // "scheduled__2026-11-22T02:00:00Z", "manual__...", "start__..."
  std::string trigger;  // schedule | manual | start
  std::int64_t scheduled_us = 0, started_us = 0, finished_us = 0;
  std::string status;  // running | succeeded | failed | skipped
  std::string error;
  std::vector<JobRunResult> results;
  std::string ToJson() const;
};

class JobRunner {
 public:
  virtual ~JobRunner() = default;
  // Runs the job and commits its results together with the run's history row (status
  // succeeded); fills run->results. On error nothing of the run is committed.
  [[nodiscard]] virtual Status Execute(const JobConfig& job, JobRun* run) = 0;
  // Appends the history row of a run that did not commit (failed or skipped).
  [[nodiscard]] virtual Status Record(const JobRun& run) = 0;
  // Asks a running Execute to stop soon (it then fails with Cancelled). Any thread.
  virtual void Cancel() = 0;
};

class JobScheduler : public Service {
 public:
  JobScheduler(std::vector<JobConfig> jobs, JobRunner* runner, Clock* clock = SystemClock());
  ~JobScheduler() override;

  std::string_view name() const override { return "jobs"; }
  [[nodiscard]] Status Start() override;
  void StopAccepting() override;
  void Stop() override;
  // Only with jobs (at the daemon's start): a daemon whose queries all finish and that has no
  // jobs ends, as one without a scheduler would.
  bool keeps_daemon_alive() const override;

  // A reload's jobs (config_diff.h compares them by fingerprint): unchanged ones keep their
  // schedule and any run queued or in progress; changed ones take their new config and schedule
  // (next run computed from now; a run in progress finishes with the old config); added ones are
  // scheduled from now (and run at once with run_on_start); removed ones are dropped (a run in
  // progress finishes, a queued one is dropped). Thread-safe.
  void Reload(std::vector<JobConfig> jobs);
  // Queues a run of `job` now and returns its run id. NotFound for an unknown job;
  // FailedPrecondition when it is running or already queued, or the scheduler is stopping.
  Result<std::string> Trigger(const std::string& job);
  // The state of every job and its recent runs, as JSON (GET /jobs).
  std::string StatusJson() const;
  // The latest runs, oldest first (at most 200 kept).
  std::vector<JobRun> RecentRuns() const;
  // The run with this id if known (queued, running or finished).
  std::optional<JobRun> FindRun(const std::string& run_id) const;

 private:
  struct JobState {
    JobConfig config;
    JobSchedule schedule;
    std::int64_t next_due_us = 0;
    bool running = false, queued = false;
    std::string queued_run_id;
  };
  void Loop();
  void Finish(JobRun run);
  JobState* Find(const std::string& name);  // under mu_; null when there is no such job

  std::vector<JobState> jobs_;
  JobRunner* runner_;
  Clock* clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> manual_;  // names of the jobs queued by Trigger (and run_on_start)
  std::uint64_t generation_ = 0;    // counts reloads: wakes the loop to re-plan
  bool started_ = false;
  std::deque<JobRun> recent_;
  std::optional<JobRun> running_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pinstream
