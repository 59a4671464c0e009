// `pinstream run CONFIG` (the daemon) and `pinstream validate CONFIG`.

#include <cstdio>

#include <spdlog/spdlog.h>

#include "engine/cli/cli.h"
#include "engine/daemon.h"
#include "state/store.h"

namespace pinstream::cli {

namespace {

int RunDaemon(const std::string& config_path, const std::string& log_level) {
  // Before any thread exists (RocksDB starts some), so that every thread inherits the mask.
  BlockTerminationSignals();
  connectors::ConnectorEnv env;
  auto reg = BuildRegistries(&env);
  auto cfg = LoadConfigOrReport(config_path, *reg);
  if (!cfg) return kExitConfig;
  SetupLogging(log_level.empty() ? cfg->log.level : log_level);

  state::StoreOptions so;
  so.data_dir = cfg->data_dir;
  so.block_cache_bytes = cfg->storage.block_cache_bytes;
  so.write_buffer_bytes = cfg->storage.write_buffer_bytes;
  so.compression = cfg->storage.compression;
  so.checkpoint_retention = cfg->storage.checkpoint_retention;
  auto store = state::Store::Open(so);
  if (!store.ok()) {
    spdlog::error("{}", store.status().message());
    return kExitError;
  }
  env.store = store->get();
  state::RocksCheckpointStore checkpoints(env.store);

  DaemonParts parts;
  parts.config = &*cfg;
  parts.checkpoints = &checkpoints;
  Daemon daemon(std::move(parts));
  daemon.InstallSignalHandling();
  Status st = daemon.Start();
  if (!st.ok()) {
    spdlog::error("start-up failed: {}", st.message());
    return st.code() == StatusCode::kFailedPrecondition ? kExitConfig : kExitError;
  }
  return daemon.Run();
}

}  // namespace

void AddRunCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("run", "run the daemon: every query of CONFIG, until SIGINT/SIGTERM or until all finish");
  auto config = std::make_shared<std::string>();
  auto level = std::make_shared<std::string>();
  cmd->add_option("config", *config, "pipeline config (YAML)")->required();
  cmd->add_option("--log-level", *level, "trace, debug, info, warn, error (default: log.level of the config)");
  cmd->callback([=] { *exit_code = RunDaemon(*config, *level); });
}

void AddValidateCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("validate", "check a config without running it (exit 0 = valid, 2 = invalid)");
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
    std::printf("%s: valid — data_dir %s, %zu sources, %zu queries, %zu jobs%s\n", config->c_str(), cfg->data_dir.c_str(),
                cfg->sources.size(), cfg->queries.size(), cfg->jobs.size(),
                cfg->http.enabled ? (", HTTP on " + cfg->http.host + ":" + std::to_string(cfg->http.port)).c_str() : "");
    for (const auto& q : cfg->queries) {
      std::string sink = q.sink.spec->TableName().empty() ? q.sink.kind : "table " + q.sink.spec->TableName();
      std::printf("  query %-12s %zu operators → %s (trigger %s)\n", q.name.c_str(), q.operators.size(), sink.c_str(),
                  q.trigger.ToString().c_str());
    }
    *exit_code = kExitOk;
  });
}

}  // namespace pinstream::cli
