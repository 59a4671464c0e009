// In-memory source and sink for runtime tests.
//
// FakeSource: named partitions of string records (offset = index); records can be appended
// while a query runs; Read() can be made to fail (retryable) a given number of times; every
// Read() counts in `reads` and notifies `read_cv`; LatestOffsets/OnBatchCommitted calls are
// logged in `calls`; OnRecovered's ends in `recovered`; PruneColumns calls in `pruned`, after which chunks leave `key` out unless
// it is required (`value`, the raw record, is always there, as in the log sources).
// CollectingSink: keeps the rows of committed batches only (it stages through
// CommitTxn::OnCommitted), and refuses a second commit of the same batch id like a delta table;
// `before_stage` (optional) runs first and can fail the batch.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/registry.h"
#include "engine/sink.h"
#include "engine/source.h"

namespace pinstream::testing {

class FakeSource : public Source {
 public:
  struct Data {
    std::mutex mu;
    std::map<std::string, std::vector<std::pair<std::string, std::string>>>
        partitions;  // key, value
    int fail_reads = 0;
    int reads = 0;
    std::condition_variable read_cv;
    bool read_ahead = true;                        // AllowsReadAheadOfCommit()
    std::vector<std::string> calls;                // "latest" and "committed", in call order
    std::vector<std::vector<std::string>> pruned;  // PruneColumns arguments
    std::vector<PartitionOffsets> recovered;       // OnRecovered arguments
    // When >= 0, the record at offset o arrived at arrival_us_base + o (SourceChunk's arrival
    // times); else the source does not know arrival times.
    std::int64_t arrival_us_base = -1;
  };
  explicit FakeSource(std::shared_ptr<Data> d) : d_(std::move(d)) {}
  static void Append(Data& d, const std::string& partition, const std::string& value,
                     const std::string& key = "");

  std::string_view kind() const override { return "fake"; }
  std::string Describe() const override { return "FakeSource"; }
  Status Open() override { return Status::Ok(); }
  Result<PartitionOffsets> LatestOffsets(const PartitionOffsets& committed,
                                         bool apply_limits) override;
  Status Read(const ReadRange& range, std::size_t max_chunk_rows,
              const ChunkConsumer& emit) override;
  void OnBatchCommitted(const PartitionOffsets&) override;
  void OnRecovered(const PartitionOffsets& committed_ends) override;
  bool AllowsReadAheadOfCommit() const override;
  void PruneColumns(const std::vector<std::string>& required) override;

 private:
  std::shared_ptr<Data> d_;
  bool with_key_ = true;
};

class CollectingSink : public Sink {
 public:
  struct Data {
    std::mutex mu;
    std::vector<std::string> rows;               // committed rows as JSON
    std::vector<std::int64_t> batches;           // committed batch ids
    std::vector<std::size_t> output_batch_rows;  // rows of each committed RecordBatch, in order
    std::int64_t last_batch = -1;
    std::function<Status(std::int64_t batch_id)> before_stage;  // set before the query starts
  };
  explicit CollectingSink(std::shared_ptr<Data> d) : d_(std::move(d)) {}
  std::string_view kind() const override { return "collect"; }
  std::string Describe() const override { return "CollectingSink"; }
  Status Open(const SinkContext&) override { return Status::Ok(); }
  Status Stage(std::int64_t batch_id, const std::vector<RecordBatch>& output,
               CommitTxn& txn) override;

 private:
  std::shared_ptr<Data> d_;
};

// Specs of the fakes, for configs loaded with registries of fakes (`kind: fake`, `kind: collect`):
// every instance they create shares the given data.
class FakeSourceSpec : public SourceSpec {
 public:
  explicit FakeSourceSpec(std::shared_ptr<FakeSource::Data> d) : d_(std::move(d)) {}
  std::string_view kind() const override { return "fake"; }
  std::string Descriptor() const override { return "fake"; }
  Result<std::unique_ptr<Source>> Create(const SourceCreateContext&) const override {
    return std::unique_ptr<Source>(std::make_unique<FakeSource>(d_));
  }

 private:
  std::shared_ptr<FakeSource::Data> d_;
};

class CollectingSinkSpec : public SinkSpec {
 public:
  explicit CollectingSinkSpec(std::shared_ptr<CollectingSink::Data> d) : d_(std::move(d)) {}
  std::string_view kind() const override { return "collect"; }
  std::string Descriptor() const override { return "collect"; }
  Result<std::unique_ptr<Sink>> Create(const SinkCreateContext&) const override {
    return std::unique_ptr<Sink>(std::make_unique<CollectingSink>(d_));
  }

 private:
  std::shared_ptr<CollectingSink::Data> d_;
};

// Registers `fake` (a FakeSource over `source`) and `collect` (a CollectingSink into `sink`).
void RegisterFakes(Registries& registries, std::shared_ptr<FakeSource::Data> source,
                   std::shared_ptr<CollectingSink::Data> sink);

}  // namespace pinstream::testing
