// StreamingQuery with fake sources, sinks and operators (engine contracts only): batches and
// their order, replay after a crash, dead letters, failures.
#include "engine/streaming_query.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/checkpoint.h"
#include "engine/row_format.h"
#include "engine/time_util.h"
#include "tests/testing/fake_connectors.h"
#include "tests/testing/fake_operators.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::CollectingSink;
using testing::FakeSource;

class QueryHarness {
 public:
  QueryHarness() {
    src = std::make_shared<FakeSource::Data>();
    out = std::make_shared<CollectingSink::Data>();
    dlq = std::make_shared<CollectingSink::Data>();
    cfg.name = "q";
    cfg.sources = {"s"};
    cfg.trigger.kind = TriggerConfig::Kind::kAvailableNow;
    cfg.max_records_per_trigger = 0;
    cfg.chunk_rows = 3;
  }
  void AddOperator(std::shared_ptr<const OperatorSpec> spec) {
    std::string name = std::to_string(cfg.operators.size()) + ":" + std::string(spec->kind());
    cfg.operators.push_back(OperatorConfig{std::string(spec->kind()), name, std::move(spec)});
  }
  std::unique_ptr<StreamingQuery> Make(int shards, bool with_dead_letter = true) {
    QueryParts p;
    cfg.shards = shards;
    BuildQuerySlots(cfg);
    p.config = &cfg;
    p.sources.push_back(std::make_unique<FakeSource>(src));
    p.source_descriptors.push_back("fake");
    p.sink = std::make_unique<CollectingSink>(out);
    if (with_dead_letter) p.dead_letter = std::make_unique<CollectingSink>(dlq);
    p.checkpoint = std::move(store.OpenQuery("q")).value();
    p.retry_initial_us = 1000;
    p.retry_max_us = 10000;
    return std::make_unique<StreamingQuery>(
        std::move(p), [this](const QueryProgress& pr) { progress.push_back(pr); });
  }
  // A record with value v<i> and key k<key>, in partition "0".
  void Add(int i, int key) {
    FakeSource::Append(*src, "0", "v" + std::to_string(i), "k" + std::to_string(key));
  }
  // The committed rows' values, in commit order.
  std::vector<std::string> Values() {
    std::lock_guard lock(out->mu);
    std::vector<std::string> v;
    for (const auto& r : out->rows) {
      // The raw `value` column is rendered in base64 in the sink's JSON rows.
      auto at = r.find("\"value\":\"");
      std::string decoded;
      if (at == std::string::npos ||
          !Base64Decode(r.substr(at + 9, r.find('"', at + 9) - at - 9), &decoded)) {
        decoded = r;
      }
      v.push_back(decoded);
    }
    return v;
  }

  InMemoryCheckpointStore store;
  std::shared_ptr<FakeSource::Data> src;
  std::shared_ptr<CollectingSink::Data> out, dlq;
  QueryConfig cfg;
  std::vector<QueryProgress> progress;
};

