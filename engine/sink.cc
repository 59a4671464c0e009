#include "engine/sink.h"

#include <fmt/format.h>

namespace pinstream {

namespace {
constexpr const char* kRemedy =
    "write it to a delta table (kind: delta), which applies retractions as a changes commit, or "
    "make the query's output insert-only (an aggregate with output_mode: append, a join of "
    "insert-only inputs)";
}  // namespace

Status RequireInsertOnly(const SinkContext& ctx, std::string_view sink) {
  if (ctx.changes == ChangeKind::kInsertOnly) return Status::Ok();
  return FailedPrecondition(
      fmt::format("query '{}': sink {} only appends rows, but the query's output is {}; {}",
                  ctx.query_name, sink, ChangeKindName(ctx.changes), kRemedy));
}

Status RefuseRetractions(const SinkContext& ctx, std::string_view sink,
                         const std::vector<RecordBatch>& output) {
  for (const auto& b : output) {
    for (std::size_t r = 0; r < b.num_rows() && b.has_weights(); ++r) {
      if (b.weight(r) != 1) {
        return FailedPrecondition(
            fmt::format("query '{}': sink {} only appends rows, but a row of the output has weight "
                        "{} (a retraction or change); {}",
                        ctx.query_name, sink, b.weight(r), kRemedy));
      }
    }
  }
  return Status::Ok();
}

}  // namespace pinstream
