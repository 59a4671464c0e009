// ConsoleSink (kind: console): prints each batch's output to standard output, like Spark's
// console sink ("Batch: N" then a table). For development; at-least-once (a replayed batch is
// printed again).
//
//   sink: {kind: console, format: pretty | jsonl, max_rows: 20}
#pragma once

#include <memory>

#include "engine/registry.h"

namespace pinstream::connectors {

std::shared_ptr<const SinkSpec> ParseConsoleSink(const ConfigNode& node);
extern const ConfigKeys kConsoleSinkKeys;

}  // namespace pinstream::connectors
