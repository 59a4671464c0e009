// `pinstream run CONFIG` (the daemon) and `pinstream validate CONFIG`.
//
// RunDaemon is the daemon's wiring: the store and its checkpoints, the source log, the ingest API
// with the admin routes and the console and its HTTP server, the ingest monitor, the job
// scheduler, the progress history, then the queries (engine's Daemon), started, run until
// drained, and released in that order's reverse.

#include <spdlog/spdlog.h>

#include <cstdio>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "app/admin_api.h"
#include "app/admin_client.h"
#include "app/commands.h"
#include "app/config_reload.h"
#include "app/config_watcher.h"
#include "app/ingest_monitor.h"
#include "app/progress_history.h"
#include "app/progress_waiters.h"
#include "app/systemd_notifier.h"
#include "app/version.h"
#include "connectors/http/api.h"
#include "connectors/http/http_server.h"
#include "engine/daemon.h"
#include "engine/job_scheduler.h"
#include "state/checkpoint_store.h"
#include "state/source_log.h"
#include "state/sql/sql_job_runner.h"
#include "state/store.h"
#include "state/table_maintenance.h"
#include "views/view_query.h"
#include "views/views_config.h"

namespace pinstream::app {

namespace {

int RunDaemon(const std::string& config_path, const std::string& log_level, bool watch_config) {
  // Before any thread exists (RocksDB starts some), so that every thread inherits the mask.
  BlockTerminationSignals();
  connectors::ConnectorEnv env;
  auto reg = BuildRegistries(&env);
  auto cfg = LoadConfigOrReport(config_path, *reg);
  if (!cfg) return kExitConfig;
  // Live views run as queries (views/view_query.h): one that does not plan or lower is refused
  // before anything is created (planned again below, once the store is open).
  {
    DaemonConfig probe = *cfg;
    if (Status st = views::AddViewQueries(probe, *reg); !st.ok()) {
      std::fprintf(stderr, "pinstream: view error: %s\n", st.message().c_str());
      return kExitConfig;
    }
  }
  SetupLogging(log_level.empty() ? cfg->log.level : log_level, cfg->log.format);
  LogInfo({{"version", Version()}, {"commit", Commit()}, {"config", config_path}},
          "pinstream starting");

  const auto* storage = cfg->Section<state::StoreOptions>(state::kStorageSection);
  state::StoreOptions so = storage != nullptr ? *storage : state::StoreOptions();
  so.data_dir = cfg->data_dir;
  auto store = state::Store::Open(so);
  if (!store.ok()) {
    spdlog::error("{}", store.status().message());
    return kExitError;
  }
  env.store = store->get();
  // The views' queries, planned with the store open: a column the config leaves untyped takes
  // its table's stored type.
  if (Status st = views::AddViewQueries(*cfg, *reg); !st.ok()) {
    std::fprintf(stderr, "pinstream: view error: %s\n", st.message().c_str());
    return kExitConfig;
  }
  state::RocksCheckpointStore checkpoints(env.store);

  // HTTP ingest: the source log, the APIs and the server (a Service of the daemon).
  std::unique_ptr<state::SourceLog> log;
  std::unique_ptr<connectors::http::Api> api;
  std::unique_ptr<connectors::http::HttpServer> server;
  std::unique_ptr<IngestMonitor> ingest_monitor;
  DaemonParts parts;
  // Every query's progress since it started, for the console's charts (bounded).
  ProgressHistory history;
  // Long polls of /queries/<q>/progress: answered as each batch is committed. First of the
  // services after systemd's notifier, so that a drain answers them before the HTTP server waits
  // for the requests in flight.
  ProgressWaiters waiters;
  parts.services.push_back(&waiters);
  parts.on_progress = [&history, &waiters](const QueryProgress& p) {
    history.Add(p);
    waiters.Committed(p.name, p.batch_id);
  };
  const auto* http = cfg->Section<connectors::http::HttpConfig>(connectors::http::kHttpSection);
  if (http != nullptr) {
    state::SourceLogOptions lo;
    lo.retention_age_us = http->retention_age_us;
    lo.retention_bytes = http->retention_bytes;
    lo.group_commit_max_records = http->group_commit_max_records;
    auto opened = state::SourceLog::Open(env.store, lo);
    if (!opened.ok()) {
      spdlog::error("opening the source log: {}", opened.status().message());
      return kExitError;
    }
    log = std::move(opened).value();
    env.source_log = log.get();
    api = std::make_unique<connectors::http::Api>(*http, log.get());
    if (Status st = api->DeclareStreams(); !st.ok()) {
      spdlog::error("declaring topics and streams: {}", st.message());
      return kExitConfig;
    }
    server = std::make_unique<connectors::http::HttpServer>(*http, api.get());
    parts.services.push_back(server.get());
    ingest_monitor = std::make_unique<IngestMonitor>();
    parts.services.push_back(ingest_monitor.get());
  }

  // Scheduled jobs (the Airflow DAG's role): SQL files → result tables, on their schedules. The
  // scheduler runs even without jobs: a reload may add some.
  auto job_runner = std::make_unique<state::sql::SqlJobRunner>(env.store);
  auto scheduler = std::make_unique<JobScheduler>(cfg->jobs, job_runner.get());
  parts.services.push_back(scheduler.get());

  // systemd readiness (Type=notify): READY=1 once recovered, STOPPING=1 when the drain starts.
  // First in the list, so that STOPPING=1 goes out before the HTTP server waits for its
  // in-flight requests (READY=1 then precedes the others' SetReady by microseconds).
  SystemdNotifier notifier(cfg->queries.size());
  parts.services.insert(parts.services.begin(), &notifier);

  // Table maintenance (OPTIMIZE by the storage policy, and on demand): its own thread.
  state::TableMaintenance maintenance(env.store, so);
  parts.services.push_back(&maintenance);

  parts.config = &*cfg;
  parts.checkpoints = &checkpoints;
  Daemon daemon(std::move(parts));
  daemon.InstallSignalHandling();
  std::unique_ptr<AdminApi> admin;
  if (api) {
    AdminParts admin_parts;
    admin_parts.daemon = &daemon;
    admin_parts.ready = [srv = server.get()] { return srv->ready(); };
    admin_parts.store_failure = [store = env.store] { return store->unrecoverable_error(); };
    admin_parts.store_write_error = [store = env.store] { return store->PendingWriteError(); };
    admin_parts.log = log.get();
    admin_parts.scheduler = scheduler.get();
    admin_parts.store = env.store;
    admin_parts.history = &history;
    admin_parts.waiters = &waiters;
    admin_parts.ingest = ingest_monitor.get();
    for (const auto& q : cfg->queries) {
      if (q.dead_letter && !q.dead_letter->spec->TableName().empty())
        admin_parts.dead_letter_tables.push_back(q.dead_letter->spec->TableName());
    }
    admin_parts.maintenance = &maintenance;
    admin_parts.reload = [&daemon](std::function<void(std::string)> done) {
      daemon.RequestReload(std::move(done));
    };
    admin = std::make_unique<AdminApi>(std::move(admin_parts));
    admin->Install(*api);
  }
  Status st = daemon.Start();
  if (!st.ok()) {
    spdlog::error("start-up failed: {}", st.message());
    return st.code() == StatusCode::kFailedPrecondition ? kExitConfig : kExitError;
  }
  if (log) {
    // New records wake the queries reading their topic or stream (continuous triggers start
    // their next batch at once), and only those: the others would plan empty batches.
    log->AddAppendListener([&daemon](const std::vector<std::string>& streams) {
      const DaemonConfig& current = daemon.config();
      for (const auto& q : daemon.queries()) {
        for (const auto& src : q->config().sources) {
          auto it = current.sources.find(src);
          if (it != current.sources.end() &&
              std::find(streams.begin(), streams.end(), it->second.spec->LogStreamName()) !=
                  streams.end()) {
            q->Wake();
            break;
          }
        }
      }
    });
  }
  // A commit to a table wakes the queries reading it as a stream (kind: delta sources), as the
  // config of each running query says (a reload may add some).
  env.store->AddTableCommitListener([&daemon](const std::string& table) {
    const DaemonConfig& current = daemon.config();
    for (const auto& q : daemon.queries()) {
      for (const auto& src : q->config().sources) {
        auto it = current.sources.find(src);
        if (it != current.sources.end() && it->second.spec->TableName() == table) {
          q->Wake();
          break;
        }
      }
    }
  });
  // Reloads (SIGHUP, POST /reload) run on the daemon's reload thread.
  ReloadContext reload_ctx{config_path, reg.get(), &daemon, api.get(), scheduler.get(), log_level};
  daemon.SetReloadHandler([reload_ctx] { return ReloadConfig(reload_ctx); });
  // --watch-config: a change to the file (or to the SQL files it names) reloads it.
  std::unique_ptr<ConfigWatcher> watcher;
  bool watch_failed = false;
  if (watch_config) {
    watcher = std::make_unique<ConfigWatcher>(
        [&daemon] { return ConfigWatchedFiles(daemon.config()); },
        [&daemon] {
          // Waits for the reload (ReloadConfig logs its result); answered also when draining.
          auto done = std::make_shared<std::promise<void>>();
          daemon.RequestReload([done](std::string) { done->set_value(); });
          done->get_future().wait();
        },
        ConfigWatcher::kDebounce);
    if (Status ws = watcher->Start(); !ws.ok()) {
      spdlog::error("--watch-config: {}; stopping", ws.message());
      watcher.reset();
      watch_failed = true;
      daemon.RequestDrain();
    }
  }
  int rc = daemon.Run();
  if (watcher) watcher->Stop();
  if (watch_failed && rc == kExitOk) rc = kExitError;
  // Everything is committed; bound the release of the rest (see ArmExitWatchdog).
  ArmExitWatchdog(
      std::chrono::seconds(30), rc,
      "closing the queries' sources and sinks (e.g. leaving a Kafka consumer group), the "
      "HTTP server and the store");
  if (log) log->Shutdown();
  return rc;
}

// `pinstream reload -c CONFIG`: the running daemon reloads its config (POST /reload).
int ReloadCommand(const std::string& config_path, bool as_json) {
  connectors::ConnectorEnv env;
  auto reg = BuildRegistries(&env);
  auto cfg = LoadConfigOrReport(config_path, *reg);
  if (!cfg) return kExitConfig;
  auto reply = CallDaemon(*cfg, "POST", "/reload", "reload its config", std::chrono::seconds(600));
  if (!reply.ok()) return Fail(reply.status());
  nlohmann::json r;
  try {
    r = nlohmann::json::parse(reply->body);
  } catch (const nlohmann::json::exception&) {
    return Fail(Internal("the daemon: " + AdminErrorMessage(*reply)));
  }
  if (as_json) std::printf("%s\n", r.dump(2).c_str());
  if (!r.value("ok", false)) {
    if (!as_json)
      std::fprintf(stderr, "pinstream: reload refused, nothing changed: %s\n",
                   r.value("error", reply->body).c_str());
    return r.contains("error") ? kExitConfig : kExitError;
  }
  const auto& q = r["queries"];
  bool partial = !q["refused"].empty() || !q["failed"].empty();
  if (as_json) return partial ? kExitError : kExitOk;
  auto names = [](const nlohmann::json& list) {
    std::string out;
    for (const auto& n : list) out += (out.empty() ? "" : ", ") + n.get<std::string>();
    return out.empty() ? std::string("-") : out;
  };
  std::printf("reloaded %s\n", r.value("config", "").c_str());
  std::printf("  queries started    %s\n", names(q["started"]).c_str());
  std::printf("  queries stopped    %s\n", names(q["stopped"]).c_str());
  std::printf("  queries restarted  %s\n", names(q["restarted"]).c_str());
  if (q.contains("reset") && !q["reset"].empty()) {
    std::printf("  views reset        %s (their SQL changed: recomputed from their inputs' first "
                "versions)\n",
                names(q["reset"]).c_str());
  }
  std::printf("  queries unchanged  %s\n", names(q["unchanged"]).c_str());
  for (const char* key : {"refused", "failed"}) {
    for (const auto& e : q[key]) {
      std::printf("  query %s %s: %s\n", e["query"].get<std::string>().c_str(), key,
                  e["reason"].get<std::string>().c_str());
    }
  }
  if (r.contains("jobs")) {
    for (const char* key : {"added", "removed", "changed"}) {
      if (!r["jobs"][key].empty())
        std::printf("  jobs %-13s %s\n", key, names(r["jobs"][key]).c_str());
    }
  }
  if (!r["topicsCreated"].empty())
    std::printf("  topics created     %s\n", names(r["topicsCreated"]).c_str());
  if (!r["streamsCreated"].empty())
    std::printf("  streams created    %s\n", names(r["streamsCreated"]).c_str());
  for (const auto& a : r["applied"])
    std::printf("  applied            %s\n", a.get<std::string>().c_str());
  for (const auto& n : r["notApplied"]) {
    std::printf("  not applied        %s: %s\n", n["what"].get<std::string>().c_str(),
                n["reason"].get<std::string>().c_str());
  }
  return partial ? kExitError : kExitOk;
}

}  // namespace

void AddReloadCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "reload",
      "make the running daemon reload its config file (as SIGHUP does): added queries and "
      "topics start, removed ones stop, changed ones restart; prints what changed");
  auto config = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("-c,--config", *config, "the daemon's config (YAML): where to reach it")
      ->required();
  cmd->add_flag("--json", *as_json, "print the daemon's JSON answer");
  cmd->callback([=] { *exit_code = ReloadCommand(*config, *as_json); });
}

void AddRunCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "run", "run the daemon: every query of CONFIG, until SIGINT/SIGTERM or until all finish");
  auto config = std::make_shared<std::string>();
  auto level = std::make_shared<std::string>();
  cmd->add_option("config", *config, "pipeline config (YAML)")->required();
  auto watch = std::make_shared<bool>(false);
  cmd->add_option("--log-level", *level,
                  "trace, debug, info, warn, error (default: log.level of the config)");
  cmd->add_flag("--watch-config", *watch,
                "reload the config (as SIGHUP does) when the file, or a SQL file it names, "
                "changes (inotify, debounced 300 ms; an invalid file is logged and changes "
                "nothing)");
  cmd->callback([=] { *exit_code = RunDaemon(*config, *level, *watch); });
}

void AddValidateCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("validate",
                                 "check a config without running it (exit 0 = valid, 2 = invalid)");
  auto config = std::make_shared<std::string>();
  cmd->add_option("config", *config, "pipeline config (YAML)")->required();
  cmd->callback([=] {
    connectors::ConnectorEnv env;
    auto reg = BuildRegistries(&env);
    auto cfg = LoadConfigOrReport(*config, *reg);
    if (!cfg) {
      *exit_code = kExitConfig;
      return;
    }
    const std::size_t sources = cfg->sources.size(), queries = cfg->queries.size();
    // Views plan, lower and become queries as when the daemon starts (views/view_query.h).
    auto planned = views::PlanViews(*cfg);
    Status viewed = planned.ok() ? views::AddViewQueries(*cfg, *reg) : planned.status();
    if (!viewed.ok()) {
      std::fprintf(stderr, "pinstream: view error: %s\n", viewed.message().c_str());
      *exit_code = kExitConfig;
      return;
    }
    const auto* http = cfg->Section<connectors::http::HttpConfig>(connectors::http::kHttpSection);
    std::printf("%s: valid — data_dir %s, %zu sources, %zu queries, %zu views, %zu jobs%s\n",
                config->c_str(), cfg->data_dir.c_str(), sources, queries,
                cfg->queries.size() - queries, cfg->jobs.size(),
                http != nullptr
                    ? (", HTTP on " + http->host + ":" + std::to_string(http->port)).c_str()
                    : "");
    for (const auto& q : cfg->queries) {
      if (!q.view.empty()) continue;
      std::string sink =
          q.sink.spec->TableName().empty() ? q.sink.kind : "table " + q.sink.spec->TableName();
      std::printf("  query %-12s %zu operators → %s (trigger %s)\n", q.name.c_str(),
                  q.operators.size(), sink.c_str(), q.trigger.ToString().c_str());
    }
    for (const auto& q : cfg->queries) {
      if (q.view.empty()) continue;
      std::string inputs;
      for (const auto& s : q.sources)
        inputs += (inputs.empty() ? "" : ", ") + cfg->sources.at(s).spec->TableName();
      std::printf("  view  %-12s %zu operators over %s → table %s (live)\n", q.name.c_str(),
                  q.operators.size(), inputs.c_str(), q.sink.spec->TableName().c_str());
    }
    *exit_code = kExitOk;
  });
}

}  // namespace pinstream::app
