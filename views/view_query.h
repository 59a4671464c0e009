// A live view as a streaming query: what `pinstream run` starts for every view of the config.
//
// AddViewQueries plans every view (views_config.h), lowers each statement (lowering.h) and adds
// to the config, after its queries, one query per view table, named as that table:
//
//   sources   one delta source per table the view reads (`kind: delta`, read from version 0,
//             `whole_versions: true`: a batch consumes whole versions), named
//             `view.<view table>.<table>`
//   operators the lowered view's operators, one shard (the view's state is one StateTable per
//             stateful operator)
//   sink      the view's table: `kind: delta`, changes commits keyed by every column (multiset
//             semantics), `consolidate: true` (a batch whose changes cancel writes no version)
//             and `record_input_versions: true` (each version's operationMetrics name the input
//             versions it is the answer over: `inputVersion.<table>`)
//
// Each batch commits the operators' state, the view's new version and the source offsets (the
// input versions consumed) in one transaction: the engine's exactly-once commit. So the daemon
// starts, stops, drains and reloads views as it does queries, and /queries lists them
// (QueryConfig::view names the view).
//
// The lowered graph (lowering.h) has the engine's multi-input query shape — one named input per
// table scan headed by its select, then named nodes consuming inputs and nodes by name — and
// AddToQuery puts it into the QueryConfig; this file names a delta source for each input, the
// sink, and the file:line:column of each operator's errors. So joins, UNION ALL and the other
// several-input nodes run as they lower, with nothing to add here.
//
// At start (the store open) the engine derives the query's schemas from each input table's
// stored schema; the view's select operator refuses a column whose stored type differs from the
// one the view was planned with, with the SQL file's line:column of the table in FROM.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/registry.h"
#include "views/lowering.h"
#include "views/views_config.h"

namespace pinstream::views {

// The query running view table `planned`, lowered as `lowered`; its delta sources are added to
// `cfg.sources`. `registries` parse the delta source and sink.
Result<QueryConfig> MakeViewQuery(const PlannedView& planned, const LoweredView& lowered,
                                  DaemonConfig& cfg, const Registries& registries);

// Plans and lowers every view of `cfg` and appends its queries (and their sources); a column the
// config leaves untyped is planned with its table's stored schema's type when the store is open
// (registries' connector env) and the table has a version — `pinstream run` plans views after
// opening the store. An error
// (InvalidArgument) names the SQL file's line:column: a view that does not plan or lower, or a
// view whose name is a query's.
Status AddViewQueries(DaemonConfig& cfg, const Registries& registries);

}  // namespace pinstream::views
