// A table version's changes as rows with weights — what a streaming reader of the table (kind:
// delta, connectors/table) reads, and Delta's change data feed in spirit.
//
// The changes of version v are, in this fixed order:
//   1. the rows it removed, weight -1:
//        a changes commit (StageChanges): for each chunk whose deletion vector it replaced (in
//        the order its log entry lists them), the rows live at v-1 and not at v, in row order;
//        an overwrite: every row live at v-1, in live-set order;
//   2. the rows it added, weight +1 (weights left empty when there is no retraction), in the
//      order of its chunks.
// Their number is ChangeRowCount(commit) (rows removed + rows added). A version that changes no
// data (dataChange false: OPTIMIZE, VACUUM) has none. Reading needs the versions v-1 and v to be
// readable (not removed by VACUUM): otherwise OutOfRange naming the oldest readable version.
//
// Threading: as DeltaTable's reads (any thread; a snapshot each).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/record_batch.h"
#include "engine/status.h"
#include "state/table_log.h"

namespace pinstream::state {

class DeltaTable;

// Rows removed plus rows added by the commit; 0 when it changes no data.
std::int64_t ChangeRowCount(const CommitInfo& commit);

// Calls `visit` with the changes of `commit` (a version of `table`) in the order above, a chunk
// at a time. `columns`: the columns to decode (those the version's schema lacks are left out,
// so batches of one version may differ in columns); empty = every column of the schema.
[[nodiscard]] Status ScanVersionChanges(const DeltaTable& table, const CommitInfo& commit,
                                        const std::vector<std::string>& columns,
                                        const std::function<Status(RecordBatch&&)>& visit);

}  // namespace pinstream::state
