#include "operators/dedup.h"

#include <gtest/gtest.h>

#include <map>

#include "engine/checkpoint.h"
#include "operators/key_index.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::ColumnStrings;
using testing::StringBatch;

// Runs dedup over batches with an in-memory checkpoint, committing state after each batch.
class DedupHarness {
 public:
  explicit DedupHarness(ops::DedupConfig c, int shards = 1)
      : spec_(ops::MakeDedupSpec(c)), shards_(shards) {
    cp_ = std::move(store_.OpenQuery("q")).value();
    Restart();
  }
  void Restart() {
    ops_.clear();
    states_.clear();
    for (int s = 0; s < shards_; ++s) {
      states_.push_back(
          std::make_unique<KeyedStateStore>(cp_.get(), "q/0", static_cast<std::uint32_t>(s)));
      OperatorInitContext ctx;
      ctx.shard = s;
      ctx.num_shards = shards_;
      ctx.state = states_.back().get();
      ops_.push_back(std::move(spec_->Create(ctx)).value());
    }
  }
  // Routes rows to shards like the engine's exchange, runs, commits.
  std::vector<std::string> Run(RecordBatch b, std::int64_t batch_id, std::int64_t ts_us,
                               bool commit = true) {
    std::vector<int> key{b.FindColumn("k")};
    std::vector<std::string> kept;
    for (int s = 0; s < shards_; ++s) {
      std::vector<std::uint32_t> rows;
      for (std::size_t r = 0; r < b.num_rows(); ++r) {
        if (ShardOfHash(HashRow(b, key, r), shards_) == s)
          rows.push_back(static_cast<std::uint32_t>(r));
      }
      RecordBatch part = b.Take(rows);
      OperatorContext ctx;
      ctx.batch_id = batch_id;
      ctx.batch_timestamp_us = ts_us;
      EXPECT_TRUE(ops_[static_cast<std::size_t>(s)]->Process(part, ctx).ok());
      for (const auto& v : ColumnStrings(part, "v")) kept.push_back(v);
    }
    if (commit) {
      auto txn = cp_->BeginCommit(batch_id);
      for (auto& st : states_) st->StageChanges(batch_id, *txn);
      CommitLogEntry e;
      e.batch_id = batch_id;
      EXPECT_TRUE(cp_->Commit(std::move(txn), e).ok());
    }
    std::sort(kept.begin(), kept.end());
    return kept;
  }

 private:
  InMemoryCheckpointStore store_;
  std::unique_ptr<QueryCheckpoint> cp_;
  std::shared_ptr<const OperatorSpec> spec_;
  int shards_;
  std::vector<std::unique_ptr<KeyedStateStore>> states_;
  std::vector<std::unique_ptr<Operator>> ops_;
};

