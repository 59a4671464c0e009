#include "engine/job_scheduler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/logging.h"
#include "engine/thread_name.h"
#include "engine/time_util.h"

namespace pinstream {

namespace {

class RealClock : public Clock {
 public:
  std::int64_t NowMicros() const override { return pinstream::NowMicros(); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 std::int64_t deadline_us, const std::function<bool()>& ready) override {
    // Re-reads the wall clock at least once a minute, so a clock step does not strand a wait.
    for (;;) {
      if (ready()) return;
      std::int64_t now = NowMicros();
      if (now >= deadline_us) return;
      std::int64_t wait = std::min<std::int64_t>(deadline_us - now, 60'000'000);
      cv.wait_for(lock, std::chrono::microseconds(wait));
    }
  }
};

std::string IsoSeconds(std::int64_t us) {
  std::string s = FormatTimestamp(us, TimestampStyle::kIso);  // 2026-11-22T02:00:00.000Z
  return s.substr(0, 19) + "Z";
}

// Manual runs can follow each other within a second: their ids carry microseconds.
std::string IsoMicros(std::int64_t us) { return FormatTimestamp(us, TimestampStyle::kIsoMicro); }

}  // namespace

Clock* SystemClock() {
  static RealClock clock;
  return &clock;
}

std::string JobRun::ToJson() const {
  nlohmann::ordered_json j{
      {"job", job},
      {"runId", run_id},
      {"trigger", trigger},
      {"status", status},
      {"scheduledTime",
       scheduled_us ? nlohmann::ordered_json(FormatTimestamp(scheduled_us, TimestampStyle::kIso))
                    : nlohmann::ordered_json()},
      {"startTime", started_us
                        ? nlohmann::ordered_json(FormatTimestamp(started_us, TimestampStyle::kIso))
                        : nlohmann::ordered_json()},
      {"endTime", finished_us
                      ? nlohmann::ordered_json(FormatTimestamp(finished_us, TimestampStyle::kIso))
                      : nlohmann::ordered_json()},
      {"error", error.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(error)}};
  auto results_json = nlohmann::ordered_json::array();
  for (const auto& r : results)
    results_json.push_back({{"table", r.table}, {"version", r.version}, {"rows", r.rows}});
  j["results"] = std::move(results_json);
  return j.dump();
}

namespace {

JobSchedule ScheduleOf(const JobConfig& j) {
  Result<JobSchedule> s = j.schedule_kind == "every" ? JobSchedule::Every(j.every_us)
                          : j.schedule_kind == "at"  ? JobSchedule::DailyAt(j.at)
                                                     : JobSchedule::Cron(j.cron);
  // The config loader validated the schedule; a failure here is a broken invariant.
  if (!s.ok()) throw std::logic_error(fmt::format("job '{}': {}", j.name, s.status().message()));
  return std::move(s).value();
}

}  // namespace

JobScheduler::JobScheduler(std::vector<JobConfig> jobs, JobRunner* runner, Clock* clock)
    : runner_(runner), clock_(clock) {
  for (auto& j : jobs) {
    JobSchedule schedule = ScheduleOf(j);
    jobs_.push_back(JobState{std::move(j), std::move(schedule), 0, false, false, {}});
  }
}

JobScheduler::JobState* JobScheduler::Find(const std::string& name) {
  for (auto& j : jobs_) {
    if (j.config.name == name) return &j;
  }
  return nullptr;
}

void JobScheduler::Reload(std::vector<JobConfig> jobs) {
  std::int64_t now = clock_->NowMicros();
  {
    std::lock_guard lock(mu_);
    for (const auto& old : jobs_) {
      bool kept = false;
      for (const auto& j : jobs) kept |= j.name == old.config.name;
      if (!kept) {
        LogInfo({{"job", old.config.name}, {"running", old.running}},
                "job removed by a reload (a run in progress finishes)");
      }
    }
    std::vector<JobState> next;
    for (auto& j : jobs) {
      JobState* old = Find(j.name);
      if (old != nullptr && old->config.fingerprint == j.fingerprint) {
        next.push_back(std::move(*old));  // unchanged: its schedule, run and queue go on
        continue;
      }
      JobSchedule schedule = ScheduleOf(j);
      JobState st{std::move(j), std::move(schedule), 0, false, false, {}};
      st.next_due_us = st.schedule.NextAfter(now);
      if (old != nullptr) {
        // Changed: a run in progress ends with the old config; a queued one runs the new.
        st.running = old->running;
        st.queued = old->queued;
        st.queued_run_id = old->queued_run_id;
        LogInfo({{"job", st.config.name}, {"schedule", st.schedule.description()}},
                "job changed by a reload");
      } else {
        if (st.config.run_on_start && started_ && !stopping_) {
          st.queued = true;
          st.queued_run_id = "start__" + IsoMicros(now);
          manual_.push_back(st.config.name);
        }
        LogInfo({{"job", st.config.name}, {"schedule", st.schedule.description()}},
                "job added by a reload");
      }
      next.push_back(std::move(st));
    }
    jobs_ = std::move(next);
    // Queued runs of removed jobs are dropped (Loop skips names it does not find).
    ++generation_;
  }
  cv_.notify_all();
}

JobScheduler::~JobScheduler() { StopAccepting(); }

Status JobScheduler::Start() {
  std::int64_t now = clock_->NowMicros();
  {
    std::lock_guard lock(mu_);
    started_ = true;
    for (JobState& j : jobs_) {
      j.next_due_us = j.schedule.NextAfter(now);
      if (j.config.run_on_start) {
        j.queued = true;
        j.queued_run_id = "start__" + IsoMicros(now);
        manual_.push_back(j.config.name);
      }
      spdlog::info("job '{}' scheduled {}; first run at {}", j.config.name,
                   j.schedule.description(), FormatTimestamp(j.next_due_us, TimestampStyle::kSql));
    }
  }
  thread_ = std::thread([this] {
    SetThreadName("jobs");
    Loop();
  });
  return Status::Ok();
}

void JobScheduler::StopAccepting() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    if (running_) runner_->Cancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JobScheduler::Stop() { StopAccepting(); }

bool JobScheduler::keeps_daemon_alive() const {
  std::lock_guard lock(mu_);
  return !jobs_.empty();
}

Result<std::string> JobScheduler::Trigger(const std::string& job) {
  std::string id;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(jobs_.begin(), jobs_.end(),
                           [&](const JobState& j) { return j.config.name == job; });
    if (it == jobs_.end()) {
      std::string names;
      for (const auto& j : jobs_) names += (names.empty() ? "" : ", ") + j.config.name;
      return NotFound(fmt::format("no job '{}' (jobs: {})", job, names.empty() ? "none" : names));
    }
    if (stopping_) return FailedPrecondition("the daemon is stopping");
    if (it->running)
      return FailedPrecondition(
          fmt::format("job '{}' is running ({})", job, running_ ? running_->run_id : ""));
    if (it->queued)
      return FailedPrecondition(
          fmt::format("job '{}' is already queued ({})", job, it->queued_run_id));
    it->queued = true;
    it->queued_run_id = "manual__" + IsoMicros(clock_->NowMicros());
    id = it->queued_run_id;
    manual_.push_back(it->config.name);
  }
  cv_.notify_all();
  return id;
}

