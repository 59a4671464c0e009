// pinstream: a stream-processing engine daemon for Pinterest-style post events.
// See README.md for the commands; each is implemented in a cmd_*.cc beside this file.

#include <CLI/CLI.hpp>
#include <cstdio>

#include "app/commands.h"
#include "app/version.h"
#include "engine/allocator.h"
#include "engine/daemon.h"

int main(int argc, char** argv) {
  using namespace pinstream::app;
  pinstream::TuneAllocatorForBatches();
  SetupLogging("info");
  CLI::App app{
      "pinstream — micro-batch stream processing into versioned delta tables, on one machine"};
  app.set_version_flag("--version",
                       std::string("pinstream ") + Version() + " (commit " + Commit() + ")");
  app.require_subcommand(1);
  int exit_code = kExitOk;
  AddRunCommand(app, &exit_code);
  AddValidateCommand(app, &exit_code);
  AddReloadCommand(app, &exit_code);
  AddTableCommands(app, &exit_code);
  AddMaintenanceCommands(app, &exit_code);
  AddCheckpointCommands(app, &exit_code);
  AddEmulateCommand(app, &exit_code);
  AddSqlCommands(app, &exit_code);
  AddJobsCommands(app, &exit_code);
  AddKafkaMockCommand(app, &exit_code);
  AddViewsCommands(app, &exit_code);
  AddConfigCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitConfig;
  }
  pinstream::DisarmExitWatchdog();  // the command has released everything (`run` armed it)
  return exit_code;
}
