#include "engine/shard_executor.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "engine/dead_letter.h"
#include "engine/thread_name.h"

namespace pinstream {

// ---------------------------------------------------------------------------------------------

struct ShardExecutor::Task {
  enum Kind { kProcess, kBarrier, kGather, kStop };
  Kind kind = kProcess;
  std::size_t stage = 0;
  RecordBatch batch;
};

// Rows of one producer batch bound for one shard. The batch is shared (read-only) by the pieces
// of every destination; a destination copies out only the rows it keeps (see Gather).
struct ShardExecutor::Piece {
  std::shared_ptr<RecordBatch> src;
  std::vector<std::uint32_t> rows;    // ascending
  std::vector<std::uint64_t> hashes;  // HashRow of each row, by the stage's key columns
  RowId first_row_id() const { return src->row_ids()[rows.front()]; }
};

struct ShardExecutor::Shard {
  int index = 0;
  std::unique_ptr<BoundedChannel<Task>> channel;
  std::vector<std::unique_ptr<Operator>> ops;
  std::vector<std::unique_ptr<KeyedStateStore>> states;
  std::vector<std::unique_ptr<StateTable>> tables;
  // Per slot: the columns of the last batch checked against the slot's schema rules, per tag,
  // rows dropped behind the watermark in this batch, rows emitted in this batch (RowIds).
  std::vector<std::map<std::uint16_t, std::vector<std::pair<std::string, TypeId>>>> checked;
  std::vector<std::int64_t> late_rows;
  std::vector<std::uint32_t> emitted;
  std::vector<std::vector<RecordBatch>> out;             // per stage
  std::vector<std::vector<std::vector<Piece>>> buckets;  // [stage][dest shard]
  std::vector<RejectedRow> rejected;
  std::vector<std::vector<std::uint32_t>> kept;  // Gather: the survivors of each piece of a group
  Status error;
  std::thread thread;
};

namespace {
// Gather copies the survivors of consecutive pieces into batches of at least this many rows: half
// of a delta-table chunk (WriteOptions::rows_per_chunk), the size from which the table encodes a
// batch as it is instead of appending it to the next.
constexpr std::size_t kGatherRows = 8192;
}  // namespace

Result<std::unique_ptr<ShardExecutor>> ShardExecutor::Create(std::string query_name, int num_shards,
                                                             std::size_t queue_capacity,
                                                             std::vector<OperatorSlot> operators,
                                                             StateReader* state_reader,
                                                             std::size_t state_cache_bytes) {
  std::unique_ptr<ShardExecutor> ex(new ShardExecutor());
  ex->query_name_ = std::move(query_name);
  ex->operators_ = std::move(operators);
  ex->state_reader_ = state_reader;
  for (auto& slot : ex->operators_) {
    if (slot.input_tags.empty()) {
      // Every tag, routed by the operator's own key columns.
      slot.key_columns = {slot.spec->KeyColumns()};
    }
    if (slot.key_columns.size() < std::max<std::size_t>(1, slot.input_tags.size()))
      return Internal(fmt::format("operator slot '{}': key columns for {} of {} inputs", slot.name,
                                  slot.key_columns.size(), slot.input_tags.size()));
  }
  Stage s0;
  for (std::size_t i = 0; i < ex->operators_.size(); ++i) {
    bool keyed = false;
    for (const auto& k : ex->operators_[i].key_columns) keyed = keyed || !k.empty();
    keyed = keyed || ex->operators_[i].spec->gathers_all_rows();
    if (keyed && num_shards > 1) {
      s0.end_op = i;
      ex->stages_.push_back(s0);
      s0 = Stage{i, i, true};
    }
  }
  s0.end_op = ex->operators_.size();
  ex->stages_.push_back(s0);

  std::size_t table_slots = 0;
  for (const auto& slot : ex->operators_)
    table_slots += slot.spec->stateful() && slot.spec->uses_state_table();
  const std::size_t cache_per_table =
      table_slots == 0 ? 0
                       : state_cache_bytes / (table_slots * static_cast<std::size_t>(num_shards));
  for (int j = 0; j < num_shards; ++j) {
    auto shard = std::make_unique<Shard>();
    shard->index = j;
    shard->channel = std::make_unique<BoundedChannel<Task>>(queue_capacity);
    shard->out.resize(ex->stages_.size());
    shard->buckets.resize(ex->stages_.size());
    for (auto& b : shard->buckets) b.resize(static_cast<std::size_t>(num_shards));
    shard->checked.resize(ex->operators_.size());
    shard->late_rows.assign(ex->operators_.size(), 0);
    shard->emitted.assign(ex->operators_.size(), 0);
    for (std::size_t i = 0; i < ex->operators_.size(); ++i) {
      const OperatorSlot& slot = ex->operators_[i];
      const OperatorSpec* spec = slot.spec;
      OperatorInitContext ctx;
      ctx.query_name = ex->query_name_;
      ctx.operator_index = static_cast<int>(i);
      ctx.shard = j;
      ctx.num_shards = num_shards;
      ctx.input_tags = slot.input_tags.empty() ? std::vector<std::uint16_t>{0} : slot.input_tags;
      ctx.output_tag = slot.output_tag;
      ctx.input_schemas = slot.input_schemas;
      std::unique_ptr<KeyedStateStore> state;
      std::unique_ptr<StateTable> table;
      if (spec->stateful()) {
        if (state_reader == nullptr) return Internal("stateful operator without a state backend");
        std::string ns = fmt::format("{}/{}", ex->query_name_,
                                     slot.state_id.empty() ? std::to_string(i) : slot.state_id);
        if (spec->uses_state_table()) {
          table = std::make_unique<StateTable>(state_reader, ns, j, num_shards, cache_per_table,
                                               std::string(spec->state_index_kinds()));
          PS_RETURN_IF_ERROR(table->Open().WithContext(
              fmt::format("query '{}' operator '{}'", ex->query_name_, slot.name)));
          ctx.table = table.get();
        } else {
          state =
              std::make_unique<KeyedStateStore>(state_reader, ns, static_cast<std::uint32_t>(j));
          ctx.state = state.get();
        }
      }
      auto op = spec->Create(ctx);
      if (!op.ok()) {
        return op.status().WithContext(
            fmt::format("query '{}' operator '{}'", ex->query_name_, ex->operators_[i].name));
      }
      shard->ops.push_back(std::move(op).value());
      shard->states.push_back(std::move(state));
      shard->tables.push_back(std::move(table));
    }
    ex->shards_.push_back(std::move(shard));
  }
  for (auto& shard : ex->shards_) {
    Shard* raw = shard.get();
    ShardExecutor* self = ex.get();
    shard->thread = std::thread([self, raw] {
      SetThreadName(fmt::format("s{}:{}", raw->index, self->query_name_));
      self->WorkerLoop(raw);
    });
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

void ShardExecutor::BeginBatch(std::int64_t batch_id, std::int64_t batch_timestamp_us,
                               std::int64_t watermark_us) {
  batch_id_ = batch_id;
  batch_ts_us_ = batch_timestamp_us;
  watermark_us_ = watermark_us;
  for (auto& s : shards_) {
    for (auto& o : s->out) o.clear();
    for (auto& st : s->buckets) {
      for (auto& b : st) b.clear();
    }
    s->rejected.clear();
    s->error = Status();
    std::fill(s->late_rows.begin(), s->late_rows.end(), 0);
    std::fill(s->emitted.begin(), s->emitted.end(), 0);
  }
}

OperatorContext ShardExecutor::MakeContext(const Shard* shard) const {
  OperatorContext ctx;
  ctx.batch_id = batch_id_;
  ctx.batch_timestamp_us = batch_ts_us_;
  ctx.watermark_us = watermark_us_;
  ctx.shard = shard->index;
  return ctx;
}

bool ShardExecutor::Consumes(std::size_t op, std::uint16_t tag) const {
  const auto& tags = operators_[op].input_tags;
  return tags.empty() || std::find(tags.begin(), tags.end(), tag) != tags.end();
}

const std::vector<std::string>* ShardExecutor::KeysFor(std::size_t op, std::uint16_t tag) const {
  const OperatorSlot& slot = operators_[op];
  // Keyed by no column (a global aggregate): the empty key list routes every row to one shard.
  const bool all = slot.spec->gathers_all_rows();
  if (slot.input_tags.empty())
    return slot.key_columns.front().empty() && !all ? nullptr : &slot.key_columns.front();
  for (std::size_t i = 0; i < slot.input_tags.size(); ++i) {
    if (slot.input_tags[i] == tag)
      return slot.key_columns[i].empty() && !all ? nullptr : &slot.key_columns[i];
  }
  return nullptr;
}

Status ShardExecutor::CheckSchema(Shard* shard, std::size_t op, const RecordBatch& batch) {
  // Only when the batch's columns differ from those last checked (normally once per shard).
  std::vector<std::pair<std::string, TypeId>> shape;
  shape.reserve(batch.num_columns());
  for (std::size_t c = 0; c < batch.num_columns(); ++c)
    shape.emplace_back(batch.name(c), batch.column(c).type());
  auto& last = shard->checked[op][batch.input_tag()];
  if (last == shape) return Status::Ok();
  const OperatorSlot& slot = operators_[op];
  std::vector<StreamSchema> ins = slot.input_schemas;
  std::size_t at = 0;
  for (std::size_t i = 0; i < slot.input_tags.size(); ++i) {
    if (slot.input_tags[i] == batch.input_tag()) at = i;
  }
  StreamSchema actual = StreamSchema::Of(batch);
  if (at < ins.size()) {
    // What the start-up derivation knew beyond the columns still holds (the kind of changes,
    // the watermark column).
    actual.changes = ins[at].changes;
    actual.key_columns = ins[at].key_columns;
    actual.watermark_column = ins[at].watermark_column;
    actual.watermark_lag_us = ins[at].watermark_lag_us;
    ins[at] = std::move(actual);
  } else {
    ins.assign(1, std::move(actual));
  }
  Result<StreamSchema> derived = slot.joins_inputs
                                     ? slot.spec->DeriveSchema(ins)
                                     : slot.spec->DeriveSchema(std::span<const StreamSchema>(
                                           &ins[at < ins.size() ? at : 0], 1));
  if (!derived.ok()) {
    return InvalidArgument(slot.where.empty()
                               ? derived.status().message()
                               : fmt::format("{}: {}", slot.where, derived.status().message()));
  }
  last = std::move(shape);
  return Status::Ok();
}

void ShardExecutor::SubmitChunk(RecordBatch chunk, std::uint32_t chunk_index) {
  Submit(static_cast<int>(chunk_index % static_cast<std::uint32_t>(shards_.size())),
         std::move(chunk));
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
  // Stage 0's barrier: its operators' Finish(), then the exchange into stage 1.
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
  std::stable_sort(
      result.batches.begin(), result.batches.end(),
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

std::vector<StateOperatorProgress> ShardExecutor::StateProgress() const {
  std::vector<StateOperatorProgress> out;
  for (std::size_t i = 0; i < operators_.size(); ++i) {
    if (!operators_[i].spec->stateful()) continue;
    StateOperatorProgress p;
    p.operator_name = std::string(operators_[i].spec->kind());
    p.num_shuffle_partitions = num_shards();
    for (const auto& sh : shards_) {
      OperatorStateSize size = sh->ops[i]->StateSize();
      p.num_rows_total += size.rows;
      p.memory_used_bytes += size.memory_bytes;
      p.num_rows_updated += size.rows_updated;
      p.num_rows_removed += size.rows_removed;
      p.num_rows_dropped_by_watermark += sh->late_rows[i];
      if (const auto& t = sh->tables[i]) {
        StateTableStats ts = t->Stats();
        p.num_rows_total += ts.rows;
        p.num_rows_updated += ts.rows_updated;
        p.num_rows_removed += ts.rows_removed;
        p.memory_used_bytes += ts.memory_bytes;
        p.custom_metrics["cacheHits"] += ts.cache_hits;
        p.custom_metrics["cacheMisses"] += ts.cache_misses;
      }
      if (const auto& st = sh->states[i]) {
        p.num_rows_removed += static_cast<std::int64_t>(st->pending_deletes());
        p.num_rows_updated +=
            static_cast<std::int64_t>(st->pending_changes() - st->pending_deletes());
      }
    }
    if (const auto& t = shards_.front()->tables[i]) {
      std::string begin = StateTable::DataPrefix(t->ns());
      std::string end = begin;
      end.back() = static_cast<char>(end.back() + 1);
      p.custom_metrics["stateOnDiskBytes"] = state_reader_->ApproximateStateBytes(begin, end);
    }
    out.push_back(std::move(p));
  }
  return out;
}

void ShardExecutor::StageStateChanges(std::int64_t batch_id, CommitTxn& txn) {
  for (auto& sh : shards_) {
    for (auto& st : sh->states) {
      if (st) st->StageChanges(batch_id, txn);
    }
    for (auto& t : sh->tables) {
      if (t) t->StageBatch(batch_id, txn);
    }
  }
}

void ShardExecutor::DiscardStateChanges() {
  for (auto& sh : shards_) {
    for (auto& st : sh->states) {
      if (st) st->DiscardChanges();
    }
    for (auto& t : sh->tables) {
      if (t) t->DiscardBatch();
    }
  }
}

std::map<std::uint16_t, EventTimeStats> ShardExecutor::TakeEventTimeStats() {
  std::map<std::uint16_t, EventTimeStats> out;
  for (auto& sh : shards_) {
    for (auto& op : sh->ops) {
      if (auto* w = dynamic_cast<WatermarkObserver*>(op.get())) out[w->tag()].Merge(w->TakeStats());
    }
  }
  return out;
}

bool ShardExecutor::ResultChanged() const {
  for (const auto& sh : shards_) {
    for (const auto& op : sh->ops) {
      if (op->ChangedResult()) return true;
    }
  }
  return false;
}

void ShardExecutor::WorkerLoop(Shard* shard) {
  for (;;) {
    std::unique_ptr<Task> t = shard->channel->Pop();
    switch (t->kind) {
      case Task::kStop:
        return;
      case Task::kProcess:
        if (shard->error.ok()) RunStage(shard, t->stage, std::move(t->batch));
        break;
      case Task::kBarrier:
        if (shard->error.ok()) FinishStage(shard, 0);
        if (shard->error.ok() && stages_.size() > 1) PartitionForStage(shard, 1);
        latch_.CountDown();
        break;
      case Task::kGather:
        if (shard->error.ok()) Gather(shard, t->stage);
        if (shard->error.ok()) FinishStage(shard, t->stage);
        if (shard->error.ok() && t->stage + 1 < stages_.size())
          PartitionForStage(shard, t->stage + 1);
        latch_.CountDown();
        break;
    }
  }
}

void ShardExecutor::RunStage(Shard* shard, std::size_t stage, RecordBatch batch) {
  RunStage(shard, stage, std::move(batch), stages_[stage].first_op);
}

void ShardExecutor::RunStage(Shard* shard, std::size_t stage, RecordBatch batch,
                             std::size_t from_op) {
  // With one shard there is no exchange: all operators form one stage (see Create).
  const Stage& st = stages_[stage];
  for (std::size_t i = from_op; i < st.end_op; ++i) {
    if (batch.num_rows() == 0) break;
    if (!Consumes(i, batch.input_tag())) continue;
    const std::uint16_t tag = batch.input_tag();
    const auto& passes_on = operators_[i].passes_on;
    if (!passes_on.empty() && std::find(passes_on.begin(), passes_on.end(), tag) != passes_on.end()) {
      // A later slot consumes these rows too: they go on to it as they are (first, so the order
      // is fixed), this slot gets its own copy.
      RunStage(shard, stage, batch, i + 1);
      if (!shard->error.ok()) return;
    }
    OperatorContext ctx = MakeContext(shard);
    Status s = CheckSchema(shard, i, batch);
    if (s.ok()) s = shard->ops[i]->Process(batch, ctx);
    if (!s.ok()) {
      shard->error = s.WithContext(fmt::format("query '{}' batch {} operator '{}'", query_name_,
                                               batch_id_, operators_[i].name));
      return;
    }
    // The rows keep their input's tag (an operator that builds a new batch, as parse_json does,
    // need not copy it: without this, a per-input parse_json sent its rows on as the first
    // input's); a join's are of its own tag.
    batch.set_input_tag(operators_[i].joins_inputs ? operators_[i].output_tag : tag);
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
        if (r.late) ++shard->late_rows[i];
        RejectedRow row{batch.row_ids()[r.row], operators_[i].name, std::move(r.reason), {}};
        if (IsEmittedRow(row.row_id)) row.emitted_row = RawRecordText(batch, r.row);
        shard->rejected.push_back(std::move(row));
      }
      batch.Compact(keep);
    }
  }
  if (batch.num_rows() > 0) shard->out[stage].push_back(std::move(batch));
}

void ShardExecutor::FinishStage(Shard* shard, std::size_t stage) {
  const Stage& st = stages_[stage];
  for (std::size_t i = st.first_op; i < st.end_op; ++i) {
    OperatorContext ctx = MakeContext(shard);
    std::vector<RecordBatch> emitted;
    Status s = shard->ops[i]->Finish(ctx, &emitted);
    if (s.ok() && !ctx.rejections().empty()) s = Internal("an operator rejected rows in Finish()");
    if (!s.ok()) {
      shard->error = s.WithContext(fmt::format("query '{}' batch {} operator '{}' (end of batch)",
                                               query_name_, batch_id_, operators_[i].name));
      return;
    }
    for (RecordBatch& b : emitted) {
      if (b.num_rows() == 0) continue;
      // Fresh RowIds: slot and shard in the chunk half, a running count in the row half.
      const std::uint32_t chunk = kEmittedChunkBit | (static_cast<std::uint32_t>(i) << 8) |
                                  static_cast<std::uint32_t>(shard->index & 0xff);
      auto& ids = b.row_ids();
      ids.resize(b.num_rows());
      for (auto& id : ids) id = MakeRowId(chunk, shard->emitted[i]++);
      RunStage(shard, stage, std::move(b), i + 1);
      if (!shard->error.ok()) return;
    }
  }
}

void ShardExecutor::PartitionForStage(Shard* shard, std::size_t stage) {
  const std::size_t head = stages_[stage].first_op;
  std::size_t n = shards_.size();
  auto& dest = shard->buckets[stage];
  for (auto& b : shard->out[stage - 1]) {
    if (b.num_rows() == 0) continue;
    const std::vector<std::string>* keys =
        Consumes(head, b.input_tag()) ? KeysFor(head, b.input_tag()) : nullptr;
    if (keys == nullptr) {
      // Rows the stage's head does not route (another input's): they stay on this shard.
      Piece p;
      p.rows.resize(b.num_rows());
      for (std::size_t r = 0; r < b.num_rows(); ++r) p.rows[r] = static_cast<std::uint32_t>(r);
      p.src = std::make_shared<RecordBatch>(std::move(b));
      dest[static_cast<std::size_t>(shard->index)].push_back(std::move(p));
      continue;
    }
    std::vector<int> key_idx;
    for (const auto& k : *keys) {
      int idx = b.FindColumn(k);
      if (idx < 0) {
        shard->error = InvalidArgument(fmt::format(
            "query '{}': operator '{}' is keyed by column '{}', which its input lacks (columns: "
            "{})",
            query_name_, operators_[head].name, k, fmt::join(b.names(), ", ")));
        return;
      }
      key_idx.push_back(idx);
    }
    std::vector<Piece> pieces(n);
    for (std::size_t r = 0; r < b.num_rows(); ++r) {
      std::uint64_t h = HashRow(b, key_idx, r);
      Piece& p = pieces[static_cast<std::size_t>(ShardOfHash(h, static_cast<int>(n)))];
      p.rows.push_back(static_cast<std::uint32_t>(r));
      p.hashes.push_back(h);
    }
    auto src = std::make_shared<RecordBatch>(std::move(b));
    for (std::size_t j = 0; j < n; ++j) {
      if (pieces[j].rows.empty()) continue;
      pieces[j].src = src;
      dest[j].push_back(std::move(pieces[j]));
    }
  }
  shard->out[stage - 1].clear();
}

void ShardExecutor::Gather(Shard* shard, std::size_t stage) {
  // Every batch in flight holds rows of exactly one source chunk (operators map one batch to one
  // batch; the exchange only splits), and a chunk's RowIds are one contiguous range. So ordering
  // the pieces this shard received by their first RowId puts all its rows in RowId order —
  // without merging (copying) them.
  std::vector<Piece*> pieces;
  for (auto& other : shards_) {
    for (auto& p : other->buckets[stage][static_cast<std::size_t>(shard->index)])
      pieces.push_back(&p);
  }
  std::sort(pieces.begin(), pieces.end(),
            [](const Piece* a, const Piece* b) { return a->first_row_id() < b->first_row_id(); });
  const Stage& st = stages_[stage];
  Operator* head = shard->ops[st.first_op].get();
  const bool head_selects = head->SupportsSelectRows();
  // Survivors of consecutive pieces are copied into one batch of at least kGatherRows rows (when
  // there are that many): the rest of the stage and the sink then see a few big batches instead
  // of one small one per piece, and a delta-table sink encodes them without copying them again
  // to fill a chunk.
  // Only in the last stage: a merged batch spans several chunks' RowId ranges, and the pieces of
  // such batches would not sort into RowId order by their first row in a later exchange.
  const std::size_t gather_rows = stage + 1 == stages_.size() ? kGatherRows : 0;
  std::vector<RecordBatch::Rows> group;
  std::size_t group_rows = 0;
  std::size_t from_op = st.first_op;  // where the group's rows enter the stage
  auto flush = [&] {
    if (group.empty()) return;
    RecordBatch b = RecordBatch::TakeFrom(group);
    group.clear();
    group_rows = 0;
    RunStage(shard, stage, std::move(b), from_op);
  };
  for (Piece* p : pieces) {
    if (!shard->error.ok()) return;
    // The stage's first operator only drops rows: it chooses on the producer's batch, and the
    // survivors are copied once (for the rows of a tag it consumes).
    const bool select_first = head_selects && Consumes(st.first_op, p->src->input_tag());
    const std::size_t piece_from = select_first ? st.first_op + 1 : st.first_op;
    if (!group.empty() &&
        (!p->src->SameColumns(*group.front().batch) ||
         p->src->input_tag() != group.front().batch->input_tag() || piece_from != from_op))
      flush();
    from_op = piece_from;
    std::span<const std::uint32_t> rows = p->rows;
    if (select_first) {
      OperatorContext ctx = MakeContext(shard);
      if (Status cs = CheckSchema(shard, st.first_op, *p->src); !cs.ok()) {
        shard->error = cs.WithContext(fmt::format("query '{}' batch {} operator '{}'", query_name_,
                                                  batch_id_, operators_[st.first_op].name));
        return;
      }
      // The survivors of the group's i-th piece live in shard->kept[i] until the group is copied.
      if (shard->kept.size() <= group.size()) shard->kept.resize(group.size() + 1);
      std::vector<std::uint32_t>& kept = shard->kept[group.size()];
      kept.clear();
      Status s = head->SelectRows(*p->src, p->rows, p->hashes, ctx, &kept);
      if (s.ok() && !ctx.rejections().empty()) s = Internal("SelectRows rejected rows");
      if (!s.ok()) {
        shard->error = s.WithContext(fmt::format("query '{}' batch {} operator '{}'", query_name_,
                                                 batch_id_, operators_[st.first_op].name));
        return;
      }
      if (kept.empty()) continue;
      rows = kept;
    }
    if (rows.size() == p->src->num_rows() && rows.size() >= gather_rows) {
      // Every row of a big batch: then no other piece names it (the pieces of a batch are
      // disjoint), so it is moved, not copied. (A small one joins the group.)
      flush();
      RunStage(shard, stage, std::move(*p->src), from_op);
      continue;
    }
    group.push_back({p->src.get(), rows});
    group_rows += rows.size();
    if (group_rows >= gather_rows) flush();
  }
  flush();
  // Let go of the inbound pieces now: a producer batch is freed once its last reader is done.
  // (Each shard only touches the pieces addressed to it, so this races with no one.)
  for (auto& other : shards_) other->buckets[stage][static_cast<std::size_t>(shard->index)].clear();
}

}  // namespace pinstream
