#include "state/checkpoint_store.h"

#include <fmt/format.h>

#include <set>

#include "engine/bytes.h"
#include "engine/state_table.h"
#include "state/store.h"

namespace pinstream::state {

std::string CheckpointKey(std::string_view query, char kind, std::int64_t batch) {
  std::string k(query);
  k.push_back('\0');
  k.push_back(kind);
  if (batch >= 0) PutBigEndian64(&k, static_cast<std::uint64_t>(batch));
  return k;
}

namespace {

class RocksQueryCheckpoint : public QueryCheckpoint {
 public:
  RocksQueryCheckpoint(Store* store, std::string q) : store_(store), q_(std::move(q)) {}

  Result<std::optional<QueryMetadata>> ReadMetadata() override {
    std::string v;
    Status st = store_->Get(KeySpace::kCheckpoint, CheckpointKey(q_, 'M'), &v);
    if (st.code() == StatusCode::kNotFound) return std::optional<QueryMetadata>();
    PS_RETURN_IF_ERROR(ReadError("metadata", st));
    auto m = QueryMetadata::Parse(v);
    if (!m.ok()) return Damaged("metadata", m.status());
    return std::optional<QueryMetadata>(std::move(m).value());
  }
  Status WriteMetadata(const QueryMetadata& meta) override {
    return store_->PutSync(KeySpace::kCheckpoint, CheckpointKey(q_, 'M'), meta.Serialize());
  }
  void StageReset(CommitTxn& txn) override {
    // The same ranges as RocksCheckpointStore::Reset: "<query>\0…" and the state "<query>/…".
    auto* st = dynamic_cast<StoreTxn*>(&txn);
    if (st != nullptr) {
      st->DeleteRange(KeySpace::kCheckpoint, q_ + std::string(1, '\0'),
                      q_ + std::string(1, '\x01'));
    }
    txn.DeleteRange(CommitSpace::kOperatorState, q_ + "/", q_ + "0");  // '0' follows '/'
  }
  Result<std::optional<std::int64_t>> Latest(char kind) {
    auto it = store_->NewIterator(KeySpace::kCheckpoint, CheckpointKey(q_, kind));
    it->SeekForPrev(CheckpointKey(q_, kind, INT64_MAX));
    PS_RETURN_IF_ERROR(ReadError(kind == 'O' ? "offsets (the latest)" : "commits (the latest)",
                                 it->status()));
    if (!it->Valid()) return std::optional<std::int64_t>();
    std::string_view k = it->key();
    std::size_t plen = q_.size() + 2;
    if (k.size() != plen + 8)
      return Corruption(fmt::format("query '{}': malformed checkpoint key", q_));
    return std::optional<std::int64_t>(static_cast<std::int64_t>(GetBigEndian64(k.data() + plen)));
  }
  Result<std::optional<OffsetLogEntry>> LatestOffsets() override {
    PS_ASSIGN_OR_RETURN(auto n, Latest('O'));
    if (!n) return std::optional<OffsetLogEntry>();
    return GetOffsets(*n);
  }
  Result<std::optional<OffsetLogEntry>> GetOffsets(std::int64_t b) override {
    std::string v;
    Status st = store_->Get(KeySpace::kCheckpoint, CheckpointKey(q_, 'O', b), &v);
    if (st.code() == StatusCode::kNotFound) return std::optional<OffsetLogEntry>();
    PS_RETURN_IF_ERROR(ReadError(fmt::format("offsets/{}", b), st));
    auto e = OffsetLogEntry::Parse(b, v);
    if (!e.ok()) return Damaged(fmt::format("offsets/{}", b), e.status());
    return std::optional<OffsetLogEntry>(std::move(e).value());
  }
  Result<std::optional<std::int64_t>> LatestCommittedBatch() override { return Latest('C'); }
  Result<std::optional<CommitLogEntry>> GetCommit(std::int64_t b) override {
    std::string v;
    Status st = store_->Get(KeySpace::kCheckpoint, CheckpointKey(q_, 'C', b), &v);
    if (st.code() == StatusCode::kNotFound) return std::optional<CommitLogEntry>();
    PS_RETURN_IF_ERROR(ReadError(fmt::format("commits/{}", b), st));
    auto e = CommitLogEntry::Parse(b, v);
    if (!e.ok()) return Damaged(fmt::format("commits/{}", b), e.status());
    return std::optional<CommitLogEntry>(std::move(e).value());
  }
  Status WriteOffsets(const OffsetLogEntry& e) override {
    return store_->PutSync(KeySpace::kCheckpoint, CheckpointKey(q_, 'O', e.batch_id),
                           e.Serialize());
  }
  std::unique_ptr<CommitTxn> BeginCommit(std::int64_t b) override { return store_->BeginTxn(b); }
  Status Commit(std::unique_ptr<CommitTxn> txn, const CommitLogEntry& e) override {
    auto* st = dynamic_cast<StoreTxn*>(txn.get());
    if (st == nullptr)
      return Internal(
          "a commit transaction from another store was passed to the RocksDB checkpoint");
    std::unique_ptr<StoreTxn> owned(st);
    txn.release();
    owned->Put(KeySpace::kCheckpoint, CheckpointKey(q_, 'C', e.batch_id), e.Serialize());
    std::int64_t keep = store_->options().checkpoint_retention;
    std::int64_t drop_below = e.batch_id - keep + 1;
    if (drop_below > 0) {
      for (char kind : {'O', 'C'}) {
        owned->DeleteRange(KeySpace::kCheckpoint, CheckpointKey(q_, kind, 0),
                           CheckpointKey(q_, kind, drop_below));
      }
    }
    return store_->Commit(std::move(owned), true);
  }
  Status ScanState(std::string_view prefix, const Visitor& visit) override {
    auto it = store_->NewIterator(KeySpace::kState, prefix);
    for (; it->Valid(); it->Next()) visit(it->key(), it->value());
    return it->status().WithContext(fmt::format("query '{}': reading its state", q_));
  }
  Status GetState(std::string_view key, std::string* value, bool* found) override {
    Status st = store_->Get(KeySpace::kState, key, value);
    *found = st.ok();
    return st.code() == StatusCode::kNotFound
               ? Status::Ok()
               : st.WithContext(fmt::format("query '{}': reading its state", q_));
  }
  Status MultiGetState(std::span<const std::string> keys,
                       std::vector<std::optional<std::string>>* values) override {
    return store_->MultiGet(KeySpace::kState, keys, values);
  }
  std::unique_ptr<StateCursor> NewStateCursor(std::string_view begin,
                                              std::string_view end) override {
    class Cursor : public StateCursor {
     public:
      explicit Cursor(std::unique_ptr<StoreIterator> it) : it_(std::move(it)) {}
      bool Valid() const override { return it_->Valid(); }
      std::string_view key() const override { return it_->key(); }
      std::string_view value() const override { return it_->value(); }
      void Next() override { it_->Next(); }
      Status status() const override { return it_->status(); }

     private:
      std::unique_ptr<StoreIterator> it_;
    };
    return std::make_unique<Cursor>(store_->NewRangeIterator(KeySpace::kState, begin, end));
  }
  std::int64_t ApproximateStateBytes(std::string_view begin, std::string_view end) override {
    return static_cast<std::int64_t>(store_->ApproximateRangeSize(KeySpace::kState, begin, end));
  }
  std::int64_t RetainedBatches() const override { return store_->options().checkpoint_retention; }
  Status Apply(std::unique_ptr<CommitTxn> txn) override {
    auto* st = dynamic_cast<StoreTxn*>(txn.get());
    if (st == nullptr)
      return Internal("a transaction from another store was passed to the RocksDB checkpoint");
    std::unique_ptr<StoreTxn> owned(st);
    txn.release();
    return store_->Commit(std::move(owned), true);
  }