void JobScheduler::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    std::int64_t now = clock_->NowMicros();
    JobRun run;
    JobState* job = nullptr;
    if (!manual_.empty()) {
      std::string name = std::move(manual_.front());
      manual_.pop_front();
      job = Find(name);
      if (job == nullptr) continue;  // removed by a reload since it was queued
      job->queued = false;
      run.run_id = job->queued_run_id;
      run.trigger = run.run_id.rfind("start__", 0) == 0 ? "start" : "manual";
      run.scheduled_us = now;
    } else {
      std::int64_t earliest = std::numeric_limits<std::int64_t>::max();
      for (JobState& j : jobs_) {
        if (j.next_due_us < earliest) {
          earliest = j.next_due_us;
          job = &j;
        }
      }
      if (job == nullptr || earliest > now) {
        const std::uint64_t generation = generation_;
        clock_->WaitUntil(cv_, lock, earliest, [this, generation] {
          return stopping_ || !manual_.empty() || generation_ != generation;
        });
        continue;
      }
      JobState& j = *job;
      run.trigger = "schedule";
      run.scheduled_us = j.next_due_us;
      run.run_id = "scheduled__" + IsoSeconds(j.next_due_us);
      // Scheduled times that passed while earlier runs were going are not made up.
      std::int64_t next = j.schedule.NextAfter(j.next_due_us);
      std::int64_t missed = 0, first_missed = 0;
      while (next <= now) {
        if (missed++ == 0) first_missed = next;
        next = j.schedule.NextAfter(next);
      }
      j.next_due_us = next;
      if (missed > 0) {
        const std::string name = j.config.name;
        JobRun skipped;
        skipped.job = name;
        skipped.run_id = "skipped__" + IsoSeconds(first_missed);
        skipped.trigger = "schedule";
        skipped.scheduled_us = first_missed;
        skipped.started_us = skipped.finished_us = now;
        skipped.status = "skipped";
        skipped.error = fmt::format(
            "{} scheduled run{} from {} skipped: an earlier run was still going", missed,
            missed == 1 ? "" : "s", FormatTimestamp(first_missed, TimestampStyle::kSql));
        LogWarn({{"job", name}, {"run_id", skipped.run_id}, {"error", skipped.error}},
                "job run skipped");
        lock.unlock();
        Finish(std::move(skipped));
        lock.lock();
        job = Find(name);  // a reload may have changed the list meanwhile
        if (job == nullptr || stopping_) continue;
      }
    }
    run.job = job->config.name;
    run.status = "running";
    run.started_us = clock_->NowMicros();
    job->running = true;
    running_ = run;
    JobConfig config = job->config;
    lock.unlock();

    LogInfo({{"job", run.job}, {"run_id", run.run_id}, {"trigger", run.trigger}},
            "job run started");
    Status st = runner_->Execute(config, &run);
    run.finished_us = clock_->NowMicros();
    if (st.ok()) {
      run.status = "succeeded";
      std::string tables;
      for (const auto& r : run.results)
        tables += fmt::format("{}{} v{} ({} rows)", tables.empty() ? "" : ", ", r.table, r.version,
                              r.rows);
      LogInfo({{"job", run.job},
               {"run_id", run.run_id},
               {"duration_ms", (run.finished_us - run.started_us) / 1000},
               {"tables", tables}},
              "job run succeeded");
    } else {
      run.status = "failed";
      run.error = st.ToString();
      run.results.clear();
      LogError({{"job", run.job}, {"run_id", run.run_id}, {"error", run.error}}, "job run failed");
    }
    Finish(run);
    lock.lock();
    if (JobState* j = Find(run.job)) j->running = false;  // unless a reload removed it
    running_.reset();
  }
}

