// The size of a query's operator state, operator by operator: what `pinstream views explain`
// prints beside each operator of a live view and the admin API's GET /queries/NAME/state answers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine/status.h"
#include "state/store.h"

namespace pinstream::app {

// From the query's checkpoint in `store` (the daemon's, or a reader's): an object
//   {"query": NAME, "operators": [{"stateId": "3", "kind": "view_aggregate",
//                                  "rows": 12 | null, "bytes": 4096}, ...],
//    "committedBatch": 41 | null, "committedOffsets": {source: {partition: end offset}}}
// with one entry per stateful operator of the checkpoint's metadata (rows: the StateTable's
// stored row count, null when the operator keeps no count; bytes: RocksDB's estimate of its
// state's size on disk) and the end offsets of its last committed batch. NotFound when the query has no checkpoint yet.
Result<nlohmann::ordered_json> QueryStateJson(state::Store* store, const std::string& query);

}  // namespace pinstream::app