TEST(DedupTest, FirstArrivalWinsWithinAndAcrossBatches) {
  ops::DedupConfig c;
  c.keys = {"k"};
  DedupHarness h(c);
  EXPECT_EQ(h.Run(StringBatch({"k", "v"}, {{"a", "1"}, {"b", "2"}, {"a", "3"}}), 0, 0),
            (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(h.Run(StringBatch({"k", "v"}, {{"a", "4"}, {"c", "5"}}), 1, 0),
            (std::vector<std::string>{"5"}));
}

TEST(DedupTest, StateSurvivesRestartAndAnUncommittedBatchLeavesNoTrace) {
  ops::DedupConfig c;
  c.keys = {"k"};
  DedupHarness h(c, 3);
  h.Run(StringBatch({"k", "v"}, {{"a", "1"}, {"b", "2"}}), 0, 0);
  // Batch 1 runs but is never committed (crash): a restart must dedup it exactly the same way.
  auto first =
      h.Run(StringBatch({"k", "v"}, {{"a", "3"}, {"c", "4"}, {"d", "5"}}), 1, 0, /*commit=*/false);
  h.Restart();
  auto replay = h.Run(StringBatch({"k", "v"}, {{"a", "3"}, {"c", "4"}, {"d", "5"}}), 1, 0);
  EXPECT_EQ(first, replay);
  EXPECT_EQ(replay, (std::vector<std::string>{"4", "5"}));
  h.Restart();
  EXPECT_TRUE(h.Run(StringBatch({"k", "v"}, {{"c", "6"}, {"b", "7"}}), 2, 0).empty());
}

TEST(DedupTest, TtlExpiresKeysByBatchTimestamp) {
  ops::DedupConfig c;
  c.keys = {"k"};
  c.ttl_us = 10'000'000;
  DedupHarness h(c);
  h.Run(StringBatch({"k", "v"}, {{"a", "1"}}), 0, 0);
  EXPECT_TRUE(h.Run(StringBatch({"k", "v"}, {{"a", "2"}}), 1, 5'000'000).empty());
  EXPECT_EQ(h.Run(StringBatch({"k", "v"}, {{"a", "3"}}), 2, 20'000'000),
            std::vector<std::string>{"3"});
}

// Batches far longer than the operator's prefetch distance, with duplicates inside a batch, across
// batches and after expiry, on 2 shards: the kept rows match a plain map-based model.
TEST(DedupTest, LargeBatchesMatchAModelWithTtl) {
  ops::DedupConfig c;
  c.keys = {"k"};
  c.ttl_us = 3'000'000;
  DedupHarness h(c, 2);
  std::map<std::string, std::int64_t> last_kept;  // key -> batch time it was last kept
  std::uint64_t x = 12345;
  int v = 0;
  for (int batch = 0; batch < 6; ++batch) {
    std::int64_t ts = batch * 1'000'000LL;
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> expect;
    for (int r = 0; r < 3000; ++r) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      std::string k = "post-" + std::to_string((x >> 33) % 2500);
      std::string val = std::to_string(v++);
      rows.push_back({k, val});
      auto it = last_kept.find(k);
      if (it == last_kept.end() || ts - it->second > c.ttl_us) {
        last_kept[k] = ts;
        expect.push_back(val);
      }
    }
    std::sort(expect.begin(), expect.end());
    ASSERT_EQ(h.Run(StringBatch({"k", "v"}, rows), batch, ts), expect) << "batch " << batch;
  }
}

TEST(KeyIndexTest, FindOrInsertAndReserve) {
  ops::KeyIndex idx;
  idx.Reserve(10000);
  std::size_t mem = idx.MemoryBytes();
  for (int i = 0; i < 10000; ++i) {
    std::string k = "k" + std::to_string(i);
    bool inserted = false;
    std::int64_t* v = idx.FindOrInsert(k, HashBytes(k), i, &inserted);
    ASSERT_TRUE(inserted);
    ASSERT_EQ(*v, i);
  }
  EXPECT_LE(idx.MemoryBytes(), mem + (1 << 20) * 2)
      << "no rebuild after Reserve (only key blocks added)";
  for (int i = 0; i < 10000; ++i) {
    std::string k = "k" + std::to_string(i);
    bool inserted = true;
    std::int64_t* v = idx.FindOrInsert(k, HashBytes(k), -1, &inserted);
    ASSERT_FALSE(inserted);
    EXPECT_EQ(*v, i);
  }
  EXPECT_EQ(idx.size(), 10000u);
}

TEST(KeyIndexTest, PutFindEraseAcrossRebuilds) {
  ops::KeyIndex idx;
  for (int i = 0; i < 50000; ++i) {
    std::string k = "key-" + std::to_string(i);
    idx.Put(k, HashBytes(k), i);
  }
  EXPECT_EQ(idx.size(), 50000u);
  for (int i = 0; i < 50000; i += 2) {
    std::string k = "key-" + std::to_string(i);
    EXPECT_TRUE(idx.Erase(k, HashBytes(k)));
  }
  for (int i = 0; i < 50000; ++i) {
    std::string k = "key-" + std::to_string(i);
    std::int64_t* v = idx.Find(k, HashBytes(k));
    if (i % 2) {
      ASSERT_NE(v, nullptr);
      EXPECT_EQ(*v, i);
    } else {
      EXPECT_EQ(v, nullptr);
    }
  }
  for (int i = 50000; i < 120000; ++i) {
    std::string k = "key-" + std::to_string(i);
    idx.Put(k, HashBytes(k), i);
  }
  EXPECT_EQ(idx.size(), 95000u);
  std::string k = "key-77777";
  EXPECT_EQ(*idx.Find(k, HashBytes(k)), 77777);
}

// Keys of every length around the slot's inline capacity (48 bytes), so that inline keys, arena
// keys, the empty key, tombstones and the arena's compaction on rebuild are all exercised.
TEST(KeyIndexTest, InlineAndArenaKeysSurviveErasesRebuildsAndCompaction) {
  ops::KeyIndex idx;
  auto key = [](int i) {
    return std::string(static_cast<std::size_t>(i % 97), 'a' + (i % 26)) + std::to_string(i);
  };
  std::map<std::string, std::int64_t> model;
  for (int i = 0; i < 60000; ++i) {
    idx.Put(key(i), HashBytes(key(i)), i);
    model[key(i)] = i;
  }
  idx.Put("", HashBytes(""), -7);
  model[""] = -7;
  // Erase nearly every key (most arena bytes become garbage), then insert more: the rebuilds
  // must compact the arena and keep every live key findable.
  for (int i = 0; i < 60000; ++i) {
    if (i % 10 == 0) continue;
    ASSERT_TRUE(idx.Erase(key(i), HashBytes(key(i)))) << i;
    model.erase(key(i));
  }
  EXPECT_FALSE(idx.Erase(key(1), HashBytes(key(1))));
  for (int i = 60000; i < 200000; ++i) {
    idx.Put(key(i), HashBytes(key(i)), i);
    model[key(i)] = i;
  }
  ASSERT_EQ(idx.size(), model.size());
  for (const auto& [k, v] : model) {
    std::int64_t* found = idx.Find(k, HashBytes(k));
    ASSERT_NE(found, nullptr) << k;
    EXPECT_EQ(*found, v) << k;
  }
  for (int i = 1; i < 60000; i += 10) EXPECT_EQ(idx.Find(key(i), HashBytes(key(i))), nullptr) << i;
  std::map<std::string, std::int64_t> visited;
  idx.ForEach([&](std::string_view k, std::int64_t v) { visited.emplace(std::string(k), v); });
  EXPECT_EQ(visited, model);
}

}  // namespace
}  // namespace pinstream
