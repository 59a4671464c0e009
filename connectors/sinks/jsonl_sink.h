// JsonlSink (kind: jsonl): writes each batch's output as JSON Lines files in a directory.
//
// Batch N's rows go to `<path>/part-<N, 8 digits>.jsonl`, written to a hidden temporary file,
// fsynced and renamed into place while the batch is staged. A replayed batch rewrites the same
// file, so readers see every row once ("exactly-once by batch id", like Spark's file sink). A
// batch with no rows writes no file.
//
//   sink: {kind: jsonl, path: out/pin}
#pragma once

#include <memory>

#include "engine/registry.h"

namespace pinstream::connectors {

std::shared_ptr<const SinkSpec> ParseJsonlSink(const ConfigNode& node);
extern const ConfigKeys kJsonlSinkKeys;

}  // namespace pinstream::connectors
