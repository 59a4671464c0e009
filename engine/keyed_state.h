// KeyedStateStore: the durable key/value state of one stateful operator of one query.
//
// State lives in the store's `state` key space under a namespace "<query>/<operator index>".
// An operator keeps whatever in-memory index it needs (e.g. a hash set of seen keys), loads it
// from ScanCommitted() when its shard starts, and records every change it makes with Put() /
// Delete(). The changes are buffered here and staged into the batch's CommitTxn by the engine,
// so that state becomes durable atomically with the batch's output: a replayed batch starts from
// exactly the state the first attempt started from.
//
// Each entry records the batch that wrote it (see EncodeStateValue), which is what lets
// `pinstream checkpoint rewind` drop state written by the batches being replayed.
//
// Threading: one instance per (operator, shard); used by that shard's worker only, except that
// TakeChanges() is called by the query thread between batches (after the shard barrier).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/commit_txn.h"
#include "engine/status.h"

namespace pinstream {

// Reads committed state; implemented by the checkpoint backend.
class StateReader {
 public:
  virtual ~StateReader() = default;
  using Visitor = std::function<void(std::string_view key, std::string_view value)>;
  // Visits every committed (key, value) of `ns`, in key order.
  [[nodiscard]] virtual Status ScanState(std::string_view ns, const Visitor& visit) = 0;
};

// Key of a state entry in the kState key space: "<ns>\0<key>".
std::string StateKey(std::string_view ns, std::string_view key);
// Value envelope: 8-byte big-endian batch id + the operator's value.
std::string EncodeStateValue(std::int64_t batch_id, std::string_view value);
// Splits an envelope; false when it is too short to be one.
bool DecodeStateValue(std::string_view stored, std::int64_t* batch_id, std::string_view* value);

class KeyedStateStore {
 public:
  KeyedStateStore(StateReader* reader, std::string ns) : reader_(reader), ns_(std::move(ns)) {}

  const std::string& ns() const { return ns_; }

  // Visits committed entries (operator values, without the envelope) with the batch that
  // wrote each.
  using Visitor = std::function<void(std::string_view key, std::string_view value,
                                     std::int64_t written_batch)>;
  [[nodiscard]] Status ScanCommitted(const Visitor& visit);

  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);

  // Stages the buffered changes for `batch_id` into `txn` and clears the buffer.
  void StageChanges(std::int64_t batch_id, CommitTxn& txn);
  std::size_t pending_changes() const { return changes_.size(); }
  // Forgets the buffered changes (a failed batch).
  void DiscardChanges() { changes_.clear(); }

 private:
  struct Change {
    std::string key;
    std::string value;
    bool is_delete;
  };
  StateReader* reader_;
  std::string ns_;
  std::vector<Change> changes_;
};

}  // namespace pinstream
