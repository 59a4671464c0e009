// The connector registry: the one explicit list of source and sink kinds (see registry.cc).
#pragma once

#include "connectors/connector_env.h"
#include "engine/registry.h"

namespace pinstream::connectors {

// Registers every source and sink kind and the `http:` config section. `env` must outlive the
// registries.
void RegisterConnectors(Registries& registries, ConnectorEnv* env);

}  // namespace pinstream::connectors
