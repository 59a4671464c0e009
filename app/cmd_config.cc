// pinstream config reference: every config key, from the parsers' own key tables.
#include <cstdio>

#include "app/commands.h"
#include "engine/config_reference.h"

namespace pinstream::app {

void AddConfigCommands(CLI::App& app, int* exit_code) {
  auto* config = app.add_subcommand("config", "about the config file");
  config->require_subcommand(1);
  auto* ref = config->add_subcommand(
      "reference", "every section and key with its type, default and meaning (conf/REFERENCE.md)");
  auto format = std::make_shared<std::string>("text");
  ref->add_option("--format", *format, "text (default) or markdown")
      ->check(CLI::IsMember({"text", "markdown"}));
  ref->callback([=] {
    connectors::ConnectorEnv env;
    auto reg = BuildRegistries(&env);
    std::string text = ConfigReference(
        *reg, *format == "markdown" ? ReferenceFormat::kMarkdown : ReferenceFormat::kText);
    std::fwrite(text.data(), 1, text.size(), stdout);
    *exit_code = kExitOk;
  });
}

}  // namespace pinstream::app
