// The micro-batch runtime (engine/streaming_query.h) driving the real operators: parse_json's
// rejections, dedup's keyed state and its exchange fast path (SelectRows), cast after dedup —
// what the engine's own tests (tests/unit/engine/streaming_query_test.cc) check with fakes.
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/streaming_query.h"
#include "engine/thread_name.h"
#include "operators/aggregate.h"
#include "operators/cast.h"
#include "operators/dedup.h"
#include "operators/operator_util.h"
#include "operators/parse_json.h"
#include "tests/testing/fake_connectors.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::CollectingSink;
using testing::FakeSource;

std::shared_ptr<const OperatorSpec> ParseJsonSpec() {
  ops::ParseJsonConfig c;
  c.schema = {{"id", TypeId::kInt64, true}, {"k", TypeId::kString, true}};
  ConfigNode n = ConfigNode::LoadString("schema: {id: int64, k: string}");
  return ops::ParseJsonFromConfig(n.WithImplicitKeys({}));
}

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
    cfg.operators.push_back(OperatorConfig{"parse_json", "0:parse_json", ParseJsonSpec()});
  }
  void AddDedup(std::vector<std::string> keys) {
    ops::DedupConfig d;
    d.keys = std::move(keys);
    cfg.operators.push_back(OperatorConfig{"dedup", "1:dedup", ops::MakeDedupSpec(d)});
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
  void Add(int id, const std::string& k, const std::string& partition = "0") {
    FakeSource::Append(*src, partition, "{\"id\":" + std::to_string(id) + ",\"k\":\"" + k + "\"}",
                       k);
  }
  std::vector<std::string> Rows() {
    std::lock_guard lock(out->mu);
    return out->rows;
  }
  // Contents without order (after a keyed exchange the order within a batch depends on the shard
  // count, see shard_executor.h).
  std::vector<std::string> SortedRows() {
    auto rows = Rows();
    std::sort(rows.begin(), rows.end());
    return rows;
  }
  // The dead-letter rows without their wall-clock `failed_at`, sorted.
  std::vector<std::string> SortedDeadLetters() {
    std::lock_guard lock(dlq->mu);
    std::vector<std::string> d;
    for (const std::string& r : dlq->rows) d.push_back(r.substr(0, r.find(",\"failed_at\"")));
    std::sort(d.begin(), d.end());
    return d;
  }

  InMemoryCheckpointStore store;
  std::shared_ptr<FakeSource::Data> src;
  std::shared_ptr<CollectingSink::Data> out, dlq;
  QueryConfig cfg;
  std::vector<QueryProgress> progress;
};

