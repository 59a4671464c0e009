// aggregate: Spark's semantics for windows over event time and output modes
// (the programming guide's cases), every aggregate function with retractions,
// keyed state in StateTables over the in-memory checkpoint across shards, and
// replay determinism.
#include "operators/aggregate.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/checkpoint.h"
#include "engine/time_util.h"

namespace pinstream {
namespace {

constexpr std::int64_t kMin = 60'000'000;

// "12:07" → µs of 2026-01-01 12:07 UTC.
std::int64_t At(std::string_view hhmm) {
  return ParseTimestamp(fmt::format("2026-01-01T{}:00Z", hhmm)).value();
}
std::string Hm(std::int64_t us) { return FormatTimestamp(us, TimestampStyle::kIso).substr(11, 5); }

struct Row {
  std::string word;
  std::string time;  // "hh:mm"
  std::int64_t value = 0;
  std::int64_t weight = 1;
};

// Runs the operator like the engine: rows routed to shards by the group
// columns, Process, then Finish on every shard, state staged into one
// transaction and committed.
class Harness {
 public:
  Harness(ops::AggregateConfig c, int shards = 1, bool retractions = false)
      : spec_(ops::MakeAggregateSpec(c)), shards_(shards), retractions_(retractions) {
    // Routed like the exchange: by the group column (word), or all to one shard without one.
    if (!c.group_by.empty()) key_ = {0};
    cp_ = std::move(store_.OpenQuery("q")).value();
    Restart();
  }
  void Restart() {
    ops_.clear();
    tables_.clear();
    for (int s = 0; s < shards_; ++s) {
      // As the engine makes it: the operator's index entries are not state rows.
      tables_.push_back(std::make_unique<StateTable>(cp_.get(), "q/0", s, shards_, 1 << 20,
                                                     std::string(spec_->state_index_kinds())));
      EXPECT_TRUE(tables_.back()->Open().ok());
      OperatorInitContext ctx;
      ctx.shard = s;
      ctx.num_shards = shards_;
      ctx.table = tables_.back().get();
      StreamSchema in;
      in.schema = Schema(
          {{"word", TypeId::kString}, {"ts", TypeId::kTimestamp}, {"value", TypeId::kInt64}});
      in.complete = true;
      in.changes = retractions_ ? ChangeKind::kChanges : ChangeKind::kInsertOnly;
      ctx.input_schemas = {in};
      auto op = spec_->Create(ctx);
      EXPECT_TRUE(op.ok()) << op.status().ToString();
      ops_.push_back(std::move(op).value());
    }
  }
  // One micro-batch with `watermark` ("" = none). Returns the output rows
  // "word|start|end|aggregates...|weight", sorted, and the rejected rows in
  // *late.
  std::vector<std::string> Batch(const std::vector<Row>& rows, std::string_view watermark = "",
                                 std::vector<std::string>* rejected = nullptr, bool commit = true) {
    RecordBatch b;
    Column w(TypeId::kString), ts(TypeId::kTimestamp), v(TypeId::kInt64);
    std::vector<std::int64_t> weights;
    for (const auto& r : rows) {
      w.AppendString(r.word);
      if (r.time.empty()) {
        ts.AppendNull();
      } else {
        ts.AppendInt(At(r.time));
      }
      v.AppendInt(r.value);
      weights.push_back(r.weight);
    }
    b.row_ids().resize(rows.size());
    b.AddColumn("word", std::move(w));
    b.AddColumn("ts", std::move(ts));
    b.AddColumn("value", std::move(v));
    if (retractions_) b.SetWeights(weights);
    std::vector<std::string> out;
    for (int s = 0; s < shards_; ++s) {
      std::vector<std::uint32_t> mine;
      for (std::size_t r = 0; r < b.num_rows(); ++r) {
        if (ShardOfHash(HashRow(b, key_, r), shards_) == s)
          mine.push_back(static_cast<std::uint32_t>(r));
      }
      RecordBatch part = b.Take(mine);
      OperatorContext ctx;
      ctx.batch_id = batch_id_;
      ctx.watermark_us = watermark.empty() ? kNoWatermark : At(watermark);
      auto& op = ops_[static_cast<std::size_t>(s)];
      EXPECT_TRUE(op->Process(part, ctx).ok());
      for (auto& rj : ctx.rejections()) {
        if (rejected != nullptr) rejected->push_back(rj.reason);
        EXPECT_EQ(rj.late, rj.reason.rfind("late", 0) == 0);
      }
      EXPECT_EQ(part.num_rows(), ctx.rejections().size()) << "only rejected rows stay";
      std::vector<RecordBatch> emitted;
      OperatorContext fctx;
      fctx.batch_id = batch_id_;
      fctx.watermark_us = ctx.watermark_us;
      Status st = op->Finish(fctx, &emitted);
      EXPECT_TRUE(st.ok()) << st.ToString();
      for (const auto& e : emitted) Render(e, &out);
      changed_ |= op->ChangedResult();
    }
    if (commit) {
      auto txn = cp_->BeginCommit(batch_id_);
      for (auto& t : tables_) t->StageBatch(batch_id_, *txn);
      CommitLogEntry e;
      e.batch_id = batch_id_;
      EXPECT_TRUE(cp_->Commit(std::move(txn), e).ok());
      ++batch_id_;
    } else {
      for (auto& t : tables_) t->DiscardBatch();
      Restart();
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::int64_t StateRows() const {
    std::int64_t n = 0;
    for (const auto& t : tables_) n += t->Stats().rows;
    return n;
  }
  bool changed_ = false;

 private:
  static void Render(const RecordBatch& b, std::vector<std::string>* out) {
    for (std::size_t r = 0; r < b.num_rows(); ++r) {
      std::string s;
      for (std::size_t c = 0; c < b.num_columns(); ++c) {
        const Column& col = b.column(c);
        if (!s.empty()) s += "|";
        if (col.IsNull(r)) {
          s += "null";
        } else if (col.type() == TypeId::kTimestamp) {
          s += Hm(col.Int(r));
        } else {
          s += col.GetValue(r).ToString();
        }
      }
      s += fmt::format("|{:+}", b.weight(r));
      out->push_back(s);
    }
  }

  InMemoryCheckpointStore store_;
  std::unique_ptr<QueryCheckpoint> cp_;
  std::shared_ptr<const OperatorSpec> spec_;
  int shards_;
  bool retractions_;
  std::vector<int> key_;
  std::vector<std::unique_ptr<StateTable>> tables_;
  std::vector<std::unique_ptr<Operator>> ops_;
  std::int64_t batch_id_ = 0;
};

ops::AggregateConfig WordCount(ops::OutputMode mode, std::int64_t size = 10 * kMin,
                               std::int64_t slide = 0) {
  ops::AggregateConfig c;
  c.group_by = {"word"};
  c.window.kind =
      slide == 0 || slide == size ? ops::WindowKind::kTumbling : ops::WindowKind::kSliding;
  c.window.column = "ts";
  c.window.size_us = size;
  c.window.slide_us = slide == 0 ? size : slide;
  c.aggregates.push_back({ops::AggregateKind::kCount, "", 0.5, "count"});
  c.mode = mode;
  return c;
}

// Spark's guide, "Handling Late Data and Watermarking" with append mode
// (10-minute windows, the watermark 10 minutes behind the latest event time:
// the harness passes what the engine would).
TEST(AggregateTest, AppendEmitsEachWindowOnceWhenTheWatermarkPassesItsEndAndDropsLateRows) {
  Harness h(WordCount(ops::OutputMode::kAppend), 2);
  // 12:07 dog, 12:08 owl: nothing final yet (no watermark in the first batch).
  EXPECT_TRUE(h.Batch({{"dog", "12:07"}, {"owl", "12:08"}}).empty());
  // Watermark 11:58 (max 12:08 − 10m): 12:14 dog, 12:09 cat; still nothing ends
  // before it.
  EXPECT_TRUE(h.Batch({{"dog", "12:14"}, {"cat", "12:09"}}, "11:58").empty());
  // Watermark 12:04: 12:08 cat arrives after 12:14 but is not late: it updates
  // 12:00-12:10. 11:59 owl... is behind 12:04: late, dropped to the dead
  // letters.
  std::vector<std::string> rejected;
  EXPECT_TRUE(
      h.Batch({{"cat", "12:08"}, {"owl", "11:59"}, {"dog", "12:15"}}, "12:04", &rejected).empty());
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_NE(rejected[0].find("late: event time 2026-01-01T11:59:00"), std::string::npos)
      << rejected[0];
  // Watermark 12:11 (max 12:21): 12:00-12:10 is final, emitted once with the
  // late-but-in-time cat counted; its state goes.
  EXPECT_EQ(h.Batch({{"donkey", "12:21"}}, "12:11"),
            (std::vector<std::string>{"cat|12:00|12:10|2|+1", "dog|12:00|12:10|1|+1",
                                      "owl|12:00|12:10|1|+1"}));
  EXPECT_EQ(h.StateRows(), 2);  // dog 12:10-12:20, donkey 12:20-12:30
  // A no-data batch with the same watermark emits nothing again.
  EXPECT_TRUE(h.Batch({}, "12:11").empty());
  // The watermark moves on: 12:10-12:20 final.
  EXPECT_EQ(h.Batch({}, "12:20"), (std::vector<std::string>{"dog|12:10|12:20|2|+1"}));
  EXPECT_EQ(h.StateRows(), 1);
}

TEST(AggregateTest, UpdateEmitsTheChangedGroupsAsRetractionAndNewRow) {
  Harness h(WordCount(ops::OutputMode::kUpdate));
  EXPECT_EQ(h.Batch({{"dog", "12:07"}, {"owl", "12:08"}}),
            (std::vector<std::string>{"dog|12:00|12:10|1|+1", "owl|12:00|12:10|1|+1"}));
  // Only dog changes; cat is new.
  EXPECT_EQ(h.Batch({{"dog", "12:09"}, {"cat", "12:01"}}, "11:58"),
            (std::vector<std::string>{"cat|12:00|12:10|1|+1", "dog|12:00|12:10|1|-1",
                                      "dog|12:00|12:10|2|+1"}));
  // Behind the watermark: late, and the window's state is dropped without
  // output.
  std::vector<std::string> rejected;
  EXPECT_TRUE(h.Batch({{"dog", "12:09"}}, "12:10", &rejected).empty());
  EXPECT_EQ(rejected.size(), 1u);
  EXPECT_EQ(h.StateRows(), 0);
}

TEST(AggregateTest, CompleteEmitsTheWholeResultEveryBatchAndKeepsEveryGroup) {
  auto c = WordCount(ops::OutputMode::kComplete);
  Harness h(c, 2);
  EXPECT_EQ(h.Batch({{"dog", "12:07"}, {"owl", "12:18"}}),
            (std::vector<std::string>{"dog|12:00|12:10|1|+1", "owl|12:10|12:20|1|+1"}));
  EXPECT_TRUE(h.changed_);
  // Complete mode drops nothing: an old row still counts.
  EXPECT_EQ(h.Batch({{"dog", "12:01"}}, "12:30"),
            (std::vector<std::string>{"dog|12:00|12:10|2|+1", "owl|12:10|12:20|1|+1"}));
  h.changed_ = false;
  h.Batch({}, "12:30");
  EXPECT_FALSE(h.changed_) << "a batch that changed nothing writes no snapshot";
}

TEST(AggregateTest, SlidingWindowsCountARowInEveryWindowHoldingIt) {
  Harness h(WordCount(ops::OutputMode::kUpdate, 10 * kMin, 5 * kMin));
  EXPECT_EQ(h.Batch({{"dog", "12:07"}}),
            (std::vector<std::string>{"dog|12:00|12:10|1|+1", "dog|12:05|12:15|1|+1"}));
  EXPECT_EQ(h.Batch({{"dog", "12:11"}}),
            (std::vector<std::string>{"dog|12:05|12:15|1|-1", "dog|12:05|12:15|2|+1",
                                      "dog|12:10|12:20|1|+1"}));
}

TEST(AggregateTest, EveryFunctionIsExactAndTakesRetractionsBackOut) {
  ops::AggregateConfig c;
  c.group_by = {"word"};
  c.mode = ops::OutputMode::kUpdate;
  using K = ops::AggregateKind;
  c.aggregates = {{K::kCount, "", 0.5, "n"},
                  {K::kCountDistinct, "value", 0.5, "d"},
                  {K::kSum, "value", 0.5, "sum"},
                  {K::kAvg, "value", 0.5, "avg"},
                  {K::kMin, "value", 0.5, "min"},
                  {K::kMax, "value", 0.5, "max"},
                  {K::kMedian, "value", 0.5, "median"},
                  {K::kPercentile, "value", 0.75, "p75"}};
  Harness h(c, 1, /*retractions=*/true);
  // Values 1, 2, 2, 10: median 2, p75 at rank 2.25 → 2 + 0.25*8 = 4.
  EXPECT_EQ(h.Batch({{"a", "12:00", 1}, {"a", "12:00", 2}, {"a", "12:00", 2}, {"a", "12:00", 10}}),
            (std::vector<std::string>{"a|4|3|15|3.75|1|10|2|4|+1"}));
  // Retract 10 and one 2: values 1, 2.
  EXPECT_EQ(h.Batch({{"a", "12:00", 10, -1}, {"a", "12:00", 2, -1}}),
            (std::vector<std::string>{"a|2|2|3|1.5|1|2|1.5|1.75|+1", "a|4|3|15|3.75|1|10|2|4|-1"}));
  // Everything retracted: the group goes.
  EXPECT_EQ(h.Batch({{"a", "12:00", 1, -1}, {"a", "12:00", 2, -1}}),
            (std::vector<std::string>{"a|2|2|3|1.5|1|2|1.5|1.75|-1"}));
  EXPECT_EQ(h.StateRows(), 0);
}

TEST(AggregateTest, AReplayedBatchGivesTheSameOutputAndState) {
  Harness h(WordCount(ops::OutputMode::kUpdate, 10 * kMin, 5 * kMin), 2);
  h.Batch({{"dog", "12:07"}, {"cat", "12:03"}, {"owl", "12:12"}});
  std::vector<Row> next = {{"dog", "12:08"}, {"cat", "12:14"}, {"emu", "12:01"}, {"dog", "12:02"}};
  auto first = h.Batch(next, "12:01", nullptr,
                       /*commit=*/false);  // discarded, operators rebuilt
  auto again = h.Batch(next, "12:01");
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, again);
  EXPECT_EQ(h.StateRows(), 11);
}

ops::AggregateConfig WordSessions(ops::OutputMode mode, std::int64_t gap = 10 * kMin) {
  ops::AggregateConfig c;
  c.group_by = {"word"};
  c.window.kind = ops::WindowKind::kSession;
  c.window.column = "ts";
  c.window.gap_us = gap;
  c.aggregates = {{ops::AggregateKind::kCount, "", 0.5, "count"},
                  {ops::AggregateKind::kMax, "value", 0.5, "max"}};
  c.mode = mode;
  return c;
}

// Session windows (gap 10 minutes), Spark's "session_window": a row at t opens
// [t, t + gap); overlapping sessions of a key merge as rows arrive.
TEST(AggregateTest, SessionsMergeAsRowsArriveIncludingARowThatBridgesTwo) {
  Harness h(WordSessions(ops::OutputMode::kUpdate), 2);
  EXPECT_EQ(h.Batch({{"dog", "12:00", 1}, {"owl", "12:01", 1}, {"dog", "12:15", 2}}),
            (std::vector<std::string>{"dog|12:00|12:10|1|1|+1", "dog|12:15|12:25|1|2|+1",
                                      "owl|12:01|12:11|1|1|+1"}));
  // 12:08 dog is within the gap of both dog sessions: they become one, the two
  // old rows retracted. 12:11 owl is exactly a gap after 12:01: a new session.
  EXPECT_EQ(h.Batch({{"dog", "12:08", 7}, {"owl", "12:11", 3}}),
            (std::vector<std::string>{"dog|12:00|12:10|1|1|-1", "dog|12:00|12:25|3|7|+1",
                                      "dog|12:15|12:25|1|2|-1", "owl|12:11|12:21|1|3|+1"}));
  // A row inside a session extends its end.
  EXPECT_EQ(h.Batch({{"dog", "12:20", 4}}),
            (std::vector<std::string>{"dog|12:00|12:25|3|7|-1", "dog|12:00|12:30|4|7|+1"}));
  // Two rows of one batch bridging into one session with a stored one, in any
  // order.
  EXPECT_EQ(h.Batch({{"owl", "12:38", 1}, {"owl", "12:20", 9}, {"owl", "12:29", 1}}),
            (std::vector<std::string>{"owl|12:11|12:21|1|3|-1", "owl|12:11|12:48|4|9|+1"}));
  EXPECT_EQ(h.StateRows(), 3) << "dog, owl 12:01, owl 12:11: one row each (not its index entry)";
}

// Spark's guide on session windows with a watermark, append mode: a session is
// emitted once, when the watermark passes its end (the last row + gap); rows
// behind the watermark are late and do not extend a session.
TEST(AggregateTest, AppendEmitsAFinishedSessionOnceAndDropsLateRows) {
  Harness h(WordSessions(ops::OutputMode::kAppend), 2);
  EXPECT_TRUE(h.Batch({{"dog", "12:00"}, {"dog", "12:05"}, {"cat", "12:02"}}).empty());
  EXPECT_TRUE(h.Batch({{"dog", "12:30"}}, "11:55").empty());
  std::vector<std::string> rejected;
  EXPECT_EQ(h.Batch({{"cat", "12:10"}, {"dog", "12:31"}}, "12:16", &rejected),
            (std::vector<std::string>{"cat|12:02|12:12|1|0|+1", "dog|12:00|12:15|2|0|+1"}));
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_NE(rejected[0].find("late: event time 2026-01-01T12:10:00"), std::string::npos)
      << rejected[0];
  EXPECT_TRUE(h.Batch({}, "12:16").empty()) << "emitted once";
  EXPECT_EQ(h.StateRows(), 1);  // dog 12:30-12:41
  EXPECT_TRUE(h.Batch({}, "12:40").empty()) << "12:41 is not passed yet";
  EXPECT_EQ(h.Batch({}, "12:41"), (std::vector<std::string>{"dog|12:30|12:41|2|0|+1"}));
  EXPECT_EQ(h.StateRows(), 0);
}

TEST(AggregateTest, CompleteEmitsEverySessionEveryBatch) {
  Harness h(WordSessions(ops::OutputMode::kComplete));
  EXPECT_EQ(h.Batch({{"dog", "12:00", 1}, {"dog", "12:20", 2}}),
            (std::vector<std::string>{"dog|12:00|12:10|1|1|+1", "dog|12:20|12:30|1|2|+1"}));
  // Complete mode drops nothing: 12:09 is behind the watermark but counts.
  EXPECT_EQ(h.Batch({{"dog", "12:09", 5}}, "12:50"),
            (std::vector<std::string>{"dog|12:00|12:19|2|5|+1", "dog|12:20|12:30|1|2|+1"}));
  EXPECT_EQ(h.StateRows(), 2);
}

TEST(AggregateTest, AReplayedBatchOfSessionsGivesTheSameOutputAndState) {
  Harness h(WordSessions(ops::OutputMode::kUpdate), 2);
  h.Batch({{"dog", "12:00"}, {"cat", "12:03"}, {"dog", "12:30"}});
  std::vector<Row> next = {{"dog", "12:12"}, {"cat", "12:14"}, {"dog", "12:21"}, {"emu", "12:01"}};
  auto first = h.Batch(next, "", nullptr, /*commit=*/false);
  auto again = h.Batch(next);
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, again);
  EXPECT_EQ(h.StateRows(), 5);  // dog 12:00, dog 12:12-12:40, cat 12:03, cat 12:14, emu
}

TEST(AggregateTest, SessionWindowsOverRetractionsAreRefusedAtStart) {
  auto spec = ops::MakeAggregateSpec(WordSessions(ops::OutputMode::kUpdate));
  StreamSchema in;
  in.schema = Schema({{"word", TypeId::kString}, {"ts", TypeId::kTimestamp},
                      {"value", TypeId::kInt64}});
  in.complete = true;
  ASSERT_TRUE(spec->DeriveSchema(std::span<const StreamSchema>(&in, 1)).ok());
  in.changes = ChangeKind::kChanges;
  auto r = spec->DeriveSchema(std::span<const StreamSchema>(&in, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("session windows need insert-only input"),
            std::string::npos);
}

// Without group_by: one group (per window) over every row, whatever the shards.
TEST(AggregateTest, AGlobalAggregateCountsEveryRowInOneGroupPerWindow) {
  auto c = WordCount(ops::OutputMode::kAppend);
  c.group_by.clear();
  c.aggregates.push_back({ops::AggregateKind::kCountDistinct, "word", 0.5, "words"});
  EXPECT_TRUE(ops::MakeAggregateSpec(c)->gathers_all_rows());
  Harness h(c, 2);
  EXPECT_TRUE(h.Batch({{"dog", "12:07"}, {"owl", "12:08"}, {"dog", "12:14"}}).empty());
  std::vector<std::string> rejected;
  EXPECT_EQ(h.Batch({{"cat", "12:21"}, {"cat", "12:09"}, {"emu", "11:59"}}, "12:04", &rejected),
            std::vector<std::string>{});
  EXPECT_EQ(rejected.size(), 1u) << "11:59 is late";
  EXPECT_EQ(h.Batch({}, "12:11"), (std::vector<std::string>{"12:00|12:10|3|3|+1"}));
  EXPECT_EQ(h.Batch({}, "12:30"),
            (std::vector<std::string>{"12:10|12:20|1|1|+1", "12:20|12:30|1|1|+1"}));
  EXPECT_EQ(h.StateRows(), 0);
}

TEST(AggregateTest, AGlobalAggregateOverTheWholeStreamInUpdateAndCompleteMode) {
  ops::AggregateConfig c;
  using K = ops::AggregateKind;
  c.aggregates = {{K::kCount, "", 0.5, "n"}, {K::kSum, "value", 0.5, "sum"}};
  c.mode = ops::OutputMode::kUpdate;
  Harness u(c, 2);
  EXPECT_EQ(u.Batch({{"a", "12:00", 1}, {"b", "12:00", 2}}),
            (std::vector<std::string>{"2|3|+1"}));
  EXPECT_EQ(u.Batch({{"c", "12:00", 5}}), (std::vector<std::string>{"2|3|-1", "3|8|+1"}));
  EXPECT_TRUE(u.Batch({}).empty()) << "an empty batch changes nothing";
  EXPECT_EQ(u.StateRows(), 1);

  // Append: one group never ends without a window.
  c.mode = ops::OutputMode::kAppend;
  StreamSchema in;
  in.schema = Schema({{"value", TypeId::kInt64}});
  in.complete = true;
  auto r = ops::MakeAggregateSpec(c)->DeriveSchema(std::span<const StreamSchema>(&in, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("append needs a window"), std::string::npos);

  c.mode = ops::OutputMode::kComplete;
  Harness h(c, 2);
  EXPECT_EQ(h.Batch({{"a", "12:00", 1}, {"b", "12:00", 2}}),
            (std::vector<std::string>{"2|3|+1"}));
  EXPECT_EQ(h.Batch({{"c", "12:00", 5}}), (std::vector<std::string>{"3|8|+1"}));
}

TEST(AggregateTest, NullEventTimesAreRejectedWithAReason) {
  Harness h(WordCount(ops::OutputMode::kUpdate));
  std::vector<std::string> rejected;
  EXPECT_EQ(h.Batch({{"dog", ""}, {"dog", "12:01"}}, "", &rejected),
            (std::vector<std::string>{"dog|12:00|12:10|1|+1"}));
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0], "aggregate: null event time in 'ts'");
}

TEST(AggregateTest, AppendWithoutAWatermarkOnTheWindowColumnIsRefusedAtStart) {
  auto spec = ops::MakeAggregateSpec(WordCount(ops::OutputMode::kAppend));
  StreamSchema in;
  in.schema = Schema({{"word", TypeId::kString}, {"ts", TypeId::kTimestamp}});
  in.complete = true;
  auto r = spec->DeriveSchema(std::span<const StreamSchema>(&in, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("append needs a watermark on the window column 'ts'"),
            std::string::npos);
  in.watermark_column = "ts";
  r = spec->DeriveSchema(std::span<const StreamSchema>(&in, 1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->changes, ChangeKind::kInsertOnly);
  EXPECT_EQ(r->schema.ToString(), Schema({{"word", TypeId::kString},
                                          {"window_start", TypeId::kTimestamp},
                                          {"window_end", TypeId::kTimestamp},
                                          {"count", TypeId::kInt64}})
                                      .ToString());
  // A window on a string column.
  in.schema = Schema({{"word", TypeId::kString}, {"ts", TypeId::kString}});
  r = spec->DeriveSchema(std::span<const StreamSchema>(&in, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'ts'"), std::string::npos) << r.status().message();
}

TEST(AggregateTest, ConfigErrorsNameTheLine) {
  auto parse = [](const std::string& yaml) -> std::string {
    try {
      ops::AggregateFromConfig(ConfigNode::LoadString(yaml));
      return "";
    } catch (const std::exception& e) {
      return e.what();
    }
  };
  EXPECT_EQ(parse("group_by: [w]\naggregates: [{fn: count}]\noutput_mode: update\n"), "");
  EXPECT_EQ(parse("aggregates: [{fn: count}]\noutput_mode: complete\n"), "") << "no group_by";
  EXPECT_NE(parse("group_by: [w]\naggregates: [{fn: count}]\noutput_mode: sometimes\n").find(":3:"),
            std::string::npos);
  EXPECT_EQ(parse("group_by: [w]\nwindow: {column: ts, gap: 5m}\naggregates: "
                  "[{fn: count}]\noutput_mode: update\n"),
            "");
  const std::string both = parse(
      "group_by: [w]\nwindow: {column: ts, gap: 5m, size: 1h}\naggregates: "
      "[{fn: count}]\noutput_mode: update\n");
  EXPECT_NE(both.find(":2:"), std::string::npos) << both;
  EXPECT_NE(both.find("a session window has a gap, not a size"), std::string::npos) << both;
  EXPECT_NE(parse("group_by: [w]\nwindow: {column: ts, gap: 0s}\naggregates: "
                  "[{fn: count}]\noutput_mode: update\n")
                .find("the session gap must be > 0"),
            std::string::npos);
  EXPECT_NE(parse("group_by: [w]\nwindow: {column: ts}\naggregates: "
                  "[{fn: count}]\noutput_mode: update\n")
                .find("a window needs a size (tumbling, sliding) or a gap (session)"),
            std::string::npos);
  EXPECT_NE(parse("group_by: [w]\naggregates: [{fn: medain, column: "
                  "x}]\noutput_mode: update\n")
                .find("unknown aggregate fn 'medain'"),
            std::string::npos);
}

}  // namespace
}  // namespace pinstream
