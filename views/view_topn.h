// The view top-N: rank / dense_rank / row_number over a partition, keeping the rows whose rank
// is in [min_rank, max_rank] — a top-N per group (a rank bounded by a filter above it), and the
// final ORDER BY … LIMIT / OFFSET (row_number over an empty partition, rank column dropped).
//
// State: per partition an ordered multiset in a StateTable — one entry per distinct row, keyed
// [partition][partition key][order-preserving sort key][row] → its count — so a range scan
// reads the partition in rank order. A batch, for each partition it touched, reads the top
// (until the rank passes max_rank) before and after applying its changes and emits the
// difference: the rows whose rank ≤ bound changed (a row that moved from rank 2 to 1 is −1 at
// 2, +1 at 1; rows pushed out are retracted). Ranks are SQL's (and SQLite's): rank = 1 + the
// rows before with a smaller sort key (ties share it, gaps after), dense_rank = 1 + the distinct
// sort keys before, row_number numbers every row (equal sort keys ordered by the row's encoded
// values: which of two tied rows gets 1 is unspecified in SQL). Sort keys order as the batch
// SQL does: numbers numerically, strings bytewise, NULL first ascending and last descending
// unless NULLS FIRST / LAST says otherwise.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/operator.h"

namespace pinstream::views {

struct ViewSortColumn {
  int column = 0;
  bool descending = false;
  bool nulls_first = true;
};

struct ViewTopNConfig {
  std::string rank_function = "row_number";  // rank, dense_rank, row_number
  std::vector<int> partition;                // input columns (empty: one partition)
  std::vector<ViewSortColumn> order;
  std::int64_t min_rank = 1;  // keep rows whose rank is in [min_rank, max_rank]
  std::int64_t max_rank = 1;
  bool emit_rank = true;           // append the rank as an int64 column named rank_name
  std::vector<std::string> names;  // the input's column names
  std::vector<TypeId> types;       // and types
  std::string rank_name = "rank";
  std::string fingerprint;  // what the state means (the plan's text)
};

std::shared_ptr<const OperatorSpec> MakeViewTopN(ViewTopNConfig config);

}  // namespace pinstream::views
