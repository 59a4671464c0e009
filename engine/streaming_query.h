// StreamingQuery: one configured query — sources → operators (on shards) → sink — run as a
// sequence of exactly-once micro-batches under its trigger.
//
// Start() performs recovery: it checks the stored query metadata against the config (refusing
// incompatible changes), and if offsets/N exists without commits/N it arranges for batch N to be
// re-run with exactly the logged offsets before anything new is planned.
//
// One batch:
//   query thread: plan (MicroBatchPlanner) → read the ranges and route chunks to the shards →
//   operators → keyed state changes into the batch's CommitTxn → hand-off to a commit thread;
//   commit thread: sink.Prepare (encoding, needs nothing committed) → [wait for batch N-1's
//   commit] → write offsets/N (durable) → sink.StagePrepared + dead-letter rows into the same
//   CommitTxn → QueryCheckpoint::Commit (with commits/N) → progress report.
// Pipelined commits: while batches N and N+1 wait for or run their commit (kMaxInFlight), Run()
// already plans, reads and processes N+2 (the shards' in-memory state after N+1 is what N+2
// starts from). offsets/N+1 is written only once commits/N is durable, so the checkpoint never
// holds more than one planned-but-uncommitted batch and recovery stays as it was: offsets/N
// without commits/N → re-run batch N with exactly those offsets. If batch N's commit fails, the
// later batches (which wait for it and do nothing) are dropped, the operators are rebuilt from
// committed state and N is retried. A source whose ownership depends on commits (a Kafka
// consumer-group member) opts out (Source::AllowsReadAheadOfCommit) and its query runs one batch
// at a time.
// A retryable failure (source unavailable, storage busy) retries the same batch with backoff,
// after rebuilding the operators from committed state; any other failure stops the query with
// the error (state "failed"), and nothing of the failed batch is visible.
//
// Threading: Run() (or RunNextBatch) on one thread, plus the commit thread it starts per batch
// (sink and dead-letter Prepare and Stage, offsets/N, the commit, the progress listener); Stop(),
// Wake() and snapshot() from any.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/micro_batch_planner.h"
#include "engine/progress.h"
#include "engine/shard_executor.h"
#include "engine/sink.h"
#include "engine/source.h"
#include "engine/watermark.h"

namespace pinstream {

enum class QueryState { kInitializing, kActive, kIdle, kRetrying, kFinished, kStopped, kFailed };
std::string_view QueryStateName(QueryState s);

struct QuerySnapshot {
  std::string name, id, run_id;
  QueryState state = QueryState::kInitializing;
  std::string error;
  std::int64_t batches_committed = 0;
  std::int64_t last_batch_id = -1;
  std::int64_t backlog_records = 0;
  std::int64_t input_rows_total = 0;
  std::int64_t output_rows_total = 0;
  std::int64_t dead_letter_rows_total = 0;
};

struct BatchInputs;  // where each chunk of a running batch came from (streaming_query.cc)
class DeadLetterBuilder;
struct PreparedBatch;  // a processed batch on its way to commit (streaming_query.cc)

struct QueryParts {
  const QueryConfig* config = nullptr;
  std::vector<std::unique_ptr<Source>> sources;  // in config->sources order
  std::vector<std::string> source_descriptors;   // SourceSpec::Descriptor(), same order
  std::vector<StreamSchema> source_schemas;      // SourceSpec::DeclaredSchema(), same order
  std::unique_ptr<Sink> sink;
  std::unique_ptr<Sink> dead_letter;  // null: rejected rows fail the batch (never dropped)
  std::unique_ptr<QueryCheckpoint> checkpoint;
  int default_shards = 0;  // used when config->shards == 0; 0 = hardware concurrency
  std::int64_t retry_initial_us = 200'000;
  std::int64_t retry_max_us = 30'000'000;
};

// What one planning step of a query came to.
enum class BatchOutcome {
  kRan,         // a batch was processed and handed to its commit (and committed, when waited for)
  kNothingNew,  // the sources had nothing past the committed offsets: no batch
};

// What a checkpoint written by `config` records of it (compared with CheckMetadataCompatible):
// its sources ("<name>:<kind>:<descriptor>"), stateful operators and named inputs.
QueryMetadata MetadataOf(const QueryConfig& config, const std::vector<std::string>& source_kinds,
                         const std::vector<std::string>& source_descriptors);

class StreamingQuery {
 public:
  StreamingQuery(QueryParts parts, ProgressListener listener);
  ~StreamingQuery();

  [[nodiscard]] Status Start();
  // A query whose Start() failed on damaged stored data (its checkpoint) and that the daemon
  // keeps, failed, so that the other queries run: /queries shows `st`; Run() returns it at once.
  void FailBeforeRunning(Status st);
  // Runs triggers until the trigger is done (Once / AvailableNow), Stop() is called, or the
  // query fails (the returned error).
  [[nodiscard]] Status Run();
  // Plans and runs at most one batch (a pending replay first) and waits for its commit.
  Result<BatchOutcome> RunNextBatch(bool apply_cap,
                                    const std::map<std::string, PartitionOffsets>* bound);

