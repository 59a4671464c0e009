#include "engine/state_table.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/bytes.h"
#include "engine/record_batch.h"

namespace pinstream {

namespace {
std::string Base(std::string_view ns, char kind) {
  std::string k(ns);
  k.push_back('\0');
  k.push_back(kind);
  return k;
}
}  // namespace

std::string StateTable::DataPrefix(std::string_view ns) { return Base(ns, 'K'); }
std::string StateTable::UndoPrefix(std::string_view ns) { return Base(ns, 'U'); }

std::string StateTable::UndoKey(std::string_view ns, std::int64_t batch, std::uint32_t shard) {
  std::string k = Base(ns, 'U');
  PutBigEndian64(&k, static_cast<std::uint64_t>(batch));
  PutBigEndian32(&k, shard);
  return k;
}

std::string StateTable::MetaKey(std::string_view ns, std::uint32_t shards, std::uint32_t shard) {
  std::string k = Base(ns, 'M');
  PutBigEndian32(&k, shards);
  PutBigEndian32(&k, shard);
  return k;
}

std::string StateTable::ShardsKey(std::string_view ns) { return Base(ns, 'N'); }

StateTable::StateTable(StateReader* storage, std::string ns, int shard, int num_shards,
                       std::size_t cache_bytes, std::string index_kinds)
    : storage_(storage),
      ns_(std::move(ns)),
      data_prefix_(DataPrefix(ns_)),
      shard_(shard),
      num_shards_(num_shards),
      cache_capacity_(cache_bytes),
      index_kinds_(std::move(index_kinds)),
      durable_(std::make_shared<std::atomic<std::int64_t>>(-1)) {
  for (int p = 0; p < kStatePartitions; ++p) {
    if (p % num_shards_ == shard_) partitions_.push_back(static_cast<std::uint8_t>(p));
  }
}

StateTable::~StateTable() = default;

std::string StateTable::MetaValue(std::int64_t rows, std::int64_t index_rows) {
  std::string v;
  PutVarint64(&v, static_cast<std::uint64_t>(std::max<std::int64_t>(rows, 0)));
  PutVarint64(&v, static_cast<std::uint64_t>(std::max<std::int64_t>(index_rows, 0)));
  return v;
}

Status StateTable::Open() {
  // The row counts are those of the last writer's shard count: a count stored under this shard
  // count by an earlier run may be stale when another count wrote since.
  std::string v;
  bool found = false;
  PS_RETURN_IF_ERROR(storage_->GetState(ShardsKey(ns_), &v, &found));
  std::uint32_t last_shards = 0;
  shards_entry_.reset();
  if (found) {
    if (v.size() != 4)
      return Corruption(fmt::format("state '{}': the shard count entry is damaged", ns_));
    last_shards = GetBigEndian32(v.data());
    shards_entry_ = v;
  }
  found = false;
  if (last_shards == static_cast<std::uint32_t>(num_shards_)) {
    PS_RETURN_IF_ERROR(storage_->GetState(
        MetaKey(ns_, static_cast<std::uint32_t>(num_shards_), static_cast<std::uint32_t>(shard_)),
        &v, &found));
  }
  if (found) {
    ByteReader r(v);
    std::uint64_t rows = 0, index_rows = 0;
    if (!r.GetVarint64(&rows))
      return Corruption(
          fmt::format("state '{}': the row count of shard {} is damaged", ns_, shard_));
    rows_ = rows_at_start_ = static_cast<std::int64_t>(rows);
    if (r.remaining() > 0) {
      if (!r.GetVarint64(&index_rows))
        return Corruption(
            fmt::format("state '{}': the index count of shard {} is damaged", ns_, shard_));
      index_rows_ = index_rows_at_start_ = static_cast<std::int64_t>(index_rows);
      return Status::Ok();
    }
    // A count from before index counts: this shard's index keys, counted once (a range per
    // owned partition and index kind), stored with the next batch.
    index_rows_ = 0;
    for (std::uint8_t p : partitions_) {
      for (char kind : index_kinds_) {
        std::string begin = data_prefix_;
        begin.push_back(static_cast<char>(p));
        begin.push_back(kind);
        std::string end = begin;
        end.back() = static_cast<char>(end.back() + 1);
        auto c = storage_->NewStateCursor(begin, end);
        for (; c->Valid(); c->Next()) ++index_rows_;
        PS_RETURN_IF_ERROR(c->status());
      }
    }
    index_rows_at_start_ = index_rows_;
    meta_dirty_ = index_rows_ > 0;
    return Status::Ok();
  }
  // Written with another shard count (or never): count this shard's keys once.
  rows_ = index_rows_ = 0;
  for (std::uint8_t p : partitions_) {
    std::string begin = data_prefix_;
    begin.push_back(static_cast<char>(p));
    std::string end = data_prefix_;
    end.push_back(static_cast<char>(p + 1));
    if (p == 0xff) end = Base(ns_, 'K' + 1);
    auto c = storage_->NewStateCursor(begin, end);
    for (; c->Valid(); c->Next()) CountKey(c->key().substr(data_prefix_.size()), +1);
    PS_RETURN_IF_ERROR(c->status());
  }
  rows_at_start_ = rows_;
  index_rows_at_start_ = index_rows_;
  // Every shard of this run counted (they all read the same shard count entry), and all of them
  // store their counts and the new shard count in the first batch's one write. (No entry: no
  // batch ever wrote, nothing to store.)
  meta_dirty_ = shards_entry_.has_value();
  return Status::Ok();
}

StateTable::Node* StateTable::NodeIndex::Find(std::string_view key, std::uint64_t hash) const {
  if (slots_.empty()) return nullptr;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.node == nullptr) return nullptr;
    if (s.hash == hash && s.node->key == key) return s.node;
  }
}

