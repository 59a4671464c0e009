#include "engine/state_table.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/bytes.h"
#include "engine/record_batch.h"

namespace pinstream {

namespace {
// Per cached entry beyond its key and value: list node, hash node, string headers.
constexpr std::size_t kCacheEntryOverhead = 96;
constexpr std::size_t kMapEntryOverhead = 64;

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

void StateTable::PruneDurable() {
  const std::int64_t durable = durable_->load(std::memory_order_acquire);
  while (!in_flight_.empty() && in_flight_.front().batch <= durable) {
    // Committed now: what the overlay held is what storage holds, so the cache may keep it.
    for (auto& [k, w] : in_flight_.front().writes) CachePut(k, std::move(w.value));
    in_flight_.pop_front();
  }
}

void StateTable::CachePut(std::string_view key, std::optional<std::string> value) {
  if (cache_capacity_ == 0) return;
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    CacheEntry& e = *it->second;
    cache_bytes_ -= e.value ? e.value->size() : 0;
    cache_bytes_ += value ? value->size() : 0;
    e.value = std::move(value);
    lru_.splice(lru_.begin(), lru_, it->second);
  } else {
    cache_bytes_ += key.size() + (value ? value->size() : 0) + kCacheEntryOverhead;
    lru_.push_front(CacheEntry{std::string(key), std::move(value)});
    cache_.emplace(lru_.front().key, lru_.begin());
  }
  CacheEvict();
}

void StateTable::CacheEvict() {
  while (cache_bytes_ > cache_capacity_ && !lru_.empty()) {
    CacheEntry& e = lru_.back();
    cache_bytes_ -= e.key.size() + (e.value ? e.value->size() : 0) + kCacheEntryOverhead;
    cache_.erase(e.key);
    lru_.pop_back();
  }
}

Status StateTable::ReadCommitted(std::string_view key, std::optional<std::string>* value) {
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    ++hits_;
    *value = it->second->value;
    lru_.splice(lru_.begin(), lru_, it->second);
    return Status::Ok();
  }
  ++misses_;
  std::string v;
  bool found = false;
  PS_RETURN_IF_ERROR(storage_->GetState(Physical(key), &v, &found));
  if (found) {
    *value = std::move(v);
  } else {
    value->reset();
  }
  CachePut(key, *value);
  return Status::Ok();
}

Status StateTable::ReadBelowBatch(std::string_view key, std::optional<std::string>* value) {
  for (auto o = in_flight_.rbegin(); o != in_flight_.rend(); ++o) {
    auto it = o->writes.find(key);
    if (it != o->writes.end()) {
      *value = it->second.value;
      return Status::Ok();
    }
  }
  return ReadCommitted(key, value);
}

Status StateTable::Prefetch(std::vector<std::string_view> keys) {
  if (cache_capacity_ == 0 || keys.empty()) return Status::Ok();
  PruneDurable();
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  constexpr std::size_t kChunk = 4096;
  std::vector<std::string> missing;
  std::vector<std::optional<std::string>> values;
  std::size_t added = 0;
  for (std::size_t at = 0; at < keys.size() && added < cache_capacity_ / 2;) {
    missing.clear();
    // No more keys than the rest of the half-cache holds with their overhead alone.
    const std::size_t room = std::clamp<std::size_t>(
        (cache_capacity_ / 2 - added) / (kCacheEntryOverhead + keys[at].size()), 1, kChunk);
    for (; at < keys.size() && missing.size() < room; ++at) {
      std::string_view k = keys[at];
      if (current_.find(k) != current_.end()) continue;
      bool above = false;
      for (const Overlay& o : in_flight_) above = above || o.writes.find(k) != o.writes.end();
      if (above) continue;
      auto it = cache_.find(k);
      if (it != cache_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        continue;
      }
      missing.push_back(Physical(k));
    }
    PS_RETURN_IF_ERROR(storage_->MultiGetState(missing, &values));
    misses_ += static_cast<std::int64_t>(missing.size());
    for (std::size_t i = 0; i < missing.size(); ++i) {
      std::string_view k = std::string_view(missing[i]).substr(data_prefix_.size());
      added += k.size() + (values[i] ? values[i]->size() : 0) + kCacheEntryOverhead;
      CachePut(k, std::move(values[i]));
    }
  }
  return Status::Ok();
}

