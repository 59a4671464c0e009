#include "engine/job_scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/time_util.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::FakeClock;
using testing::WaitFor;

// A runner that records what it is asked to do; runs can be made to fail or to block.
class FakeRunner : public JobRunner {
 public:
  Status Execute(const JobConfig& job, JobRun* run) override {
    int now = ++concurrent_;
    max_concurrent_ = std::max(max_concurrent_.load(), now);
    {
      std::unique_lock lock(mu_);
      executed_.push_back(*run);
      executed_.back().job = job.name;
      cv_.wait(lock, [&] { return !block_ || cancelled_; });
    }
    --concurrent_;
    if (cancelled_) return Cancelled("the daemon is stopping");
    if (fail_) return InvalidArgument("q1.sql: no such table: pin");
    run->results.push_back(
        JobRunResult{"q1_result", static_cast<std::int64_t>(executed_.size() - 1), 3});
    return Status::Ok();
  }
  Status Record(const JobRun& run) override {
    std::lock_guard lock(mu_);
    recorded_.push_back(run);
    return Status::Ok();
  }
  void Cancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  void Block(bool b) {
    std::lock_guard lock(mu_);
    block_ = b;
    cv_.notify_all();
  }
  std::size_t executed() {
    std::lock_guard lock(mu_);
    return executed_.size();
  }
  std::vector<JobRun> executed_runs() {
    std::lock_guard lock(mu_);
    return executed_;
  }
  std::vector<JobRun> recorded() {
    std::lock_guard lock(mu_);
    return recorded_;
  }
  std::atomic<bool> fail_{false};
  std::atomic<int> concurrent_{0}, max_concurrent_{0};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool block_ = false, cancelled_ = false;
  std::vector<JobRun> executed_, recorded_;
};

JobConfig Job(const std::string& name, const std::string& kind, const std::string& spec) {
  JobConfig j;
  j.name = name;
  j.schedule_kind = kind;
  if (kind == "every") j.every_us = *ParseDurationMicros(spec);
  if (kind == "at") j.at = spec;
  if (kind == "cron") j.cron = spec;
  j.queries.push_back(JobQueryConfig{"q1.sql", "q1_result"});
  return j;
}

std::int64_t T(const char* s) { return *ParseTimestamp(s); }

TEST(JobSchedulerTest, RunsEveryScheduleFormAtItsTimes) {
  struct Case {
    JobConfig job;
    const char* start;
    const char* first;
    const char* second;
  };
  std::vector<Case> cases = {
      {Job("every", "every", "15m"), "2026-11-22 10:07:00", "2026-11-22 10:15:00",
       "2026-11-22 10:30:00"},
      {Job("at", "at", "02:00"), "2026-11-22 10:07:00", "2026-11-23 02:00:00",
       "2026-11-24 02:00:00"},
      {Job("cron", "cron", "0 9 * * MON-FRI"), "2026-11-20 10:00:00", "2026-11-23 09:00:00",
       "2026-11-24 09:00:00"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.job.name);
    FakeClock clock(T(c.start));
    FakeRunner runner;
    JobScheduler s({c.job}, &runner, &clock);
    ASSERT_TRUE(s.Start().ok());
    clock.Set(T(c.first));
    ASSERT_TRUE(WaitFor([&] { return s.RecentRuns().size() == 1; }));
    clock.Set(T(c.second));
    ASSERT_TRUE(WaitFor([&] { return s.RecentRuns().size() == 2; }));
    auto runs = s.RecentRuns();
    EXPECT_EQ(runs[0].scheduled_us, T(c.first));
    EXPECT_EQ(runs[1].scheduled_us, T(c.second));
    EXPECT_EQ(runs[0].status, "succeeded");
    EXPECT_EQ(runs[0].trigger, "schedule");
    EXPECT_EQ(
        runs[0].run_id,
        "scheduled__" + FormatTimestamp(T(c.first), TimestampStyle::kIso).substr(0, 19) + "Z");
    EXPECT_TRUE(
        runner.recorded().empty());  // succeeded runs are recorded by the runner's own commit
    s.StopAccepting();
  }
}