void StateTable::NodeIndex::Insert(Node* n) {
  if ((size_ + 1) * 2 > slots_.size()) Grow();
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = n->hash & mask;
  while (slots_[i].node != nullptr) i = (i + 1) & mask;
  slots_[i] = Slot{n->hash, n};
  ++size_;
}

void StateTable::NodeIndex::Erase(const Node* n) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = n->hash & mask;
  while (slots_[i].node != n) i = (i + 1) & mask;
  // Backward shift: later entries of the probe run move up into the hole, so that no look-up
  // stops early at it (no tombstones).
  for (std::size_t j = (i + 1) & mask; slots_[j].node != nullptr; j = (j + 1) & mask) {
    const std::size_t home = slots_[j].hash & mask;
    // Entry j may fill hole i if its home is not cyclically within (i, j].
    const bool within = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!within) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
  --size_;
}

void StateTable::NodeIndex::Grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max<std::size_t>(64, old.size() * 2), Slot{});
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.node == nullptr) continue;
    std::size_t i = s.hash & mask;
    while (slots_[i].node != nullptr) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

StateTable::Node* StateTable::NewNode(std::string_view key, std::uint64_t hash) {
  Node* n;
  if (!free_.empty()) {
    n = free_.back();
    free_.pop_back();
  } else {
    n = &pool_.emplace_back();
  }
  n->key.assign(key);
  n->hash = hash;
  index_.Insert(n);
  return n;
}

void StateTable::FreeNode(Node* n) {
  index_.Erase(n);
  n->has_below = n->written = n->has_value = n->in_lru = false;
  n->in_flight = -1;
  n->prev = n->next = nullptr;
  // Values may be large: their memory goes (a short key's stays in the node).
  std::string().swap(n->below);
  std::string().swap(n->value);
  if (n->key.capacity() > 64) std::string().swap(n->key);
  free_.push_back(n);
}

