// DeltaSink (kind: delta): writes each batch as a new version of a delta table, in the batch's
// own commit transaction (exactly once: the version carries txn{query id, epoch, batch}).
//
//   sink: {kind: delta, table: pin}
// A batch with no rows adds no version.
#pragma once

#include <memory>

#include "connectors/connector_env.h"
#include "engine/registry.h"

namespace pinstream::connectors {

std::shared_ptr<const SinkSpec> ParseDeltaSink(const ConfigNode& node, ConnectorEnv* env);

}  // namespace pinstream::connectors
