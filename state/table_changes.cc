#include "state/table_changes.h"

#include <fmt/format.h>

#include <algorithm>

#include "state/delta_table.h"

namespace pinstream::state {

namespace {

// The requested columns the snapshot's schema has (all of its columns when none are asked for).
std::vector<std::string> ColumnsIn(const TableSnapshot& snap,
                                   const std::vector<std::string>& wanted) {
  std::vector<std::string> out;
  if (wanted.empty()) {
    for (const auto& f : snap.schema().fields()) out.push_back(f.name);
    return out;
  }
  for (const auto& c : wanted) {
    if (snap.schema().FieldIndex(c) >= 0) out.push_back(c);
  }
  return out;
}

void SetAllWeights(RecordBatch& b, std::int64_t w) {
  b.SetWeights(std::vector<std::int64_t>(b.num_rows(), w));
}

// Positions the cursor on `chunk`; false when the chunk has no live row in the cursor's snapshot.
Result<bool> SeekChunk(TableScanCursor& cursor, ChunkId chunk) {
  for (;;) {
    PS_ASSIGN_OR_RETURN(ScanStep step, cursor.NextChunk());
    if (step == ScanStep::kFinished || chunk < cursor.chunk()) return false;
    if (cursor.chunk() == chunk) return true;
  }
}

// The rows of `chunk` live in `before` and not in `after`, weight -1.
Status VisitDeletedRows(const TableSnapshot& before, const TableSnapshot& after, ChunkId chunk,
                        const std::vector<std::string>& columns,
                        const std::function<Status(RecordBatch&&)>& visit) {
  const std::vector<VersionRange> only = {VersionRange{chunk.version, chunk.version}};
  auto was = before.OpenCursor(nullptr, &only);
  PS_ASSIGN_OR_RETURN(bool was_live, SeekChunk(*was, chunk));
  if (!was_live) return Status::Ok();
  PS_ASSIGN_OR_RETURN(RecordBatch rows, was->Decode(ColumnsIn(before, columns)));
  std::vector<std::uint8_t> gone(rows.num_rows(), 1);
  auto now = after.OpenCursor(nullptr, &only);
  PS_ASSIGN_OR_RETURN(bool still_live, SeekChunk(*now, chunk));
  if (still_live) {
    PS_ASSIGN_OR_RETURN(RecordBatch live, now->Decode({}));
    // Both hold row indexes of the stored chunk in ascending order.
    std::size_t j = 0;
    for (std::size_t i = 0; i < rows.num_rows(); ++i) {
      while (j < live.num_rows() && live.row_ids()[j] < rows.row_ids()[i]) ++j;
      if (j < live.num_rows() && live.row_ids()[j] == rows.row_ids()[i]) gone[i] = 0;
    }
  }
  rows.Compact(gone);
  if (rows.num_rows() == 0) return Status::Ok();
  SetAllWeights(rows, -1);
  return visit(std::move(rows));
}

}  // namespace

std::int64_t ChangeRowCount(const CommitInfo& commit) {
  return commit.data_change ? commit.rows_added + commit.rows_removed : 0;
}

Status ScanVersionChanges(const DeltaTable& table, const CommitInfo& commit,
                          const std::vector<std::string>& columns,
                          const std::function<Status(RecordBatch&&)>& visit) {
  if (ChangeRowCount(commit) == 0) return Status::Ok();
  const std::int64_t v = commit.version;
  PS_ASSIGN_OR_RETURN(auto after, table.Snapshot(v));
  if (commit.rows_removed > 0 && v > 0) {
    PS_ASSIGN_OR_RETURN(auto before, table.Snapshot(v - 1));
    if (commit.overwrite()) {
      std::vector<std::string> cols = ColumnsIn(*before, columns);
      PS_RETURN_IF_ERROR(before->Scan(&cols, [&](RecordBatch&& b) {
        SetAllWeights(b, -1);
        return visit(std::move(b));
      }));
    } else {
      for (const DvUpdate& dv : commit.dv_updates)
        PS_RETURN_IF_ERROR(VisitDeletedRows(*before, *after, dv.chunk, columns, visit));
    }
  }
  if (commit.rows_added == 0) return Status::Ok();
  const std::vector<VersionRange> only = {VersionRange{v, v}};
  auto cursor = after->OpenCursor(nullptr, &only);
  const std::vector<std::string> cols = ColumnsIn(*after, columns);
  for (;;) {
    PS_ASSIGN_OR_RETURN(ScanStep step, cursor->NextChunk());
    if (step == ScanStep::kFinished) break;
    PS_ASSIGN_OR_RETURN(RecordBatch rows, cursor->Decode(cols));
    PS_RETURN_IF_ERROR(visit(std::move(rows)));
  }
  return Status::Ok();
}

}  // namespace pinstream::state