void StateTable::LruLink(Node* n) {
  n->in_lru = true;
  n->prev = nullptr;
  n->next = lru_head_;
  if (lru_head_ != nullptr) lru_head_->prev = n;
  lru_head_ = n;
  if (lru_tail_ == nullptr) lru_tail_ = n;
  cache_bytes_ += CachedBytes(n);
}

void StateTable::LruUnlink(Node* n) {
  if (n->prev != nullptr) n->prev->next = n->next;
  if (n->next != nullptr) n->next->prev = n->prev;
  if (lru_head_ == n) lru_head_ = n->next;
  if (lru_tail_ == n) lru_tail_ = n->prev;
  n->prev = n->next = nullptr;
  n->in_lru = false;
  cache_bytes_ -= CachedBytes(n);
}

void StateTable::LruTouch(Node* n) {
  if (lru_head_ == n) return;
  LruUnlink(n);
  LruLink(n);
}

void StateTable::CacheEvict(const Node* keep) {
  while (cache_bytes_ > cache_capacity_ && lru_tail_ != nullptr && lru_tail_ != keep) {
    Node* n = lru_tail_;
    LruUnlink(n);
    FreeNode(n);
  }
}

void StateTable::PruneDurable() {
  const std::int64_t durable = durable_->load(std::memory_order_acquire);
  if (in_flight_.empty() || in_flight_.front().batch > durable) return;
  while (!in_flight_.empty() && in_flight_.front().batch <= durable) {
    // Committed now: what the overlay held is what storage holds, so the cache may keep it (a
    // key a later staged batch wrote again stays that batch's).
    const Overlay& o = in_flight_.front();
    for (Node* n : o.nodes) {
      if (n->in_flight != o.batch) continue;
      n->in_flight = -1;
      if (!n->written) LruLink(n);
    }
    in_flight_.pop_front();
  }
  CacheEvict();
}

Status StateTable::Load(std::string_view key, Node** out) {
  const std::uint64_t hash = HashBytes(key);
  Node* n = index_.Find(key, hash);
  if (n != nullptr) {
    if (n->in_lru) {
      ++hits_;
      LruTouch(n);
    }
    *out = n;
    return Status::Ok();
  }
  ++misses_;
  std::string v;
  bool found = false;
  PS_RETURN_IF_ERROR(storage_->GetState(Physical(key), &v, &found));
  n = NewNode(key, hash);
  n->has_below = found;
  if (found) n->below = std::move(v);
  LruLink(n);
  CacheEvict(n);
  *out = n;
  return Status::Ok();
}

Status StateTable::Prefetch(std::vector<std::string_view> keys) {
  if (cache_capacity_ == 0 || keys.empty()) return Status::Ok();
  PruneDurable();
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  constexpr std::size_t kChunk = 4096;
  std::vector<std::string> missing;
  std::vector<std::uint64_t> hashes;
  std::vector<std::optional<std::string>> values;
  std::size_t added = 0;
  for (std::size_t at = 0; at < keys.size() && added < cache_capacity_ / 2;) {
    missing.clear();
    hashes.clear();
    // No more keys than the rest of the half-cache holds with their overhead alone.
    const std::size_t room = std::clamp<std::size_t>(
        (cache_capacity_ / 2 - added) / (kNodeOverhead + keys[at].size()), 1, kChunk);
    for (; at < keys.size() && missing.size() < room; ++at) {
      std::string_view k = keys[at];
      const std::uint64_t hash = HashBytes(k);
      if (Node* n = index_.Find(k, hash)) {
        if (n->in_lru) LruTouch(n);
        continue;  // known: this batch's, an overlay's or cached
      }
      missing.push_back(Physical(k));
      hashes.push_back(hash);
    }
    PS_RETURN_IF_ERROR(storage_->MultiGetState(missing, &values));
    misses_ += static_cast<std::int64_t>(missing.size());
    for (std::size_t i = 0; i < missing.size(); ++i) {
      Node* n = NewNode(std::string_view(missing[i]).substr(data_prefix_.size()), hashes[i]);
      n->has_below = values[i].has_value();
      if (n->has_below) n->below = std::move(*values[i]);
      added += CachedBytes(n);
      LruLink(n);
      CacheEvict(n);
    }
  }
  return Status::Ok();
}

