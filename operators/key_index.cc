#include "operators/key_index.h"

#include <cstring>

namespace pinstream::ops {

namespace {
constexpr std::size_t kBlockSize = 1 << 20;
}  // namespace

KeyIndex::KeyIndex() { slots_.resize(1024); }

const char* KeyIndex::Store(std::string_view key) {
  if (key.size() > kBlockSize / 4) {
    // Oversized keys get their own block.
    blocks_.emplace_back(new char[key.size()]);
    std::memcpy(blocks_.back().get(), key.data(), key.size());
    const char* p = blocks_.back().get();
    // Keep appending into the previous regular block afterwards.
    if (blocks_.size() >= 2) std::swap(blocks_[blocks_.size() - 1], blocks_[blocks_.size() - 2]);
    arena_bytes_ += key.size();
    return p;
  }
  if (blocks_.empty() || block_used_ + key.size() > kBlockSize) {
    blocks_.emplace_back(new char[kBlockSize]);
    block_used_ = 0;
  }
  char* p = blocks_.back().get() + block_used_;
  std::memcpy(p, key.data(), key.size());
  block_used_ += key.size();
  arena_bytes_ += key.size();
  return p;
}

void KeyIndex::SetKey(Slot& s, std::string_view key) {
  s.len = static_cast<std::uint32_t>(key.size());
  if (key.size() <= kInlineKey) {
    if (!key.empty()) std::memcpy(s.key.bytes, key.data(), key.size());
  } else {
    s.key.ptr = Store(key);
    live_bytes_ += key.size();
  }
}

KeyIndex::Slot* KeyIndex::Probe(std::string_view key, std::uint64_t hash, bool for_insert) {
  std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  const auto tag = static_cast<std::uint32_t>(hash);
  Slot* first_tomb = nullptr;
  for (;;) {
    Slot& s = slots_[i];
    if (s.len == kEmpty) return for_insert ? (first_tomb ? first_tomb : &s) : nullptr;
    if (s.len == kTombstone) {
      if (first_tomb == nullptr) first_tomb = &s;
    } else if (s.hash == tag && s.len == key.size() && s.Key() == key) {
      return &s;
    }
    i = (i + 1) & mask;
  }
}

std::int64_t* KeyIndex::Find(std::string_view key, std::uint64_t hash) {
  Slot* s = Probe(key, hash, false);
  return s ? &s->value : nullptr;
}

void KeyIndex::Put(std::string_view key, std::uint64_t hash, std::int64_t value) {
  bool inserted;
  std::int64_t* v = FindOrInsert(key, hash, value, &inserted);
  *v = value;
}

std::int64_t* KeyIndex::FindOrInsert(std::string_view key, std::uint64_t hash, std::int64_t value,
                                     bool* inserted) {
  if ((size_ + tombstones_ + 1) * 4 > slots_.size() * 3) {
    Rebuild(size_ * 2 + 1 > slots_.size() / 2 ? slots_.size() * 2 : slots_.size());
  }
  Slot* s = Probe(key, hash, true);
  if (Live(*s)) {
    *inserted = false;
    return &s->value;
  }
  if (s->len == kTombstone) --tombstones_;
  SetKey(*s, key);
  s->hash = static_cast<std::uint32_t>(hash);
  s->value = value;
  ++size_;
  *inserted = true;
  return &s->value;
}

void KeyIndex::Reserve(std::size_t more) {
  // The same bound FindOrInsert keeps (at most 3/4 of the slots used), for size_ + more keys.
  std::size_t need = size_ + tombstones_ + more + 1;
  if (need * 4 <= slots_.size() * 3) return;
  std::size_t cap = slots_.size();
  while ((size_ + more + 1) * 4 > cap * 3) cap <<= 1;
  Rebuild(cap);
}

bool KeyIndex::Erase(std::string_view key, std::uint64_t hash) {
  Slot* s = Probe(key, hash, false);
  if (s == nullptr) return false;
  if (s->len > kInlineKey) live_bytes_ -= s->len;
  s->len = kTombstone;
  --size_;
  ++tombstones_;
  return true;
}

void KeyIndex::Rebuild(std::size_t capacity) {
  std::size_t cap = 1024;
  while (cap < capacity) cap <<= 1;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(cap, Slot{});
  // Compact the arena when most of it holds erased keys.
  bool compact = arena_bytes_ > 2 * live_bytes_ + kBlockSize;
  std::vector<std::unique_ptr<char[]>> old_blocks;
  if (compact) {
    old_blocks = std::move(blocks_);
    blocks_.clear();
    block_used_ = 0;
    arena_bytes_ = 0;
  }
  tombstones_ = 0;
  if (compact) live_bytes_ = 0;
  for (const Slot& s : old) {
    if (!Live(s)) continue;
    // The stored 32 hash bits place the key: a table never has 2^32 slots.
    Slot* d = Probe(s.Key(), s.hash, true);
    *d = s;
    if (compact && s.len > kInlineKey) SetKey(*d, s.Key());
  }
}

void KeyIndex::ForEach(const std::function<void(std::string_view, std::int64_t)>& fn) const {
  for (const Slot& s : slots_) {
    if (Live(s)) fn(s.Key(), s.value);
  }
}

std::size_t KeyIndex::MemoryBytes() const {
  return slots_.size() * sizeof(Slot) + blocks_.size() * kBlockSize;
}

}  // namespace pinstream::ops