TEST(JobSchedulerTest, FailedRunIsRecordedAndTheSchedulerGoesOn) {
  FakeClock clock(T("2026-11-22 10:00:30"));
  FakeRunner runner;
  runner.fail_ = true;
  JobScheduler s({Job("j", "every", "1m")}, &runner, &clock);
  ASSERT_TRUE(s.Start().ok());
  clock.Set(T("2026-11-22 10:01:00"));
  ASSERT_TRUE(WaitFor([&] { return runner.recorded().size() == 1; }));
  auto rec = runner.recorded()[0];
  EXPECT_EQ(rec.status, "failed");
  EXPECT_NE(rec.error.find("q1.sql: no such table: pin"), std::string::npos);
  EXPECT_TRUE(rec.results.empty());
  runner.fail_ = false;
  clock.Set(T("2026-11-22 10:02:00"));
  ASSERT_TRUE(WaitFor([&] { return s.RecentRuns().size() == 2; }));
  EXPECT_EQ(s.RecentRuns()[1].status, "succeeded");
  EXPECT_NE(s.StatusJson().find("\"status\":\"succeeded\""), std::string::npos);
}

TEST(JobSchedulerTest, RunsNeverOverlapAndMissedTimesAreRecordedOnceAsSkipped) {
  FakeClock clock(T("2026-11-22 10:00:30"));
  FakeRunner runner;
  runner.Block(true);
  JobScheduler s({Job("slow", "every", "1m"), Job("other", "every", "1m")}, &runner, &clock);
  ASSERT_TRUE(s.Start().ok());
  clock.Set(T("2026-11-22 10:01:00"));
  ASSERT_TRUE(WaitFor([&] { return runner.executed() == 1; }));
  // While the first run blocks, five more minutes pass: no second run may start.
  clock.Set(T("2026-11-22 10:06:10"));
  EXPECT_FALSE(WaitFor([&] { return runner.executed() > 1; }, std::chrono::milliseconds(200)));
  EXPECT_EQ(s.Trigger("slow").status().code(), StatusCode::kFailedPrecondition);  // it is running
  runner.Block(false);
  // Then the other job's 10:01 run, and one catch-up-free run of each at most.
  ASSERT_TRUE(WaitFor([&] { return runner.executed() >= 2; }));
  EXPECT_EQ(runner.max_concurrent_.load(), 1);
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& r : runner.recorded()) {
      if (r.status == "skipped") return true;
    }
    return false;
  }));
  std::vector<JobRun> skipped;
  for (const auto& r : runner.recorded()) {
    if (r.status == "skipped") skipped.push_back(r);
  }
  ASSERT_FALSE(skipped.empty());
  EXPECT_NE(skipped[0].error.find("skipped: an earlier run was still going"), std::string::npos);
  s.StopAccepting();
  // No scheduled time was run twice and none after 10:06.
  std::set<std::pair<std::string, std::int64_t>> seen;
  for (const auto& r : runner.executed_runs()) {
    EXPECT_TRUE(seen.insert({r.job, r.scheduled_us}).second);
    EXPECT_LE(r.scheduled_us, T("2026-11-22 10:06:10"));
  }
}

TEST(JobSchedulerTest, ManualTriggerAndRunOnStart) {
  FakeClock clock(T("2026-11-22 10:00:30"));
  FakeRunner runner;
  JobConfig j = Job("j", "at", "02:00");
  j.run_on_start = true;
  JobScheduler s({j}, &runner, &clock);
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return s.RecentRuns().size() == 1; }));
  EXPECT_EQ(s.RecentRuns()[0].trigger, "start");
  auto id = s.Trigger("j");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->rfind("manual__", 0), 0u);
  ASSERT_TRUE(WaitFor([&] { return s.RecentRuns().size() == 2; }));
  EXPECT_EQ(s.RecentRuns()[1].trigger, "manual");
  ASSERT_TRUE(s.FindRun(*id).has_value());
  EXPECT_EQ(s.FindRun(*id)->status, "succeeded");
  auto unknown = s.Trigger("nope");
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("jobs: j"), std::string::npos);
}