TEST(OperatorsInStreamingQueryTest, AvailableNowProcessesEverythingInCappedBatchesInSourceOrder) {
  QueryHarness h;
  h.cfg.max_records_per_trigger = 4;
  for (int i = 0; i < 10; ++i) h.Add(i, "k" + std::to_string(i));
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  auto rows = h.Rows();
  ASSERT_EQ(rows.size(), 10u);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(rows[static_cast<std::size_t>(i)],
              "{\"id\":" + std::to_string(i) + ",\"k\":\"k" + std::to_string(i) + "\"}");
  EXPECT_EQ(h.out->batches, (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(q->snapshot().state, QueryState::kFinished);
  ASSERT_EQ(h.progress.size(), 3u);
  EXPECT_EQ(h.progress[0].num_input_rows, 4);
  EXPECT_EQ(h.progress[0].sources[0].end_offset.at("0"), 4);
  EXPECT_NE(h.progress[0].ToJson().find("\"processedRowsPerSecond\""), std::string::npos);
}

TEST(OperatorsInStreamingQueryTest, ShardWorkersAndTheCommitThreadAreNamedAfterTheQuery) {
  QueryHarness h;
  for (int i = 0; i < 4; ++i) h.Add(i, "k" + std::to_string(i));
  std::string committer;
  std::vector<std::string> threads;
  h.out->before_stage = [&](std::int64_t) {
    committer = CurrentThreadName();
    threads = testing::ThreadNames();
    return Status::Ok();
  };
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  EXPECT_EQ(committer, "c:q");
  for (const char* shard : {"s0:q", "s1:q"}) {
    EXPECT_NE(std::find(threads.begin(), threads.end(), shard), threads.end()) << shard;
  }
}

TEST(OperatorsInStreamingQueryTest,
     PlannedButUncommittedBatchIsReplayedWithTheSameOffsetsAfterRestart) {
  QueryHarness h;
  h.AddDedup({"k"});
  for (int i = 0; i < 6; ++i) h.Add(i, "k" + std::to_string(i % 4));
  {
    auto q = h.Make(2);
    ASSERT_TRUE(q->Start().ok());
    auto r = q->RunNextBatch(true, nullptr);
    ASSERT_TRUE(r.ok() && *r == BatchOutcome::kRan);
  }
  // More data arrives; the next batch is planned (offsets/1 written) but its commit fails:
  // the process "dies" before commits/1.
  for (int i = 6; i < 9; ++i) h.Add(i, "k" + std::to_string(i - 3));  // k3 (a duplicate), k4, k5
  {
    auto q = h.Make(2);
    ASSERT_TRUE(q->Start().ok());
    h.store.FailNextCommit(Internal("simulated crash"));
    auto r = q->RunNextBatch(true, nullptr);
    ASSERT_FALSE(r.ok());
  }
  // Data arriving after the crash must NOT be part of the replayed batch.
  h.Add(9, "k9");
  {
    auto q = h.Make(3);  // a different shard count changes nothing
    ASSERT_TRUE(q->Start().ok());
    EXPECT_EQ(q->next_batch_id(), 1);
    auto r = q->RunNextBatch(true, nullptr);
    ASSERT_TRUE(r.ok() && *r == BatchOutcome::kRan);
    EXPECT_EQ(h.progress.back().num_input_rows, 3);  // exactly offsets/1's range: records 6..8
    r = q->RunNextBatch(true, nullptr);
    ASSERT_TRUE(r.ok() && *r == BatchOutcome::kRan);
  }
  // First arrival wins per key: k0..k3 from batch 0, k4 and k5 from the replayed batch 1, k9 last.
  auto rows = h.Rows();
  std::vector<std::string> keys;
  for (const auto& r : rows) keys.push_back(r.substr(r.find("\"k\":")));
  EXPECT_EQ(keys, (std::vector<std::string>{"\"k\":\"k0\"}", "\"k\":\"k1\"}", "\"k\":\"k2\"}",
                                            "\"k\":\"k3\"}", "\"k\":\"k4\"}", "\"k\":\"k5\"}",
                                            "\"k\":\"k9\"}"}));
  EXPECT_EQ(h.out->batches, (std::vector<std::int64_t>{0, 1, 2}));
}

TEST(OperatorsInStreamingQueryTest, RetryableFailuresRetryTheSameBatchWithStateRebuilt) {
  QueryHarness h;
  h.AddDedup({"k"});
  for (int i = 0; i < 8; ++i) h.Add(i, "k" + std::to_string(i % 3));
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  // The commit fails once after the operators already admitted keys into their in-memory state;
  // the retry must not treat those keys as seen.
  h.store.FailNextCommit(Unavailable("disk busy"));
  ASSERT_TRUE(q->Run().ok());
  auto rows = h.Rows();
  EXPECT_EQ(rows.size(), 3u);
  EXPECT_EQ(h.out->batches, std::vector<std::int64_t>{0});
}

TEST(OperatorsInStreamingQueryTest,
     LaterBatchesAreProcessedWhileACommitRunsAndDroppedWhenThatCommitFails) {
  QueryHarness h;
  h.AddDedup({"k"});
  h.cfg.max_records_per_trigger = 3;
  // batch 0: k0 k1 k2 · 1: k3 k4 k0 · 2: k5 k3 k6 · 3: k7 k5 k8 · 4: k9
  for (int k : {0, 1, 2, 3, 4, 0, 5, 3, 6, 7, 5, 8, 9}) h.Add(k, "k" + std::to_string(k));
  // Batch 1's first staging waits until batches 2 and 3 have been read (processed while batch 1
  // commits: two batches in flight and one on the shards), then fails: their work, including the
  // dedup state built on batch 1's uncommitted state, must be dropped and batch 1 re-run.
  bool overlapped = false;
  int batch1_attempts = 0;
  std::vector<std::int64_t> staged;
  h.out->before_stage = [&](std::int64_t batch) -> Status {
    staged.push_back(batch);
    if (batch != 1 || ++batch1_attempts > 1) return Status::Ok();
    std::unique_lock lock(h.src->mu);
    overlapped =
        h.src->read_cv.wait_for(lock, std::chrono::seconds(10), [&] { return h.src->reads >= 4; });
    return Unavailable("disk busy");
  };
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  EXPECT_TRUE(overlapped);
  EXPECT_EQ(batch1_attempts, 2);
  // Batch 2 never staged behind the failed batch 1: each batch stages after the one before it
  // committed.
  EXPECT_EQ(staged, (std::vector<std::int64_t>{0, 1, 1, 2, 3, 4}));
  auto rows = h.Rows();
  std::vector<std::string> keys;
  for (const auto& r : rows) keys.push_back(r.substr(r.find("\"k\":") + 5, 2));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"}));
  EXPECT_EQ(h.out->batches, (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  ASSERT_EQ(h.progress.size(), 5u);
  for (std::size_t i = 0; i < h.progress.size(); ++i)
    EXPECT_EQ(h.progress[i].batch_id, static_cast<std::int64_t>(i));
  EXPECT_EQ(q->snapshot().batches_committed, 5);
  EXPECT_EQ(q->next_batch_id(), 5);
}

TEST(OperatorsInStreamingQueryTest, ASourceThatOptsOutOfReadAheadPlansOnlyAfterTheLastCommit) {
  QueryHarness h;
  h.cfg.max_records_per_trigger = 2;
  h.src->read_ahead = false;  // like a Kafka consumer-group member
  for (int i = 0; i < 7; ++i) h.Add(i, "k" + std::to_string(i));
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  EXPECT_EQ(h.Rows().size(), 7u);
  // AvailableNow: one unbounded look, then per batch plan → commit; the last plan finds nothing.
  std::vector<std::string> expect{"latest"};
  for (int b = 0; b < 4; ++b) {
    expect.push_back("latest");
    expect.push_back("committed");
  }
  expect.push_back("latest");
  std::lock_guard lock(h.src->mu);
  EXPECT_EQ(h.src->calls, expect);
}

TEST(OperatorsInStreamingQueryTest, SourceOutagesAreRetriedWithBackoff) {
  QueryHarness h;
  for (int i = 0; i < 4; ++i) h.Add(i, "a");
  h.src->fail_reads = 3;
  auto q = h.Make(1);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  EXPECT_EQ(h.Rows().size(), 4u);
  EXPECT_GE(h.src->reads, 4);
}

TEST(OperatorsInStreamingQueryTest, DedupResultDoesNotDependOnShardCount) {
  std::vector<std::vector<std::string>> results;
  for (int shards : {1, 2, 4}) {
    QueryHarness h;
    h.AddDedup({"k"});
    h.cfg.max_records_per_trigger = 7;
    for (int i = 0; i < 60; ++i)
      h.Add(i, "k" + std::to_string((i * 7) % 13), std::to_string(i % 3));
    auto q = h.Make(shards);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
    results.push_back(h.SortedRows());  // which rows survive must not depend on the shard count
  }
  EXPECT_EQ(results[0].size(), 13u);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

// After the keyed exchange a shard copies the survivors of many small pieces (here one per
// 3-row source chunk) into one batch (ShardExecutor::Gather), in RowId order.
TEST(OperatorsInStreamingQueryTest,
     TheSurvivorsOfAShardsPiecesReachTheSinkAsOneBatchInSourceOrder) {
  QueryHarness h;
  h.AddDedup({"k"});
  for (int i = 0; i < 90; ++i) h.Add(i, "k" + std::to_string(i % 45));  // one partition
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  std::vector<std::size_t> sizes;
  {
    std::lock_guard lock(h.out->mu);
    sizes = h.out->output_batch_rows;
  }
  auto rows = h.Rows();
  ASSERT_EQ(rows.size(), 45u);
  ASSERT_LE(sizes.size(), 2u) << "30 chunks' survivors should arrive in one batch per shard";
  std::size_t at = 0;
  for (std::size_t n : sizes) {
    std::int64_t last = -1;
    for (std::size_t r = at; r < at + n; ++r) {
      auto id = nlohmann::json::parse(rows[r])["id"].get<std::int64_t>();
      EXPECT_GT(id, last) << "row " << r << " of " << fmt::format("{}", fmt::join(rows, " "));
      EXPECT_LT(id, 45) << "the first row of each key survives";
      last = id;
    }
    at += n;
  }
}

// Two keyed stages: the second dedup must meet the rows of each of its keys in source order
// whatever the shard count, so it keeps the same row of each. (Its input comes from the first
// dedup's shards; Gather only merges pieces into bigger batches in the last stage, where no
// exchange follows — a merged batch spans several chunks' RowId ranges, and pieces of such
// batches would no longer sort into RowId order by their first row.)
TEST(OperatorsInStreamingQueryTest, ASecondKeyedStageKeepsTheSameRowsWhateverTheShards) {
  std::vector<std::vector<std::string>> kept;
  for (int shards : {1, 2, 3}) {
    QueryHarness h;
    h.cfg.operators[0].spec = ops::ParseJsonFromConfig(
        ConfigNode::LoadString("schema: {id: int64, k: string, j: string}").WithImplicitKeys({}));
    h.AddDedup({"k"});
    ops::DedupConfig d;
    d.keys = {"j"};
    h.cfg.operators.push_back(OperatorConfig{"dedup", "2:dedup", ops::MakeDedupSpec(d)});
    for (int i = 0; i < 240; ++i) {
      FakeSource::Append(
          *h.src, std::to_string(i % 2),
          fmt::format(R"({{"id":{},"k":"k{}","j":"j{}"}})", i, i % 97, (i * 5) % 11));
    }
    auto q = h.Make(shards);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
    kept.push_back(h.SortedRows());
  }
  EXPECT_EQ(kept[0].size(), 11u);
  EXPECT_EQ(kept[1], kept[0]);
  EXPECT_EQ(kept[2], kept[0]);
}

// With more than one shard dedup decides on the exchange's input rows (SelectRows) and only its
// survivors are copied; the operators after it in the stage — here a cast that rejects some of
// them — must then see exactly what they see with one shard (where dedup runs as Process()).
TEST(OperatorsInStreamingQueryTest,
     OperatorsAfterDedupSeeTheSameRowsAndRejectTheSameWhateverTheShards) {
  std::vector<std::vector<std::string>> kept, dead;
  for (int shards : {1, 2, 3}) {
    QueryHarness h;
    h.AddDedup({"k"});
    ConfigNode cast = ConfigNode::LoadString("columns: {k: int64}", "cast.yaml");
    h.cfg.operators.push_back(OperatorConfig{"cast", "2:cast", ops::CastFromConfig(cast)});
    h.cfg.max_records_per_trigger = 11;
    for (int i = 0; i < 80; ++i) {
      int k = (i * 7) % 17;
      h.Add(i, k % 3 == 0 ? "x" + std::to_string(k) : std::to_string(k), std::to_string(i % 3));
    }
    auto q = h.Make(shards);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
    kept.push_back(h.SortedRows());
    dead.push_back(h.SortedDeadLetters());
  }
  EXPECT_EQ(kept[0].size(), 11u);  // 17 keys, 6 of them ("x0", "x3", ...) not integers
  EXPECT_EQ(dead[0].size(), 6u);
  for (const auto& d : dead[0])
    EXPECT_NE(d.find("\"operator\":\"2:cast\""), std::string::npos) << d;
  for (std::size_t i = 1; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i], kept[0]) << "shards run " << i;
    EXPECT_EQ(dead[i], dead[0]) << "shards run " << i;
  }
}

TEST(OperatorsInStreamingQueryTest, RejectedRowsGoToTheDeadLetterSinkWithRawAndPosition) {
  QueryHarness h;
  h.Add(1, "ok");
  FakeSource::Append(*h.src, "0", "{not json", "x");
  FakeSource::Append(*h.src, "0", "{\"id\":\"seven\"}", "y");
  h.Add(2, "ok2");
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  EXPECT_EQ(h.Rows().size(), 2u);
  std::lock_guard lock(h.dlq->mu);
  ASSERT_EQ(h.dlq->rows.size(), 2u);
  EXPECT_NE(h.dlq->rows[0].find("\"operator\":\"0:parse_json\""), std::string::npos)
      << h.dlq->rows[0];
  EXPECT_NE(h.dlq->rows[0].find("malformed JSON"), std::string::npos);
  EXPECT_NE(h.dlq->rows[0].find("\"raw\":\"{not json\""), std::string::npos) << h.dlq->rows[0];
  EXPECT_NE(h.dlq->rows[0].find("\"offset\":1"), std::string::npos);
  EXPECT_NE(h.dlq->rows[1].find("field 'id': expected an integer, got \\\"seven\\\""),
            std::string::npos)
      << h.dlq->rows[1];
}

// Column pruning: a first operator that reads only some columns (parse_json: its raw column and
// `keep`) is pushed down to the sources; the query's output and its dead letters do not change.
TEST(OperatorsInStreamingQueryTest, TheFirstOperatorsInputColumnsArePushedDownToTheSources) {
  {
    QueryHarness h;  // parse_json of `value`, nothing kept
    h.Add(1, "a");
    FakeSource::Append(*h.src, "0", "{broken", "b");
    auto q = h.Make(2);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
    EXPECT_EQ(h.src->pruned, (std::vector<std::vector<std::string>>{{"value"}}));
    EXPECT_EQ(h.Rows(), (std::vector<std::string>{"{\"id\":1,\"k\":\"a\"}"}));
    ASSERT_EQ(h.SortedDeadLetters().size(), 1u);
    EXPECT_NE(h.SortedDeadLetters()[0].find("\"raw\":\"{broken\""), std::string::npos)
        << h.SortedDeadLetters()[0];
  }
  {
    QueryHarness h;  // keep: [key] must still deliver the key
    ConfigNode n = ConfigNode::LoadString("schema: {id: int64}\nkeep: [key]", "pj.yaml");
    h.cfg.operators[0].spec = ops::ParseJsonFromConfig(n);
    h.Add(1, "a");
    auto q = h.Make(1);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
    EXPECT_EQ(h.src->pruned, (std::vector<std::vector<std::string>>{{"value", "key"}}));
    EXPECT_EQ(h.Rows(), (std::vector<std::string>{"{\"key\":\"a\",\"id\":1}"}));
  }
  {
    QueryHarness h;  // no operators: the sink gets every column, nothing is pruned
    h.cfg.operators.clear();
    h.Add(1, "a");
    auto q = h.Make(1);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
    EXPECT_TRUE(h.src->pruned.empty());
    ASSERT_EQ(h.Rows().size(), 1u);
    EXPECT_NE(h.Rows()[0].find("\"key\":\"a\""), std::string::npos) << h.Rows()[0];
  }
}

// Spark's stateOperators in each batch's progress: keys held after the batch, keys the batch
// wrote, memory, over all shards; an empty list for a query without state.
TEST(OperatorsInStreamingQueryTest, ProgressReportsTheStateOfEachStatefulOperator) {
  QueryHarness h;
  h.AddDedup({"k"});
  h.cfg.max_records_per_trigger = 4;
  const char* keys[] = {"a", "b", "a", "c", "a", "d", "d", "e"};
  for (int i = 0; i < 8; ++i) h.Add(i, keys[i]);
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  ASSERT_EQ(h.progress.size(), 2u);
  std::int64_t expect_total[] = {3, 5}, expect_updated[] = {3, 2};
  for (std::size_t b = 0; b < 2; ++b) {
    ASSERT_EQ(h.progress[b].state_operators.size(), 1u);
    const StateOperatorProgress& st = h.progress[b].state_operators[0];
    EXPECT_EQ(st.operator_name, "dedup");
    EXPECT_EQ(st.num_rows_total, expect_total[b]) << "batch " << b;
    EXPECT_EQ(st.num_rows_updated, expect_updated[b]) << "batch " << b;
    EXPECT_EQ(st.num_rows_removed, 0);
    EXPECT_GT(st.memory_used_bytes, 0);
    EXPECT_EQ(st.num_shuffle_partitions, 2);
  }
  std::string json = h.progress[1].ToJson();
  EXPECT_NE(
      json.find(
          R"("stateOperators":[{"operatorName":"dedup","numRowsTotal":5,"numRowsUpdated":2,"numRowsRemoved":0,)"),
      std::string::npos)
      << json;

  QueryHarness stateless;
  stateless.Add(1, "a");
  auto q2 = stateless.Make(1);
  ASSERT_TRUE(q2->Start().ok());
  ASSERT_TRUE(q2->Run().ok());
  ASSERT_EQ(stateless.progress.size(), 1u);
  EXPECT_TRUE(stateless.progress[0].state_operators.empty());
  EXPECT_NE(stateless.progress[0].ToJson().find(R"("stateOperators":[])"), std::string::npos);
}

// A session window is one state row (its entry; the session index beside it is not counted),
// also across a restart from the checkpoint; the join's eviction index entries are not rows
// either (JoinTest).
TEST(OperatorsInStreamingQueryTest, ProgressCountsEachSessionWindowOnce) {
  QueryHarness h;
  h.cfg.operators.clear();
  h.cfg.operators.push_back(
      OperatorConfig{"parse_json", "0:parse_json",
                     ops::ParseJsonFromConfig(
                         ConfigNode::LoadString("schema: {id: int64, k: string, ts: timestamp}")
                             .WithImplicitKeys({}))});
  ops::AggregateConfig a;
  a.group_by = {"k"};
  a.window.kind = ops::WindowKind::kSession;
  a.window.column = "ts";
  a.window.gap_us = 10 * 60'000'000LL;
  a.aggregates.push_back({ops::AggregateKind::kCount, "", 0.5, "n"});
  a.mode = ops::OutputMode::kUpdate;
  h.cfg.operators.push_back(OperatorConfig{"aggregate", "1:aggregate", ops::MakeAggregateSpec(a)});
  h.cfg.max_records_per_trigger = 2;
  auto add = [&](int id, const char* k, const char* ts) {
    FakeSource::Append(
        *h.src, "0", fmt::format(R"({{"id":{},"k":"{}","ts":"2026-01-01T{}:00Z"}})", id, k, ts), k);
  };
  add(1, "a", "12:00");
  add(2, "b", "12:00");
  add(3, "a", "12:05");  // extends a's session (its entry moves: it is keyed by its end)
  add(4, "a", "13:00");  // a second session of a
  {
    auto q = h.Make(2);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
  }
  add(5, "b", "12:03");  // after a restart: extends b's session
  add(6, "c", "12:00");
  {
    auto q = h.Make(2);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
  }
  ASSERT_EQ(h.progress.size(), 3u);
  const std::int64_t total[] = {2, 3, 4}, updated[] = {2, 2, 2}, removed[] = {0, 1, 1};
  for (std::size_t b = 0; b < 3; ++b) {
    ASSERT_EQ(h.progress[b].state_operators.size(), 1u);
    const StateOperatorProgress& st = h.progress[b].state_operators[0];
    EXPECT_EQ(st.operator_name, "aggregate");
    EXPECT_EQ(st.num_rows_total, total[b]) << "batch " << b << ": sessions held";
    EXPECT_EQ(st.num_rows_updated, updated[b]) << "batch " << b;
    EXPECT_EQ(st.num_rows_removed, removed[b]) << "batch " << b;
  }
}

// Spark's eventTime in the progress of a query with a watermark and a stateful operator: the
// batch's min, max and avg event time and the watermark it ran with (ISO strings long enough to
// live on the heap: a self-move of the progress once emptied them all, "eventTime":{}).
TEST(OperatorsInStreamingQueryTest, ProgressReportsTheEventTimesAndTheWatermarkOfEachBatch) {
  QueryHarness h;
  h.cfg.operators.clear();
  h.cfg.operators.push_back(OperatorConfig{
      "parse_json", "0:parse_json",
      ops::ParseJsonFromConfig(ConfigNode::LoadString("schema: {id: int64, k: string, ts: timestamp}")
                                   .WithImplicitKeys({}))});
  ops::AggregateConfig a;
  a.group_by = {"k"};
  a.aggregates.push_back({ops::AggregateKind::kCount, "", 0.5, "n"});
  a.mode = ops::OutputMode::kUpdate;
  h.cfg.operators.push_back(OperatorConfig{"aggregate", "1:aggregate", ops::MakeAggregateSpec(a)});
  InputConfig in;
  in.name = "q";
  in.sources = {"s"};
  in.watermark = WatermarkConfig{"ts", 10 * 60'000'000LL, "test"};
  h.cfg.inputs = {in};
  h.cfg.max_records_per_trigger = 2;
  auto add = [&](int id, const char* ts) {
    FakeSource::Append(*h.src, "0",
                       fmt::format(R"({{"id":{},"k":"a","ts":"2026-01-01T{}:00Z"}})", id, ts), "a");
  };
  add(1, "12:00");
  add(2, "12:20");
  add(3, "12:30");
  add(4, "12:10");
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  ASSERT_TRUE(q->Run().ok());
  ASSERT_GE(h.progress.size(), 2u);
  ASSERT_TRUE(h.progress[0].event_time.has_value());
  const EventTimeProgress& first = *h.progress[0].event_time;
  EXPECT_EQ(first.min, "2026-01-01T12:00:00.000Z");
  EXPECT_EQ(first.max, "2026-01-01T12:20:00.000Z");
  EXPECT_EQ(first.avg, "2026-01-01T12:10:00.000Z");
  EXPECT_EQ(first.watermark, "") << "no watermark before any event time was seen";
  ASSERT_TRUE(h.progress[1].event_time.has_value());
  const EventTimeProgress& second = *h.progress[1].event_time;
  EXPECT_EQ(second.min, "2026-01-01T12:10:00.000Z");
  EXPECT_EQ(second.max, "2026-01-01T12:30:00.000Z");
  EXPECT_EQ(second.watermark, "2026-01-01T12:10:00.000Z") << "12:20 − 10m";
  std::string json = h.progress[1].ToJson();
  EXPECT_NE(json.find(R"("eventTime":{"avg":"2026-01-01T12:20:00.000Z","max":"2026-01-01T12:30:00.000Z","min":"2026-01-01T12:10:00.000Z","watermark":"2026-01-01T12:10:00.000Z"})"),
            std::string::npos)
      << json;
}

// An aggregate without group_by is one group: the exchange brings every row to one shard, so
// each complete-mode result is one row over all of the batch's rows, whatever the shards.
TEST(OperatorsInStreamingQueryTest, AGlobalAggregateSeesEveryRowOnOneShard) {
  for (int shards : {1, 2, 3}) {
    QueryHarness h;
    ops::AggregateConfig a;
    a.aggregates = {{ops::AggregateKind::kCount, "", 0.5, "n"},
                    {ops::AggregateKind::kSum, "id", 0.5, "ids"},
                    {ops::AggregateKind::kCountDistinct, "k", 0.5, "keys"}};
    a.mode = ops::OutputMode::kComplete;
    h.cfg.operators.push_back(
        OperatorConfig{"aggregate", "1:aggregate", ops::MakeAggregateSpec(a)});
    h.cfg.max_records_per_trigger = 6;
    for (int i = 0; i < 10; ++i) h.Add(i, "k" + std::to_string(i % 4), std::to_string(i % 3));
    auto q = h.Make(shards);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
    auto rows = h.Rows();
    ASSERT_FALSE(rows.empty());
    EXPECT_EQ(rows.back(), R"({"n":10,"ids":45,"keys":4})") << shards << " shards";
    EXPECT_EQ(rows.size(), h.out->batches.size()) << "one row per batch: " << fmt::format("{}", rows);
  }
}

TEST(OperatorsInStreamingQueryTest, WithoutADeadLetterSinkBadRowsFailTheBatchInsteadOfVanishing) {
  QueryHarness h;
  FakeSource::Append(*h.src, "0", "garbage", "x");
  auto q = h.Make(1, /*with_dead_letter=*/false);
  ASSERT_TRUE(q->Start().ok());
  Status st = q->Run();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no dead_letter sink"), std::string::npos) << st.message();
  EXPECT_TRUE(h.Rows().empty());
  EXPECT_EQ(q->snapshot().state, QueryState::kFailed);
}

TEST(OperatorsInStreamingQueryTest, ChangingTheDedupKeysOfAnExistingCheckpointIsRefused) {
  QueryHarness h;
  h.AddDedup({"k"});
  h.Add(1, "a");
  {
    auto q = h.Make(1);
    ASSERT_TRUE(q->Start().ok());
    ASSERT_TRUE(q->Run().ok());
  }
  h.cfg.operators.pop_back();
  h.AddDedup({"id"});
  auto q = h.Make(1);
  Status st = q->Start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("stateful operators changed"), std::string::npos) << st.message();
}

TEST(OperatorsInStreamingQueryTest, ProcessingTimeTriggerPicksUpNewDataAndStopsOnRequest) {
  QueryHarness h;
  h.cfg.trigger.kind = TriggerConfig::Kind::kProcessingTime;
  h.cfg.trigger.interval_us = 20'000;
  auto q = h.Make(2);
  ASSERT_TRUE(q->Start().ok());
  Status run_status;
  std::thread t([&] { run_status = q->Run(); });
  h.Add(1, "a");
  EXPECT_TRUE(testing::WaitFor([&] { return h.Rows().size() == 1; }));
  h.Add(2, "b");
  h.Add(3, "c");
  EXPECT_TRUE(testing::WaitFor([&] { return h.Rows().size() == 3; }));
  q->Stop();
  t.join();
  EXPECT_TRUE(run_status.ok());
  EXPECT_EQ(q->snapshot().state, QueryState::kStopped);
}

}  // namespace
}  // namespace pinstream