Status StateTable::Get(std::string_view key, std::string* value, bool* found) {
  PruneDurable();
  Node* n = nullptr;
  PS_RETURN_IF_ERROR(Load(key, &n));
  if (n->written) {
    *found = n->has_value;
    if (*found) *value = n->value;
  } else {
    *found = n->has_below;
    if (*found) *value = n->below;
  }
  return Status::Ok();
}

void StateTable::BeginWrite(Node* n) {
  if (n->in_lru) LruUnlink(n);
  n->written = true;
  n->has_value = false;
  written_.push_back(n);
  current_bytes_ += n->key.size() + kNodeOverhead + (n->has_below ? n->below.size() : 0);
}

Status StateTable::Put(std::string_view key, std::string_view value) {
  PruneDurable();
  Node* n = nullptr;
  PS_RETURN_IF_ERROR(Load(key, &n));
  if (!n->written) {
    BeginWrite(n);
    if (!n->has_below) CountKey(key, +1);
  } else if (!n->has_value) {
    CountKey(key, +1);  // deleted earlier in this batch, back now
  } else {
    current_bytes_ -= n->value.size();
  }
  n->value.assign(value);
  n->has_value = true;
  current_bytes_ += value.size();
  if (!IsIndex(key)) ++batch_updated_;
  return Status::Ok();
}

Status StateTable::Delete(std::string_view key) {
  PruneDurable();
  Node* n = nullptr;
  PS_RETURN_IF_ERROR(Load(key, &n));
  if (!n->written) {
    if (!n->has_below) return Status::Ok();  // nothing to delete
    BeginWrite(n);
  } else {
    if (!n->has_value) return Status::Ok();
    current_bytes_ -= n->value.size();
    n->has_value = false;
  }
  CountKey(key, -1);
  if (!IsIndex(key)) ++batch_removed_;
  return Status::Ok();
}

Status StateTable::Scan(std::string_view begin, std::string_view end, const ScanVisitor& visit) {
  PruneDurable();
  // The keys written above storage in [begin, end): this batch's and the overlays'; each node
  // holds its newest value.
  for (; ordered_upto_ < written_.size(); ++ordered_upto_) {
    Node* n = written_[ordered_upto_];
    ordered_.emplace(n->key, n);
  }
  std::vector<Node*> upper;
  for (auto it = ordered_.lower_bound(begin); it != ordered_.end() && it->first < end; ++it)
    upper.push_back(it->second);
  const auto by_key = [](const Node* a, const Node* b) { return a->key < b->key; };
  if (!in_flight_.empty()) {
    for (Overlay& o : in_flight_) {
      if (!o.sorted) {
        std::sort(o.nodes.begin(), o.nodes.end(), by_key);
        o.sorted = true;
      }
      auto it = std::lower_bound(o.nodes.begin(), o.nodes.end(), begin,
                                 [](const Node* n, std::string_view k) { return n->key < k; });
      for (; it != o.nodes.end() && (*it)->key < end; ++it) upper.push_back(*it);
    }
    std::sort(upper.begin(), upper.end(), by_key);
    upper.erase(std::unique(upper.begin(), upper.end()), upper.end());
  }
  auto cursor = storage_->NewStateCursor(Physical(begin), Physical(end));
  const std::size_t plen = data_prefix_.size();
  auto u = upper.begin();
  for (;;) {
    std::string_view sk;
    bool have_s = cursor->Valid();
    if (have_s) sk = cursor->key().substr(plen);
    bool have_u = u != upper.end();
    if (!have_s && !have_u) break;
    if (have_u && (!have_s || std::string_view((*u)->key) <= sk)) {
      const Node& n = **u;
      if (have_s && n.key == sk) cursor->Next();  // shadowed by a newer write
      const bool live = n.written ? n.has_value : n.has_below;
      if (live && !visit(n.key, n.written ? n.value : n.below)) return Status::Ok();
      ++u;
      continue;
    }
    if (!visit(sk, cursor->value())) return Status::Ok();
    cursor->Next();
  }
  return cursor->status();
}

