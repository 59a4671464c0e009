#include "tests/testing/fake_connectors.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/row_format.h"

namespace pinstream::testing {

void FakeSource::Append(Data& d, const std::string& partition, const std::string& value,
                        const std::string& key) {
  std::lock_guard lock(d.mu);
  d.partitions[partition].emplace_back(key, value);
}

void FakeSource::OnBatchCommitted(const PartitionOffsets&) {
  std::lock_guard lock(d_->mu);
  d_->calls.push_back("committed");
}

void FakeSource::OnRecovered(const PartitionOffsets& committed_ends) {
  std::lock_guard lock(d_->mu);
  d_->recovered.push_back(committed_ends);
}

bool FakeSource::AllowsReadAheadOfCommit() const {
  std::lock_guard lock(d_->mu);
  return d_->read_ahead;
}

Result<PartitionOffsets> FakeSource::LatestOffsets(const PartitionOffsets&, bool) {
  std::lock_guard lock(d_->mu);
  d_->calls.push_back("latest");
  PartitionOffsets out;
  for (const auto& [p, recs] : d_->partitions) out[p] = static_cast<std::int64_t>(recs.size());
  return out;
}

void FakeSource::PruneColumns(const std::vector<std::string>& required) {
  std::lock_guard lock(d_->mu);
  d_->pruned.push_back(required);
  with_key_ = std::find(required.begin(), required.end(), "key") != required.end();
}

Status FakeSource::Read(const ReadRange& range, std::size_t max_chunk_rows,
                        const ChunkConsumer& emit) {
  std::vector<std::pair<std::string, std::string>> recs;
  std::int64_t arrival_base = -1;
  {
    std::lock_guard lock(d_->mu);
    ++d_->reads;
    d_->read_cv.notify_all();
    if (d_->fail_reads > 0) {
      --d_->fail_reads;
      return Unavailable("fake source is down");
    }
    const auto& all = d_->partitions[range.partition];
    if (range.end > static_cast<std::int64_t>(all.size())) return DataLoss("range beyond the end");
    recs.assign(all.begin() + range.start, all.begin() + range.end);
    arrival_base = d_->arrival_us_base;
  }
  SourceChunk chunk;
  Column key(TypeId::kString), value(TypeId::kRaw);
  auto flush = [&]() -> Status {
    if (chunk.offsets.empty()) return Status::Ok();
    chunk.batch.row_ids().resize(chunk.offsets.size());
    if (with_key_) chunk.batch.AddColumn("key", std::move(key));
    chunk.batch.AddColumn("value", std::move(value));
    Status st = emit(std::move(chunk));
    chunk = SourceChunk();
    key = Column(TypeId::kString);
    value = Column(TypeId::kRaw);
    return st;
  };
  for (std::size_t i = 0; i < recs.size(); ++i) {
    if (recs[i].first.empty())
      key.AppendNull();
    else
      key.AppendString(recs[i].first);
    value.AppendString(recs[i].second);
    chunk.offsets.push_back(range.start + static_cast<std::int64_t>(i));
    if (arrival_base >= 0) {
      std::int64_t at = arrival_base + chunk.offsets.back();
      if (chunk.min_arrival_us < 0) chunk.min_arrival_us = at;
      chunk.max_arrival_us = at;
    }
    if (chunk.offsets.size() >= max_chunk_rows) PS_RETURN_IF_ERROR(flush());
  }
  return flush();
}

Status CollectingSink::Stage(std::int64_t batch_id, const std::vector<RecordBatch>& batches,
                             CommitTxn& txn) {
  if (d_->before_stage) PS_RETURN_IF_ERROR(d_->before_stage(batch_id));
  {
    std::lock_guard lock(d_->mu);
    if (batch_id <= d_->last_batch)
      return AlreadyExists(fmt::format("batch {} already committed", batch_id));
  }
  std::vector<std::string> rows;
  std::vector<std::size_t> sizes;
  for (const auto& output : batches) {
    sizes.push_back(output.num_rows());
    for (std::size_t r = 0; r < output.num_rows(); ++r) {
      std::string s;
      AppendJsonRow(output, r, &s);
      rows.push_back(std::move(s));
    }
  }
  auto d = d_;
  txn.OnCommitted([d, batch_id, rows = std::move(rows), sizes = std::move(sizes)] {
    std::lock_guard lock(d->mu);
    d->rows.insert(d->rows.end(), rows.begin(), rows.end());
    d->output_batch_rows.insert(d->output_batch_rows.end(), sizes.begin(), sizes.end());
    d->batches.push_back(batch_id);
    d->last_batch = batch_id;
  });
  return Status::Ok();
}

void RegisterFakes(Registries& registries, std::shared_ptr<FakeSource::Data> source,
                   std::shared_ptr<CollectingSink::Data> sink) {
  registries.sources.Register(
      "fake", "an in-memory source (tests)",
      [source](const ConfigNode&) { return std::make_shared<FakeSourceSpec>(source); }, {});
  registries.sinks.Register(
      "collect", "an in-memory sink (tests)",
      [sink](const ConfigNode&) { return std::make_shared<CollectingSinkSpec>(sink); }, {});
}

}  // namespace pinstream::testing