TEST(JobSchedulerTest, StopCancelsARunningRunAndRecordsIt) {
  FakeClock clock(T("2026-11-22 10:00:30"));
  FakeRunner runner;
  runner.Block(true);
  JobScheduler s({Job("j", "every", "1m")}, &runner, &clock);
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(s.Trigger("j").ok());
  ASSERT_TRUE(WaitFor([&] { return runner.executed() == 1; }));
  s.StopAccepting();  // returns once the run has ended
  auto rec = runner.recorded();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].status, "failed");
  EXPECT_NE(rec[0].error.find("stopping"), std::string::npos);
  EXPECT_EQ(s.Trigger("j").status().code(), StatusCode::kFailedPrecondition);
}

TEST(JobSchedulerTest, ReloadAddsRemovesAndChangesJobsAndKeepsTheUnchangedOnes) {
  FakeClock clock(T("2026-11-22 10:00:30"));
  FakeRunner runner;
  auto fp = [](JobConfig j, const std::string& fingerprint) {
    j.fingerprint = fingerprint;
    return j;
  };
  JobScheduler s({fp(Job("keep", "every", "1m"), "k"), fp(Job("gone", "every", "1m"), "g"),
                  fp(Job("change", "every", "1m"), "c1")},
                 &runner, &clock);
  JobScheduler empty({}, &runner, &clock);  // a daemon without jobs: a reload may add some
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(empty.Start().ok());
  clock.Set(T("2026-11-22 10:01:00"));
  ASSERT_TRUE(WaitFor([&] { return s.RecentRuns().size() == 3; }));
  std::string keep_next = nlohmann::json::parse(s.StatusJson())[0]["nextRun"];

  JobConfig added = fp(Job("added", "every", "10m"), "a");
  added.run_on_start = true;
  s.Reload({fp(Job("keep", "every", "1m"), "k"), fp(Job("change", "every", "5m"), "c2"), added});
  // The added job's run_on_start runs at once; the removed one is gone; the unchanged one keeps
  // its next run, the changed one runs on its new schedule.
  ASSERT_TRUE(WaitFor([&] { return s.RecentRuns().size() == 4; }));
  EXPECT_EQ(s.RecentRuns()[3].job, "added");
  EXPECT_EQ(s.RecentRuns()[3].trigger, "start");
  auto status = nlohmann::json::parse(s.StatusJson());
  ASSERT_EQ(status.size(), 3u);
  EXPECT_EQ(status[0]["name"], "keep");
  EXPECT_EQ(status[0]["nextRun"], keep_next);
  EXPECT_EQ(status[1]["name"], "change");
  EXPECT_EQ(status[1]["schedule"], "every 5m");
  EXPECT_EQ(s.Trigger("gone").status().code(), StatusCode::kNotFound);
  clock.Set(T("2026-11-22 10:05:00"));
  ASSERT_TRUE(WaitFor([&] {
    int change = 0;
    for (const auto& r : s.RecentRuns()) change += r.job == "change";
    return change == 2;
  }));
  for (const auto& r : s.RecentRuns())
    EXPECT_TRUE(r.job != "gone" || r.scheduled_us < T("2026-11-22 10:02:00"));

  // Jobs added to a scheduler that had none wake it.
  empty.Reload({fp(Job("late", "every", "1m"), "l")});
  clock.Set(T("2026-11-22 10:06:00"));
  ASSERT_TRUE(WaitFor([&] { return empty.RecentRuns().size() == 1; }));
  EXPECT_EQ(empty.RecentRuns()[0].job, "late");
  s.StopAccepting();
  empty.StopAccepting();
}

}  // namespace
}  // namespace pinstream
