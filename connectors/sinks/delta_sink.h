// DeltaSink (kind: delta): writes each batch as a new version of a delta table, in the batch's
// own commit transaction (exactly once: the version carries txn{query id, epoch, batch}).
//
//   sink: {kind: delta, table: pin}
// A batch with no rows adds no version. A query whose output carries changes (SinkContext::changes
// kChanges), and any batch holding a retraction, is written as a changes commit
// (DeltaTable::StageChanges): +1 rows are inserted, each -1 deletes one live row equal on the
// output's key columns (on every column when it has none) — an aggregate in update mode, so the
// table holds the current answer and time travel the answer after each batch. Complete results
// (SinkContext::changes kSnapshot: an aggregate in complete mode) overwrite the table.
#pragma once

#include <memory>

#include "connectors/connector_env.h"
#include "engine/registry.h"

namespace pinstream::connectors {

std::shared_ptr<const SinkSpec> ParseDeltaSink(const ConfigNode& node, ConnectorEnv* env);
extern const ConfigKeys kDeltaSinkKeys;

}  // namespace pinstream::connectors
