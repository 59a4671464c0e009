#include "operators/dedup.h"

#include <cstring>

#include "engine/time_util.h"
#include "operators/key_index.h"
#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

std::string EncodeTs(std::int64_t ts) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &ts, 8);
  return s;
}

class Dedup : public Operator {
 public:
  Dedup(DedupConfig c, KeyedStateStore* state, int shard, int num_shards)
      : config_(std::move(c)), state_(state), shard_(shard), num_shards_(num_shards) {}

  Status Load() {
    Status bad;
    PS_RETURN_IF_ERROR(
        state_->ScanCommitted([&](std::string_view key, std::string_view value, std::int64_t) {
          std::uint64_t h = HashBytes(key);
          if (ShardOfHash(h, num_shards_) != shard_) return;
          if (value.size() != 8) {
            if (bad.ok()) bad = Corruption("dedup state entry has a value of the wrong size");
            return;
          }
          std::int64_t ts;
          std::memcpy(&ts, value.data(), 8);
          index_.Put(key, h, ts);
        }));
    return bad;
  }

  Status Process(RecordBatch& batch, OperatorContext& ctx) override {
    std::vector<std::uint32_t> rows(batch.num_rows());
    for (std::size_t r = 0; r < rows.size(); ++r) rows[r] = static_cast<std::uint32_t>(r);
    std::vector<std::uint32_t> kept;
    PS_RETURN_IF_ERROR(Decide(batch, rows, {}, ctx, &kept));
    if (kept.size() < rows.size()) {
      std::vector<std::uint8_t> keep(rows.size(), 0);
      for (auto r : kept) keep[r] = 1;
      batch.Compact(keep);
    }
    return Status::Ok();
  }

  OperatorStateSize StateSize() const override {
    return {static_cast<std::int64_t>(index_.size()),
            static_cast<std::int64_t>(index_.MemoryBytes())};
  }

  // The exchange's fast path: decide on the producer's rows, so that only kept rows are copied.
  bool SupportsSelectRows() const override { return true; }
  Status SelectRows(const RecordBatch& in, std::span<const std::uint32_t> rows,
                    std::span<const std::uint64_t> key_hashes, OperatorContext& ctx,
                    std::vector<std::uint32_t>* kept) override {
    return Decide(in, rows, key_hashes, ctx, kept);
  }

 private:
  // Appends to *kept the rows (of `rows`, in order) that are the first arrival of their key
  // (or whose earlier arrival expired), recording them in the index and the state.
  // `key_hashes`, when given, are HashRow() of the rows (the exchange computed them already).
  Status Decide(const RecordBatch& batch, std::span<const std::uint32_t> rows,
                std::span<const std::uint64_t> key_hashes, OperatorContext& ctx,
                std::vector<std::uint32_t>* kept) {
    std::vector<int> cols;
    for (const auto& k : config_.keys) {
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, k, "dedup"));
      cols.push_back(static_cast<int>(ci));
    }
    const std::int64_t now = ctx.batch_timestamp_us;
    if (config_.ttl_us > 0 && now >= next_sweep_) Sweep(now);
    const std::size_t n = rows.size();
    // Encode and hash every key first, then probe them in row order with the slots (and key
    // bytes) of rows a little ahead prefetched: the index is far larger than the caches, so a
    // probe is a memory miss that the prefetch overlaps with the probes before it.
    keys_.clear();
    key_ends_.resize(n);
    hashes_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t begin = keys_.size();
      EncodeKey(batch, cols, rows[i], &keys_);
      key_ends_[i] = keys_.size();
      hashes_[i] = key_hashes.empty() ? HashBytes(keys_.view().substr(begin)) : key_hashes[i];
    }
    kept->reserve(kept->size() + n);
    index_.FindOrInsertEach(
        n, hashes_.data(), now,
        [&](std::size_t i) {
          std::size_t begin = i == 0 ? 0 : key_ends_[i - 1];
          return keys_.view().substr(begin, key_ends_[i] - begin);
        },
        [&](std::size_t i, std::string_view key, std::int64_t* seen, bool inserted) {
          if (!inserted) {
            if (config_.ttl_us == 0 || now - *seen <= config_.ttl_us)
              return;     // a duplicate: dropped
            *seen = now;  // expired: seen again now
          }
          state_->Put(key, EncodeTs(now));
          kept->push_back(rows[i]);
        });
    return Status::Ok();
  }

  void Sweep(std::int64_t now) {
    std::vector<std::string> expired;
    index_.ForEach([&](std::string_view key, std::int64_t ts) {
      if (now - ts > config_.ttl_us) expired.emplace_back(key);
    });
    for (const auto& k : expired) {
      index_.Erase(k, HashBytes(k));
      state_->Delete(k);
    }
    next_sweep_ = now + std::max<std::int64_t>(config_.ttl_us / 4, 1'000'000);
  }

  DedupConfig config_;
  KeyedStateStore* state_;
  int shard_, num_shards_;
  KeyIndex index_;
  ByteBuffer keys_;                    // this batch's encoded keys, back to back
  std::vector<std::size_t> key_ends_;  // where each row's key ends in keys_
  std::vector<std::uint64_t> hashes_;
  std::int64_t next_sweep_ = 0;
};