// Records a finished run: history table (failed and skipped runs; succeeded ones were committed
// with their results) and the in-memory list.
void JobScheduler::Finish(JobRun run) {
  if (run.status != "succeeded") {
    Status st = runner_->Record(run);
    if (!st.ok())
      spdlog::error("job '{}' run {}: could not record it in the job history: {}", run.job,
                    run.run_id, st.ToString());
  }
  std::lock_guard lock(mu_);
  recent_.push_back(std::move(run));
  while (recent_.size() > 200) recent_.pop_front();
}

std::vector<JobRun> JobScheduler::RecentRuns() const {
  std::lock_guard lock(mu_);
  return std::vector<JobRun>(recent_.begin(), recent_.end());
}

std::optional<JobRun> JobScheduler::FindRun(const std::string& run_id) const {
  std::lock_guard lock(mu_);
  if (running_ && running_->run_id == run_id) return running_;
  for (auto it = recent_.rbegin(); it != recent_.rend(); ++it) {
    if (it->run_id == run_id) return *it;
  }
  for (const auto& j : jobs_) {
    if (j.queued && j.queued_run_id == run_id) {
      JobRun r;
      r.job = j.config.name;
      r.run_id = run_id;
      r.status = "queued";
      return r;
    }
  }
  return std::nullopt;
}

std::string JobScheduler::StatusJson() const {
  std::lock_guard lock(mu_);
  auto out = nlohmann::ordered_json::array();
  for (const auto& j : jobs_) {
    nlohmann::ordered_json o{{"name", j.config.name},
                             {"schedule", j.schedule.description()},
                             {"nextRun", FormatTimestamp(j.next_due_us, TimestampStyle::kIso)},
                             {"state", j.running ? "running" : (j.queued ? "queued" : "idle")}};
    nlohmann::ordered_json last;
    for (auto it = recent_.rbegin(); it != recent_.rend(); ++it) {
      if (it->job == j.config.name) {
        last = nlohmann::ordered_json::parse(it->ToJson());
        break;
      }
    }
    o["lastRun"] = last;
    out.push_back(std::move(o));
  }
  return out.dump();
}

}  // namespace pinstream