void StateTable::StageBatch(std::int64_t batch_id, CommitTxn& txn) {
  batch_updated_ = batch_removed_ = 0;
  // The undo log of the oldest batch rewind can no longer reach goes (one point delete a batch).
  const std::int64_t retained = std::max<std::int64_t>(1, storage_->RetainedBatches());
  if (batch_id - retained >= 0) {
    txn.Delete(CommitSpace::kOperatorState,
               UndoKey(ns_, batch_id - retained, static_cast<std::uint32_t>(shard_)));
  }
  if (written_.empty() && !meta_dirty_) {
    rows_at_start_ = rows_;
    index_rows_at_start_ = index_rows_;
    return;
  }
  std::string undo;
  PutVarint64(&undo, written_.size() + 2);
  Overlay overlay;
  overlay.batch = batch_id;
  std::string phys = data_prefix_;
  for (Node* n : written_) {
    phys.resize(data_prefix_.size());
    phys.append(n->key);
    // The undo entry is the value below this batch, which the node holds since its first write.
    undo.push_back(n->has_below ? 1 : 0);
    PutLengthPrefixed(&undo, phys);
    if (n->has_below) PutLengthPrefixed(&undo, n->below);
    if (n->has_value) {
      txn.Put(CommitSpace::kOperatorState, phys, n->value);
    } else {
      txn.Delete(CommitSpace::kOperatorState, phys);
    }
    overlay.bytes += n->key.size() + kNodeOverhead + (n->has_value ? n->value.size() : 0);
    // The batch's write is now the value below the next batch: an overlay's until durable.
    n->below.swap(n->value);
    std::string().swap(n->value);  // the old value's memory goes
    n->has_below = n->has_value;
    n->has_value = n->written = false;
    n->in_flight = batch_id;
  }
  overlay.nodes = std::move(written_);
  written_.clear();
  ordered_.clear();
  ordered_upto_ = 0;
  // The row count, written (and undone) like the keys: its value before the batch is the count
  // the batch started from.
  std::string meta_key =
      MetaKey(ns_, static_cast<std::uint32_t>(num_shards_), static_cast<std::uint32_t>(shard_));
  const std::string meta = MetaValue(rows_, index_rows_);
  const std::string old_meta = MetaValue(rows_at_start_, index_rows_at_start_);
  undo.push_back(1);
  PutLengthPrefixed(&undo, meta_key);
  PutLengthPrefixed(&undo, old_meta);
  txn.Put(CommitSpace::kOperatorState, meta_key, meta);
  // The shard count of the counts (the same value from every shard), undone to what it was.
  std::string shards_key = ShardsKey(ns_), shards;
  PutBigEndian32(&shards, static_cast<std::uint32_t>(num_shards_));
  undo.push_back(shards_entry_ ? 1 : 0);
  PutLengthPrefixed(&undo, shards_key);
  if (shards_entry_) PutLengthPrefixed(&undo, *shards_entry_);
  txn.Put(CommitSpace::kOperatorState, shards_key, shards);
  shards_entry_ = shards;
  meta_dirty_ = false;
  txn.Put(CommitSpace::kOperatorState, UndoKey(ns_, batch_id, static_cast<std::uint32_t>(shard_)),
          undo);
  current_bytes_ = 0;
  rows_at_start_ = rows_;
  index_rows_at_start_ = index_rows_;
  in_flight_.push_back(std::move(overlay));
  std::weak_ptr<std::atomic<std::int64_t>> durable = durable_;
  txn.OnCommitted([durable, batch_id] {
    if (auto d = durable.lock()) {
      std::int64_t prev = d->load();
      while (prev < batch_id && !d->compare_exchange_weak(prev, batch_id)) {
      }
    }
  });
}

