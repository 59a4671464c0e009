// Scheduled jobs from the command line:
//   pinstream jobs list -c CONFIG           the config's jobs, schedules, next and last runs
//   pinstream jobs run NAME -c CONFIG       one run now: in this process when no daemon holds the
//                                           data dir, else through the daemon's POST /jobs/NAME/run
//                                           (waiting for the run to finish unless --no-wait)
//   pinstream jobs history -c CONFIG        the job_runs table, newest first

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/admin_client.h"
#include "app/commands.h"
#include "engine/job_schedule.h"
#include "engine/job_scheduler.h"
#include "engine/row_format.h"
#include "engine/time_util.h"
#include "state/sql/sql_job_runner.h"
#include "state/sql/sql_session.h"
#include "state/store.h"

namespace pinstream::app {
namespace {

struct JobsOptions {
  std::string config;
  std::string job;
  bool no_wait = false;
  std::int64_t limit = 20;
  double timeout_s = 3600;
};

std::optional<DaemonConfig> Load(const std::string& path) {
  if (path.empty()) {
    std::fprintf(stderr, "pinstream: jobs are defined in a daemon config: pass --config CONFIG\n");
    return std::nullopt;
  }
  connectors::ConnectorEnv env;
  auto reg = BuildRegistries(&env);
  return LoadConfigOrReport(path, *reg);
}

const JobConfig* FindJob(const DaemonConfig& cfg, const std::string& name) {
  for (const auto& j : cfg.jobs) {
    if (j.name == name) return &j;
  }
  std::string names;
  for (const auto& j : cfg.jobs) names += (names.empty() ? "" : ", ") + j.name;
  std::fprintf(stderr, "pinstream: no job '%s' in %s (jobs: %s)\n", name.c_str(), cfg.path.c_str(),
               names.empty() ? "none" : names.c_str());
  return nullptr;
}

Result<JobSchedule> ScheduleOf(const JobConfig& j) {
  if (j.schedule_kind == "every") return JobSchedule::Every(j.every_us);
  if (j.schedule_kind == "at") return JobSchedule::DailyAt(j.at);
  return JobSchedule::Cron(j.cron);
}

void PrintRun(const JobRun& run) {
  std::printf("job %s run %s: %s", run.job.c_str(), run.run_id.c_str(), run.status.c_str());
  if (run.finished_us > 0)
    std::printf(" in %lld ms", static_cast<long long>((run.finished_us - run.started_us) / 1000));
  std::printf("\n");
  for (const auto& r : run.results) {
    std::printf("  %-24s version %-5lld %lld rows\n", r.table.c_str(),
                static_cast<long long>(r.version), static_cast<long long>(r.rows));
  }
  if (!run.error.empty()) std::printf("  error: %s\n", run.error.c_str());
}

int RunHere(state::Store* store, const JobConfig& job) {
  state::sql::SqlJobRunner runner(store);
  JobRun run;
  run.job = job.name;
  run.trigger = "manual";
  run.started_us = run.scheduled_us = NowMicros();
  run.run_id = "manual__" + FormatTimestamp(run.started_us, TimestampStyle::kIsoMicro);
  Status st = runner.Execute(job, &run);
  run.finished_us = NowMicros();
  if (st.ok()) {
    run.status = "succeeded";
  } else {
    run.status = "failed";
    run.error = st.ToString();
    run.results.clear();
    if (Status rec = runner.Record(run); !rec.ok()) {
      std::fprintf(stderr, "pinstream: could not record the failed run in %s: %s\n",
                   state::sql::kJobHistoryTable, rec.message().c_str());
    }
  }
  PrintRun(run);
  return st.ok() ? kExitOk : kExitError;
}

int RunThroughDaemon(const DaemonConfig& cfg, const JobConfig& job, const JobsOptions& o) {
  auto reply = CallDaemon(cfg, "POST", "/jobs/" + job.name + "/run", "run the job");
  if (!reply.ok()) return Fail(reply.status());
  if (reply->status != 202) {
    std::fprintf(stderr, "pinstream: the daemon refused: %s\n", AdminErrorMessage(*reply).c_str());
    return kExitError;
  }
  std::string run_id = nlohmann::json::parse(reply->body).value("runId", "");
  std::printf("job %s run %s queued in the running daemon\n", job.name.c_str(), run_id.c_str());
  if (o.no_wait) return kExitOk;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.timeout_s);
  for (;;) {
    auto r = CallDaemon(cfg, "GET", "/jobs/runs/" + run_id, "report the run");
    if (!r.ok()) return Fail(r.status());
    if (r->status == 200) {
      auto j = nlohmann::json::parse(r->body);
      std::string status = j.value("status", "");
      if (status == "succeeded" || status == "failed") {
        JobRun run;
        run.job = j.value("job", "");
        run.run_id = run_id;
        run.status = status;
        if (!j["error"].is_null()) run.error = j["error"].get<std::string>();
        for (const auto& res : j["results"]) {
          run.results.push_back(JobRunResult{res["table"].get<std::string>(),
                                             res["version"].get<std::int64_t>(),
                                             res["rows"].get<std::int64_t>()});
        }
        PrintRun(run);
        return status == "succeeded" ? kExitOk : kExitError;
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(
          stderr, "pinstream: run %s has not finished after %.0f s; see `pinstream jobs history`\n",
          run_id.c_str(), o.timeout_s);
      return kExitError;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the daemon's run state
  }
}

int RunJob(const JobsOptions& o) {
  auto cfg = Load(o.config);
  if (!cfg) return kExitConfig;
  const JobConfig* job = FindJob(*cfg, o.job);
  if (job == nullptr) return kExitConfig;
  state::StoreOptions so;
  so.data_dir = cfg->data_dir;
  auto store = state::Store::Open(so);
  if (store.ok()) return RunHere(store->get(), *job);
  if (store.status().code() != StatusCode::kFailedPrecondition) return Fail(store.status());
  return RunThroughDaemon(*cfg, *job, o);  // the daemon holds the data dir
}

int ListJobs(const JobsOptions& o) {
  auto cfg = Load(o.config);
  if (!cfg) return kExitConfig;
  if (cfg->jobs.empty()) {
    std::printf("%s has no jobs\n", cfg->path.c_str());
    return kExitOk;
  }
  // Last runs from the history table, when the data dir has one.
  std::map<std::string, std::pair<std::string, std::string>> last;  // job → (status, end time)
  if (auto store = state::Store::OpenReader(cfg->data_dir); store.ok()) {
    if (auto session = state::sql::SqlSession::Open(store->get()); session.ok()) {
      auto r =
          (*session)->Query(fmt::format("SELECT job, status, end_time FROM (SELECT *, row_number() "
                                        "OVER (PARTITION BY job ORDER BY start_time DESC) AS n "
                                        "FROM {}) WHERE n = 1",
                                        state::sql::kJobHistoryTable));
      if (r.ok()) {
        for (std::size_t i = 0; i < r->rows.num_rows(); ++i) {
          last[DisplayValue(r->rows.column(0), i)] = {DisplayValue(r->rows.column(1), i),
                                                      DisplayValue(r->rows.column(2), i)};
        }
      }
    }
  }
  Column name(TypeId::kString), sched(TypeId::kString), next(TypeId::kString), sql(TypeId::kString),
      last_status(TypeId::kString), last_end(TypeId::kString);
  for (const auto& j : cfg->jobs) {
    auto s = ScheduleOf(j);
    name.AppendString(j.name);
    sched.AppendString(s.ok() ? s->description() : s.status().message());
    next.AppendString(s.ok() ? FormatTimestamp(s->NextAfter(NowMicros()), TimestampStyle::kSql)
                             : "");
    std::string files;
    for (const auto& q : j.queries)
      files += (files.empty() ? "" : ", ") + std::filesystem::path(q.sql_file).filename().string() +
               " → " + q.result_table;
    sql.AppendString(files);
    auto it = last.find(j.name);
    last_status.AppendString(it == last.end() ? "never run" : it->second.first);
    last_end.AppendString(it == last.end() ? "" : it->second.second);
  }
  PrintColumns({{"job", std::move(name)},
                {"schedule", std::move(sched)},
                {"next run (UTC)", std::move(next)},
                {"last run", std::move(last_status)},
                {"ended", std::move(last_end)},
                {"sql", std::move(sql)}},
               80);
  return kExitOk;
}

int History(const JobsOptions& o) {
  auto cfg = Load(o.config);
  if (!cfg) return kExitConfig;
  auto store = OpenForReading(cfg->data_dir);
  if (!store) return kExitError;
  auto session = state::sql::SqlSession::Open(store.get());
  if (!session.ok()) return Fail(session.status());
  std::string where = o.job.empty() ? "" : fmt::format(" WHERE job = '{}'", [&] {
    std::string q;
    for (char c : o.job) q += c == '\'' ? std::string("''") : std::string(1, c);
    return q;
  }());
  auto r =
      (*session)->Query(fmt::format("SELECT job, run_id, trigger, status, start_time, duration_ms, "
                                    "error, results FROM {}{} ORDER BY start_time DESC "
                                    "LIMIT {}",
                                    state::sql::kJobHistoryTable, where, o.limit));
  if (!r.ok()) {
    if (r.status().message().find("no such table") != std::string::npos) {
      std::printf("no job has run yet\n");
      return kExitOk;
    }
    return Fail(r.status());
  }
  std::fputs(FormatTable(r->rows, r->rows.num_rows(), 60).c_str(), stdout);
  return kExitOk;
}

}  // namespace

void AddJobsCommands(CLI::App& app, int* exit_code) {
  auto* jobs =
      app.add_subcommand("jobs", "scheduled SQL jobs of a daemon config (list, run, history)");
  jobs->require_subcommand(1);
  auto o = std::make_shared<JobsOptions>();

  auto* list =
      jobs->add_subcommand("list", "the config's jobs with their schedules, next and last runs");
  list->add_option("--config,-c", o->config, "daemon config")->required();
  list->callback([o, exit_code] { *exit_code = ListJobs(*o); });

  auto* run = jobs->add_subcommand("run", "run a job now (through the daemon when it is running)");
  run->add_option("job", o->job, "job name")->required();
  run->add_option("--config,-c", o->config, "daemon config")->required();
  run->add_flag("--no-wait", o->no_wait, "with a running daemon: queue the run and return");
  run->add_option("--timeout", o->timeout_s, "seconds to wait for the daemon's run (default 3600)");
  run->callback([o, exit_code] { *exit_code = RunJob(*o); });

  auto* hist = jobs->add_subcommand("history", "past runs from the job_runs table, newest first");
  hist->add_option("--config,-c", o->config, "daemon config")->required();
  hist->add_option("--job", o->job, "only this job");
  hist->add_option("--limit,-n", o->limit, "rows (default 20)");
  hist->callback([o, exit_code] { *exit_code = History(*o); });
}

}  // namespace pinstream::app
