// StateTable over the daemon's RocksDB checkpoint: state many times the table's cache is read,
// scanned and counted right with the table's memory within the cache, and `checkpoint rewind`
// puts it back as it was before the batch rewound to.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "engine/state_table.h"
#include "state/checkpoint_store.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::state {
namespace {

using pinstream::testing::TempDir;

constexpr int kKeysPerBatch = 5000;
constexpr int kBatches = 8;
constexpr std::size_t kCache = 64 << 10;

// Keys as operators build them: partition byte first.
std::string Key(int i) {
  return std::string(1, static_cast<char>(i % 256)) + fmt::format("{:08}", i);
}
std::string Value(int i, int batch) { return fmt::format("{:0100}", i * 100 + batch); }

class StateTableRocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.data_dir = dir_.path();
    o.checkpoint_retention = 20;
    store_ = std::move(Store::Open(o)).value();
    cps_ = std::make_unique<RocksCheckpointStore>(store_.get());
    cp_ = std::move(cps_->OpenQuery("q")).value();
    QueryMetadata m;
    m.id = "id";
    m.name = "q";
    ASSERT_TRUE(cp_->WriteMetadata(m).ok());
  }
  void CommitBatch(StateTable& t, std::int64_t n) {
    OffsetLogEntry e;
    e.batch_id = n;
    e.sources["s"]["0"] = n;
    ASSERT_TRUE(cp_->WriteOffsets(e).ok());
    auto txn = cp_->BeginCommit(n);
    t.StageBatch(n, *txn);
    CommitLogEntry c;
    c.batch_id = n;
    ASSERT_TRUE(cp_->Commit(std::move(txn), c).ok());
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RocksCheckpointStore> cps_;
  std::unique_ptr<QueryCheckpoint> cp_;
};

TEST_F(StateTableRocksTest, StateManyTimesTheCacheStaysRightAndRewindsByItsUndoLogs) {
  // Batch b writes keys [b*K/2, b*K/2 + K): half new, half updates of the previous batch's;
  // batch 3 also deletes every 10th key it finds.
  {
    StateTable t(cp_.get(), "q/0", 0, 1, kCache);
    ASSERT_TRUE(t.Open().ok());
    for (int b = 0; b < kBatches; ++b) {
      for (int i = b * kKeysPerBatch / 2; i < b * kKeysPerBatch / 2 + kKeysPerBatch; ++i)
        ASSERT_TRUE(t.Put(Key(i), Value(i, b)).ok());
      if (b == 3) {
        for (int i = 0; i < 3 * kKeysPerBatch / 2 + kKeysPerBatch; i += 10)
          ASSERT_TRUE(t.Delete(Key(i)).ok());
      }
      CommitBatch(t, b);
      // An overlay holds a batch's keys: key and value (109 B) and the table's node (< 200 B).
      EXPECT_LE(t.Stats().memory_bytes, static_cast<std::int64_t>(kCache) + kKeysPerBatch * 310)
          << "cache + at most one in-flight overlay";
    }
  }
  const int total = (kBatches - 1) * kKeysPerBatch / 2 + kKeysPerBatch;
  auto expected = [&](int i, int upto_batch) -> std::optional<std::string> {
    int last = -1;
    for (int b = 0; b <= upto_batch; ++b) {
      if (i >= b * kKeysPerBatch / 2 && i < b * kKeysPerBatch / 2 + kKeysPerBatch) last = b;
      if (b == 3 && i % 10 == 0 && i < 3 * kKeysPerBatch / 2 + kKeysPerBatch) last = -1;
    }
    if (last < 0) return std::nullopt;
    return Value(i, last);
  };
  auto check = [&](int upto_batch) {
    StateTable t(cp_.get(), "q/0", 0, 1, kCache);
    ASSERT_TRUE(t.Open().ok());
    std::int64_t live = 0;
    for (int i = 0; i < total; ++i) live += expected(i, upto_batch).has_value();
    EXPECT_EQ(t.Stats().rows, live);
    for (int i = 0; i < total; i += 7) {
      std::string v;
      bool found = false;
      ASSERT_TRUE(t.Get(Key(i), &v, &found).ok());
      auto want = expected(i, upto_batch);
      ASSERT_EQ(found, want.has_value()) << i;
      if (found) {
        ASSERT_EQ(v, *want) << i;
      }
    }
    EXPECT_LE(t.Stats().memory_bytes, static_cast<std::int64_t>(kCache));
    EXPECT_GT(t.Stats().cache_misses, 0);
    // One partition's keys, in order.
    std::vector<std::string> seen;
    std::string begin(1, '\x05'), end(1, '\x06');
    ASSERT_TRUE(t.Scan(begin, end, [&](std::string_view k, std::string_view v) {
                   EXPECT_EQ(v, *expected(std::stoi(std::string(k.substr(1))), upto_batch));
                   seen.emplace_back(k);
                   return true;
                 }).ok());
    std::vector<std::string> want;
    for (int i = 5; i < total; i += 256) {
      if (expected(i, upto_batch)) want.push_back(Key(i));
    }
    EXPECT_EQ(seen, want);
  };
  check(kBatches - 1);
  std::string report;
  ASSERT_TRUE(cps_->Rewind("q", 3, &report).ok()) << report;
  EXPECT_NE(report.find("large-state keys put back"), std::string::npos) << report;
  check(2);
}

}  // namespace
}  // namespace pinstream::state
