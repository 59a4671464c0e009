#include "app/commands.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "connectors/registry.h"
#include "engine/row_format.h"
#include "operators/registry.h"
#include "state/registry.h"
#include "state/store.h"
#include "views/registry.h"

namespace pinstream::app {

std::unique_ptr<Registries> BuildRegistries(connectors::ConnectorEnv* env) {
  auto reg = std::make_unique<Registries>();
  ops::RegisterOperators(reg->operators);
  connectors::RegisterConnectors(*reg, env);
  state::RegisterStateSections(reg->sections);
  views::RegisterViewSections(reg->sections);
  return reg;
}

std::optional<DaemonConfig> LoadConfigOrReport(const std::string& path, const Registries& reg) {
  try {
    return LoadConfig(path, reg);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "pinstream: config error: %s\n", e.what());
    return std::nullopt;
  }
}

void DataDirOptions::Add(CLI::App* cmd) {
  cmd->add_option("--data-dir,-d", data_dir,
                  "data directory (default: data_dir of --config, or $PINSTREAM_DATA_DIR)");
  cmd->add_option("--config,-c", config, "daemon config whose data_dir to use");
}

std::string DataDirOptions::Resolve() const {
  if (!data_dir.empty()) return data_dir;
  if (!config.empty()) {
    connectors::ConnectorEnv env;
    auto reg = BuildRegistries(&env);
    auto cfg = LoadConfigOrReport(config, *reg);
    return cfg ? cfg->data_dir : std::string();
  }
  if (const char* e = std::getenv("PINSTREAM_DATA_DIR"); e != nullptr && *e) return e;
  std::fprintf(stderr,
               "pinstream: no data dir: pass --data-dir DIR or --config CONFIG (or set "
               "PINSTREAM_DATA_DIR)\n");
  return {};
}

std::unique_ptr<state::Store> OpenForReading(const std::string& data_dir) {
  auto s = state::Store::OpenReader(data_dir);
  if (!s.ok()) {
    std::fprintf(stderr, "pinstream: %s\n", s.status().message().c_str());
    return nullptr;
  }
  return std::move(s).value();
}

std::unique_ptr<state::Store> OpenForWriting(const std::string& data_dir) {
  state::StoreOptions o;
  o.data_dir = data_dir;
  auto s = state::Store::Open(o);
  if (!s.ok()) {
    std::fprintf(stderr, "pinstream: %s\n", s.status().message().c_str());
    return nullptr;
  }
  return std::move(s).value();
}

void PrintColumns(std::vector<std::pair<std::string, Column>> columns, std::size_t max_width) {
  RecordBatch out;
  std::size_t rows = columns.empty() ? 0 : columns.front().second.size();
  for (std::size_t r = 0; r < rows; ++r) out.row_ids().push_back(r);
  for (auto& [name, column] : columns) out.AddColumn(name, std::move(column));
  std::fputs(FormatTable(out, out.num_rows(), max_width).c_str(), stdout);
}

void SetupLogging(const std::string& level, LogFormat format) {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("pinstream");  // synchronous (engine/logging.h)
    spdlog::set_default_logger(l);
    return l;
  }();
  logger->set_formatter(MakeLogFormatter(format));
  logger->set_level(spdlog::level::from_str(level));
}

int Fail(const Status& st) {
  std::fprintf(stderr, "pinstream: %s\n", st.message().c_str());
  return kExitError;
}

}  // namespace pinstream::app
