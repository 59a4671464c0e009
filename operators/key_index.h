// KeyIndex: an open-addressing hash map from byte-string keys to an int64 — no allocation per
// key (the dedup operator inserts one key per new record, millions per second). A slot is one
// 64-byte cache line: keys of up to kInlineKey bytes (a UUID string key encodes to 41) live in the
// slot itself, so a probe that finds its key costs one memory access; longer keys are kept in large
// arena blocks the slot points to. Erase leaves a tombstone; the table is rebuilt (and the arena
// compacted) when tombstones pile up.
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
  std::int64_t* FindOrInsert(std::string_view key, std::uint64_t hash, std::int64_t value,
                             bool* inserted);
  // Grows the table now so that `more` inserts cause no rebuild (and no move of the slots).
  void Reserve(std::size_t more);
  // Cache hints for a batch of lookups: a caller probing many keys in a row asks for the slot
  // of a key a few rows ahead, then (once that slot is likely cached) for the key bytes of an
  // arena-held key, so that the memory latency of one lookup overlaps the work of the ones
  // before it.
  void PrefetchSlot(std::uint64_t hash) const {
    const std::size_t mask = slots_.size() - 1;
    __builtin_prefetch(&slots_[hash & mask]);
  }
  // Looks at the first few slots of the probe sequence for a long key's arena bytes and fetches
  // both ends (they may straddle two cache lines); an inline key needs nothing more.
  void PrefetchKey(std::uint64_t hash) const {
    const std::size_t mask = slots_.size() - 1;
    const auto tag = static_cast<std::uint32_t>(hash);
    for (std::size_t i = hash & mask, n = 0; n < 4; i = (i + 1) & mask, ++n) {
      const Slot& s = slots_[i];
      if (s.len == kEmpty) return;
      if (s.hash == tag && s.len != kTombstone) {
        if (s.len > kInlineKey) {
          __builtin_prefetch(s.key.ptr);
          __builtin_prefetch(s.key.ptr + s.len - 1);
        }
        return;
      }
    }
  }
  // FindOrInsert for keys 0..n-1 in order, with the memory misses of later keys overlapping
  // the probes of earlier ones: the slots of the key 32 ahead and the key bytes of the one 16
  // ahead are prefetched. Grows the table first (Reserve(n)), so nothing moves under the
  // prefetches. key_at(i) gives key i (hash: hashes[i]); on_row(i, key, value*, inserted) sees
  // each result.
  template <typename KeyAt, typename OnRow>
  void FindOrInsertEach(std::size_t n, const std::uint64_t* hashes, std::int64_t value,
                        KeyAt&& key_at, OnRow&& on_row) {
    Reserve(n);
    constexpr std::size_t kAhead = 16;
    for (std::size_t i = 0; i < n && i < 2 * kAhead; ++i) PrefetchSlot(hashes[i]);
    for (std::size_t i = 0; i < n; ++i) {
      if (i + 2 * kAhead < n) PrefetchSlot(hashes[i + 2 * kAhead]);
      if (i + kAhead < n) PrefetchKey(hashes[i + kAhead]);
      std::string_view key = key_at(i);
      bool inserted;
      std::int64_t* v = FindOrInsert(key, hashes[i], value, &inserted);
      on_row(i, key, v, inserted);
    }
  }
  bool Erase(std::string_view key, std::uint64_t hash);
  // Visits every live entry; the callback may not modify the index.
  void ForEach(const std::function<void(std::string_view key, std::int64_t value)>& fn) const;
  std::size_t MemoryBytes() const;

 private:
  static constexpr std::uint32_t kEmpty = 0xffffffffu;
  static constexpr std::uint32_t kTombstone = 0xfffffffeu;
  static constexpr std::size_t kInlineKey = 48;
  struct alignas(64) Slot {
    std::uint32_t hash = 0;      // the low 32 bits of the key's hash (its home slot's bits)
    std::uint32_t len = kEmpty;  // the key's length, or kEmpty / kTombstone
    std::int64_t value = 0;
    union {
      char bytes[kInlineKey];  // len <= kInlineKey
      const char* ptr;         // len > kInlineKey: the arena copy
    } key;
    std::string_view Key() const { return {len <= kInlineKey ? key.bytes : key.ptr, len}; }
  };
  static_assert(sizeof(Slot) == 64);
  bool Live(const Slot& s) const { return s.len < kTombstone; }
  // Fills s.key with `key` (inline, or a copy in the arena).
  void SetKey(Slot& s, std::string_view key);
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
