#include "engine/shard_executor.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace pinstream {

// ---------------------------------------------------------------------------------------------
// Merging sorted runs

namespace {

struct Run {
  std::vector<RecordBatch>* batches;
  std::size_t batch = 0;
  std::size_t row = 0;
  bool done() const { return batch >= batches->size(); }
  RowId head() const { return (*batches)[batch].row_ids()[row]; }
  void SkipEmpty() {
    while (batch < batches->size() && row >= (*batches)[batch].num_rows()) {
      ++batch;
      row = 0;
    }
  }
};

Result<RecordBatch> MergeRuns(std::vector<std::vector<RecordBatch>*>& run_lists) {
  // Output columns: union by name, in order of first appearance; type = first non-null type.
  std::vector<std::string> names;
  std::vector<TypeId> types;
  std::size_t total_rows = 0;
  for (auto* list : run_lists) {
    for (auto& b : *list) {
      total_rows += b.num_rows();
      for (std::size_t c = 0; c < b.num_columns(); ++c) {
        auto it = std::find(names.begin(), names.end(), b.name(c));
        TypeId t = b.column(c).type();
        if (it == names.end()) {
          names.push_back(b.name(c));
          types.push_back(t);
        } else {
          std::size_t i = static_cast<std::size_t>(it - names.begin());
          if (types[i] == TypeId::kNull) {
            types[i] = t;
          } else if (t != TypeId::kNull && t != types[i]) {
            return InvalidArgument(fmt::format(
                "column '{}' has type {} in some rows and {} in others within one batch",
                b.name(c), TypeName(types[i]), TypeName(t)));
          }
        }
      }
    }
  }
  RecordBatch out;
  std::vector<Column> cols;
  for (auto t : types) cols.emplace_back(t);
  std::vector<RowId> ids;
  ids.reserve(total_rows);

  std::vector<Run> runs;
  for (auto* list : run_lists) {
    Run r{list};
    r.SkipEmpty();
    if (!r.done()) runs.push_back(r);
  }
  // Column index maps per (run, batch) are computed lazily per copied range.
  auto copy_range = [&](RecordBatch& b, std::size_t begin, std::size_t end) {
    for (std::size_t c = 0; c < names.size(); ++c) {
      int idx = b.FindColumn(names[c]);
      if (idx < 0) {
        for (std::size_t i = begin; i < end; ++i) cols[c].AppendNull();
      } else {
        cols[c].AppendRange(b.column(static_cast<std::size_t>(idx)), begin, end);
      }
    }
    ids.insert(ids.end(), b.row_ids().begin() + static_cast<std::ptrdiff_t>(begin),
               b.row_ids().begin() + static_cast<std::ptrdiff_t>(end));
  };
  while (!runs.empty()) {
    std::size_t best = 0;
    RowId second = std::numeric_limits<RowId>::max();
    for (std::size_t i = 1; i < runs.size(); ++i) {
      if (runs[i].head() < runs[best].head()) {
        second = std::min(second, runs[best].head());
        best = i;
      } else {
        second = std::min(second, runs[i].head());
      }
    }
    Run& r = runs[best];
    RecordBatch& b = (*r.batches)[r.batch];
    const auto& rid = b.row_ids();
    std::size_t end = r.row;
    while (end < b.num_rows() && rid[end] < second) ++end;
    if (end == r.row) end = r.row + 1;  // equal ids (not expected) still make progress
    copy_range(b, r.row, end);
    r.row = end;
    r.SkipEmpty();
    if (r.done()) runs.erase(runs.begin() + static_cast<std::ptrdiff_t>(best));
  }
  out.row_ids() = std::move(ids);
  for (std::size_t c = 0; c < names.size(); ++c) out.AddColumn(names[c], std::move(cols[c]));
  return out;
}

}  // namespace

Result<RecordBatch> MergeByRowId(std::vector<RecordBatch>& inputs) {
  std::vector<std::vector<RecordBatch>> singles(inputs.size());
  std::vector<std::vector<RecordBatch>*> lists;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    singles[i].push_back(std::move(inputs[i]));
    lists.push_back(&singles[i]);
  }
  return MergeRuns(lists);
}

// ---------------------------------------------------------------------------------------------

struct ShardExecutor::Task {
  enum Kind { kProcess, kBarrier, kGather, kStop };
  Kind kind = kProcess;
  std::size_t stage = 0;
  RecordBatch batch;
};

struct ShardExecutor::Shard {
  int index = 0;
  std::unique_ptr<BoundedChannel<Task>> channel;
  std::vector<std::unique_ptr<Operator>> ops;
  std::vector<std::unique_ptr<KeyedStateStore>> states;
  std::vector<std::vector<RecordBatch>> out;                   // per stage
  std::vector<std::vector<std::vector<RecordBatch>>> buckets;  // [stage][dest shard]
  std::vector<RejectedRow> rejected;
  Status error;
  std::thread thread;
};

