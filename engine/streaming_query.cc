#include "engine/streaming_query.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <future>
#include <random>
#include <thread>

#include "engine/dead_letter.h"
#include "engine/kill_point.h"
#include "engine/logging.h"
#include "engine/thread_name.h"
#include "engine/time_util.h"

namespace pinstream {

std::string_view QueryStateName(QueryState s) {
  switch (s) {
    case QueryState::kInitializing:
      return "initializing";
    case QueryState::kActive:
      return "active";
    case QueryState::kIdle:
      return "idle";
    case QueryState::kRetrying:
      return "retrying";
    case QueryState::kFinished:
      return "finished";
    case QueryState::kStopped:
      return "stopped";
    case QueryState::kFailed:
      return "failed";
  }
  return "?";
}

std::string NewUuid() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^
                                          static_cast<std::uint64_t>(MonotonicNanos()));
  std::uint64_t a = rng(), b = rng();
  a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xFFFF, a & 0xFFFF,
                     b >> 48, b & 0xFFFFFFFFFFFFULL);
}

struct BatchInputs {
  struct Chunk {
    std::size_t source_index;
    std::string partition;
    std::vector<std::int64_t> offsets;
  };
  std::vector<Chunk> chunks;
  // The oldest and newest arrival time of the batch's records (SourceChunk), -1 when unknown.
  std::int64_t min_arrival_us = -1, max_arrival_us = -1;
};

StreamingQuery::StreamingQuery(QueryParts parts, ProgressListener listener)
    : config_(parts.config),
      sources_(std::move(parts.sources)),
      source_descriptors_(std::move(parts.source_descriptors)),
      sink_(std::move(parts.sink)),
      dead_letter_(std::move(parts.dead_letter)),
      checkpoint_(std::move(parts.checkpoint)),
      listener_(std::move(listener)),
      retry_initial_us_(parts.retry_initial_us),
      retry_max_us_(parts.retry_max_us) {
  int shards = config_->shards > 0 ? config_->shards : parts.default_shards;
  if (shards <= 0) shards = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  num_shards_ = shards;
  snap_.name = config_->name;
  std::vector<WatermarkTracker::Input> inputs;
  for (const auto& in : config_->inputs)
    inputs.push_back(
        {in.name, in.watermark.has_value(), in.watermark ? in.watermark->delay_us : 0});
  watermark_ = WatermarkTracker(std::move(inputs));
  for (const auto& slot : config_->slots) has_stateful_ = has_stateful_ || slot.spec->stateful();
  source_schemas_ = std::move(parts.source_schemas);
}

StreamingQuery::~StreamingQuery() {
  if (!in_flight_.empty()) {
    Status st = FinishInFlight();
    if (!st.ok())
      spdlog::warn("query '{}': last batch did not commit: {}", config_->name, st.ToString());
  }
  WaitForCompaction();
  executor_.reset();
  if (sink_) sink_->Close();
  if (dead_letter_) dead_letter_->Close();
}

void StreamingQuery::SetState(QueryState s, std::string error) {
  std::lock_guard lock(mu_);
  snap_.state = s;
  if (!error.empty()) snap_.error = std::move(error);
}

QuerySnapshot StreamingQuery::snapshot() const {
  std::lock_guard lock(mu_);
  QuerySnapshot s = snap_;
  s.backlog_records = backlog_.load();
  return s;
}

void StreamingQuery::Stop() {
  stop_.store(true);
  std::lock_guard lock(mu_);
  wake_ = true;
  cv_.notify_all();
}

void StreamingQuery::Wake() {
  std::lock_guard lock(mu_);
  wake_ = true;
  cv_.notify_all();
}

bool StreamingQuery::WaitFor(std::int64_t micros) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::microseconds(micros), [&] { return wake_ || stop_.load(); });
  wake_ = false;
  return !stop_.load();
}

Status StreamingQuery::BuildExecutor() {
  executor_.reset();
  // Loading state reads the snapshot, then the deltas: a compaction committing in between would
  // hide the deltas it folded.
  WaitForCompaction();
  std::vector<ShardExecutor::OperatorSlot> slots;
  for (std::size_t i = 0; i < config_->slots.size(); ++i) {
    const OperatorSlotConfig& sc = config_->slots[i];
    ShardExecutor::OperatorSlot slot{sc.name, sc.spec.get()};
    slot.input_tags = sc.input_tags;
    slot.key_columns = sc.key_columns;
    slot.output_tag = sc.output_tag;
    slot.joins_inputs = sc.joins_inputs;
    slot.passes_on = sc.passes_on;
    slot.where = sc.where;
    slot.state_id = sc.state_id;
    if (i < schemas_.slot_inputs.size()) slot.input_schemas = schemas_.slot_inputs[i];
    slots.push_back(std::move(slot));
  }
  PS_ASSIGN_OR_RETURN(executor_,
                      ShardExecutor::Create(config_->name, num_shards_,
                                            static_cast<std::size_t>(config_->queue_capacity),
                                            std::move(slots), checkpoint_.get(),
                                            static_cast<std::size_t>(config_->state.cache_bytes)));
  return Status::Ok();
}

Status StreamingQuery::CompactStateIfNeeded(std::size_t max_deltas) {
  for (std::size_t i = 0; i < config_->slots.size(); ++i) {
    if (!config_->slots[i].spec->stateful()) continue;
    std::string ns = fmt::format("{}/{}", config_->name, config_->slots[i].state_id);
    auto txn = checkpoint_->BeginCommit(-1);
    bool compacted = false;
    PS_RETURN_IF_ERROR(CompactState(checkpoint_.get(), ns, max_deltas, *txn, &compacted));
    if (!compacted) continue;
    PS_RETURN_IF_ERROR(
        checkpoint_->Apply(std::move(txn)).WithContext(fmt::format("compacting state '{}'", ns)));
    spdlog::info("query '{}': state of operator '{}' compacted into a snapshot", config_->name,
                 config_->slots[i].name);
  }
  return Status::Ok();
}

