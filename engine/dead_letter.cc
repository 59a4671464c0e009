#include "engine/dead_letter.h"

#include "engine/row_format.h"

namespace pinstream {

DeadLetterBuilder::DeadLetterBuilder(std::string query, std::int64_t batch_id,
                                     std::int64_t failed_at_us)
    : query_(std::move(query)), batch_id_(batch_id), failed_at_us_(failed_at_us) {}

void DeadLetterBuilder::Add(const DeadLetterRow& r) {
  operator_.AppendString(r.operator_name);
  reason_.AppendString(r.reason);
  source_.AppendString(r.source);
  partition_.AppendString(r.partition);
  offset_.AppendInt(r.offset);
  position_.AppendString(r.position);
  if (r.raw_missing) {
    raw_.AppendNull();
  } else {
    raw_.AppendString(r.raw);
  }
  ++rows_;
}

RecordBatch DeadLetterBuilder::Build() {
  RecordBatch b;
  for (std::size_t i = 0; i < rows_; ++i) b.row_ids().push_back(i);
  Column q(TypeId::kString), batch(TypeId::kInt64), at(TypeId::kTimestamp);
  for (std::size_t i = 0; i < rows_; ++i) {
    q.AppendString(query_);
    batch.AppendInt(batch_id_);
    at.AppendInt(failed_at_us_);
  }
  b.AddColumn("query", std::move(q));
  b.AddColumn("batch_id", std::move(batch));
  b.AddColumn("operator", std::move(operator_));
  b.AddColumn("reason", std::move(reason_));
  b.AddColumn("source", std::move(source_));
  b.AddColumn("partition", std::move(partition_));
  b.AddColumn("offset", std::move(offset_));
  b.AddColumn("position", std::move(position_));
  b.AddColumn("raw", std::move(raw_));
  b.AddColumn("failed_at", std::move(at));
  rows_ = 0;
  return b;
}

std::string RawRecordText(const RecordBatch& chunk, std::size_t row) {
  int v = chunk.FindColumn("value");
  if (v >= 0) {
    const Column& c = chunk.column(static_cast<std::size_t>(v));
    if (IsBinaryLike(c.type()) && c.IsValid(row)) return std::string(c.Str(row));
  }
  std::string out;
  AppendJsonRow(chunk, row, &out);
  return out;
}

}  // namespace pinstream
