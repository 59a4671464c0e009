// KeyIndex: an open-addressing hash map from byte-string keys to an int64, with the key bytes
// kept in large arena blocks — no allocation per key (the dedup operator inserts one key per
// new record, millions per second). Erase leaves a tombstone; the table is rebuilt (and the
// arena compacted) when tombstones pile up.
//
// Threading: single-threaded (one instance per shard).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace pinstream::ops {

class KeyIndex {
 public:
  KeyIndex();

  std::size_t size() const { return size_; }
  // The value of `key` (hash = HashBytes(key)), or nullptr.
  std::int64_t* Find(std::string_view key, std::uint64_t hash);
  // Inserts or overwrites.
  void Put(std::string_view key, std::uint64_t hash, std::int64_t value);
  // One probe for "look up, insert when absent": the value of `key`, holding `value` when it was
  // absent (*inserted = true) and its old value otherwise.
  std::int64_t* FindOrInsert(std::string_view key, std::uint64_t hash, std::int64_t value, bool* inserted);
  // Grows the table now so that `more` inserts cause no rebuild (and no move of the slots).
  void Reserve(std::size_t more);
  // Cache hints for a batch of lookups: a caller probing many keys in a row asks for the slot
  // of a key a few rows ahead, then (once that slot is likely cached) for its key bytes, so that
  // the memory latency of one lookup overlaps the work of the ones before it.
  void PrefetchSlot(std::uint64_t hash) const { __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]); }
  // Looks at the first few slots of the probe sequence (a linear probe's neighbours share the
  // slot's cache line or the next one) and fetches both ends of the key, which may straddle two
  // cache lines.
  void PrefetchKey(std::uint64_t hash) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask, n = 0; n < 4; i = (i + 1) & mask, ++n) {
      const Slot& s = slots_[i];
      if (s.key == nullptr) return;
      if (s.hash == hash && s.key != kTombstone) {
        __builtin_prefetch(s.key);
        __builtin_prefetch(s.key + (s.len > 0 ? s.len - 1 : 0));
        return;
      }
    }
  }
  bool Erase(std::string_view key, std::uint64_t hash);
  // Visits every live entry; the callback may not modify the index.
  void ForEach(const std::function<void(std::string_view key, std::int64_t value)>& fn) const;
  std::size_t MemoryBytes() const;

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::int64_t value = 0;
    const char* key = nullptr;  // nullptr = empty; kTombstone = erased
    std::uint32_t len = 0;
  };
  static const char* const kTombstone;
  const char* Store(std::string_view key);
  void Rebuild(std::size_t capacity);
  Slot* Probe(std::string_view key, std::uint64_t hash, bool for_insert);

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  std::size_t tombstones_ = 0;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::size_t block_used_ = 0;
  std::size_t arena_bytes_ = 0;
  std::size_t live_bytes_ = 0;
};

}  // namespace pinstream::ops
