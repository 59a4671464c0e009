// `pinstream checkpoint show|rewind|reset QUERY`: inspect and repair a query's checkpoint.

#include <fmt/format.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "engine/state_table.h"
#include "engine/time_util.h"
#include "state/checkpoint_store.h"
#include "state/store.h"

namespace pinstream::app {

namespace {

int Show(const DataDirOptions& dd, const std::string& query, int last) {
  std::string dir = dd.Resolve();
  if (dir.empty()) return kExitConfig;
  auto store = OpenForReading(dir);
  if (!store) return kExitError;
  state::RocksCheckpointStore cps(store.get());
  if (query.empty()) {
    auto qs = cps.ListQueries();
    if (!qs.ok()) return Fail(qs.status());
    for (const auto& q : *qs) std::printf("%s\n", q.c_str());
    return kExitOk;
  }
  auto cp = cps.OpenQuery(query);
  if (!cp.ok()) return Fail(cp.status());
  auto meta = (*cp)->ReadMetadata();
  if (!meta.ok()) return Fail(meta.status());
  if (!*meta) return Fail(NotFound(fmt::format("no checkpoint for query '{}'", query)));
  std::printf("query:     %s\nid:        %s\ncreated:   %s\nepoch:     %lld\n", query.c_str(),
              (*meta)->id.c_str(),
              FormatTimestamp((*meta)->created_ms * 1000, TimestampStyle::kSql).c_str(),
              static_cast<long long>((*meta)->epoch));
  for (const auto& s : (*meta)->sources) std::printf("source:    %s\n", s.c_str());
  for (const auto& s : (*meta)->stateful_operators) {
    // "<state id>:<kind>:<fingerprint>"; its state lives under "<query>/<state id>".
    std::string ns = query + "/" + s.substr(0, s.find(':'));
    std::string begin = ns + std::string(1, '\0'), end = ns + std::string(1, '\x01');
    std::int64_t bytes = (*cp)->ApproximateStateBytes(begin, end);
    auto rows = StateTable::StoredRows(cp->get(), ns);
    if (!rows.ok()) return Fail(rows.status());
    std::printf("state op:  %s\n           %s~%s on disk\n", s.c_str(),
                *rows ? fmt::format("{} keys, ", **rows).c_str() : "",
                fmt::format("{} bytes", bytes).c_str());
  }
  auto lo = (*cp)->LatestOffsets();
  auto lc = (*cp)->LatestCommittedBatch();
  if (!lo.ok()) return Fail(lo.status());
  if (!lc.ok()) return Fail(lc.status());
  if (!*lo) {
    std::printf("batches:   none yet\n");
    return kExitOk;
  }
  std::int64_t latest = (*lo)->batch_id;
  std::printf(
      "latest:    offsets/%lld, commits/%s%s\n", static_cast<long long>(latest),
      *lc ? std::to_string(**lc).c_str() : "none",
      (!*lc || **lc < latest)
          ? fmt::format("  (batch {} is planned, not committed: it is re-run on start)", latest)
                .c_str()
          : "");
  std::printf("\n%-8s %-24s %10s %10s %8s  %s\n", "batch", "committed", "input", "output", "dead",
              "end offsets");
  for (std::int64_t b = std::max<std::int64_t>(0, latest - last + 1); b <= latest; ++b) {
    auto off = (*cp)->GetOffsets(b);
    auto com = (*cp)->GetCommit(b);
    if (!off.ok()) return Fail(off.status());
    if (!com.ok()) return Fail(com.status());
    if (!*off) continue;
    nlohmann::json ends = nlohmann::json::object();
    for (const auto& [src, parts] : (*off)->sources) {
      for (const auto& [p, o] : parts) ends[src][p] = o;
    }
    std::string e = ends.dump();
    if (e.size() > 100) e = e.substr(0, 97) + "...";
    if (*com) {
      std::printf("%-8lld %-24s %10lld %10lld %8lld  %s\n", static_cast<long long>(b),
                  FormatTimestamp((*com)->committed_at_ms * 1000, TimestampStyle::kSql).c_str(),
                  static_cast<long long>((*com)->num_input_rows),
                  static_cast<long long>((*com)->num_output_rows),
                  static_cast<long long>((*com)->num_dead_letter_rows), e.c_str());
    } else {
      std::printf("%-8lld %-24s %10s %10s %8s  %s\n", static_cast<long long>(b), "(not committed)",
                  "-", "-", "-", e.c_str());
    }
  }
  return kExitOk;
}

// Opens the data dir for writing (refused while a daemon runs) and runs `repair` on its
// checkpoints; the exit code.
int WithCheckpointsForWriting(const DataDirOptions& dd,
                              const std::function<int(state::RocksCheckpointStore&)>& repair) {
  std::string dir = dd.Resolve();
  if (dir.empty()) return kExitConfig;
  auto store = OpenForWriting(dir);
  if (!store) return kExitError;
  state::RocksCheckpointStore cps(store.get());
  return repair(cps);
}

}  // namespace

void AddCheckpointCommands(CLI::App& app, int* exit_code) {
  auto* cp = app.add_subcommand("checkpoint", "inspect or repair a query's checkpoint");
  cp->require_subcommand(1);
  {
    auto* cmd = cp->add_subcommand(
        "show", "metadata, offsets and commits of a query (no QUERY: list queries)");
    auto dd = std::make_shared<DataDirOptions>();
    auto query = std::make_shared<std::string>();
    auto last = std::make_shared<int>(10);
    dd->Add(cmd);
    cmd->add_option("query", *query, "query name");
    cmd->add_option("--last,-n", *last, "batches to list (default 10)");
    cmd->callback([=] { *exit_code = Show(*dd, *query, *last); });
  }
  {
    auto* cmd = cp->add_subcommand(
        "rewind", "make the next start replay the query from batch N (into new table versions)");
    auto dd = std::make_shared<DataDirOptions>();
    auto query = std::make_shared<std::string>();
    auto batch = std::make_shared<std::int64_t>(-1);
    dd->Add(cmd);
    cmd->add_option("query", *query, "query name")->required();
    cmd->add_option("--to-batch", *batch, "first batch to replay")->required();
    cmd->callback([=] {
      *exit_code = WithCheckpointsForWriting(*dd, [&](state::RocksCheckpointStore& cps) {
        std::string report;
        Status st = cps.Rewind(*query, *batch, &report);
        if (!st.ok()) return Fail(st);
        std::printf("%s\n", report.c_str());
        return kExitOk;
      });
    });
  }
  {
    auto* cmd =
        cp->add_subcommand("reset", "delete a query's checkpoint and state (its tables are kept)");
    auto dd = std::make_shared<DataDirOptions>();
    auto query = std::make_shared<std::string>();
    dd->Add(cmd);
    cmd->add_option("query", *query, "query name")->required();
    cmd->callback([=] {
      *exit_code = WithCheckpointsForWriting(*dd, [&](state::RocksCheckpointStore& cps) {
        Status st = cps.Reset(*query);
        if (!st.ok()) return Fail(st);
        std::printf(
            "query '%s': checkpoint and state deleted; its next start reads its sources from the "
            "beginning\n",
            query->c_str());
        return kExitOk;
      });
    });
  }
}

}  // namespace pinstream::app
