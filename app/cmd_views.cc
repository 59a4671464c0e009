// `pinstream views list` and `pinstream views explain NAME`: the live views of a config and their
// logical plans and, where a view lowers, its operator graph (views/). Views are planned, not run:
// the daemon refuses them until a lowered view is wired into a query (views/README.md).

#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "views/lowering.h"
#include "views/views_config.h"

namespace pinstream::app {

namespace {

// Loads the config and plans its views; prints the error and returns nullopt on failure.
struct LoadedViews {
  DaemonConfig config;
  std::vector<views::PlannedView> planned;
};

std::optional<LoadedViews> LoadViews(const std::string& config_path, int* exit_code) {
  connectors::ConnectorEnv env;
  auto reg = BuildRegistries(&env);
  auto cfg = LoadConfigOrReport(config_path, *reg);
  if (!cfg) {
    *exit_code = kExitConfig;
    return std::nullopt;
  }
  LoadedViews out{std::move(*cfg), {}};
  auto planned = views::PlanViews(out.config);
  if (!planned.ok()) {
    std::fprintf(stderr, "pinstream: view error: %s\n", planned.status().message().c_str());
    *exit_code = kExitConfig;
    return std::nullopt;
  }
  out.planned = std::move(planned).value();
  return out;
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
    std::printf("%-18s %-18s %-26s %s\n", "VIEW", "TABLE", "SQL", "COLUMNS");
    for (const auto& v : loaded->planned) {
      std::string sql = v.config->sql_file;
      if (sql.rfind(loaded->config.config_dir + "/", 0) == 0) {
        sql = sql.substr(loaded->config.config_dir.size() + 1);
      }
      if (v.config->tables.size() > 1) sql += " #" + std::to_string(v.statement + 1);
      std::printf("%-18s %-18s %-26s %s\n", v.config->name.c_str(), v.table.c_str(), sql.c_str(),
                  ColumnsText(*v.plan).c_str());
    }
    std::printf(
        "\n%zu view table(s) planned; not run: the daemon refuses views until their streaming "
        "operators exist\n",
        loaded->planned.size());
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
        std::printf("operator graph (changes flow down; not run yet):\n");
        for (std::size_t i = 0; i < lowered->graph.size(); ++i) {
          std::printf("  %zu. %s\n", i + 1, lowered->graph[i].c_str());
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
    std::printf(
        "\nviews are planned, not run: the daemon refuses them until the view's query is wired to "
        "its table source and sink\n");
    *exit_code = kExitOk;
  });
}

}  // namespace pinstream::app