void StateTable::DiscardBatch() {
  rows_ = rows_at_start_;
  index_rows_ = index_rows_at_start_;
  for (Node* n : written_) {
    n->written = n->has_value = false;
    std::string().swap(n->value);
    if (n->in_flight < 0) LruLink(n);  // its committed value is the cache's again
  }
  written_.clear();
  ordered_.clear();
  ordered_upto_ = 0;
  CacheEvict();
  current_bytes_ = 0;
  batch_updated_ = batch_removed_ = 0;
}

Status StateTable::Rewind(StateReader* storage, std::string_view ns, std::int64_t to_batch,
                          CommitTxn& txn, std::int64_t* restored) {
  std::string prefix = UndoPrefix(ns);
  std::string begin = UndoKey(ns, to_batch, 0);
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  std::vector<std::pair<std::string, std::string>> logs;  // oldest first
  auto c = storage->NewStateCursor(begin, end);
  for (; c->Valid(); c->Next()) logs.emplace_back(c->key(), c->value());
  PS_RETURN_IF_ERROR(c->status());
  for (auto it = logs.rbegin(); it != logs.rend(); ++it) {
    ByteReader r(it->second);
    std::uint64_t n = 0;
    if (!r.GetVarint64(&n)) return Corruption(fmt::format("state '{}': a damaged undo log", ns));
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint8_t had = 0;
      std::string_view key, old;
      if (!r.GetByte(&had) || had > 1 || !r.GetLengthPrefixed(&key) ||
          (had == 1 && !r.GetLengthPrefixed(&old)))
        return Corruption(fmt::format("state '{}': a damaged undo log", ns));
      if (had == 1) {
        txn.Put(CommitSpace::kOperatorState, key, old);
      } else {
        txn.Delete(CommitSpace::kOperatorState, key);
      }
      ++*restored;
    }
    txn.Delete(CommitSpace::kOperatorState, it->first);
  }
  return Status::Ok();
}

Result<std::optional<std::int64_t>> StateTable::StoredRows(StateReader* storage,
                                                           std::string_view ns) {
  std::string v;
  bool found = false;
  PS_RETURN_IF_ERROR(storage->GetState(ShardsKey(ns), &v, &found));
  if (!found) return std::optional<std::int64_t>();
  if (v.size() != 4)
    return Corruption(fmt::format("state '{}': the shard count entry is damaged", ns));
  const std::uint32_t shards = GetBigEndian32(v.data());
  std::int64_t rows = 0;
  for (std::uint32_t s = 0; s < shards; ++s) {
    found = false;
    PS_RETURN_IF_ERROR(storage->GetState(MetaKey(ns, shards, s), &v, &found));
    if (!found) continue;  // a shard that never wrote
    ByteReader r(v);
    std::uint64_t n = 0;
    if (!r.GetVarint64(&n))
      return Corruption(fmt::format("state '{}': the row count of shard {} is damaged", ns, s));
    rows += static_cast<std::int64_t>(n);
  }
  return std::optional<std::int64_t>(rows);
}

StateTableStats StateTable::Stats() const {
  StateTableStats s;
  s.rows = rows_ - index_rows_;
  s.rows_updated = batch_updated_;
  s.rows_removed = batch_removed_;
  std::size_t overlays = current_bytes_;
  for (const auto& o : in_flight_) overlays += o.bytes;
  s.memory_bytes = static_cast<std::int64_t>(cache_bytes_ + overlays);
  s.cache_hits = hits_;
  s.cache_misses = misses_;
  return s;
}

}  // namespace pinstream