Status StreamingQuery::OpenConnectors() {
  const std::string ctx = fmt::format("query '{}'", config_->name);
  source_open_.resize(sources_.size(), false);
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    if (source_open_[i]) continue;
    PS_RETURN_IF_ERROR(
        sources_[i]->Open().WithContext(fmt::format("{} source '{}'", ctx, config_->sources[i])));
    source_open_[i] = true;
    // Column pruning: when the first operator of the source's input reads only some columns
    // (parse_json: `value`), the source need not build the others for every record.
    const std::uint16_t tag = config_->source_tags[i];
    for (const auto& slot : config_->slots) {
      if (!slot.input_tags.empty() &&
          std::find(slot.input_tags.begin(), slot.input_tags.end(), tag) == slot.input_tags.end())
        continue;
      if (auto cols = slot.spec->InputColumns(); cols && !slot.joins_inputs)
        sources_[i]->PruneColumns(*cols);
      break;
    }
  }
  SinkContext sctx{config_->name, meta_.id, meta_.epoch};
  sctx.changes = output_schema_.changes;
  sctx.key_columns = output_schema_.key_columns;
  sctx.schema = output_schema_;
  // Rows that went through a join or an aggregate were checked against the watermark there.
  for (const auto& slot : config_->slots) {
    sctx.watermark_bounds_output = sctx.watermark_bounds_output ||
                                   (slot.spec->uses_state_table() &&
                                    !output_schema_.watermark_column.empty());
  }
  if (!sink_open_) {
    PS_RETURN_IF_ERROR(sink_->Open(sctx).WithContext(ctx + " sink"));
    sink_open_ = true;
  }
  if (dead_letter_ && !dead_letter_open_) {
    // Dead letters are insert-only rows of their own shape, whatever the query's output is.
    SinkContext dctx{config_->name, meta_.id, meta_.epoch};
    PS_RETURN_IF_ERROR(dead_letter_->Open(dctx).WithContext(ctx + " dead-letter sink"));
    dead_letter_open_ = true;
  }
  return Status::Ok();
}

QueryMetadata MetadataOf(const QueryConfig& config, const std::vector<std::string>& source_kinds,
                         const std::vector<std::string>& source_descriptors) {
  QueryMetadata m;
  m.name = config.name;
  for (std::size_t i = 0; i < config.sources.size(); ++i) {
    m.sources.push_back(fmt::format("{}:{}:{}", config.sources[i],
                                    i < source_kinds.size() ? source_kinds[i] : "",
                                    i < source_descriptors.size() ? source_descriptors[i] : ""));
  }
  for (const auto& slot : config.slots) {
    if (slot.spec->stateful()) {
      m.stateful_operators.push_back(
          fmt::format("{}:{}:{}", slot.state_id, slot.spec->kind(), slot.spec->StateFingerprint()));
    }
  }
  if (config.multi_input) {
    for (const auto& in : config.inputs)
      m.inputs.push_back(fmt::format("{}={}", in.name, fmt::join(in.sources, "+")));
  }
  m.view_sql = config.view.empty() ? std::string() : config.view_sql;
  return m;
}

