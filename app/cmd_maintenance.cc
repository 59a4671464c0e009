// Table maintenance commands: `optimize` and `vacuum`. They run on the data dir when no daemon
// holds it, and through the running daemon's admin API otherwise (only the daemon writes).

#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/admin_client.h"
#include "app/commands.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/store.h"
#include "state/table_maintenance.h"

namespace pinstream::app {

namespace {

// The data dir and storage options of a maintenance command (from -c CONFIG when given).
struct Target {
  std::string data_dir;
  state::StoreOptions storage;
  std::optional<DaemonConfig> config;
};

std::optional<Target> ResolveTarget(const DataDirOptions& dd, int* exit_code) {
  Target t;
  if (!dd.config.empty()) {
    connectors::ConnectorEnv env;
    auto reg = BuildRegistries(&env);
    t.config = LoadConfigOrReport(dd.config, *reg);
    if (!t.config) {
      *exit_code = kExitConfig;
      return std::nullopt;
    }
    if (const auto* s = t.config->Section<state::StoreOptions>(state::kStorageSection))
      t.storage = *s;
  }
  t.data_dir = dd.Resolve();
  if (t.data_dir.empty()) {
    *exit_code = kExitConfig;
    return std::nullopt;
  }
  t.storage.data_dir = t.data_dir;
  return t;
}

// Opens the data dir for writing; nullopt (with *through_daemon) when a daemon holds it.
Result<std::unique_ptr<state::Store>> OpenOrDaemon(const Target& t, bool* through_daemon) {
  auto store = state::Store::Open(t.storage);
  *through_daemon = !store.ok() && store.status().code() == StatusCode::kFailedPrecondition;
  return store;
}

std::string Bytes(std::int64_t n) {
  if (n >= (1 << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1 << 20));
  if (n >= (1 << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(n) / (1 << 10));
  return fmt::format("{} B", n);
}

std::string Count(std::int64_t n, const char* what) {
  return fmt::format("{} {}{}", n, what, n == 1 ? "" : "s");
}

std::int64_t Metric(const state::CommitInfo& c, const char* name) {
  for (const auto& [k, v] : c.metrics)
    if (k == name) return v;
  return 0;
}

void PrintOptimize(const state::OptimizeReport& r) {
  for (const auto& c : r.commits) {
    std::printf("%s version %lld: OPTIMIZE rewrote %s, %s (%s) into %s (%s), %s, in %lld ms\n",
                r.table.c_str(), static_cast<long long>(c.version),
                Count(Metric(c, "versionsRewritten"), "version").c_str(),
                Count(c.chunks_removed, "chunk").c_str(), Bytes(c.bytes_removed).c_str(),
                Count(c.chunks, "chunk").c_str(), Bytes(c.bytes).c_str(),
                Count(c.rows_added, "row").c_str(),
                static_cast<long long>(Metric(c, "durationMs")));
  }
  std::printf("%s: %s; %s\n", r.table.c_str(),
              Count(static_cast<std::int64_t>(r.commits.size()), "OPTIMIZE commit").c_str(),
              r.detail.c_str());
}

Result<state::OptimizeReport> ParseOptimizeReport(const std::string& body) {
  state::OptimizeReport r;
  try {
    auto j = nlohmann::json::parse(body);
    r.table = j.at("table").get<std::string>();
    r.detail = j.value("detail", "");
    for (const auto& c : j.at("commits")) {
      PS_ASSIGN_OR_RETURN(state::CommitInfo info, state::CommitInfo::Parse(c.dump()));
      r.commits.push_back(std::move(info));
    }
  } catch (const nlohmann::json::exception& e) {
    return Corruption(fmt::format("the daemon's answer is not a report: {}", e.what()));
  }
  return r;
}

// POSTs `path` to the daemon that holds the data dir (OpenOrDaemon said it runs) and returns the
// body of its 200 answer; `busy` is OpenOrDaemon's status, which names the daemon.
Result<std::string> PostToDaemon(const Target& t, const Status& busy, const std::string& path,
                                 const std::string& what, const std::string& body = "") {
  if (!t.config) {
    return FailedPrecondition(fmt::format(
        "{}; pass -c CONFIG so that the command can ask the daemon through its admin API",
        busy.message()));
  }
  auto reply = CallDaemon(*t.config, "POST", path, what, std::chrono::hours(1), body);
  if (!reply.ok()) return reply.status();
  if (reply->status != 200) return Internal("the daemon: " + AdminErrorMessage(*reply));
  return std::move(reply->body);
}

int Optimize(const DataDirOptions& dd, const std::string& table) {
  int rc = kExitOk;
  auto target = ResolveTarget(dd, &rc);
  if (!target) return rc;
  bool through_daemon = false;
  auto store = OpenOrDaemon(*target, &through_daemon);
  if (through_daemon) {
    auto body = PostToDaemon(*target, store.status(), "/tables/" + table + "/optimize",
                             "optimize the table");
    if (!body.ok()) return Fail(body.status());
    auto report = ParseOptimizeReport(*body);
    if (!report.ok()) return Fail(report.status());
    PrintOptimize(*report);
    return kExitOk;
  }
  if (!store.ok()) return Fail(store.status());
  auto t = (*store)->Table(table, false);
  if (!t.ok()) return Fail(t.status());
  state::OptimizeOptions o;
  o.writer = "pinstream optimize";
  o.max_bytes = target->storage.MaintenanceFor(table).optimize_max_bytes;
  auto report = state::OptimizeTable(*t, o);
  if (!report.ok()) return Fail(report.status());
  PrintOptimize(*report);
  return kExitOk;
}

std::string Plural(std::int64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

void PrintVacuum(const state::VacuumResult& r) {
  const bool dry = r.outcome == state::MaintenanceOutcome::kDryRun;
  if (r.outcome == state::MaintenanceOutcome::kNothingToDo && r.log_entries_removed == 0) {
    std::printf("%s: nothing to delete; %s\n", r.table.c_str(), r.detail.c_str());
    return;
  }
  std::string head = r.table;
  if (r.outcome == state::MaintenanceOutcome::kCommitted)
    head += fmt::format(" version {}", r.commit.version);
  std::printf(
      "%s: VACUUM %s %s (%s) of %s, %s and %s; the oldest readable version %s %lld (was "
      "%lld)%s\n",
      head.c_str(), dry ? "would delete" : "deleted", Count(r.chunks_removed, "chunk").c_str(),
      Bytes(r.bytes_removed).c_str(), Count(r.versions_removed, "version").c_str(),
      Plural(r.log_entries_removed, "log entry", "log entries").c_str(),
      Count(r.deletion_vectors_removed, "deletion vector").c_str(), dry ? "would be" : "is",
      static_cast<long long>(r.oldest_readable), static_cast<long long>(r.oldest_readable_before),
      r.held_from >= 0 ? fmt::format(" (a reader holds version {})", r.held_from).c_str() : "");
  if (!r.detail.empty() && r.outcome != state::MaintenanceOutcome::kCommitted)
    std::printf("%s: %s\n", r.table.c_str(), r.detail.c_str());
}

int Vacuum(const DataDirOptions& dd, const std::string& table, const std::string& retain,
           bool dry_run) {
  int rc = kExitOk;
  auto target = ResolveTarget(dd, &rc);
  if (!target) return rc;
  std::optional<std::int64_t> retain_us;
  if (!retain.empty()) {
    auto parsed = ParseDurationMicros(retain);
    if (!parsed.ok()) {
      return Fail(
          InvalidArgument(fmt::format("--retain '{}': {}", retain, parsed.status().message())));
    }
    retain_us = *parsed;
  }
  bool through_daemon = false;
  auto store = OpenOrDaemon(*target, &through_daemon);
  if (through_daemon) {
    nlohmann::json request{{"dryRun", dry_run}};
    if (retain_us) request["retainMs"] = *retain_us / 1000;
    auto body = PostToDaemon(*target, store.status(), "/tables/" + table + "/vacuum",
                             "vacuum the table", request.dump());
    if (!body.ok()) return Fail(body.status());
    auto result = state::VacuumResult::FromJson(*body);
    if (!result.ok()) return Fail(result.status());
    PrintVacuum(*result);
    return kExitOk;
  }
  if (!store.ok()) return Fail(store.status());
  auto t = (*store)->Table(table, false);
  if (!t.ok()) return Fail(t.status());
  state::VacuumOptions o;
  o.writer = "pinstream vacuum";
  o.dry_run = dry_run;
  o.retain_us = retain_us.value_or(target->storage.MaintenanceFor(table).vacuum_retain_us);
  auto result = (*t)->Vacuum(o);
  if (!result.ok()) return Fail(result.status());
  PrintVacuum(*result);
  return kExitOk;
}

}  // namespace

void AddMaintenanceCommands(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "optimize",
      "compact a table's small chunks into large ones (OPTIMIZE; through the daemon when it runs)");
  auto dd = std::make_shared<DataDirOptions>();
  auto table = std::make_shared<std::string>();
  dd->Add(cmd);
  cmd->add_option("table", *table, "table name")->required();
  cmd->callback([=] { *exit_code = Optimize(*dd, *table); });

  auto* vac = app.add_subcommand(
      "vacuum",
      "delete what only versions older than the retention window need (VACUUM; through the "
      "daemon when it runs)");
  auto vdd = std::make_shared<DataDirOptions>();
  auto vtable = std::make_shared<std::string>();
  auto retain = std::make_shared<std::string>();
  auto dry_run = std::make_shared<bool>(false);
  vdd->Add(vac);
  vac->add_option("table", *vtable, "table name")->required();
  vac->add_option("--retain", *retain,
                  "keep the versions of this window readable, e.g. 168h, 30m, 0s (default: the "
                  "config's storage.vacuum.retain or the table's, 168h)");
  vac->add_flag("--dry-run", *dry_run, "say what would be deleted, delete nothing");
  vac->callback([=] { *exit_code = Vacuum(*vdd, *vtable, *retain, *dry_run); });
}

}  // namespace pinstream::app