 private:
  // A failed read of a checkpoint entry: corruption (a block checksum that does not match) is
  // reported as a damaged entry with what to do; other errors name the query and entry.
  Status ReadError(const std::string& what, const Status& st) {
    if (st.ok()) return st;
    if (st.code() == StatusCode::kCorruption) return Damaged(what, st);
    return st.WithContext(fmt::format("query '{}': reading checkpoint entry {}", q_, what));
  }
  Status Damaged(const std::string& what, const Status& cause) {
    return Corruption(fmt::format(
        "query '{}': checkpoint entry {} is damaged ({}). Inspect it with `pinstream checkpoint "
        "show {}`; "
        "`pinstream checkpoint rewind {} --to-batch N` replays from an intact batch, `pinstream "
        "checkpoint reset {}` starts the query over",
        q_, what, cause.message(), q_, q_, q_));
  }
  Store* store_;
  std::string q_;
};

}  // namespace

Result<std::unique_ptr<QueryCheckpoint>> RocksCheckpointStore::OpenQuery(
    const std::string& query_name) {
  return std::unique_ptr<QueryCheckpoint>(
      std::make_unique<RocksQueryCheckpoint>(store_, query_name));
}

Result<std::vector<std::string>> RocksCheckpointStore::ListQueries() {
  std::vector<std::string> out;
  auto it = store_->NewIterator(KeySpace::kCheckpoint, "");
  for (; it->Valid(); it->Next()) {
    std::string_view k = it->key();
    auto nul = k.find('\0');
    if (nul == std::string_view::npos || nul + 1 >= k.size() || k[nul + 1] != 'M') continue;
    out.emplace_back(k.substr(0, nul));
  }
  PS_RETURN_IF_ERROR(it->status());
  return out;
}

Status RocksCheckpointStore::Rewind(const std::string& query, std::int64_t to_batch,
                                    std::string* report) {
  if (store_->read_only())
    return FailedPrecondition("rewind needs the data dir opened for writing");
  PS_ASSIGN_OR_RETURN(auto cp, OpenQuery(query));
  PS_ASSIGN_OR_RETURN(auto meta, cp->ReadMetadata());
  if (!meta) return NotFound(fmt::format("no checkpoint for query '{}'", query));
  PS_ASSIGN_OR_RETURN(auto latest_offsets, cp->LatestOffsets());
  std::int64_t last = latest_offsets ? latest_offsets->batch_id : -1;
  if (to_batch < 0 || to_batch > last + 1) {
    return OutOfRange(
        fmt::format("query '{}': --to-batch must be between 0 and {}", query, last + 1));
  }
  if (to_batch > 0) {
    PS_ASSIGN_OR_RETURN(auto prev, cp->GetOffsets(to_batch - 1));
    if (!prev) {
      return OutOfRange(fmt::format(
          "query '{}': offsets/{} is no longer kept (retention keeps the last {} batches), so "
          "batch {} "
          "cannot be replayed exactly; choose a later batch or raise storage.checkpoint_retention",
          query, to_batch - 1, store_->options().checkpoint_retention, to_batch));
    }
  }
  auto txn = store_->BeginTxn();
  for (char kind : {'O', 'C'}) {
    txn->DeleteRange(KeySpace::kCheckpoint, CheckpointKey(query, kind, to_batch),
                     CheckpointKey(query, kind, INT64_MAX));
  }
  // Keyed state written by the batches being replayed is dropped, namespace by namespace
  // ("<query>/<operator>"); large state (StateTable) is put back with its undo logs.
  std::int64_t dropped = 0, kept = 0, restored = 0;
  std::set<std::string> namespaces;
  {
    auto it = store_->NewIterator(KeySpace::kState, query + "/");
    while (it->Valid()) {
      std::string_view k = it->key();
      std::string ns(k.substr(0, k.find('\0')));
      namespaces.insert(ns);
      it->Seek(ns + '\x01');  // the next namespace, without reading this one's keys
    }
    PS_RETURN_IF_ERROR(it->status());
  }
  auto* reader = static_cast<QueryCheckpoint*>(cp.get());
  for (const auto& ns : namespaces) {
    PS_RETURN_IF_ERROR(RewindState(reader, ns, to_batch, *txn, &dropped, &kept));
    PS_RETURN_IF_ERROR(StateTable::Rewind(reader, ns, to_batch, *txn, &restored));
  }
  QueryMetadata m = *meta;
  m.epoch += 1;
  txn->Put(KeySpace::kCheckpoint, CheckpointKey(query, 'M'), m.Serialize());
  PS_RETURN_IF_ERROR(store_->Commit(std::move(txn), true));
  *report = fmt::format(
      "query '{}' rewound: the next start replays from batch {} (epoch {}); removed "
      "offsets/commits {}..{}, "
      "{} state entries written by those batches dropped, {} kept, {} large-state keys put back "
      "as they were before batch {}. Table versions already written stay readable by time "
      "travel; replayed batches add new versions.",
      query, to_batch, m.epoch, to_batch, last, dropped, kept, restored, to_batch);
  return Status::Ok();
}

Status RocksCheckpointStore::Reset(const std::string& query) {
  if (store_->read_only()) return FailedPrecondition("reset needs the data dir opened for writing");
  auto txn = store_->BeginTxn();
  std::string p = query;
  p.push_back('\0');
  std::string end = query;
  end.push_back('\x01');
  txn->DeleteRange(KeySpace::kCheckpoint, p, end);
  std::string sp = query + "/";
  std::string se = query + "0";  // '0' is the byte after '/'
  txn->DeleteRange(KeySpace::kState, sp, se);
  return store_->Commit(std::move(txn), true);
}

}  // namespace pinstream::state
