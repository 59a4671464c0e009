// The pinstream binary's composition root: the only place that names every folder (engine,
// state, operators, connectors) and wires them together. Each subcommand lives in its own
// cmd_*.cc and registers itself from main.cc's explicit list.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "connectors/connector_env.h"
#include "engine/config.h"
#include "engine/record_batch.h"
#include "engine/registry.h"

namespace pinstream::state {
class Store;
}

namespace pinstream::app {

// Exit codes.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;   // runtime failure
constexpr int kExitConfig = 2;  // bad config or usage

// Every registry filled from the explicit lists in operators/ and connectors/.
std::unique_ptr<Registries> BuildRegistries(connectors::ConnectorEnv* env);

// Loads a config; prints the error (file:line:col) and returns nullopt on failure.
std::optional<DaemonConfig> LoadConfigOrReport(const std::string& path, const Registries& reg);

// Where read commands find the data: --data-dir, else -c CONFIG's data_dir, else
// $PINSTREAM_DATA_DIR. Empty (with a message printed) when none is given.
struct DataDirOptions {
  std::string data_dir;
  std::string config;
  void Add(CLI::App* cmd);
  std::string Resolve() const;
};

// Opens the data dir read-only (works while a daemon runs); prints the error on failure.
std::unique_ptr<state::Store> OpenForReading(const std::string& data_dir);
// Opens it for writing (refused while a daemon runs); prints the error on failure.
std::unique_ptr<state::Store> OpenForWriting(const std::string& data_dir);

// Prints `columns` (name, values; all of one length) as a text table, cells cut at `max_width`.
void PrintColumns(std::vector<std::pair<std::string, Column>> columns, std::size_t max_width);

// Logs go to stderr in `format` (engine/logging.h), times in UTC. main() sets up text at info for
// every command; `run` applies the config's log section. Call from one thread at a time.
void SetupLogging(const std::string& level, LogFormat format = LogFormat::kText);
int Fail(const Status& st);  // prints "pinstream: <message>", returns kExitError

// Subcommand registration.
void AddRunCommand(CLI::App& app, int* exit_code);
void AddValidateCommand(CLI::App& app, int* exit_code);
void AddTableCommands(CLI::App& app, int* exit_code);
void AddCheckpointCommands(CLI::App& app, int* exit_code);
void AddEmulateCommand(CLI::App& app, int* exit_code);
void AddSqlCommands(CLI::App& app, int* exit_code);
void AddJobsCommands(CLI::App& app, int* exit_code);
void AddKafkaMockCommand(CLI::App& app, int* exit_code);
void AddMaintenanceCommands(CLI::App& app, int* exit_code);
void AddViewsCommands(CLI::App& app, int* exit_code);
void AddConfigCommands(CLI::App& app, int* exit_code);
void AddReloadCommand(CLI::App& app, int* exit_code);

}  // namespace pinstream::app
