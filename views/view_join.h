// The view join and UNION ALL: weighted-change operators over two (or more) named inputs of a
// lowered view's query (lowering.h wraps them with their inputs' names).
//
//   ViewJoin      inner or left join on equality keys. Both sides' rows are kept by key in a
//                 StateTable (one entry per distinct row: its count), and a batch emits
//                 Δ(A⋈B) = ΔA⋈B_new + A_old⋈ΔB for each key it touched. Left join, unmatched
//                 eager: a left row whose key has no right row is emitted with nulls on the
//                 right; when the key's first right row arrives those rows are retracted, and
//                 emitted again when its last right row is retracted. A NULL key never matches
//                 (SQL): such a right row is dropped, such a left row passes (left join) with
//                 nulls, or is dropped (inner). No key columns: every row of each side under
//                 one key (a join to a one-row global aggregate: a scalar subquery), gathered
//                 on one shard. A left join with a residual condition (ON's conditions beside
//                 the keys): a left row's matches are the key's right rows for which it holds,
//                 and a change of a key's right rows re-decides each of its left rows (their
//                 output against the old right rows retracted, against the new ones emitted).
//   ViewUnionAll  the rows of every input, their columns renamed to the output's (weights kept).
//
// Cost per batch: each key touched is one point read (its entry: both sides' rows while small),
// all prefetched at once, and one write; a side whose rows outgrew the entry keeps one entry per
// row, scanned when the other side changes. A key with many rows on both sides costs their product when it changes, as the output
// does. Keys compare as their encoded values: join keys of different types are refused by the
// lowering (int64 = double would never match).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/operator.h"
#include "views/logical_plan.h"

namespace pinstream::views {

struct ViewJoinConfig {
  JoinKind join = JoinKind::kInner;
  std::vector<int> left_keys, right_keys;  // key columns of each input (same count, pairwise)
  // Each input's column names (the exchange routes by the key columns' names) and types.
  std::vector<std::string> left_names, right_names;
  std::vector<TypeId> left_types, right_types;
  std::vector<std::string> names;  // the output's: the left's columns, then the right's
  // Left join only (null: none): a condition over the joined row (the left's columns, then the
  // right's) deciding which right rows of a key match a left row; a left row none matches passes
  // with nulls.
  ExprPtr residual;
  std::string fingerprint;         // what the state means (the plan's text)
};

std::shared_ptr<const OperatorSpec> MakeViewJoin(ViewJoinConfig config);

// `names`: the output's column names (every input has as many columns, in the same order).
std::shared_ptr<const OperatorSpec> MakeViewUnionAll(std::vector<std::string> names,
                                                     std::vector<TypeId> types);

}  // namespace pinstream::views
