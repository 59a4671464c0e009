// libFuzzer target for the config loader (engine/config.h LoadConfigFromString with every
// registry the daemon has: sources, sinks, operators, the state and views sections): any text
// gives a typed config or a ConfigError with a message — never another exception (an uncaught
// one aborts the fuzzer), a crash, a hang or UB. Relative paths resolve against the repository's
// conf/ (the shipped configs in the seed corpus name their SQL files there).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "app/commands.h"
#include "connectors/connector_env.h"
#include "engine/config.h"

using namespace pinstream;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static connectors::ConnectorEnv env;
  static std::unique_ptr<Registries> reg = app::BuildRegistries(&env);
  std::string yaml(reinterpret_cast<const char*>(data), size);
  try {
    DaemonConfig cfg = LoadConfigFromString(yaml, "fuzz.yaml", PINSTREAM_SOURCE_DIR "/conf", *reg);
    (void)cfg;
  } catch (const ConfigError& e) {
    if (std::string(e.what()).empty()) __builtin_trap();
  }
  return 0;
}