class DedupSpec : public OperatorSpec {
 public:
  explicit DedupSpec(DedupConfig c) : config_(std::move(c)) {}
  std::string_view kind() const override { return "dedup"; }
  std::vector<std::string> KeyColumns() const override { return config_.keys; }
  bool stateful() const override { return true; }
  // The TTL may change between runs; the key columns may not (stored keys would mean other things).
  std::string StateFingerprint() const override {
    return fmt::format("keys={}", fmt::join(config_.keys, ","));
  }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    StreamSchema in = inputs.empty() ? StreamSchema::Unknown() : inputs.front();
    for (const auto& k : config_.keys) PS_RETURN_IF_ERROR(RequireColumnIn(in, k, "dedup"));
    if (in.changes != ChangeKind::kInsertOnly) {
      return InvalidArgument(fmt::format(
          "dedup keeps the first row of each key and needs insert-only rows, but its input is {} "
          "(place it before the aggregate or join)",
          ChangeKindName(in.changes)));
    }
    return in;
  }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
    if (ctx.state == nullptr) return Internal("dedup needs keyed state");
    auto op = std::make_unique<Dedup>(config_, ctx.state, ctx.shard, ctx.num_shards);
    PS_RETURN_IF_ERROR(op->Load());
    return std::unique_ptr<Operator>(std::move(op));
  }

 private:
  DedupConfig config_;
};

}  // namespace

std::shared_ptr<const OperatorSpec> MakeDedupSpec(const DedupConfig& config) {
  return std::make_shared<DedupSpec>(config);
}

namespace {
constexpr KeyDoc kDedupDocs[] = {
    {"keys", KeyType::kStringList, "", "Required. The key columns (nulls compare equal)."},
    {"ttl", KeyType::kDuration, "0",
     "A key not seen for this long may be admitted again (0 = keys are kept forever; the state "
     "must fit in memory)."},
};
}  // namespace
constexpr ConfigKeys kDedupKeys{
    "operators: dedup",
    "Keeps the first row of every key (Spark's dropDuplicates), with the keys in the query's "
    "state.",
    kDedupDocs};

std::shared_ptr<const OperatorSpec> DedupFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kDedupKeys);
  DedupConfig c;
  c.keys = n.GetStringList("keys");
  if (c.keys.empty()) n.Get("keys").Fail("dedup needs at least one key column");
  c.ttl_us = n.GetDurationMicros("ttl", 0);
  if (c.ttl_us < 0) n.Get("ttl").Fail("ttl must be positive");
  return std::make_shared<DedupSpec>(std::move(c));
}

}  // namespace pinstream::ops