Result<std::unique_ptr<ShardExecutor>> ShardExecutor::Create(std::string query_name, int num_shards,
                                                             std::size_t queue_capacity,
                                                             std::vector<OperatorSlot> operators,
                                                             StateReader* state_reader) {
  std::unique_ptr<ShardExecutor> ex(new ShardExecutor());
  ex->query_name_ = std::move(query_name);
  ex->operators_ = std::move(operators);
  Stage s0;
  for (std::size_t i = 0; i < ex->operators_.size(); ++i) {
    auto keys = ex->operators_[i].spec->KeyColumns();
    if (!keys.empty() && num_shards > 1) {
      s0.end_op = i;
      ex->stages_.push_back(s0);
      s0 = Stage{i, i, keys};
    }
  }
  s0.end_op = ex->operators_.size();
  ex->stages_.push_back(s0);

  for (int j = 0; j < num_shards; ++j) {
    auto shard = std::make_unique<Shard>();
    shard->index = j;
    shard->channel = std::make_unique<BoundedChannel<Task>>(queue_capacity);
    shard->out.resize(ex->stages_.size());
    shard->buckets.resize(ex->stages_.size());
    for (auto& b : shard->buckets) b.resize(static_cast<std::size_t>(num_shards));
    for (std::size_t i = 0; i < ex->operators_.size(); ++i) {
      const OperatorSpec* spec = ex->operators_[i].spec;
      OperatorInitContext ctx;
      ctx.query_name = ex->query_name_;
      ctx.operator_index = static_cast<int>(i);
      ctx.shard = j;
      ctx.num_shards = num_shards;
      std::unique_ptr<KeyedStateStore> state;
      if (spec->stateful()) {
        if (state_reader == nullptr) return Internal("stateful operator without a state backend");
        state = std::make_unique<KeyedStateStore>(state_reader,
                                                  fmt::format("{}/{}", ex->query_name_, i));
        ctx.state = state.get();
      }
      auto op = spec->Create(ctx);
      if (!op.ok()) {
        return op.status().WithContext(
            fmt::format("query '{}' operator '{}'", ex->query_name_, ex->operators_[i].name));
      }
      shard->ops.push_back(std::move(op).value());
      shard->states.push_back(std::move(state));
    }
    ex->shards_.push_back(std::move(shard));
  }
  for (auto& shard : ex->shards_) {
    Shard* raw = shard.get();
    ShardExecutor* self = ex.get();
    shard->thread = std::thread([self, raw] { self->WorkerLoop(raw); });
  }
  return ex;
}

ShardExecutor::~ShardExecutor() {
  for (auto& s : shards_) {
    auto t = std::make_unique<Task>();
    t->kind = Task::kStop;
    s->channel->Push(std::move(t));
  }
  for (auto& s : shards_) {
    if (s->thread.joinable()) s->thread.join();
  }
}

void ShardExecutor::BeginBatch(std::int64_t batch_id, std::int64_t batch_timestamp_us) {
  batch_id_ = batch_id;
  batch_ts_us_ = batch_timestamp_us;
  for (auto& s : shards_) {
    for (auto& o : s->out) o.clear();
    for (auto& st : s->buckets) {
      for (auto& b : st) b.clear();
    }
    s->rejected.clear();
    s->error = Status();
  }
}

void ShardExecutor::SubmitChunk(RecordBatch chunk, std::uint32_t chunk_index) {
  Submit(static_cast<int>(chunk_index % static_cast<std::uint32_t>(shards_.size())), std::move(chunk));
}

void ShardExecutor::Submit(int shard, RecordBatch batch) {
  auto t = std::make_unique<Task>();
  t->kind = Task::kProcess;
  t->stage = 0;
  t->batch = std::move(batch);
  shards_[static_cast<std::size_t>(shard)]->channel->Push(std::move(t));
}

void ShardExecutor::RunAllShards(std::size_t stage, int kind) {
  latch_.Reset(static_cast<int>(shards_.size()));
  for (auto& s : shards_) {
    auto t = std::make_unique<Task>();
    t->kind = static_cast<Task::Kind>(kind);
    t->stage = stage;
    s->channel->Push(std::move(t));
  }
  latch_.Wait();
}

Result<BatchOutput> ShardExecutor::Finish() {
  RunAllShards(0, Task::kBarrier);
  for (std::size_t s = 1; s < stages_.size(); ++s) {
    bool failed = false;
    for (auto& sh : shards_) failed |= !sh->error.ok();
    if (failed) break;
    RunAllShards(s, Task::kGather);
  }
  for (auto& sh : shards_) {
    if (!sh->error.ok()) return sh->error;
  }
  BatchOutput result;
  std::size_t last = stages_.size() - 1;
  for (auto& sh : shards_) {
    for (auto& b : sh->out[last]) {
      if (b.num_rows() > 0) result.batches.push_back(std::move(b));
    }
  }
  std::stable_sort(result.batches.begin(), result.batches.end(),
                   [](const RecordBatch& a, const RecordBatch& b) { return a.row_ids()[0] < b.row_ids()[0]; });
  for (auto& sh : shards_) {
    for (auto& r : sh->rejected) result.rejected.push_back(std::move(r));
    sh->rejected.clear();
    for (auto& o : sh->out) o.clear();
    for (auto& st : sh->buckets) {
      for (auto& b : st) b.clear();
    }
  }
  std::sort(result.rejected.begin(), result.rejected.end(),
            [](const RejectedRow& a, const RejectedRow& b) { return a.row_id < b.row_id; });
  return result;
}