TEST(StreamingQueryTest, AvailableNowCommitsEverythingInCappedBatchesInSourceOrder) {
  QueryHarness h;
  h.cfg.max_records_per_trigger = 4;
  for (int i = 0; i < 10; ++i) h.Add(i, i);
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  EXPECT_EQ(h.Values(),
            (std::vector<std::string>{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"}));
  EXPECT_EQ(h.out->batches, (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(q->snapshot().state, QueryState::kFinished);
  ASSERT_EQ(h.progress.size(), 3u);
  EXPECT_EQ(h.progress[0].num_input_rows, 4);
  EXPECT_EQ(h.progress[2].num_input_rows, 2);
}

// ingestToVisibleMs: from the arrival of a batch's oldest (max) and newest (min) record to its
// commit, over every chunk of the batch; absent for sources that do not know arrival times.
TEST(StreamingQueryTest, ProgressReportsTheTimeFromArrivalToCommit) {
  QueryHarness h;
  h.cfg.max_records_per_trigger = 4;
  h.cfg.chunk_rows = 2;  // two chunks a batch
  for (int i = 0; i < 4; ++i) h.Add(i, i);
  const std::int64_t base = NowMicros() - 5'000'000;  // offset o arrived 5 s ago + o µs
  h.src->arrival_us_base = base;
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  ASSERT_EQ(h.progress.size(), 1u);
  const QueryProgress& p = h.progress[0];
  EXPECT_EQ(p.min_arrival_us, base);
  EXPECT_EQ(p.max_arrival_us, base + 3);
  ASSERT_GT(p.committed_at_us, base);
  auto j = nlohmann::json::parse(p.ToJson());
  ASSERT_TRUE(j.contains("ingestToVisibleMs")) << j.dump();
  EXPECT_GE(j["ingestToVisibleMs"]["max"].get<std::int64_t>(), 5000);
  EXPECT_LT(j["ingestToVisibleMs"]["max"].get<std::int64_t>(), 60000);
  EXPECT_LE(j["ingestToVisibleMs"]["min"], j["ingestToVisibleMs"]["max"]);

  QueryHarness unknown;  // the fake source without arrival times
  unknown.Add(0, 0);
  auto q2 = unknown.Make(1);
  ASSERT_TRUE(q2->Start().ok());
  ASSERT_TRUE(q2->Run().ok());
  ASSERT_EQ(unknown.progress.size(), 1u);
  EXPECT_FALSE(nlohmann::json::parse(unknown.progress[0].ToJson()).contains("ingestToVisibleMs"));
}

TEST(StreamingQueryTest, ABatchPlannedButNotCommittedIsReplayedWithItsOffsetsAndKeyedState) {
  QueryHarness h;
  h.AddOperator(std::make_shared<testing::KeepFirstSpec>("key"));
  for (int i = 0; i < 4; ++i) h.Add(i, i % 2);  // k0 k1 k0 k1
  {
    auto q = h.Make(2);
    ASSERT_TRUE(q->Start().ok());
    auto r = q->RunNextBatch(true, nullptr);
    ASSERT_TRUE(r.ok() && *r == BatchOutcome::kRan);
  }
  for (int i = 4; i < 7; ++i) h.Add(i, i - 3);  // k1 (seen), k2, k3
  {
    auto q = h.Make(2);
    ASSERT_TRUE(q->Start().ok());
    h.store.FailNextCommit(Internal("simulated crash"));
    ASSERT_FALSE(q->RunNextBatch(true, nullptr).ok());
  }
  h.Add(7, 9);  // after the crash: not part of the replayed batch
  auto q = h.Make(3);
  ASSERT_TRUE(q->Start().ok());
  EXPECT_EQ(q->next_batch_id(), 1);
  {
    // Each start told the source where the last committed batch ended before planning anything:
    // nothing on the first start, batch 0's 4 records on the restarts.
    std::lock_guard lock(h.src->mu);
    ASSERT_EQ(h.src->recovered.size(), 3u);
    EXPECT_TRUE(h.src->recovered[0].empty());
    for (std::size_t i = 1; i < 3; ++i) {
      std::int64_t records = 0;
      for (const auto& [partition, end] : h.src->recovered[i]) records += end;
      EXPECT_EQ(records, 4);
    }
  }
  auto r = q->RunNextBatch(true, nullptr);
  ASSERT_TRUE(r.ok() && *r == BatchOutcome::kRan);
  EXPECT_EQ(h.progress.back().num_input_rows, 3);  // exactly offsets/1's range
  r = q->RunNextBatch(true, nullptr);
  ASSERT_TRUE(r.ok() && *r == BatchOutcome::kRan);
  r = q->RunNextBatch(true, nullptr);
  ASSERT_TRUE(r.ok() && *r == BatchOutcome::kNothingNew);
  std::vector<std::string> v = h.Values();
  std::sort(v.begin(), v.end());
  EXPECT_EQ(v, (std::vector<std::string>{"v0", "v1", "v5", "v6", "v7"}));
  EXPECT_EQ(h.out->batches, (std::vector<std::int64_t>{0, 1, 2}));
}

// Keyed state's deltas are folded into snapshots in the background while batches go on
// committing; what a restart loads is exactly the state the batches wrote.
TEST(StreamingQueryTest, StateIsCompactedInTheBackgroundWithoutLosingADelta) {
  QueryHarness h;
  h.AddOperator(std::make_shared<testing::KeepFirstSpec>("key"));
  h.cfg.max_records_per_trigger = 2;
  for (int i = 0; i < 1200; ++i) h.Add(i, i % 700);  // keys 0..699, then 0..499 again
  {
    auto q = h.Make(2);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
  }
  ASSERT_EQ(h.out->batches.size(), 600u);
  auto count = [&](char kind) {
    auto cp = std::move(h.store.OpenQuery("q")).value();
    int n = 0;
    EXPECT_TRUE(cp->ScanState("", [&](std::string_view key, std::string_view) {
                    auto at = key.find('\0');
                    if (at != std::string_view::npos && at + 1 < key.size() && key[at + 1] == kind)
                      ++n;
                  }).ok());
    return n;
  };
  EXPECT_GT(count('S'), 0);    // compacted at least once
  EXPECT_LT(count('D'), 200);  // ~700 (one per shard and batch that changed state) without
  // A restart loads snapshot + deltas: every key seen stays seen, new keys pass.
  for (int i = 1200; i < 1210; ++i) h.Add(i, i - 1200 + 695);  // keys 695..699 seen, 700..704 new
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  std::vector<std::string> v = h.Values();
  ASSERT_EQ(v.size(), 705u);
  std::sort(v.begin(), v.end());
  EXPECT_TRUE(std::adjacent_find(v.begin(), v.end()) == v.end());
  EXPECT_TRUE(std::binary_search(v.begin(), v.end(), "v1209"));
  EXPECT_FALSE(std::binary_search(v.begin(), v.end(), "v1200"));
}

TEST(StreamingQueryTest, RejectedRowsGoToTheDeadLetterSinkWithTheirSourcePosition) {
  QueryHarness h;
  h.AddOperator(std::make_shared<testing::RejectValuesSpec>("value", std::set<std::string>{"v1"}));
  for (int i = 0; i < 3; ++i) h.Add(i, i);
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  EXPECT_EQ(h.Values(), (std::vector<std::string>{"v0", "v2"}));
  std::lock_guard lock(h.dlq->mu);
  ASSERT_EQ(h.dlq->rows.size(), 1u);
  const std::string& d = h.dlq->rows[0];
  EXPECT_NE(d.find("\"operator\":\"0:reject_values\""), std::string::npos) << d;
  EXPECT_NE(d.find("\"reason\":\"rejected v1\""), std::string::npos) << d;
  EXPECT_NE(d.find("\"offset\":1"), std::string::npos) << d;
  EXPECT_NE(d.find("\"raw\":\"v1\""), std::string::npos) << d;
}

TEST(StreamingQueryTest, WithoutADeadLetterSinkRejectedRowsFailTheBatch) {
  QueryHarness h;
  h.AddOperator(std::make_shared<testing::RejectValuesSpec>("value", std::set<std::string>{"v0"}));
  h.Add(0, 0);
  auto q = h.Make(1, /*with_dead_letter=*/false);
  ASSERT_TRUE(q->Start().ok());
  Status st = q->Run();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no dead_letter sink"), std::string::npos) << st.message();
  EXPECT_TRUE(h.Values().empty());
  EXPECT_EQ(q->snapshot().state, QueryState::kFailed);
}

TEST(StreamingQueryTest, AnOperatorErrorStopsTheQueryWithThatErrorAndCommitsNothingOfTheBatch) {
  QueryHarness h;
  h.cfg.max_records_per_trigger = 2;
  h.AddOperator(std::make_shared<testing::FailOnValueSpec>("value", "v3"));
  for (int i = 0; i < 4; ++i) h.Add(i, i);
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  Status st = q->Run();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("found 'v3'"), std::string::npos) << st.message();
  EXPECT_EQ(h.Values(), (std::vector<std::string>{"v0", "v1"}));  // batch 0 only
  EXPECT_EQ(q->snapshot().state, QueryState::kFailed);
}

}  // namespace
}  // namespace pinstream
