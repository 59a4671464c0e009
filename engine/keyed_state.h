// KeyedStateStore: the durable key/value state of one stateful operator of one query.
//
// An operator keeps whatever in-memory index it needs (e.g. a hash set of seen keys), loads it
// from ScanCommitted() when its shard starts, and records every change it makes with Put() /
// Delete(). The changes are buffered here and staged into the batch's CommitTxn by the engine,
// so that state becomes durable atomically with the batch's output: a replayed batch starts from
// exactly the state the first attempt started from.
//
// Storage (CommitSpace::kOperatorState), like Spark's state store — deltas plus snapshots, not one
// RocksDB key per state key (a dedup over millions of posts would otherwise spend a quarter of its
// time in memtable inserts):
//   "<ns>\0D" be64(batch) be32(part)   one delta per batch and shard: the puts and deletes
//   "<ns>\0S" be64(batch) be32(chunk)  a snapshot: the whole state after `batch`, in chunks
// ScanCommitted() loads the latest snapshot and applies the later deltas. CompactState() writes
// a new snapshot and drops what it replaces; the query runs it when deltas pile up. Every entry
// remembers the batch that wrote it, which is what lets `pinstream checkpoint rewind` drop state
// written by the batches being replayed (RewindState).
//
// Threading: one instance per (operator, shard); used by that shard's worker only, except that
// StageChanges() is called by the query thread between batches (after the shard barrier).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/commit_txn.h"
#include "engine/status.h"

namespace pinstream {

// An ordered cursor over committed state entries in [begin, end) (StateReader::NewStateCursor).
class StateCursor {
 public:
  virtual ~StateCursor() = default;
  virtual bool Valid() const = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual void Next() = 0;
  virtual Status status() const = 0;
};

// Reads committed state entries; implemented by the checkpoint backend. Point reads and cursors
// may run on shard workers while another batch commits: they see committed state, before or after
// that commit (the StateTable's overlays cover the difference).
class StateReader {
 public:
  virtual ~StateReader() = default;
  using Visitor = std::function<void(std::string_view key, std::string_view value)>;
  // Visits every stored (key, value) of the operator-state space (CommitSpace::kOperatorState)
  // whose key starts with `prefix`, in key order.
  [[nodiscard]] virtual Status ScanState(std::string_view prefix, const Visitor& visit) = 0;
  // One entry of the operator-state space; *found = false when absent.
  [[nodiscard]] virtual Status GetState(std::string_view key, std::string* value, bool* found) = 0;
  // Several entries at once (`keys` in ascending order): values[i] is keys[i]'s value, nullopt
  // when absent. The backend may batch the reads (RocksDB's MultiGet); by default one GetState
  // each.
  [[nodiscard]] virtual Status MultiGetState(std::span<const std::string> keys,
                                             std::vector<std::optional<std::string>>* values) {
    values->assign(keys.size(), std::nullopt);
    std::string v;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      bool found = false;
      PS_RETURN_IF_ERROR(GetState(keys[i], &v, &found));
      if (found) (*values)[i] = std::move(v);
    }
    return Status::Ok();
  }
  // The entries in [begin, end), in key order.
  virtual std::unique_ptr<StateCursor> NewStateCursor(std::string_view begin,
                                                      std::string_view end) = 0;
  // Bytes the entries of [begin, end) take in storage (an estimate; 0 when unknown).
  virtual std::int64_t ApproximateStateBytes(std::string_view begin, std::string_view end) {
    (void)begin, (void)end;
    return 0;
  }
  // How many batches back `checkpoint rewind` can go (storage.checkpoint_retention): the undo
  // logs of StateTables are kept that long.
  virtual std::int64_t RetainedBatches() const { return 100; }
};

// Storage keys (see above).
std::string StateDeltaKey(std::string_view ns, std::int64_t batch, std::uint32_t part);
std::string StateSnapshotKey(std::string_view ns, std::int64_t batch, std::uint32_t chunk);
std::string StatePrefix(std::string_view ns, char kind);  // kind 'D' or 'S'

// One state change as stored in deltas and snapshots.
struct StateEntry {
  std::string key;
  std::string value;
  std::int64_t written_batch = 0;
  bool is_delete = false;
};
std::string EncodeStateEntries(const std::vector<StateEntry>& entries);
Status DecodeStateEntries(std::string_view blob, std::vector<StateEntry>* out);

// The committed state of `ns` (latest snapshot + later deltas), and how many deltas it took.
struct LoadedState {
  std::vector<StateEntry> entries;  // live entries, no order
  std::int64_t last_batch = -1;     // the newest batch seen in snapshot or deltas
  std::size_t deltas = 0;
};
Result<LoadedState> LoadState(StateReader* reader, std::string_view ns);

// Stages into `txn` a snapshot of `ns` as of `state.last_batch` that replaces the snapshot and
// deltas `state` was loaded from (`keys_to_drop`: their storage keys).
void StageStateSnapshot(std::string_view ns, const LoadedState& state,
                        const std::vector<std::string>& keys_to_drop, CommitTxn& txn);
// Compacts `ns` when more than `max_deltas` deltas follow its snapshot. `apply` commits the txn.
Status CompactState(StateReader* reader, std::string_view ns, std::size_t max_deltas,
                    CommitTxn& txn, bool* compacted);
// For `checkpoint rewind QUERY --to-batch N`: stages the removal of every delta of batch >= N
// and rewrites snapshots without entries written by batch >= N. Reports the entries dropped.
Status RewindState(StateReader* reader, std::string_view ns, std::int64_t to_batch, CommitTxn& txn,
                   std::int64_t* dropped, std::int64_t* kept);

class KeyedStateStore {
 public:
  KeyedStateStore(StateReader* reader, std::string ns, std::uint32_t part)
      : reader_(reader), ns_(std::move(ns)), part_(part) {}

  const std::string& ns() const { return ns_; }

  // Visits the committed entries with the batch that wrote each, in no particular order.
  using Visitor =
      std::function<void(std::string_view key, std::string_view value, std::int64_t written_batch)>;
  [[nodiscard]] Status ScanCommitted(const Visitor& visit);

  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);

  // Stages the buffered changes for `batch_id` into `txn` (one delta) and clears the buffer.
  void StageChanges(std::int64_t batch_id, CommitTxn& txn);
  std::size_t pending_changes() const { return changes_.size(); }
  std::size_t pending_deletes() const { return deletes_; }
  // Forgets the buffered changes (a failed batch).
  void DiscardChanges() {
    changes_.clear();
    bytes_.clear();
    deletes_ = 0;
  }

 private:
  // A buffered change: its key and value are bytes_[key_at, key_at + key_len) and the value's
  // bytes right after the key's. One arena instead of two strings per change: `dedup` buffers
  // a change for every row it keeps.
  struct Change {
    std::size_t key_at;
    std::uint32_t key_len, value_len;
    bool is_delete;
  };
  StateReader* reader_;
  std::string ns_;
  std::uint32_t part_;
  std::vector<Change> changes_;
  std::string bytes_;
  std::size_t deletes_ = 0;
};

}  // namespace pinstream