void ShardExecutor::StageStateChanges(std::int64_t batch_id, CommitTxn& txn) {
  for (auto& sh : shards_) {
    for (auto& st : sh->states) {
      if (st) st->StageChanges(batch_id, txn);
    }
  }
}

void ShardExecutor::DiscardStateChanges() {
  for (auto& sh : shards_) {
    for (auto& st : sh->states) {
      if (st) st->DiscardChanges();
    }
  }
}

void ShardExecutor::WorkerLoop(Shard* shard) {
  for (;;) {
    std::unique_ptr<Task> t = shard->channel->Pop();
    switch (t->kind) {
      case Task::kStop: return;
      case Task::kProcess:
        if (shard->error.ok()) RunStage(shard, t->stage, std::move(t->batch));
        break;
      case Task::kBarrier:
        if (shard->error.ok() && stages_.size() > 1) PartitionForStage(shard, 1);
        latch_.CountDown();
        break;
      case Task::kGather:
        if (shard->error.ok()) Gather(shard, t->stage);
        if (shard->error.ok() && t->stage + 1 < stages_.size()) PartitionForStage(shard, t->stage + 1);
        latch_.CountDown();
        break;
    }
  }
}

void ShardExecutor::RunStage(Shard* shard, std::size_t stage, RecordBatch batch) {
  // With one shard there is no exchange: all operators form one stage (see Create).
  const Stage& st = stages_[stage];
  for (std::size_t i = st.first_op; i < st.end_op; ++i) {
    if (batch.num_rows() == 0) break;
    OperatorContext ctx;
    ctx.batch_id = batch_id_;
    ctx.batch_timestamp_us = batch_ts_us_;
    ctx.shard = shard->index;
    Status s = shard->ops[i]->Process(batch, ctx);
    if (!s.ok()) {
      shard->error = s.WithContext(fmt::format("query '{}' batch {} operator '{}'", query_name_,
                                               batch_id_, operators_[i].name));
      return;
    }
    auto& rej = ctx.rejections();
    if (!rej.empty()) {
      std::vector<std::uint8_t> keep(batch.num_rows(), 1);
      for (auto& r : rej) {
        if (r.row >= batch.num_rows()) {
          shard->error = Internal(fmt::format("operator '{}' rejected row {} of a {}-row batch",
                                              operators_[i].name, r.row, batch.num_rows()));
          return;
        }
        if (!keep[r.row]) continue;  // rejected twice: report once
        keep[r.row] = 0;
        shard->rejected.push_back(
            RejectedRow{batch.row_ids()[r.row], operators_[i].name, std::move(r.reason)});
      }
      batch.Compact(keep);
    }
  }
  if (batch.num_rows() > 0) shard->out[stage].push_back(std::move(batch));
}

void ShardExecutor::PartitionForStage(Shard* shard, std::size_t stage) {
  const auto& keys = stages_[stage].key_columns;
  std::size_t n = shards_.size();
  auto& dest = shard->buckets[stage];
  for (auto& b : shard->out[stage - 1]) {
    if (b.num_rows() == 0) continue;
    std::vector<int> key_idx;
    for (const auto& k : keys) {
      int idx = b.FindColumn(k);
      if (idx < 0) {
        shard->error = InvalidArgument(fmt::format(
            "query '{}': operator '{}' is keyed by column '{}', which its input lacks (columns: {})",
            query_name_, operators_[stages_[stage].first_op].name, k, fmt::join(b.names(), ", ")));
        return;
      }
      key_idx.push_back(idx);
    }
    std::vector<std::vector<std::uint32_t>> rows(n);
    for (std::size_t r = 0; r < b.num_rows(); ++r) {
      rows[HashRow(b, key_idx, r) % n].push_back(static_cast<std::uint32_t>(r));
    }
    for (std::size_t j = 0; j < n; ++j) {
      if (rows[j].empty()) continue;
      if (rows[j].size() == b.num_rows()) {
        dest[j].push_back(std::move(b));
        break;
      }
      dest[j].push_back(b.Take(rows[j]));
    }
  }
  shard->out[stage - 1].clear();
}

void ShardExecutor::Gather(Shard* shard, std::size_t stage) {
  std::vector<std::vector<RecordBatch>*> lists;
  for (auto& other : shards_) {
    lists.push_back(&other->buckets[stage][static_cast<std::size_t>(shard->index)]);
  }
  auto merged = MergeRuns(lists);
  if (!merged.ok()) {
    shard->error = merged.status().WithContext(fmt::format("query '{}' exchange", query_name_));
    return;
  }
  RunStage(shard, stage, std::move(merged).value());
}

}  // namespace pinstream