Status StreamingQuery::Start() {
  const std::string ctx = fmt::format("query '{}'", config_->name);
  // Metadata: what this checkpoint was written for.
  std::vector<std::string> kinds;
  for (const auto& s : sources_) kinds.emplace_back(s->kind());
  QueryMetadata current = MetadataOf(*config_, kinds, source_descriptors_);
  // What reaches each operator, from what the sources declare now (a delta table's schema is
  // known once the store is open): a config asking for something undefined is refused here,
  // with its file:line:column, before anything runs.
  {
    std::vector<StreamSchema> in_schemas(config_->inputs.size());
    std::vector<std::vector<StreamSchema>> parts(config_->inputs.size());
    for (std::size_t i = 0; i < sources_.size(); ++i)
      parts[config_->source_tags[i]].push_back(source_schemas_.size() > i ? source_schemas_[i]
                                                                          : StreamSchema());
    for (std::size_t t = 0; t < parts.size(); ++t) in_schemas[t] = MergeSourceSchemas(parts[t]);
    auto derived = DeriveQuerySchemas(*config_, in_schemas);
    if (!derived.ok()) return FailedPrecondition(derived.status().message());
    schemas_ = std::move(derived).value();
    output_schema_ = StreamSchema();
    for (const auto& s : schemas_.sink_inputs) {
      if (output_schema_.schema.size() == 0) output_schema_ = s;
      if (s.changes != ChangeKind::kInsertOnly) {
        output_schema_.changes = s.changes;
        output_schema_.key_columns = s.key_columns;
      }
    }
  }
  PS_ASSIGN_OR_RETURN(auto stored, checkpoint_->ReadMetadata());
  // A live view whose statement changed since its checkpoint was written (or whose state the new
  // statement would misread) starts over, as a view recreated: its state, offsets and table rows
  // go in one transaction below, and it recomputes from its inputs' first versions.
  std::string reset_reason;
  if (stored) {
    Status compatible = CheckMetadataCompatible(*stored, current);
    if (!config_->view.empty() && stored->view_sql != current.view_sql) {
      reset_reason = "its SQL changed since its checkpoint was written";
    } else if (!config_->view.empty() && !compatible.ok()) {
      reset_reason = "its operators changed since its checkpoint was written";
    } else {
      PS_RETURN_IF_ERROR(compatible);
      meta_ = *stored;
    }
  }
  if (!stored || !reset_reason.empty()) {
    meta_ = current;
    meta_.id = NewUuid();
    meta_.created_ms = NowMicros() / 1000;
    if (reset_reason.empty()) {
      PS_RETURN_IF_ERROR(checkpoint_->WriteMetadata(meta_).WithContext(ctx));
    }
  }
  run_id_ = NewUuid();
  {
    std::lock_guard lock(mu_);
    snap_.id = meta_.id;
    snap_.run_id = run_id_;
  }

  // An external system that is down now (a Kafka broker) does not keep the daemon from
  // starting: the query opens what is missing before each batch attempt, with backoff.
  Status opened = OpenConnectors();
  if (!reset_reason.empty()) {
    // The view's table is a local delta table: open, or the reset cannot go on.
    PS_RETURN_IF_ERROR(opened);
    auto txn = checkpoint_->BeginCommit(-1);
    checkpoint_->StageReset(*txn);
    PS_RETURN_IF_ERROR(sink_->StageReset(*txn).WithContext(
        fmt::format("view '{}' ({}) cannot be reset", config_->view, reset_reason)));
    PS_RETURN_IF_ERROR(checkpoint_->Apply(std::move(txn)).WithContext(ctx + ": resetting the view"));
    // From here the query is new: a crash now restarts it fresh, over its emptied table.
    PS_RETURN_IF_ERROR(checkpoint_->WriteMetadata(meta_).WithContext(ctx));
    view_reset_ = true;
    LogWarn({{"query", config_->name}, {"view", config_->view}, {"reason", reset_reason}},
            "view reset: its state and table rows were dropped; it recomputes its answer from its "
            "inputs' first versions");
  }
  if (Status st = opened; !st.ok()) {
    if (!st.retryable()) return st;
    spdlog::warn("{}: {} — will retry", ctx, st.ToString());
    SetState(QueryState::kRetrying, st.ToString());
  }

  std::vector<NamedSource> named;
  for (std::size_t i = 0; i < sources_.size(); ++i)
    named.push_back({config_->sources[i], sources_[i].get()});
  planner_ =
      std::make_unique<MicroBatchPlanner>(std::move(named), config_->max_records_per_trigger);

  // Recovery.
  PS_ASSIGN_OR_RETURN(auto latest, checkpoint_->LatestOffsets());
  PS_ASSIGN_OR_RETURN(auto committed, checkpoint_->LatestCommittedBatch());
  if (committed) {
    PS_ASSIGN_OR_RETURN(auto ends, checkpoint_->GetOffsets(*committed));
    if (!ends) {
      return Corruption(fmt::format(
          "{}: commits/{} exists but offsets/{} does not; the checkpoint is damaged. Run "
          "`pinstream checkpoint show {}` to inspect it, then `pinstream checkpoint rewind {} "
          "--to-batch N` to an intact batch or `pinstream checkpoint reset {}`",
          ctx, *committed, *committed, config_->name, config_->name, config_->name));
    }
    committed_ends_ = ends->sources;
    next_batch_ = *committed + 1;
    // The watermark continues from the last committed batch: its own, advanced by the event
    // times that batch and those before it saw.
    PS_ASSIGN_OR_RETURN(auto commit, checkpoint_->GetCommit(*committed));
    watermark_.Restore(ends->batch_watermark_us,
                       commit ? commit->event_time_max_us : std::map<std::string, std::int64_t>(),
                       commit ? commit->event_time_floor_us
                              : std::map<std::string, std::int64_t>());
    last_batch_watermark_ = ends->batch_watermark_us;
    watermark_.Advance();
  }
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    auto e = committed_ends_.find(config_->sources[i]);
    sources_[i]->OnRecovered(e != committed_ends_.end() ? e->second : PartitionOffsets{});
  }
  if (latest && (!committed || latest->batch_id > *committed)) {
    if (latest->batch_id != next_batch_) {
      return Corruption(fmt::format(
          "{}: offsets/{} exists but the last commit is {}; batches in between are missing. "
          "Inspect with `pinstream checkpoint show {}`",
          ctx, latest->batch_id, committed ? std::to_string(*committed) : "none", config_->name));
    }
    pending_ = *latest;
    spdlog::info(
        "{}: batch {} was planned but not committed; it will be re-run with its logged offsets",
        ctx, latest->batch_id);
  }
  PS_RETURN_IF_ERROR(CompactStateIfNeeded(32));
  PS_RETURN_IF_ERROR(BuildExecutor());
  SetState(QueryState::kIdle);
  LogInfo({{"query", config_->name},
           {"id", meta_.id},
           {"run_id", run_id_},
           {"shards", num_shards_},
           {"trigger", config_->trigger.ToString()},
           {"batch", next_batch_}},
          "query started");
  return Status::Ok();
}

struct PreparedBatch {
  BatchPlan plan;
  bool write_offsets = true;  // false for a replay: offsets/N is already logged
  bool stage_sink = true;     // false: a complete-mode batch that left the result unchanged
  // The watermark of the batch before this one: this batch's output rows hold the output's
  // watermark column >= it − the output's lag (Sink::NoteOutputBound).
  std::int64_t previous_watermark_us = INT64_MIN;
  std::atomic<bool> offsets_written{false};
  std::unique_ptr<CommitTxn> txn;
  std::vector<RecordBatch> output;
  std::vector<RecordBatch> dead_letter;  // empty, or one batch of dead-letter rows
  std::unique_ptr<Sink::Prepared> sink_prepared, dead_letter_prepared;
  std::int64_t prepare_ns = 0;
  QueryProgress progress;
  CommitLogEntry entry;
  std::int64_t t_exec = 0;       // MonotonicNanos() when processing started
  std::int64_t planning_ns = 0;  // planning, before t_exec
  std::int64_t processed_at = 0;  // MonotonicNanos() when processing ended (commit submitted)
};

struct StreamingQuery::InFlight {
  std::unique_ptr<PreparedBatch> batch;
  std::map<std::string, PartitionOffsets> prev_ends;  // committed_ends_ before this batch
  WatermarkState prev_watermark;                      // and the watermark
  std::shared_future<Status> done;
};

void StreamingQuery::RebuildExecutor() {
  // Operators may have changed in-memory state while processing a failed attempt: rebuild them
  // from committed state so that the retry starts exactly where the first attempt did.
  executor_.reset();
  Status rebuild = BuildExecutor();
  if (!rebuild.ok()) {
    spdlog::error("query '{}': rebuilding operators failed (retried before the next batch): {}",
                  config_->name, rebuild.ToString());
  }
}