Status StateTable::Get(std::string_view key, std::string* value, bool* found) {
  PruneDurable();
  auto it = current_.find(key);
  if (it != current_.end()) {
    *found = it->second.value.has_value();
    if (*found) *value = *it->second.value;
    return Status::Ok();
  }
  std::optional<std::string> v;
  PS_RETURN_IF_ERROR(ReadBelowBatch(key, &v));
  *found = v.has_value();
  if (*found) *value = std::move(*v);
  return Status::Ok();
}

Status StateTable::Put(std::string_view key, std::string_view value) {
  auto it = current_.find(key);
  if (it == current_.end()) {
    PruneDurable();
    std::optional<std::string> old;
    PS_RETURN_IF_ERROR(ReadBelowBatch(key, &old));
    if (!old) CountKey(key, +1);
    it = current_.emplace(std::string(key), Write{std::nullopt, std::move(old)}).first;
    current_bytes_ +=
        key.size() + kMapEntryOverhead + (it->second.old ? it->second.old->size() : 0);
  } else if (!it->second.value) {
    CountKey(key, +1);  // deleted earlier in this batch, back now
  }
  if (it->second.value) current_bytes_ -= it->second.value->size();
  it->second.value = std::string(value);
  current_bytes_ += value.size();
  if (!IsIndex(key)) ++batch_updated_;
  return Status::Ok();
}

Status StateTable::Delete(std::string_view key) {
  auto it = current_.find(key);
  if (it == current_.end()) {
    PruneDurable();
    std::optional<std::string> old;
    PS_RETURN_IF_ERROR(ReadBelowBatch(key, &old));
    if (!old) return Status::Ok();  // nothing to delete
    CountKey(key, -1);
    current_bytes_ += key.size() + kMapEntryOverhead + old->size();
    current_.emplace(std::string(key), Write{std::nullopt, std::move(old)});
    if (!IsIndex(key)) ++batch_removed_;
    return Status::Ok();
  }
  if (!it->second.value) return Status::Ok();
  current_bytes_ -= it->second.value->size();
  it->second.value.reset();
  CountKey(key, -1);
  if (!IsIndex(key)) ++batch_removed_;
  return Status::Ok();
}

Status StateTable::Scan(std::string_view begin, std::string_view end, const ScanVisitor& visit) {
  PruneDurable();
  // The writes above storage in [begin, end), newest layer first wins.
  std::map<std::string_view, const std::optional<std::string>*> upper;
  for (auto it = current_.lower_bound(begin); it != current_.end() && it->first < end; ++it)
    upper.emplace(it->first, &it->second.value);
  for (auto o = in_flight_.rbegin(); o != in_flight_.rend(); ++o) {
    for (auto it = o->writes.lower_bound(begin); it != o->writes.end() && it->first < end; ++it)
      upper.emplace(it->first, &it->second.value);
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
    if (have_u && (!have_s || u->first <= sk)) {
      if (have_s && u->first == sk) cursor->Next();  // shadowed by a newer write
      if (*u->second && !visit(u->first, **u->second)) return Status::Ok();
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
  if (current_.empty() && !meta_dirty_) {
    rows_at_start_ = rows_;
    index_rows_at_start_ = index_rows_;
    return;
  }
  std::string undo;
  PutVarint64(&undo, current_.size() + 2);
  Overlay overlay;
  overlay.batch = batch_id;
  std::string phys = data_prefix_;
  overlay.bytes = current_bytes_;
  for (auto& [k, w] : current_) {
    phys.resize(data_prefix_.size());
    phys.append(k);
    undo.push_back(w.old ? 1 : 0);
    PutLengthPrefixed(&undo, phys);
    if (w.old) {
      PutLengthPrefixed(&undo, *w.old);
      overlay.bytes -= w.old->size();
      w.old.reset();  // in the undo log now
    }
    if (w.value) {
      txn.Put(CommitSpace::kOperatorState, phys, *w.value);
    } else {
      txn.Delete(CommitSpace::kOperatorState, phys);
    }
  }
  // The overlay is the batch's map itself, moved whole.
  overlay.writes = std::move(current_);
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
  current_.clear();
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
  current_.clear();
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
