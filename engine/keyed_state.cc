#include "engine/keyed_state.h"

#include <fmt/format.h>

#include <unordered_map>

#include "engine/bytes.h"

namespace pinstream {

namespace {
constexpr std::size_t kSnapshotChunkBytes = 4 << 20;

std::string Base(std::string_view ns, char kind) {
  std::string k(ns);
  k.push_back('\0');
  k.push_back(kind);
  return k;
}

// Batch id of a delta/snapshot storage key; -1 if malformed.
std::int64_t BatchOf(std::string_view key, std::size_t base_len) {
  if (key.size() != base_len + 12) return -1;
  return static_cast<std::int64_t>(GetBigEndian64(key.data() + base_len));
}
}  // namespace

std::string StatePrefix(std::string_view ns, char kind) { return Base(ns, kind); }

std::string StateDeltaKey(std::string_view ns, std::int64_t batch, std::uint32_t part) {
  std::string k = Base(ns, 'D');
  PutBigEndian64(&k, static_cast<std::uint64_t>(batch));
  PutBigEndian32(&k, part);
  return k;
}

std::string StateSnapshotKey(std::string_view ns, std::int64_t batch, std::uint32_t chunk) {
  std::string k = Base(ns, 'S');
  PutBigEndian64(&k, static_cast<std::uint64_t>(batch));
  PutBigEndian32(&k, chunk);
  return k;
}

std::string EncodeStateEntries(const std::vector<StateEntry>& entries) {
  std::string out;
  std::size_t bytes = 16;
  for (const auto& e : entries) bytes += e.key.size() + e.value.size() + 12;
  out.reserve(bytes);
  PutVarint64(&out, entries.size());
  for (const auto& e : entries) {
    out.push_back(e.is_delete ? 1 : 0);
    PutLengthPrefixed(&out, e.key);
    if (!e.is_delete) {
      PutVarint64(&out, static_cast<std::uint64_t>(e.written_batch));
      PutLengthPrefixed(&out, e.value);
    }
  }
  return out;
}

Status DecodeStateEntries(std::string_view blob, std::vector<StateEntry>* out) {
  ByteReader r(blob);
  std::uint64_t n;
  if (!r.GetVarint64(&n) || n > blob.size()) return Corruption("state entries: bad count");
  out->reserve(out->size() + n);
  for (std::uint64_t i = 0; i < n; ++i) {
    StateEntry e;
    std::uint8_t op;
    std::string_view key, value;
    if (!r.GetByte(&op) || op > 1 || !r.GetLengthPrefixed(&key))
      return Corruption("state entries: truncated");
    e.key.assign(key);
    e.is_delete = op == 1;
    if (!e.is_delete) {
      std::uint64_t batch;
      if (!r.GetVarint64(&batch) || !r.GetLengthPrefixed(&value))
        return Corruption("state entries: truncated");
      e.written_batch = static_cast<std::int64_t>(batch);
      e.value.assign(value);
    }
    out->push_back(std::move(e));
  }
  if (r.remaining() != 0) return Corruption("state entries: trailing bytes");
  return Status::Ok();
}

namespace {

struct Loaded {
  LoadedState state;
  std::vector<std::string> storage_keys;  // snapshot chunks and deltas read
};

Result<Loaded> LoadWithKeys(StateReader* reader, std::string_view ns) {
  Loaded out;
  std::string sbase = Base(ns, 'S'), dbase = Base(ns, 'D');
  // The newest snapshot: collect chunks of the highest batch.
  std::int64_t snap_batch = -1;
  std::vector<std::pair<std::string, std::string>> chunks;
  Status inner;
  PS_RETURN_IF_ERROR(reader->ScanState(sbase, [&](std::string_view key, std::string_view value) {
    std::int64_t b = BatchOf(key, sbase.size());
    if (b < 0) {
      if (inner.ok()) inner = Corruption(fmt::format("state '{}': malformed snapshot key", ns));
      return;
    }
    out.storage_keys.emplace_back(key);
    if (b > snap_batch) {
      snap_batch = b;
      chunks.clear();
    }
    if (b == snap_batch) chunks.emplace_back(std::string(key), std::string(value));
  }));
  PS_RETURN_IF_ERROR(inner);
  std::unordered_map<std::string, StateEntry> live;
  std::vector<StateEntry> buf;
  for (const auto& [k, v] : chunks) {
    buf.clear();
    PS_RETURN_IF_ERROR(DecodeStateEntries(v, &buf).WithContext(
        fmt::format("state '{}' snapshot {}", ns, snap_batch)));
    for (auto& e : buf) live[e.key] = std::move(e);
  }
  out.state.last_batch = snap_batch;
  PS_RETURN_IF_ERROR(reader->ScanState(dbase, [&](std::string_view key, std::string_view value) {
    if (!inner.ok()) return;
    std::int64_t b = BatchOf(key, dbase.size());
    if (b < 0) {
      inner = Corruption(fmt::format("state '{}': malformed delta key", ns));
      return;
    }
    out.storage_keys.emplace_back(key);
    if (b <= snap_batch) return;  // already in the snapshot (left over from a crash mid-compaction)
    buf.clear();
    inner = DecodeStateEntries(value, &buf)
                .WithContext(fmt::format("state '{}' delta of batch {}", ns, b));
    for (auto& e : buf) {
      if (e.is_delete) {
        live.erase(e.key);
      } else {
        live[e.key] = std::move(e);
      }
    }
    out.state.last_batch = std::max(out.state.last_batch, b);
    ++out.state.deltas;
  }));
  PS_RETURN_IF_ERROR(inner);
  out.state.entries.reserve(live.size());
  for (auto& [k, e] : live) out.state.entries.push_back(std::move(e));
  return out;
}

}  // namespace

Result<LoadedState> LoadState(StateReader* reader, std::string_view ns) {
  PS_ASSIGN_OR_RETURN(Loaded l, LoadWithKeys(reader, ns));
  return std::move(l.state);
}

void StageStateSnapshot(std::string_view ns, const LoadedState& state,
                        const std::vector<std::string>& keys_to_drop, CommitTxn& txn) {
  for (const auto& k : keys_to_drop) txn.Delete(CommitSpace::kOperatorState, k);
  std::vector<StateEntry> chunk;
  std::size_t bytes = 0;
  std::uint32_t n = 0;
  auto flush = [&] {
    txn.Put(CommitSpace::kOperatorState, StateSnapshotKey(ns, state.last_batch, n++),
            EncodeStateEntries(chunk));
    chunk.clear();
    bytes = 0;
  };
  for (const auto& e : state.entries) {
    chunk.push_back(e);
    bytes += e.key.size() + e.value.size() + 12;
    if (bytes >= kSnapshotChunkBytes) flush();
  }
  if (!chunk.empty() || n == 0) flush();  // an empty state still gets a (one-chunk) snapshot
}

Status CompactState(StateReader* reader, std::string_view ns, std::size_t max_deltas,
                    CommitTxn& txn, bool* compacted) {
  *compacted = false;
  PS_ASSIGN_OR_RETURN(Loaded l, LoadWithKeys(reader, ns));
  if (l.state.deltas <= max_deltas || l.state.last_batch < 0) return Status::Ok();
  StageStateSnapshot(ns, l.state, l.storage_keys, txn);
  *compacted = true;
  return Status::Ok();
}

Status RewindState(StateReader* reader, std::string_view ns, std::int64_t to_batch, CommitTxn& txn,
                   std::int64_t* dropped, std::int64_t* kept) {
  PS_ASSIGN_OR_RETURN(Loaded l, LoadWithKeys(reader, ns));
  LoadedState s;
  for (auto& e : l.state.entries) {
    if (e.written_batch >= to_batch) {
      ++*dropped;
    } else {
      ++*kept;
      s.entries.push_back(std::move(e));
    }
  }
  if (l.storage_keys.empty()) return Status::Ok();
  // One snapshot "as of batch to_batch - 1" replaces everything (deltas of replayed batches
  // included). Deletes in batches >= to_batch cannot be undone: a key expired by a TTL after
  // batch to_batch-1 stays gone (see `pinstream checkpoint rewind --help`).
  s.last_batch = to_batch - 1;
  if (s.last_batch < 0) {
    for (const auto& k : l.storage_keys) txn.Delete(CommitSpace::kOperatorState, k);
    return Status::Ok();
  }
  StageStateSnapshot(ns, s, l.storage_keys, txn);
  return Status::Ok();
}

Status KeyedStateStore::ScanCommitted(const Visitor& visit) {
  PS_ASSIGN_OR_RETURN(LoadedState s, LoadState(reader_, ns_));
  for (const auto& e : s.entries) visit(e.key, e.value, e.written_batch);
  return Status::Ok();
}

void KeyedStateStore::Put(std::string_view key, std::string_view value) {
  changes_.push_back(Change{bytes_.size(), static_cast<std::uint32_t>(key.size()),
                            static_cast<std::uint32_t>(value.size()), false});
  bytes_.append(key);
  bytes_.append(value);
}

void KeyedStateStore::Delete(std::string_view key) {
  changes_.push_back(Change{bytes_.size(), static_cast<std::uint32_t>(key.size()), 0, true});
  bytes_.append(key);
  ++deletes_;
}

void KeyedStateStore::StageChanges(std::int64_t batch_id, CommitTxn& txn) {
  if (changes_.empty()) return;
  // The encoding of EncodeStateEntries (DecodeStateEntries reads it), written from the arena.
  std::string out;
  out.reserve(16 + bytes_.size() + changes_.size() * 12);
  PutVarint64(&out, changes_.size());
  for (const Change& c : changes_) {
    out.push_back(c.is_delete ? 1 : 0);
    PutLengthPrefixed(&out, std::string_view(bytes_).substr(c.key_at, c.key_len));
    if (!c.is_delete) {
      PutVarint64(&out, static_cast<std::uint64_t>(batch_id));
      PutLengthPrefixed(&out, std::string_view(bytes_).substr(c.key_at + c.key_len, c.value_len));
    }
  }
  txn.Put(CommitSpace::kOperatorState, StateDeltaKey(ns_, batch_id, part_), std::move(out));
  DiscardChanges();
}

}  // namespace pinstream
