// SqlJobRunner: what one run of a scheduled job does (engine/job_scheduler.h runs it).
//
// Each SQL file of the job is run (all its statements) through a SqlSession; when every file
// succeeded, each statement's result becomes a new version of its result table — overwrite
// mode, so the latest version is this run's result and time travel shows earlier runs — and
// the run's row is appended to the job-history table, all in ONE synced commit. A failed run
// commits nothing but its history row (status failed, the error).
//
//   result table   the file's `result_table` (default "<file stem>_result"); a file with several
//                  statements gives "<result_table>_a", "_b", ... (q3.sql → q3_result_a, _b)
//   history table  `job_runs`: job, run_id, trigger, status, scheduled_time, start_time,
//                  end_time, duration_ms, error, results (JSON: table, version, rows)
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "engine/job_scheduler.h"

namespace pinstream::state {
class Store;
}

namespace pinstream::state::sql {

class SqlSession;

inline constexpr const char* kJobHistoryTable = "job_runs";

class SqlJobRunner : public JobRunner {
 public:
  explicit SqlJobRunner(Store* store) : store_(store) {}

  [[nodiscard]] Status Execute(const JobConfig& job, JobRun* run) override;
  [[nodiscard]] Status Record(const JobRun& run) override;
  void Cancel() override;

 private:
  Store* store_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  SqlSession* active_ = nullptr;
};

}  // namespace pinstream::state::sql