  void Stop();
  void Wake();
  bool stop_requested() const { return stop_.load(); }
  // A live view started over by Start(): its statement changed since its checkpoint was written.
  bool view_reset() const { return view_reset_; }

  QuerySnapshot snapshot() const;
  const std::string& name() const { return config_->name; }
  const QueryConfig& config() const { return *config_; }
  // The checkpoint's metadata (valid after a successful Start()).
  const QueryMetadata& metadata() const { return meta_; }
  std::int64_t next_batch_id() const { return next_batch_; }
  // Records available beyond the committed offsets (counting sources), as of the last plan.
  std::int64_t backlog_records() const { return backlog_.load(); }

 private:
  // Opens the sources and sinks not open yet (a retryable failure leaves them for the next try).
  Status OpenConnectors();
  Status BuildExecutor();
  // Folds the state deltas of stateful operators into snapshots when more than `max_deltas` pile
  // up (at start and every kCompactEvery batches), so that loading state stays quick.
  Status CompactStateIfNeeded(std::size_t max_deltas);
  // Plans (or takes the pending replay) and processes one batch, then hands it to a commit
  // thread (first waiting for the oldest batch in flight when kMaxInFlight are). With `wait`,
  // also waits for its commit.
  Result<BatchOutcome> RunBatch(bool apply_cap,
                                const std::map<std::string, PartitionOffsets>* bound, bool wait);
  // Reads and processes a planned batch on the shards; everything the commit needs.
  Result<std::unique_ptr<PreparedBatch>> ProcessBatch(const BatchPlan& plan,
                                                      std::int64_t trigger_start_ms,
                                                      std::int64_t planning_ns);
  // The commit thread's part: once `prev` (the batch before, if still in flight) committed,
  // writes offsets/N, stages the sinks, commits, reports progress.
  Status CommitBatch(PreparedBatch& b, const std::shared_future<Status>& prev);
  // Waits for the oldest batch in flight. On success the sources learn its ends; on failure the
  // query goes back to that batch (pending replay if its offsets are logged, later batches
  // dropped, operators rebuilt) and the error is returned.
  Status FinishOldest();
  Status FinishInFlight();   // FinishOldest() until nothing is in flight
  Status FinishCommitted();  // FinishOldest() for the batches already done, without waiting
  void RebuildExecutor();
  // Folds state deltas into a snapshot on a thread of its own (`k:<query>`) when enough changed
  // since the last one (one at a time); batches go on committing meanwhile: the compaction
  // replaces only the snapshot and deltas it read, later deltas stay. Loading state
  // (BuildExecutor) and stopping wait for it.
  void MaybeCompactStateInBackground(const std::vector<StateOperatorProgress>& ops);
  void WaitForCompaction();
  Status ReadAndSubmit(const BatchPlan& plan, std::vector<std::int64_t>* rows_per_source,
                       BatchInputs* inputs, DeadLetterBuilder* dlq);
  void SetState(QueryState s, std::string error = {});
  bool WaitFor(std::int64_t micros);  // false when woken by Stop()

  const QueryConfig* config_;
  std::vector<std::unique_ptr<Source>> sources_;
  std::vector<std::string> source_descriptors_;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<Sink> dead_letter_;
  std::vector<bool> source_open_;
  bool sink_open_ = false, dead_letter_open_ = false;
  bool view_reset_ = false;
  Status start_failure_;  // FailBeforeRunning(): Run() returns it
  std::unique_ptr<QueryCheckpoint> checkpoint_;
  ProgressListener listener_;
  int num_shards_;
  std::int64_t retry_initial_us_, retry_max_us_;

  std::unique_ptr<MicroBatchPlanner> planner_;
  std::unique_ptr<ShardExecutor> executor_;
  std::vector<StreamSchema> source_schemas_;
  QuerySchemas schemas_;        // derived at Start
  StreamSchema output_schema_;  // what reaches the sink
  bool has_stateful_ = false;
  // The watermark of the next batch, and the one the last processed batch ran with.
  WatermarkTracker watermark_{{}};
  std::int64_t last_batch_watermark_ = kNoWatermark;
  struct WatermarkState {
    WatermarkTracker tracker{{}};
    std::int64_t last_batch = kNoWatermark;
  };
  QueryMetadata meta_;
  std::string run_id_;
  std::int64_t next_batch_ = 0;
  std::optional<OffsetLogEntry> pending_;  // logged, not committed: replay before planning
  // Ends of the last batch committed or on its way to commit (what the next batch starts from).
  std::map<std::string, PartitionOffsets> committed_ends_;
  // Processed batches waiting for or running their commit, oldest first; each runs on its own
  // commit thread after the one before it committed.
  struct InFlight;
  std::deque<std::unique_ptr<InFlight>> in_flight_;
  static constexpr std::size_t kMaxInFlight = 2;
  bool read_ahead_ = true;          // every source allows processing N+1 while N commits
  std::future<Status> compaction_;  // the state compaction running in the background, if any
  std::int64_t compaction_batches_ = 0, compaction_changes_ = 0;  // since the last one
  std::int64_t last_trigger_start_ms_ = 0;

  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> backlog_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  QuerySnapshot snap_;
};

// Generates a random (version 4) UUID.
std::string NewUuid();

}  // namespace pinstream