Status StreamingQuery::FinishOldest() {
  std::unique_ptr<InFlight> f = std::move(in_flight_.front());
  in_flight_.pop_front();
  Status st = f->done.get();
  const PreparedBatch& b = *f->batch;
  const OffsetLogEntry& offsets = b.plan.offsets;
  if (!st.ok()) {
    // Back to this batch: re-run exactly if its offsets are logged, planned afresh otherwise.
    // The batches queued behind it did nothing (each waits for its predecessor's commit); they
    // are dropped with the shards' in-memory state.
    for (auto& later : in_flight_) later->done.wait();
    in_flight_.clear();
    if (!b.write_offsets || b.offsets_written.load()) {
      pending_ = offsets;
    } else {
      pending_.reset();
    }
    next_batch_ = offsets.batch_id;
    committed_ends_ = std::move(f->prev_ends);
    watermark_ = f->prev_watermark.tracker;
    last_batch_watermark_ = f->prev_watermark.last_batch;
    RebuildExecutor();
    return st;
  }
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    auto e = offsets.sources.find(config_->sources[i]);
    if (e != offsets.sources.end()) sources_[i]->OnBatchCommitted(e->second);
  }
  MaybeCompactStateInBackground(b.progress.state_operators);
  return Status::Ok();
}

void StreamingQuery::MaybeCompactStateInBackground(const std::vector<StateOperatorProgress>& ops) {
  if (!has_stateful_) return;
  ++compaction_batches_;
  std::int64_t rows = 0;
  for (const auto& op : ops) {
    compaction_changes_ += op.num_rows_updated + op.num_rows_removed;
    rows += op.num_rows_total;
  }
  if (compaction_.valid()) {
    if (compaction_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
    WaitForCompaction();
  }
  // A snapshot rewrites the whole state, so it waits until the deltas since the last one changed
  // a quarter of it (each change is rewritten a bounded number of times, and the tail latency
  // does not grow with the state as a fixed interval made it), or until so many deltas piled up
  // that loading them at a start would take long.
  constexpr std::int64_t kMinBatches = 128, kMaxBatches = 4096;
  if (compaction_batches_ < kMinBatches ||
      (compaction_changes_ * 4 < rows && compaction_batches_ < kMaxBatches))
    return;
  compaction_batches_ = compaction_changes_ = 0;
  compaction_ = std::async(std::launch::async, [this] {
    SetThreadName("k:" + name());
    return CompactStateIfNeeded(1);
  });
}

void StreamingQuery::WaitForCompaction() {
  if (!compaction_.valid()) return;
  Status st = compaction_.get();
  if (!st.ok())
    spdlog::warn("query '{}': state compaction failed (retried later): {}", config_->name,
                 st.ToString());
}

Status StreamingQuery::FinishInFlight() {
  while (!in_flight_.empty()) PS_RETURN_IF_ERROR(FinishOldest());
  return Status::Ok();
}

Status StreamingQuery::FinishCommitted() {
  while (!in_flight_.empty() &&
         in_flight_.front()->done.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    PS_RETURN_IF_ERROR(FinishOldest());
  }
  return Status::Ok();
}

Result<BatchOutcome> StreamingQuery::RunNextBatch(
    bool apply_cap, const std::map<std::string, PartitionOffsets>* bound) {
  return RunBatch(apply_cap, bound, /*wait=*/true);
}

Result<BatchOutcome> StreamingQuery::RunBatch(bool apply_cap,
                                              const std::map<std::string, PartitionOffsets>* bound,
                                              bool wait) {
  std::int64_t trigger_start_ms = NowMicros() / 1000;
  std::int64_t t0 = MonotonicNanos();
  // Sources learn about the batches committed meanwhile (retention, lag) before planning.
  PS_RETURN_IF_ERROR(read_ahead_ ? FinishCommitted() : FinishInFlight());
  if (!executor_) {
    // An earlier rebuild from committed state failed: try again (its error fails or retries
    // this attempt instead of a batch running without operators).
    PS_RETURN_IF_ERROR(BuildExecutor().WithContext(
        fmt::format("query '{}' rebuilding its operators from committed state", config_->name)));
  }
  BatchPlan plan;
  const bool replay = pending_.has_value();
  if (replay) {
    std::optional<OffsetLogEntry> prev;
    if (pending_->batch_id > 0) {
      PS_ASSIGN_OR_RETURN(prev, checkpoint_->GetOffsets(pending_->batch_id - 1));
    }
    PS_ASSIGN_OR_RETURN(plan, planner_->PlanFromLog(*pending_, prev ? &*prev : nullptr));
    plan.latest = plan.offsets.sources;
  } else {
    auto planned =
        planner_->PlanNext(next_batch_, trigger_start_ms, committed_ends_, bound, apply_cap);
    if (!planned.ok()) {
      PS_RETURN_IF_ERROR(FinishInFlight());
      return planned.status();
    }
    plan = std::move(planned).value();
    backlog_.store(plan.backlog_records);
    plan.offsets.batch_watermark_us = watermark_.watermark();
    plan.offsets.input_watermarks_us = watermark_.InputWatermarks();
    // Nothing new to read: still a batch when the watermark moved and stateful operators may
    // have windows to close or state to drop (Spark's no-data micro-batch).
    const bool no_data_batch = has_stateful_ && watermark_.watermark() > last_batch_watermark_;
    if (plan.empty() && !no_data_batch) {
      PS_RETURN_IF_ERROR(FinishInFlight());
      return BatchOutcome::kNothingNew;
    }
  }
  std::int64_t planning_ns = MonotonicNanos() - t0;
  SetState(QueryState::kActive);
  const WatermarkState watermark_before{watermark_, last_batch_watermark_};
  auto prepared = ProcessBatch(plan, trigger_start_ms, planning_ns);
  if (!prepared.ok()) {
    watermark_ = watermark_before.tracker;
    last_batch_watermark_ = watermark_before.last_batch;
    // The batches before this one commit (or fail, and the query goes back to them); then the
    // operators restart from what is committed.
    PS_RETURN_IF_ERROR(FinishInFlight());
    RebuildExecutor();
    return prepared.status();
  }
  // Bounded: at most kMaxInFlight processed batches wait for or run their commit.
  while (in_flight_.size() >= kMaxInFlight) PS_RETURN_IF_ERROR(FinishOldest());
  std::unique_ptr<PreparedBatch> b = std::move(prepared).value();
  b->write_offsets = !replay;
  b->progress.backlog_records = backlog_.load();
  auto f = std::make_unique<InFlight>();
  f->prev_ends = committed_ends_;
  f->prev_watermark = watermark_before;
  committed_ends_ = b->plan.offsets.sources;
  next_batch_ = b->plan.offsets.batch_id + 1;
  pending_.reset();
  PreparedBatch* raw = b.get();
  f->batch = std::move(b);
  std::shared_future<Status> prev;
  if (!in_flight_.empty()) prev = in_flight_.back()->done;
  f->done = std::async(std::launch::async, [this, raw, prev] {
              SetThreadName("c:" + name());
              return CommitBatch(*raw, prev);
            }).share();
  in_flight_.push_back(std::move(f));
  // A recovered batch is durable before anything new is planned: the first LatestOffsets() call
  // of a run then sees committed ends (see Source::LatestOffsets).
  if (wait || replay) PS_RETURN_IF_ERROR(FinishInFlight());
  return BatchOutcome::kRan;
}

Status StreamingQuery::ReadAndSubmit(const BatchPlan& plan,
                                     std::vector<std::int64_t>* rows_per_source,
                                     BatchInputs* inputs, DeadLetterBuilder* dlq) {
  // Every source learns all of its ranges first (a Kafka source fetches them concurrently).
  for (std::size_t si = 0; si < sources_.size(); ++si) {
    std::vector<ReadRange> mine;
    for (const auto& pr : plan.ranges) {
      if (pr.source_index == si) mine.push_back(pr.range);
    }
    if (!mine.empty()) {
      PS_RETURN_IF_ERROR(sources_[si]->PrepareRead(mine).WithContext(fmt::format(
          "query '{}' preparing to read source '{}'", config_->name, config_->sources[si])));
    }
  }
  for (const auto& pr : plan.ranges) {
    Source* src = sources_[pr.source_index].get();
    const std::string& src_name = config_->sources[pr.source_index];
    Status st = src->Read(
        pr.range, static_cast<std::size_t>(config_->chunk_rows),
        [&](SourceChunk&& chunk) -> Status {
          if (inputs->chunks.size() >= UINT32_MAX)
            return ResourceExhausted("too many chunks in one batch");
          auto idx = static_cast<std::uint32_t>(inputs->chunks.size());
          std::size_t n = chunk.batch.num_rows();
          if (chunk.offsets.size() != n) {
            return Internal(fmt::format("source '{}' returned {} offsets for {} rows", src_name,
                                        chunk.offsets.size(), n));
          }
          for (const auto& err : chunk.errors) {
            dlq->Add(DeadLetterRow{"source", err.reason, src_name, pr.range.partition, err.offset,
                                   src->DescribePosition(pr.range.partition, err.offset), err.raw,
                                   false});
          }
          (*rows_per_source)[pr.source_index] += static_cast<std::int64_t>(n + chunk.errors.size());
          if (chunk.min_arrival_us >= 0 &&
              (inputs->min_arrival_us < 0 || chunk.min_arrival_us < inputs->min_arrival_us))
            inputs->min_arrival_us = chunk.min_arrival_us;
          inputs->max_arrival_us = std::max(inputs->max_arrival_us, chunk.max_arrival_us);
          if (n == 0) return Status::Ok();
          auto& ids = chunk.batch.row_ids();
          ids.resize(n);
          for (std::size_t r = 0; r < n; ++r)
            ids[r] = MakeRowId(idx, static_cast<std::uint32_t>(r));
          inputs->chunks.push_back(
              BatchInputs::Chunk{pr.source_index, pr.range.partition, std::move(chunk.offsets)});
          chunk.batch.set_input_tag(config_->source_tags[pr.source_index]);
          executor_->SubmitChunk(std::move(chunk.batch), idx);
          KillPoint("mid_batch");
          return Status::Ok();
        });
    if (!st.ok()) {
      return st.WithContext(fmt::format("query '{}' reading source '{}' partition '{}' [{}, {})",
                                        config_->name, src_name, pr.range.partition, pr.range.start,
                                        pr.range.end));
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<PreparedBatch>> StreamingQuery::ProcessBatch(const BatchPlan& plan,
                                                                    std::int64_t trigger_start_ms,
                                                                    std::int64_t planning_ns) {
  const std::int64_t batch_id = plan.offsets.batch_id;
  const std::int64_t batch_ts_us = plan.offsets.batch_timestamp_ms * 1000;
  auto b = std::make_unique<PreparedBatch>();
  b->plan = plan;
  b->planning_ns = planning_ns;
  b->t_exec = MonotonicNanos();

  // The watermark the batch runs with: what was planned (offsets/N), on a replay too.
  const std::int64_t batch_watermark = plan.offsets.batch_watermark_us;
  executor_->BeginBatch(batch_id, batch_ts_us, batch_watermark);
  std::vector<std::int64_t> rows_per_source(sources_.size(), 0);
  BatchInputs inputs;
  DeadLetterBuilder dlq(config_->name, batch_id, batch_ts_us);
  Status read_st = ReadAndSubmit(plan, &rows_per_source, &inputs, &dlq);
  const std::int64_t read_end = MonotonicNanos();
  std::int64_t get_batch_ns = read_end - b->t_exec;
  auto out = executor_->Finish();  // always drain the shards, even after a read error
  PS_RETURN_IF_ERROR(read_st);
  if (!out.ok()) return out.status();
  BatchOutput& output = out.value();

  // Rejected rows → dead-letter rows, with the raw record read back from the source.
  for (const auto& rej : output.rejected) {
    if (IsEmittedRow(rej.row_id) || RowIdChunk(rej.row_id) >= inputs.chunks.size()) {
      // A row an operator emitted (an aggregate's result row): no source record behind it.
      dlq.Add(DeadLetterRow{rej.operator_name, rej.reason, "", "", 0, "emitted by an operator",
                            rej.emitted_row, rej.emitted_row.empty()});
      continue;
    }
    const auto& chunk = inputs.chunks[RowIdChunk(rej.row_id)];
    std::int64_t offset = chunk.offsets[RowIdRow(rej.row_id)];
    Source* src = sources_[chunk.source_index].get();
    DeadLetterRow row{rej.operator_name,
                      rej.reason,
                      config_->sources[chunk.source_index],
                      chunk.partition,
                      offset,
                      src->DescribePosition(chunk.partition, offset),
                      {},
                      false};
    std::string raw;
    bool found = false;
    Status rs = src->Read(ReadRange{chunk.partition, offset, offset + 1}, 1,
                          [&](SourceChunk&& c) -> Status {
                            if (!found && c.batch.num_rows() > 0) {
                              raw = RawRecordText(c.batch, 0);
                              found = true;
                            } else if (!found && !c.errors.empty()) {
                              raw = c.errors[0].raw;
                              found = true;
                            }
                            return Status::Ok();
                          });
    if (!rs.ok() || !found) {
      row.raw_missing = true;
      row.reason += fmt::format(" (raw record could not be read back: {})",
                                rs.ok() ? "not found" : rs.ToString());
    } else {
      row.raw = std::move(raw);
    }
    dlq.Add(row);
  }

  std::int64_t num_input = 0;
  for (auto n : rows_per_source) num_input += n;
  std::int64_t num_dlq = static_cast<std::int64_t>(dlq.size());
  std::int64_t num_output = static_cast<std::int64_t>(output.num_rows());
  if (num_dlq > 0) {
    if (!dead_letter_) {
      return FailedPrecondition(fmt::format(
          "query '{}' batch {}: {} rows failed and the query has no dead_letter sink to keep them; "
          "add `dead_letter: <table>` to the query",
          config_->name, batch_id, num_dlq));
    }
    b->dead_letter.push_back(dlq.Build());
  }
  b->output = std::move(output.batches);
  // Complete mode: a snapshot is written only when the batch changed the result.
  b->stage_sink = output_schema_.changes != ChangeKind::kSnapshot || executor_->ResultChanged();
  if (!b->stage_sink) {
    num_output = 0;
    b->output.clear();
  }
  // Event times seen → the watermark of the next batch (and what commits/N records for a
  // restart).
  EventTimeStats batch_times;
  for (const auto& [tag, st] : executor_->TakeEventTimeStats()) {
    watermark_.Observe(tag, st);
    batch_times.Merge(st);
  }
  b->previous_watermark_us = last_batch_watermark_;
  last_batch_watermark_ = batch_watermark;
  // An input reading a table whose writer bounds its event times: the bound for the rows after
  // this batch's ends caps the input's watermark (Source::EventTimeFloor).
  for (const auto& in : config_->inputs) {
    if (!in.watermark) continue;
    std::optional<std::int64_t> floor;
    for (const std::string& name : in.sources) {
      auto at = std::find(config_->sources.begin(), config_->sources.end(), name);
      if (at == config_->sources.end()) continue;
      auto ends = plan.offsets.sources.find(name);
      auto f = sources_[static_cast<std::size_t>(at - config_->sources.begin())]->EventTimeFloor(
          ends != plan.offsets.sources.end() ? ends->second : PartitionOffsets{},
          in.watermark->column);
      if (f) floor = std::min(floor.value_or(INT64_MAX), *f);
    }
    watermark_.SetFloor(in.name, floor);
  }
  watermark_.Advance();
  if (watermark_.enabled()) {
    b->entry.event_time_max_us = watermark_.max_event_times();
    b->entry.event_time_floor_us = watermark_.floors();
    EventTimeProgress et;
    if (batch_watermark != kNoWatermark)
      et.watermark = FormatTimestamp(batch_watermark, TimestampStyle::kIso);
    if (batch_times.count > 0) {
      et.min = FormatTimestamp(batch_times.min, TimestampStyle::kIso);
      et.max = FormatTimestamp(batch_times.max, TimestampStyle::kIso);
      et.avg = FormatTimestamp(
          static_cast<std::int64_t>(batch_times.sum / static_cast<long double>(batch_times.count)),
          TimestampStyle::kIso);
    }
    b->progress.event_time = std::move(et);
  }
  // The shards' state changes leave them now: the next batch may start on the shards while this
  // one commits.
  b->txn = checkpoint_->BeginCommit(batch_id);
  b->progress.state_operators = executor_->StateProgress();
  executor_->StageStateChanges(batch_id, *b->txn);

  QueryProgress& p = b->progress;
  p.id = meta_.id;
  p.run_id = run_id_;
  p.name = config_->name;
  p.timestamp_ms = trigger_start_ms;
  p.batch_id = batch_id;
  p.num_input_rows = num_input;
  p.num_output_rows = num_output;
  p.num_dead_letter_rows = num_dlq;
  p.min_arrival_us = inputs.min_arrival_us;
  p.max_arrival_us = inputs.max_arrival_us;
  p.sink_description = sink_->Describe();
  if (dead_letter_) p.dead_letter_description = dead_letter_->Describe();
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    SourceProgress sp;
    sp.name = config_->sources[i];
    sp.description = sources_[i]->Describe();
    auto s = plan.starts.find(sp.name);
    if (s != plan.starts.end()) sp.start_offset = s->second;
    auto e = plan.offsets.sources.find(sp.name);
    if (e != plan.offsets.sources.end()) sp.end_offset = e->second;
    auto l = plan.latest.find(sp.name);
    if (l != plan.latest.end()) sp.latest_offset = l->second;
    sp.num_input_rows = rows_per_source[i];
    sp.metrics = sources_[i]->ProgressMetrics();
    p.sources.push_back(std::move(sp));
  }
  p.duration_ms["latestOffset"] = planning_ns / 1'000'000;
  p.duration_ms["queryPlanning"] = 0;
  p.duration_ms["getBatch"] = get_batch_ns / 1'000'000;
  std::int64_t since_last_ms =
      last_trigger_start_ms_ > 0 ? trigger_start_ms - last_trigger_start_ms_ : 0;
  p.input_rows_per_second = since_last_ms > 0 ? static_cast<double>(num_input) * 1000.0 /
                                                    static_cast<double>(since_last_ms)
                                              : 0;
  last_trigger_start_ms_ = trigger_start_ms;

  b->entry.batch_id = batch_id;
  b->entry.num_input_rows = num_input;
  b->entry.num_output_rows = num_output;
  b->entry.num_dead_letter_rows = num_dlq;
  // execution: the operators' work on the shards after the last chunk was read, and the batch's
  // output and state changes gathered.
  b->processed_at = MonotonicNanos();
  p.duration_ms["execution"] = (b->processed_at - read_end) / 1'000'000;
  return b;
}

Status StreamingQuery::CommitBatch(PreparedBatch& b, const std::shared_future<Status>& prev) {
  const std::int64_t batch_id = b.plan.offsets.batch_id;
  // The sinks' CPU-heavy part needs nothing committed: it runs while the batch before commits.
  std::int64_t p0 = MonotonicNanos();
  // commitWait: from the end of processing to the commit thread's start (a free slot among the
  // batches in flight, the thread's start) plus the wait for the batch before to commit.
  std::int64_t commit_wait_ns = b.processed_at > 0 ? p0 - b.processed_at : 0;
  Result<std::unique_ptr<Sink::Prepared>> prepared = std::unique_ptr<Sink::Prepared>();
  if (b.stage_sink) prepared = sink_->Prepare(batch_id, b.output);
  if (!prepared.ok()) {
    return prepared.status().WithContext(
        fmt::format("query '{}' batch {} sink {}", config_->name, batch_id, sink_->Describe()));
  }
  b.sink_prepared = std::move(prepared).value();
  if (!b.dead_letter.empty()) {
    prepared = dead_letter_->Prepare(batch_id, b.dead_letter);
    if (!prepared.ok()) {
      return prepared.status().WithContext(
          fmt::format("query '{}' batch {} dead-letter sink", config_->name, batch_id));
    }
    b.dead_letter_prepared = std::move(prepared).value();
  }
  const std::int64_t prepared_at = MonotonicNanos();
  b.prepare_ns = prepared_at - p0;
  const bool prev_failed = prev.valid() && !prev.get().ok();
  commit_wait_ns += MonotonicNanos() - prepared_at;
  b.progress.duration_ms["commitWait"] = commit_wait_ns / 1'000'000;
  if (prev_failed) {
    return Cancelled(fmt::format("query '{}' batch {}: not committed because batch {} failed",
                                 config_->name, batch_id, batch_id - 1));
  }
  // offsets/N only once commits/N-1 is durable: the checkpoint never holds two planned batches.
  std::int64_t wal_ns = 0;
  if (b.write_offsets) {
    std::int64_t w0 = MonotonicNanos();
    PS_RETURN_IF_ERROR(
        checkpoint_->WriteOffsets(b.plan.offsets)
            .WithContext(fmt::format("query '{}' writing offsets/{}", config_->name, batch_id)));
    wal_ns = MonotonicNanos() - w0;
    b.offsets_written.store(true);
    KillPoint("after_offsets");
  }
  QueryProgress& p = b.progress;
  std::int64_t s0 = MonotonicNanos();
  if (b.stage_sink) {
    sink_->NoteBatchEnds(batch_id, b.plan.offsets.sources);
    sink_->NoteOutputBound(batch_id, b.previous_watermark_us, b.plan.offsets.batch_watermark_us);
    PS_RETURN_IF_ERROR(sink_->StagePrepared(batch_id, b.output, std::move(b.sink_prepared), *b.txn)
                           .WithContext(fmt::format("query '{}' batch {} sink {}", config_->name,
                                                    batch_id, sink_->Describe())));
  }
  if (!b.dead_letter.empty()) {
    PS_RETURN_IF_ERROR(
        dead_letter_
            ->StagePrepared(batch_id, b.dead_letter, std::move(b.dead_letter_prepared), *b.txn)
            .WithContext(
                fmt::format("query '{}' batch {} dead-letter sink", config_->name, batch_id)));
  }
  std::int64_t c0 = MonotonicNanos();
  // addBatch: the sinks' work — preparing on the query thread plus staging on the commit thread.
  p.duration_ms["addBatch"] = (b.prepare_ns + (c0 - s0)) / 1'000'000;
  p.duration_ms["walCommit"] = wal_ns / 1'000'000;
  b.entry.committed_at_ms = NowMicros() / 1000;
  b.entry.progress_json = p.ToJson();
  KillPoint("before_commit");
  PS_RETURN_IF_ERROR(
      checkpoint_->Commit(std::move(b.txn), b.entry)
          .WithContext(fmt::format("query '{}' committing batch {}", config_->name, batch_id)));
  std::int64_t done = MonotonicNanos();
  p.committed_at_us = NowMicros();
  KillPoint("after_commit");
  b.output.clear();
  b.dead_letter.clear();

  // triggerExecution: planning to commit, including time spent waiting for the previous
  // batch's commit (batches overlap, so these add up to more than the wall time).
  std::int64_t total_ns = b.planning_ns + (done - b.t_exec);
  p.duration_ms["commitOffsets"] = (done - c0) / 1'000'000;
  p.duration_ms["triggerExecution"] = total_ns / 1'000'000;
  double secs = static_cast<double>(total_ns) / 1e9;
  p.processed_rows_per_second = secs > 0 ? static_cast<double>(p.num_input_rows) / secs : 0;
  {
    std::lock_guard lock(mu_);
    snap_.batches_committed++;
    snap_.last_batch_id = batch_id;
    snap_.input_rows_total += p.num_input_rows;
    snap_.output_rows_total += p.num_output_rows;
    snap_.dead_letter_rows_total += p.num_dead_letter_rows;
  }
  if (listener_) listener_(p);
  return Status::Ok();
}

void StreamingQuery::FailBeforeRunning(Status st) {
  LogError({{"query", config_->name}, {"error", st.ToString()}}, "query failed");
  SetState(QueryState::kFailed, st.ToString());
  start_failure_ = std::move(st);
}

Status StreamingQuery::Run() {
  if (!start_failure_.ok()) return start_failure_;
  const TriggerConfig& trig = config_->trigger;
  std::int64_t backoff = retry_initial_us_;
  std::optional<std::map<std::string, PartitionOffsets>> target;
  bool once_done = false;
  read_ahead_ = true;
  for (const auto& src : sources_) read_ahead_ = read_ahead_ && src->AllowsReadAheadOfCommit();

  // A failed step: retryable → back off and go on (false when stopped meanwhile); otherwise the
  // query fails with it.
  Status failure;
  auto retry_after = [&](const Status& st) -> bool {
    if (!st.retryable()) {
      LogError({{"query", config_->name}, {"batch", next_batch_}, {"error", st.ToString()}},
               "query failed");
      SetState(QueryState::kFailed, st.ToString());
      failure = st;
      return false;
    }
    spdlog::warn("query '{}': {} — retrying in {}", config_->name, st.ToString(),
                 FormatDurationMicros(backoff));
    SetState(QueryState::kRetrying, st.ToString());
    bool go_on = WaitFor(backoff);
    backoff = std::min(backoff * 2, retry_max_us_);
    return go_on;
  };

  while (!stop_.load()) {
    if (Status st = OpenConnectors(); !st.ok()) {
      if (Status fst = FinishInFlight(); !fst.ok()) {
        if (!retry_after(fst)) break;
        continue;
      }
      if (!retry_after(st)) break;
      continue;
    }
    if (trig.kind == TriggerConfig::Kind::kAvailableNow && !target && !pending_) {
      auto t = planner_->LatestUnbounded(committed_ends_);
      if (!t.ok()) {
        if (!retry_after(t.status())) break;
        continue;
      }
      target = std::move(t).value();
    }
    std::int64_t trigger_start = MonotonicNanos();
    bool replaying = pending_.has_value();
    bool apply_cap = trig.kind != TriggerConfig::Kind::kOnce;
    // The next batch is planned while this one commits unless the trigger waits or ends after
    // it (Once; ProcessingTime waits below once it is committed).
    bool wait = trig.kind == TriggerConfig::Kind::kOnce;
    auto ran = RunBatch(apply_cap, target ? &*target : nullptr, wait);
    if (!ran.ok()) {
      if (!retry_after(ran.status())) break;
      continue;
    }
    backoff = retry_initial_us_;
    {
      std::lock_guard lock(mu_);
      if (snap_.state == QueryState::kRetrying || snap_.state == QueryState::kActive)
        snap_.error.clear();
    }
    SetState(QueryState::kIdle);
    const bool ran_batch = *ran == BatchOutcome::kRan;
    if (replaying && ran_batch)
      continue;                    // a recovered batch does not count as this trigger's batch
    std::int64_t sleep_until = 0;  // MonotonicNanos() deadline of a ProcessingTime interval
    switch (trig.kind) {
      case TriggerConfig::Kind::kOnce:
        once_done = true;
        break;
      case TriggerConfig::Kind::kAvailableNow:
        if (!ran_batch) once_done = true;
        break;
      case TriggerConfig::Kind::kContinuous:
        if (!ran_batch) WaitFor(100'000);
        break;
      case TriggerConfig::Kind::kProcessingTime: {
        std::int64_t elapsed_us = (MonotonicNanos() - trigger_start) / 1000;
        if (elapsed_us < trig.interval_us)
          sleep_until = MonotonicNanos() + (trig.interval_us - elapsed_us) * 1000;
        break;
      }
    }
    if (once_done) break;
    if (sleep_until > 0) {
      // Commit before idling; then sleep until the next interval unless stopped. A Wake() (new
      // data) does not shorten the interval, as in Spark.
      if (Status fst = FinishInFlight(); !fst.ok()) {
        if (!retry_after(fst)) break;
        continue;
      }
      while (!stop_.load()) {
        std::int64_t left = (sleep_until - MonotonicNanos()) / 1000;
        if (left <= 0) break;
        WaitFor(left);
      }
    }
  }
  // The batch still committing when the loop ends (stop, trigger done, failure) finishes first,
  // and a state compaction running in the background.
  Status fst = FinishInFlight();
  WaitForCompaction();
  if (!fst.ok()) {
    once_done = false;
    if (failure.ok()) {
      if (fst.retryable()) {
        spdlog::warn(
            "query '{}': batch {} did not commit before stopping ({}); it is re-run on the "
            "next start",
            config_->name, next_batch_, fst.ToString());
      } else {
        LogError({{"query", config_->name}, {"batch", next_batch_}, {"error", fst.ToString()}},
                 "query failed");
        SetState(QueryState::kFailed, fst.ToString());
        failure = fst;
      }
    }
  }
  if (!failure.ok()) return failure;
  SetState(once_done ? QueryState::kFinished : QueryState::kStopped);
  LogInfo({{"query", config_->name}, {"batch", next_batch_ - 1}}, "query {}",
          once_done ? "finished" : "stopped");
  return Status::Ok();
}

}  // namespace pinstream
