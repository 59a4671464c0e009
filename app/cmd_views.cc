// `pinstream views list` and `pinstream views explain NAME`: the live views of a config, their
// logical plans and, where a view lowers, its operator graph with each stateful operator's state
// rows and bytes — from the running daemon (GET /queries/NAME/state) or, when none answers, from
// the view's checkpoint in the data dir (app/query_state.h).

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "app/admin_client.h"
#include "app/commands.h"
#include "app/query_state.h"
#include "views/lowering.h"
#include "views/view_query.h"
#include "views/views_config.h"

namespace pinstream::app {

namespace {

// Loads the config and plans its views; prints the error and returns nullopt on failure.
struct LoadedViews {
  std::unique_ptr<connectors::ConnectorEnv> env;
  std::unique_ptr<Registries> reg;
  DaemonConfig config;
  std::vector<views::PlannedView> planned;
};

std::optional<LoadedViews> LoadViews(const std::string& config_path, int* exit_code) {
  auto env = std::make_unique<connectors::ConnectorEnv>();
  auto reg = BuildRegistries(env.get());
  auto cfg = LoadConfigOrReport(config_path, *reg);
  if (!cfg) {
    *exit_code = kExitConfig;
    return std::nullopt;
  }
  LoadedViews out{std::move(env), std::move(reg), std::move(*cfg), {}};
  auto planned = views::PlanViews(out.config);
  if (!planned.ok()) {
    std::fprintf(stderr, "pinstream: view error: %s\n", planned.status().message().c_str());
    *exit_code = kExitConfig;
    return std::nullopt;
  }
  out.planned = std::move(planned).value();
  return out;
}

// A view table's operator state: from the daemon running the config, else from the checkpoint
// in its data dir; null when neither has it (not started yet). `from` says which answered.
std::optional<nlohmann::json> StateOf(const DaemonConfig& cfg, const std::string& table,
                                      std::string* from) {
  auto reply = CallDaemon(cfg, "GET", "/queries/" + table + "/state", "read the view's state",
                          std::chrono::seconds(10));
  if (reply.ok() && reply->status == 200) {
    *from = "the running daemon";
    return nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  }
  if (reply.ok() && reply->status != 404) return std::nullopt;
  if (cfg.data_dir.empty() || !std::filesystem::exists(cfg.data_dir)) return std::nullopt;
  auto store = state::Store::OpenReader(cfg.data_dir);
  if (!store.ok()) return std::nullopt;
  auto state = QueryStateJson(store->get(), table);
  if (!state.ok()) return std::nullopt;
  *from = "the checkpoint in " + cfg.data_dir;
  return nlohmann::json::parse(state->dump());
}

std::string BytesText(std::int64_t b) {
  if (b < 1024) return fmt::format("{} B", b);
  if (b < (1 << 20)) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{:.1f} MiB", b / 1048576.0);
}

// "N rows, B" of one operator's state entry.
std::string StateText(const nlohmann::json& op) {
  std::string rows = op.contains("rows") && op["rows"].is_number()
                         ? fmt::format("{} rows", op["rows"].get<std::int64_t>())
                         : std::string("? rows");
  return rows + ", " + BytesText(op.value("bytes", std::int64_t{0}));
}

// The state id of each input and node of a lowered view table, by name (its query's slots).
std::map<std::string, std::string> StateIdsOf(const LoadedViews& loaded, const views::PlannedView& v,
                                              const views::LoweredView& lowered) {
  DaemonConfig scratch = loaded.config;
  auto q = views::MakeViewQuery(v, lowered, scratch, *loaded.reg);
  std::map<std::string, std::string> ids;
  if (!q.ok()) return ids;
  for (const auto& slot : q->slots) {
    // An input's select is named "<input>:select", a node as the node.
    ids[slot.name.substr(0, slot.name.find(':'))] = slot.state_id;
  }
  return ids;
}

std::string ColumnsText(const views::PlanNode& plan) {
  std::string out;
  for (const auto& c : plan.columns) {
    out += (out.empty() ? "" : ", ") + c.name + " " + std::string(TypeName(c.type));
  }
  return out;
}

}  // namespace

void AddViewsCommands(CLI::App& app, int* exit_code) {
  auto* views_cmd = app.add_subcommand("views", "live SQL views: their tables and plans");
  views_cmd->require_subcommand(1);

  auto* list = views_cmd->add_subcommand("list", "the config's views, their tables and columns");
  auto list_config = std::make_shared<std::string>();
  auto list_format = std::make_shared<std::string>("table");
  list->add_option("--config,-c", *list_config, "pipeline config (YAML)")->required();
  list->add_option("--format", *list_format,
                   "table, or jsonl: one object per view table with its columns and SQL")
      ->check(CLI::IsMember({"table", "jsonl"}));
  list->callback([=] {
    auto loaded = LoadViews(*list_config, exit_code);
    if (!loaded) return;
    if (*list_format == "jsonl") {
      for (const auto& v : loaded->planned) {
        nlohmann::ordered_json j;
        j["view"] = v.config->name;
        j["table"] = v.table;
        j["sql_file"] = v.config->sql_file;
        j["statement"] = v.statement + 1;
        j["sql"] = views::StatementText(*v.config->sql, v.statement);
        j["columns"] = nlohmann::ordered_json::array();
        for (const auto& c : v.plan->columns) {
          j["columns"].push_back({{"name", c.name}, {"type", std::string(TypeName(c.type))}});
        }
        std::printf("%s\n", j.dump().c_str());
      }
      *exit_code = kExitOk;
      return;
    }
    if (loaded->planned.empty()) {
      std::printf("no views in %s\n", list_config->c_str());
      *exit_code = kExitOk;
      return;
    }
    std::printf("%-18s %-18s %-26s %-26s %s\n", "VIEW", "TABLE", "SQL", "STATE", "COLUMNS");
    std::size_t lowered = 0;
    std::string from;
    for (const auto& v : loaded->planned) {
      std::string sql = v.config->sql_file;
      if (sql.rfind(loaded->config.config_dir + "/", 0) == 0) {
        sql = sql.substr(loaded->config.config_dir.size() + 1);
      }
      if (v.config->tables.size() > 1) sql += " #" + std::to_string(v.statement + 1);
      std::string state;
      if (!views::LowerPlan(*v.config->sql, v.statement, *v.plan).ok()) {
        state = "(not lowered yet)";
      } else {
        ++lowered;
        auto st = StateOf(loaded->config, v.table, &from);
        if (!st || !st->is_object()) {
          state = "(not started)";
        } else {
          std::int64_t rows = 0, bytes = 0;
          for (const auto& op : (*st)["operators"]) {
            if (op["rows"].is_number()) rows += op["rows"].get<std::int64_t>();
            bytes += op.value("bytes", std::int64_t{0});
          }
          state = fmt::format("{} rows, {}", rows, BytesText(bytes));
        }
      }
      std::printf("%-18s %-18s %-26s %-26s %s\n", v.config->name.c_str(), v.table.c_str(),
                  sql.c_str(), state.c_str(), ColumnsText(*v.plan).c_str());
    }
    std::printf("\n%zu view table(s), %zu of them run by the daemon%s\n", loaded->planned.size(),
                lowered, from.empty() ? "" : (" (state from " + from + ")").c_str());
    if (lowered < loaded->planned.size()) {
      std::printf("a view not lowered yet makes `pinstream run` refuse the config (views explain "
                  "NAME says why)\n");
    }
    *exit_code = kExitOk;
  });

  auto* explain = views_cmd->add_subcommand("explain", "a view's logical plan");
  auto name = std::make_shared<std::string>();
  auto explain_config = std::make_shared<std::string>();
  explain->add_option("name", *name, "view name, or one of its tables (NAME_a, …)")->required();
  explain->add_option("--config,-c", *explain_config, "pipeline config (YAML)")->required();
  explain->callback([=] {
    auto loaded = LoadViews(*explain_config, exit_code);
    if (!loaded) return;
    int shown = 0;
    for (const auto& v : loaded->planned) {
      if (v.config->name != *name && v.table != *name) continue;
      std::printf("%sview %s → table %s (%s, statement %zu of %zu)\n", shown ? "\n" : "",
                  v.config->name.c_str(), v.table.c_str(), v.config->sql_file.c_str(),
                  v.statement + 1, v.config->tables.size());
      std::printf("logical plan:\n%s", views::Explain(*v.plan).c_str());
      auto lowered = views::LowerPlan(*v.config->sql, v.statement, *v.plan);
      if (lowered.ok()) {
        std::string from;
        auto st = StateOf(loaded->config, v.table, &from);
        std::map<std::string, nlohmann::json> by_id;
        if (st && st->is_object()) {
          for (const auto& op : (*st)["operators"]) by_id[op.value("stateId", "")] = op;
        }
        std::map<std::string, std::string> ids = StateIdsOf(*loaded, v, *lowered);
        std::printf("operator graph (changes flow down; state %s):\n",
                    from.empty() ? "none yet: the view has not run" : ("from " + from).c_str());
        for (std::size_t i = 0; i < lowered->graph.size(); ++i) {
          // "in1: …" or "n3 ← in1, n2: …": the input or node the line is.
          const std::string& line = lowered->graph[i];
          std::string state;
          auto id = ids.find(line.substr(0, line.find_first_of(": ")));
          if (id != ids.end()) {
            auto it = by_id.find(id->second);
            if (it != by_id.end()) state = "  [state: " + StateText(it->second) + "]";
          }
          std::printf("  %zu. %s%s\n", i + 1, lowered->graph[i].c_str(), state.c_str());
        }
      } else {
        std::printf("operator graph: not lowered yet — %s\n",
                    lowered.status().message().c_str());
      }
      ++shown;
    }
    if (shown == 0) {
      std::string names;
      for (const auto& v : loaded->planned) names += (names.empty() ? "" : ", ") + v.table;
      std::fprintf(stderr, "pinstream: no view named %s (views: %s)\n", name->c_str(),
                   names.empty() ? "none" : names.c_str());
      *exit_code = kExitConfig;
      return;
    }
    *exit_code = kExitOk;
  });
}

}  // namespace pinstream::app
