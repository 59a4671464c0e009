// join: Spark's stream-stream join semantics (the programming guide's cases) over weighted
// changes — inner matches in either order, left outer rows emitted once after the watermark and
// never before, late rows, ttl, retractions — with the state in StateTables over the in-memory
// checkpoint across shards, replay determinism and restarts from the checkpoint.
#include "operators/join.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/checkpoint.h"
#include "engine/config_node.h"
#include "engine/shard_executor.h"
#include "engine/time_util.h"

namespace pinstream {
namespace {

constexpr std::int64_t kHour = 3'600'000'000;

// "12:07" → µs of 2026-01-01 12:07 UTC.
std::int64_t At(std::string_view hhmm) {
  return ParseTimestamp(fmt::format("2026-01-01T{}:00Z", hhmm)).value();
}
std::string Hm(std::int64_t us) { return FormatTimestamp(us, TimestampStyle::kIso).substr(11, 5); }

// A row of either side: pin {ind, ts, title} (tag 0), geo {ind, ts, country} (tag 1).
constexpr std::int64_t kNullInd = INT64_MIN;  // a null `ind`
struct Row {
  int side = 0;  // 0 pin, 1 geo
  std::int64_t ind = 0;
  std::string time;  // "hh:mm" ("" = null)
  std::string text;
  std::int64_t weight = 1;
};
Row Pin(std::int64_t ind, std::string time, std::string title, std::int64_t w = 1) {
  return {0, ind, std::move(time), std::move(title), w};
}
Row Geo(std::int64_t ind, std::string time, std::string country, std::int64_t w = 1) {
  return {1, ind, std::move(time), std::move(country), w};
}

StreamSchema SideSchema(int side, bool watermark) {
  StreamSchema s;
  s.schema = Schema({{"ind", TypeId::kInt64},
                     {"ts", TypeId::kTimestamp},
                     {side == 0 ? "title" : "country", TypeId::kString}});
  s.complete = true;
  if (watermark) s.watermark_column = "ts";
  return s;
}

ops::JoinConfig Config(ops::JoinType type, bool range, std::int64_t ttl = 0) {
  ops::JoinConfig c;
  c.left = "pin";
  c.right = "geo";
  c.type = type;
  c.on.push_back({"ind", "ind", true});
  if (range) {
    // geo.ts BETWEEN pin.ts AND pin.ts + 1h
    c.range.set = true;
    c.range.left_column = "ts";
    c.range.right_column = "ts";
    c.range.lower_us = 0;
    c.range.upper_us = kHour;
  }
  c.ttl_us = ttl;
  return c;
}

// Runs the join like the engine: each side's rows routed to shards by `ind`, Process per side
// (pin first, then geo, unless `geo_first`), Finish on every shard, the state staged into one
// transaction and committed.
class Harness {
 public:
  Harness(ops::JoinConfig c, int shards = 1, bool watermarks = true)
      : spec_(ops::MakeJoinSpec(std::move(c))), shards_(shards), watermarks_(watermarks) {
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
      ctx.input_tags = {0, 1};
      ctx.output_tag = 2;
      ctx.input_schemas = {SideSchema(0, watermarks_), SideSchema(1, watermarks_)};
      auto op = spec_->Create(ctx);
      EXPECT_TRUE(op.ok()) << op.status().ToString();
      ops_.push_back(std::move(op).value());
    }
  }

  // One micro-batch with watermark `wm` ("" = none) at processing time `now_us`. Returns the
  // output rows "ind|ts|title|geo_ts|country|weight", sorted; rejected rows' reasons in
  // *rejected.
  std::vector<std::string> Batch(const std::vector<Row>& rows, std::string_view wm = "",
                                 std::vector<std::string>* rejected = nullptr, bool commit = true,
                                 std::int64_t now_us = 0, bool geo_first = false) {
    RecordBatch sides[2];
    for (int side = 0; side < 2; ++side) {
      Column ind(TypeId::kInt64), ts(TypeId::kTimestamp), text(TypeId::kString);
      std::vector<std::int64_t> weights;
      for (const auto& r : rows) {
        if (r.side != side) continue;
        if (r.ind == kNullInd) {
          ind.AppendNull();
        } else {
          ind.AppendInt(r.ind);
        }
        if (r.time.empty()) {
          ts.AppendNull();
        } else {
          ts.AppendInt(At(r.time));
        }
        text.AppendString(r.text);
        weights.push_back(r.weight);
      }
      RecordBatch& b = sides[side];
      b.row_ids().resize(weights.size());
      for (std::size_t i = 0; i < weights.size(); ++i)
        b.row_ids()[i] = MakeRowId(static_cast<std::uint32_t>(side), static_cast<std::uint32_t>(i));
      b.AddColumn("ind", std::move(ind));
      b.AddColumn("ts", std::move(ts));
      b.AddColumn(side == 0 ? "title" : "country", std::move(text));
      b.SetWeights(weights);
      b.set_input_tag(static_cast<std::uint16_t>(side));
    }
    std::vector<std::string> out;
    std::vector<int> key{0};
    for (int s = 0; s < shards_; ++s) {
      auto& op = ops_[static_cast<std::size_t>(s)];
      for (int k = 0; k < 2; ++k) {
        const int side = geo_first ? 1 - k : k;
        const RecordBatch& b = sides[side];
        std::vector<std::uint32_t> mine;
        for (std::size_t r = 0; r < b.num_rows(); ++r) {
          if (ShardOfHash(HashRow(b, key, r), shards_) == s)
            mine.push_back(static_cast<std::uint32_t>(r));
        }
        if (mine.empty()) continue;
        RecordBatch part = b.Take(mine);
        OperatorContext ctx;
        ctx.batch_id = batch_id_;
        ctx.batch_timestamp_us = now_us;
        ctx.watermark_us = wm.empty() ? kNoWatermark : At(wm);
        Status st = op->Process(part, ctx);
        EXPECT_TRUE(st.ok()) << st.ToString();
        EXPECT_EQ(part.input_tag(), 2);
        std::vector<std::uint8_t> keep(part.num_rows(), 1);
        for (auto& rj : ctx.rejections()) {
          if (rejected != nullptr) rejected->push_back(rj.reason);
          EXPECT_EQ(rj.late, rj.reason.rfind("late", 0) == 0);
          keep[rj.row] = 0;
        }
        part.Compact(keep);
        Render(part, &out);
      }
      std::vector<RecordBatch> emitted;
      OperatorContext fctx;
      fctx.batch_id = batch_id_;
      fctx.batch_timestamp_us = now_us;
      fctx.watermark_us = wm.empty() ? kNoWatermark : At(wm);
      Status st = op->Finish(fctx, &emitted);
      EXPECT_TRUE(st.ok()) << st.ToString();
      for (const auto& e : emitted) Render(e, &out);
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
  // The committed state's entries (keys and values) in key order.
  std::vector<std::string> StateDump() {
    std::vector<std::string> out;
    for (auto& t : tables_) {
      for (std::uint8_t p : t->partitions()) {
        std::string begin(1, static_cast<char>(p)), end(1, static_cast<char>(p + 1));
        if (p == 0xff) end = "\xff\xff";
        EXPECT_TRUE(t->Scan(begin, end, [&](std::string_view k, std::string_view v) {
                       out.push_back(std::string(k) + "=" + std::string(v));
                       return true;
                     }).ok());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::vector<std::string> columns;  // of the last non-empty output

 private:
  void Render(const RecordBatch& b, std::vector<std::string>* out) {
    if (b.num_rows() > 0) columns = b.names();
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
  bool watermarks_;
  std::vector<std::unique_ptr<StateTable>> tables_;
  std::vector<std::unique_ptr<Operator>> ops_;
  std::int64_t batch_id_ = 0;
};

using Rows = std::vector<std::string>;

TEST(JoinTest, InnerMatchesInEitherOrderAndWithinOneBatch) {
  for (int shards : {1, 2}) {
    Harness h(Config(ops::JoinType::kInner, false), shards, false);
    // Left first, the right in a later batch.
    EXPECT_TRUE(h.Batch({Pin(1, "12:00", "a")}).empty());
    EXPECT_EQ(h.Batch({Geo(1, "12:05", "fr")}), (Rows{"1|12:00|a|12:05|fr|+1"}));
    // Right first.
    EXPECT_TRUE(h.Batch({Geo(2, "12:10", "de")}).empty());
    EXPECT_EQ(h.Batch({Pin(2, "12:11", "b")}), (Rows{"2|12:11|b|12:10|de|+1"}));
    // Both in one batch, in either processing order; a second right row of key 1 meets the
    // buffered left row too.
    EXPECT_EQ(h.Batch({Pin(3, "12:20", "c"), Geo(3, "12:21", "it"), Geo(1, "12:22", "es")}),
              (Rows{"1|12:00|a|12:22|es|+1", "3|12:20|c|12:21|it|+1"}));
    EXPECT_EQ(h.Batch({Pin(4, "12:30", "d"), Geo(4, "12:31", "pl")}, "", nullptr, true, 0, true),
              (Rows{"4|12:30|d|12:31|pl|+1"}));
    // No match: nothing.
    EXPECT_TRUE(h.Batch({Pin(5, "12:40", "e"), Geo(6, "12:41", "uk")}).empty());
    EXPECT_EQ(h.columns, (std::vector<std::string>{"ind", "ts", "title", "geo_ts", "country"}));
    // Every row is buffered (no range, no ttl): one bucket per key, both sides' rows in it
    // (keys 1–4 with both, 5 and 6 with one).
    EXPECT_EQ(h.StateRows(), 6);
  }
}

TEST(JoinTest, TheTimeRangeConditionDecidesWhichRowsMatch) {
  Harness h(Config(ops::JoinType::kInner, true), 2, false);
  // geo.ts BETWEEN pin.ts AND pin.ts + 1h.
  EXPECT_TRUE(h.Batch({Pin(1, "12:00", "a"), Pin(2, "12:00", "b")}).empty());
  EXPECT_EQ(h.Batch({Geo(1, "11:59", "x"), Geo(1, "12:00", "y"), Geo(1, "13:00", "z"),
                     Geo(1, "13:01", "w"), Geo(2, "12:30", "v")}),
            (Rows{"1|12:00|a|12:00|y|+1", "1|12:00|a|13:00|z|+1", "2|12:00|b|12:30|v|+1"}));
}

TEST(JoinTest, LeftOuterEmitsAnUnmatchedRowOnceAfterTheWatermarkNeverBefore) {
  for (int shards : {1, 2}) {
    Harness h(Config(ops::JoinType::kLeftOuter, true), shards);
    // Pin 1 will match, pin 2 never will.
    EXPECT_TRUE(h.Batch({Pin(1, "12:00", "a"), Pin(2, "12:00", "b")}).empty());
    EXPECT_EQ(h.Batch({Geo(1, "12:30", "fr")}, "11:00"), (Rows{"1|12:00|a|12:30|fr|+1"}));
    // Watermark 12:59: a geo row of 12:59..13:00 could still match both: nothing yet.
    EXPECT_TRUE(h.Batch({}, "12:59").empty());
    EXPECT_TRUE(h.Batch({}, "13:00").empty());
    // 13:01: no later geo row can match pins of 12:00: pin 2 goes out with nulls, once; pin 1
    // (matched) does not; both leave the state, and so do the geo rows no later pin can match.
    EXPECT_EQ(h.Batch({}, "13:01"), (Rows{"2|12:00|b|null|null|+1"}));
    EXPECT_TRUE(h.Batch({}, "14:00").empty());
    EXPECT_EQ(h.StateRows(), 0);
    EXPECT_EQ(h.columns, (std::vector<std::string>{"ind", "ts", "title", "geo_ts", "country"}));
  }
}

TEST(JoinTest, LateRowsGoToTheDeadLettersAndMatchNothing) {
  Harness h(Config(ops::JoinType::kInner, true), 2);
  EXPECT_TRUE(h.Batch({Pin(1, "12:00", "a")}).empty());
  std::vector<std::string> rejected;
  // Watermark 12:10: a geo row of 12:05 is late (behind the watermark), though it would match.
  EXPECT_TRUE(h.Batch({Geo(1, "12:05", "fr")}, "12:10", &rejected).empty());
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0],
            "late: event time 2026-01-01T12:05:00.000Z in 'ts' is behind the watermark "
            "2026-01-01T12:10:00.000Z");
  // In time: matches.
  EXPECT_EQ(h.Batch({Geo(1, "12:15", "de")}, "12:10"), (Rows{"1|12:00|a|12:15|de|+1"}));
}

TEST(JoinTest, TtlDropsBufferedRowsAfterTheirTimeInProcessingTime) {
  Harness h(Config(ops::JoinType::kInner, false, kHour), 2, false);
  const std::int64_t t0 = At("08:00");
  EXPECT_TRUE(h.Batch({Pin(1, "12:00", "a"), Pin(2, "12:00", "b")}, "", nullptr, true, t0).empty());
  EXPECT_EQ(h.StateRows(), 2);  // two buckets (their ttl index entries are not rows)
  // 30 minutes later: still there.
  EXPECT_EQ(h.Batch({Geo(1, "12:00", "fr")}, "", nullptr, true, t0 + kHour / 2),
            (Rows{"1|12:00|a|12:00|fr|+1"}));
  // 1h01 after the pins: gone — also for the batch's own rows, before its end evicts them
  // (the geo row of 08:30 stays until 09:30).
  EXPECT_TRUE(h.Batch({Geo(2, "12:00", "de")}, "", nullptr, true, t0 + kHour + 60'000'000).empty());
  EXPECT_TRUE(h.Batch({}, "", nullptr, true, t0 + 3 * kHour).empty());
  EXPECT_EQ(h.StateRows(), 0);
}

TEST(JoinTest, RetractionsRetractWhatTheirRowProduced) {
  Harness h(Config(ops::JoinType::kInner, false), 2, false);
  EXPECT_EQ(h.Batch({Pin(1, "12:00", "a"), Geo(1, "12:01", "fr"), Geo(1, "12:02", "de")}),
            (Rows{"1|12:00|a|12:01|fr|+1", "1|12:00|a|12:02|de|+1"}));
  // The pin retracted: both its rows go.
  EXPECT_EQ(h.Batch({Pin(1, "12:00", "a", -1)}),
            (Rows{"1|12:00|a|12:01|fr|-1", "1|12:00|a|12:02|de|-1"}));
  // A new pin meets both geo rows; one of them retracted in the same batch takes its row back
  // (the sink nets the two).
  EXPECT_EQ(h.Batch({Pin(1, "12:00", "b"), Geo(1, "12:02", "de", -1)}),
            (Rows{"1|12:00|b|12:01|fr|+1", "1|12:00|b|12:02|de|+1", "1|12:00|b|12:02|de|-1"}));
  EXPECT_EQ(h.StateRows(), 1);  // key 1's bucket: pin b, geo fr
  // Two copies of a row count twice: the pin's retraction takes back both of its rows.
  EXPECT_EQ(h.Batch({Geo(1, "12:01", "fr")}), (Rows{"1|12:00|b|12:01|fr|+1"}));
  EXPECT_EQ(h.Batch({Pin(1, "12:00", "b", -1)}), (Rows{"1|12:00|b|12:01|fr|-2"}));
  EXPECT_EQ(h.StateRows(), 1);
}

// A key's rows of both sides share one bucket: evicting one side's rows keeps the other's, a
// restart reads them back, and the bucket goes when both sides are empty.
TEST(JoinTest, OneBucketPerKeyHoldsBothSidesAndEachSideIsEvictedOnItsOwn) {
  for (int shards : {1, 2}) {
    Harness h(Config(ops::JoinType::kLeftOuter, true), shards);
    // geo.ts BETWEEN pin.ts AND pin.ts + 1h: pin 12:00 stays until 13:00, geo 12:30 until 12:30.
    EXPECT_EQ(
        h.Batch({Pin(1, "12:00", "a"), Geo(1, "12:30", "fr"), Geo(2, "12:40", "de")}, "11:00"),
        (Rows{"1|12:00|a|12:30|fr|+1"}));
    EXPECT_EQ(h.StateRows(), 2);  // keys 1 and 2
    // Watermark 12:45: the geo rows are gone (no later pin can match them), the pin stays.
    EXPECT_TRUE(h.Batch({}, "12:45").empty());
    EXPECT_EQ(h.StateRows(), 1);
    h.Restart();  // from the checkpoint
    // A later geo row of key 1 meets the pin; the evicted one does not come back.
    EXPECT_EQ(h.Batch({Geo(1, "12:50", "it")}, "12:45"), (Rows{"1|12:00|a|12:50|it|+1"}));
    EXPECT_EQ(h.StateRows(), 1);
    // 13:30: the pin (matched) and the geo row go: no bucket left, nothing emitted.
    EXPECT_TRUE(h.Batch({}, "13:30").empty());
    EXPECT_EQ(h.StateRows(), 0);
    EXPECT_TRUE(h.StateDump().empty());
  }
}

TEST(JoinTest, LeftOuterCountsRetractedMatchesAndEmitsTheRowWhenNoneIsLeft) {
  Harness h(Config(ops::JoinType::kLeftOuter, true), 1);
  EXPECT_EQ(h.Batch({Pin(1, "12:00", "a"), Geo(1, "12:10", "fr")}),
            (Rows{"1|12:00|a|12:10|fr|+1"}));
  // The match is retracted: the pin is unmatched again, and emitted with nulls once final.
  EXPECT_EQ(h.Batch({Geo(1, "12:10", "fr", -1)}, "11:00"), (Rows{"1|12:00|a|12:10|fr|-1"}));
  EXPECT_EQ(h.Batch({}, "13:30"), (Rows{"1|12:00|a|null|null|+1"}));
  EXPECT_EQ(h.StateRows(), 0);
}

TEST(JoinTest, NullKeysNeverMatchAndLeftOuterEmitsThemAtOnce) {
  Harness h(Config(ops::JoinType::kLeftOuter, true), 1);
  // A null range column never matches either.
  EXPECT_EQ(h.Batch({Pin(1, "", "a"), Geo(1, "12:00", "fr")}), (Rows{"1|null|a|null|null|+1"}));
  EXPECT_EQ(h.StateRows(), 1);  // the geo row (its index entry is not a row)
}

// Decided: a left row whose key (or range column) is null can never match, so it is final when
// it arrives and a left outer join emits it with nulls at once. (Spark keeps it in the state and
// emits it when the watermark passes: the same rows, ours earlier.) It is not buffered, so no
// later batch, watermark or restart emits it again; its retraction retracts it at once. A right
// row with a null key matches nothing and is not kept either.
TEST(JoinTest, ANullKeyLeftRowIsEmittedOnceAtOnceAndNeverAgain) {
  for (int shards : {1, 2}) {
    Harness h(Config(ops::JoinType::kLeftOuter, true), shards);
    EXPECT_EQ(h.Batch({Pin(kNullInd, "12:00", "a"), Pin(1, "", "b"), Geo(1, "12:00", "fr"),
                       Geo(kNullInd, "12:00", "xx")},
                      "11:00"),
              (Rows{"1|null|b|null|null|+1", "null|12:00|a|null|null|+1"}));
    EXPECT_EQ(h.StateRows(), 1) << "only geo 1";
    EXPECT_TRUE(h.Batch({}, "12:30").empty());
    h.Restart();  // from the checkpoint
    // The watermark passes every time these rows could have matched: nothing again.
    EXPECT_TRUE(h.Batch({}, "13:01").empty());
    EXPECT_TRUE(h.Batch({}, "15:00").empty());
    EXPECT_EQ(h.StateRows(), 0);
    // A null-key row and its retraction: each at once.
    EXPECT_EQ(h.Batch({Pin(kNullInd, "15:10", "c")}, "15:00"), (Rows{"null|15:10|c|null|null|+1"}));
    EXPECT_EQ(h.Batch({Pin(kNullInd, "15:10", "c", -1)}, "15:00"),
              (Rows{"null|15:10|c|null|null|-1"}));
    EXPECT_TRUE(h.Batch({}, "17:00").empty());
    EXPECT_EQ(h.StateRows(), 0);
  }
}

TEST(JoinTest, AReplayedBatchGivesTheSameOutputAndState) {
  Harness h(Config(ops::JoinType::kLeftOuter, true), 2);
  h.Batch({Pin(1, "12:00", "a"), Pin(2, "12:05", "b"), Geo(3, "12:00", "x")});
  const auto before = h.StateDump();
  std::vector<Row> next = {Geo(1, "12:30", "fr"), Pin(3, "11:30", "c"), Geo(2, "14:00", "de")};
  auto first = h.Batch(next, "12:00", nullptr, /*commit=*/false);  // discarded, rebuilt
  EXPECT_EQ(h.StateDump(), before);
  auto again = h.Batch(next, "12:00");
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, again);
  const auto after = h.StateDump();
  // The same batch once more from the state before it: the same state after it.
  Harness h2(Config(ops::JoinType::kLeftOuter, true), 2);
  h2.Batch({Pin(1, "12:00", "a"), Pin(2, "12:05", "b"), Geo(3, "12:00", "x")});
  EXPECT_EQ(h2.Batch(next, "12:00"), again);
  EXPECT_EQ(h2.StateDump(), after);
}

TEST(JoinTest, ARestartFromTheCheckpointMidStreamContinuesAsIfUninterrupted) {
  std::vector<std::vector<Row>> batches = {
      {Pin(1, "12:00", "a"), Pin(2, "12:00", "b"), Geo(9, "12:00", "zz")},
      {Geo(1, "12:20", "fr"), Pin(3, "12:30", "c")},
      {Geo(3, "12:40", "de"), Geo(2, "13:30", "late-match-no")},
      {Pin(4, "13:10", "d"), Pin(5, "13:00", "late")},
      {}};
  std::vector<std::string> wms = {"", "11:00", "12:10", "13:05", "15:00"};
  auto run = [&](bool restart) {
    Harness h(Config(ops::JoinType::kLeftOuter, true), 2);
    std::vector<std::string> all;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      if (restart) h.Restart();
      for (auto& r : h.Batch(batches[i], wms[i])) all.push_back(fmt::format("{}:{}", i, r));
    }
    return std::make_pair(all, h.StateRows());
  };
  auto [plain, rows] = run(false);
  auto [restarted, rows2] = run(true);
  EXPECT_EQ(plain, restarted);
  EXPECT_EQ(rows, rows2);
  EXPECT_EQ(plain, (Rows{"1:1|12:00|a|12:20|fr|+1", "2:3|12:30|c|12:40|de|+1",
                         "3:2|12:00|b|null|null|+1", "4:4|13:10|d|null|null|+1"}));
  EXPECT_EQ(rows, 0);
}

TEST(JoinTest, TheOutputDoesNotDependOnTheShardCount) {
  std::vector<Row> rows;
  for (int i = 0; i < 200; ++i) {
    rows.push_back(Pin(i % 37, fmt::format("12:{:02}", i % 60), fmt::format("t{}", i)));
    rows.push_back(Geo(i % 41, fmt::format("12:{:02}", (i * 7) % 60), fmt::format("c{}", i)));
  }
  Harness one(Config(ops::JoinType::kInner, true), 1, false);
  Harness four(Config(ops::JoinType::kInner, true), 4, false);
  auto a = one.Batch(rows);
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, four.Batch(rows));
}

// Chained left outer joins in one query, (pin ⟕ geo) ⟕ usr, through the engine's executor: the
// first join's rows — a null-padded one is emitted only once the watermark passed its time +
// 1h — are up to 1h behind the watermark (StreamSchema::watermark_lag_us), so the second join
// takes them in (it dropped them as late before) and keeps usr's rows 1h longer for them.
TEST(JoinTest, ChainedLeftOuterJoinsKeepTheFirstJoinsNullPaddedRows) {
  ops::JoinConfig second = Config(ops::JoinType::kLeftOuter, true);
  second.left = "pg";
  second.right = "usr";
  auto j1 = ops::MakeJoinSpec(Config(ops::JoinType::kLeftOuter, true));
  auto j2 = ops::MakeJoinSpec(second);
  StreamSchema usr = SideSchema(1, true);
  usr.schema =
      Schema({{"ind", TypeId::kInt64}, {"ts", TypeId::kTimestamp}, {"name", TypeId::kString}});
  StreamSchema j1_in[] = {SideSchema(0, true), SideSchema(1, true)};
  auto pg = j1->DeriveSchema(j1_in);
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  EXPECT_EQ(pg->watermark_column, "ts");
  EXPECT_EQ(pg->watermark_lag_us, kHour);
  StreamSchema j2_in[] = {*pg, usr};
  auto out = j2->DeriveSchema(j2_in);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->watermark_lag_us, kHour);

  // tag 0 pin, 1 geo, 2 usr; the first join emits tag 3, the second tag 4.
  auto batch = [](std::uint16_t tag, std::string_view text,
                  std::vector<std::tuple<std::int64_t, std::string, std::string>> rows) {
    Column ind(TypeId::kInt64), ts(TypeId::kTimestamp), t(TypeId::kString);
    RecordBatch b;
    for (const auto& [i, time, v] : rows) {
      ind.AppendInt(i);
      ts.AppendInt(At(time));
      t.AppendString(v);
      b.row_ids().push_back(MakeRowId(tag, static_cast<std::uint32_t>(b.row_ids().size())));
    }
    b.AddColumn("ind", std::move(ind));
    b.AddColumn("ts", std::move(ts));
    b.AddColumn(std::string(text), std::move(t));
    b.set_input_tag(tag);
    return b;
  };
  for (int shards : {1, 2}) {
    InMemoryCheckpointStore store;
    auto cp = std::move(store.OpenQuery("q")).value();
    std::vector<ShardExecutor::OperatorSlot> slots;
    slots.push_back(
        {"j1", j1.get(), {0, 1}, {{"ind"}, {"ind"}}, 3, true, "", "j1", {j1_in[0], j1_in[1]}});
    slots.push_back({"j2", j2.get(), {3, 2}, {{"ind"}, {"ind"}}, 4, true, "", "j2", {*pg, usr}});
    auto made = ShardExecutor::Create("q", shards, 8, std::move(slots), cp.get());
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    auto& ex = *made.value();
    std::int64_t id = 0;
    auto run = [&](std::vector<RecordBatch> chunks, std::string_view wm) {
      ex.BeginBatch(id, 0, wm.empty() ? kNoWatermark : At(wm));
      for (std::uint32_t i = 0; i < chunks.size(); ++i) ex.SubmitChunk(std::move(chunks[i]), i);
      auto res = ex.Finish();
      EXPECT_TRUE(res.ok()) << res.status().ToString();
      std::vector<std::string> rows;
      for (const auto& r : res->rejected) rows.push_back("rejected: " + r.reason);
      for (const auto& b : res->batches) {
        for (std::size_t r = 0; r < b.num_rows(); ++r) {
          std::string line;
          for (std::size_t c = 0; c < b.num_columns(); ++c) {
            const Column& col = b.column(c);
            line += col.IsNull(r)                      ? "null|"
                    : col.type() == TypeId::kTimestamp ? Hm(col.Int(r)) + "|"
                                                       : col.GetValue(r).ToString() + "|";
          }
          rows.push_back(line + fmt::format("{:+}", b.weight(r)));
        }
      }
      auto txn = cp->BeginCommit(id);
      ex.StageStateChanges(id, *txn);
      CommitLogEntry e;
      e.batch_id = id++;
      EXPECT_TRUE(cp->Commit(std::move(txn), e).ok());
      std::sort(rows.begin(), rows.end());
      return rows;
    };
    // Pin 1 matches geo and usr at once; pin 2 matches usr only, pin 3 nothing.
    EXPECT_EQ(run({batch(0, "title", {{1, "12:00", "a"}, {2, "12:00", "b"}, {3, "12:05", "c"}}),
                   batch(1, "country", {{1, "12:30", "fr"}}),
                   batch(2, "name", {{1, "12:10", "u1"}, {2, "12:20", "u2"}})},
                  ""),
              (Rows{"1|12:00|a|12:30|fr|12:10|u1|+1"}));
    // 13:01: pin 2 goes out of the first join with nulls (12:00 + 1h is passed), 11 minutes
    // behind the watermark, and meets usr 2, still kept for it.
    EXPECT_EQ(run({}, "13:01"), (Rows{"2|12:00|b|null|null|12:20|u2|+1"}));
    // 14:00: pin 3 leaves the first join with nulls and the second at once (no usr row can
    // come for it any more).
    EXPECT_EQ(run({}, "14:00"), (Rows{"3|12:05|c|null|null|null|null|+1"}));
    EXPECT_TRUE(run({}, "16:00").empty());
  }
}

std::string DeriveError(const ops::JoinConfig& c, StreamSchema l, StreamSchema r) {
  auto spec = ops::MakeJoinSpec(c);
  StreamSchema ins[] = {std::move(l), std::move(r)};
  auto res = spec->DeriveSchema(ins);
  return res.ok() ? "" : res.status().message();
}

TEST(JoinTest, WhatTheConfigAsksOfTheInputsIsCheckedAtStart) {
  auto c = Config(ops::JoinType::kInner, false);
  EXPECT_EQ(DeriveError(c, SideSchema(0, false), SideSchema(1, false)), "");
  // A key one side lacks.
  StreamSchema geo = SideSchema(1, false);
  geo.schema = Schema({{"id", TypeId::kInt64}, {"ts", TypeId::kTimestamp}});
  EXPECT_NE(DeriveError(c, SideSchema(0, false), geo)
                .find("join key of the right input 'geo': column 'ind' does not exist"),
            std::string::npos);
  // Key types that differ.
  geo.schema = Schema({{"ind", TypeId::kString}, {"ts", TypeId::kTimestamp}});
  EXPECT_NE(DeriveError(c, SideSchema(0, false), geo)
                .find("key types differ: pin.ind is int64, geo.ind is string"),
            std::string::npos);
  // A range condition on a column that is no timestamp.
  auto ranged = Config(ops::JoinType::kInner, true);
  geo.schema = Schema({{"ind", TypeId::kInt64}, {"ts", TypeId::kString}});
  EXPECT_NE(DeriveError(ranged, SideSchema(0, false), geo)
                .find("join time_range on input 'geo': column 'ts' is string, not timestamp"),
            std::string::npos);
  // Left outer: a time range and the right's watermark on its range column, as Spark requires.
  EXPECT_NE(DeriveError(Config(ops::JoinType::kLeftOuter, false), SideSchema(0, true),
                        SideSchema(1, true))
                .find("a left_outer join needs a time_range"),
            std::string::npos);
  EXPECT_NE(DeriveError(Config(ops::JoinType::kLeftOuter, true), SideSchema(0, true),
                        SideSchema(1, false))
                .find("needs a watermark on the right input 'geo'"),
            std::string::npos);
  EXPECT_EQ(DeriveError(Config(ops::JoinType::kLeftOuter, true), SideSchema(0, false),
                        SideSchema(1, true)),
            "");
  // Output names: geo's ts renamed; a left column already called geo_ts makes that collide.
  auto spec = ops::MakeJoinSpec(c);
  StreamSchema ins[] = {SideSchema(0, true), SideSchema(1, false)};
  auto out = spec->DeriveSchema(ins);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->schema.ToString(),
            "ind: int64, ts: timestamp, title: string, geo_ts: timestamp, country: string");
  // No time range: nothing bounds how far behind the watermark a buffered left row's time is,
  // so the output carries no watermark (with one: ChainedLeftOuterJoins...).
  EXPECT_EQ(out->watermark_column, "");
  EXPECT_EQ(out->changes, ChangeKind::kInsertOnly);
  StreamSchema pin = SideSchema(0, false);
  pin.schema.AddField({"geo_ts", TypeId::kTimestamp});
  EXPECT_NE(DeriveError(c, pin, SideSchema(1, false)).find("renamed form 'geo_ts'"),
            std::string::npos);
  // Retractions in: changes out.
  ins[1].changes = ChangeKind::kChanges;
  EXPECT_EQ(spec->DeriveSchema(ins)->changes, ChangeKind::kChanges);
}

std::string ParseError(const std::string& yaml) {
  try {
    ops::JoinFromConfig(ConfigNode::LoadString(yaml));
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

TEST(JoinTest, ConfigReadsLikeSparksJoinAndErrorsNameTheLine) {
  EXPECT_EQ(ParseError("left: pin\nright: geo\non: ind\n"), "");
  EXPECT_EQ(ParseError("left: pin\nright: geo\non: [ind, 'pin.x = geo.y']\nhow: left_outer\n"
                       "time_range: geo.ts BETWEEN pin.ts - 1h AND pin.ts + 30m\nttl: 1d\n"),
            "");
  // Either side first; left/right as qualifiers.
  auto spec = ops::JoinFromConfig(
      ConfigNode::LoadString("left: pin\nright: geo\non: pin.ind = geo.ind AND left.a = right.b\n"
                             "time_range: pin.ts BETWEEN geo.ts - 1h AND geo.ts + 30m\n"));
  EXPECT_EQ(spec->KeyColumnsOf(0), (std::vector<std::string>{"ind", "a"}));
  EXPECT_EQ(spec->KeyColumnsOf(1), (std::vector<std::string>{"ind", "b"}));
  EXPECT_EQ(spec->ConsumedInputs(), (std::vector<std::string>{"pin", "geo"}));
  // pin.ts ∈ [geo.ts − 1h, geo.ts + 30m] ⇔ geo.ts ∈ [pin.ts − 30m, pin.ts + 1h].
  EXPECT_NE(spec->StateFingerprint().find("range=ts:ts:-1800000000:3600000000"), std::string::npos)
      << spec->StateFingerprint();
  // State kept in one bucket per key: a checkpoint written with a bucket per side (no such
  // word) has another fingerprint, so the query is refused rather than misreads it.
  EXPECT_NE(spec->StateFingerprint().find(" buckets=joint"), std::string::npos);

  EXPECT_NE(ParseError("left: pin\nright: geo\non: ind\nhow: sideways\n")
                .find(":4:6: how: unknown join type 'sideways' (inner, left_outer)"),
            std::string::npos)
      << ParseError("left: pin\nright: geo\non: ind\nhow: sideways\n");
  EXPECT_NE(ParseError("left: pin\nright: geo\non: ind\nhow: right_outer\n").find("swap left"),
            std::string::npos);
  EXPECT_NE(ParseError("left: pin\nright: geo\non: usr.ind = geo.ind\n")
                .find(":3:5: on: 'usr' is neither input 'pin' nor 'geo'"),
            std::string::npos)
      << ParseError("left: pin\nright: geo\non: usr.ind = geo.ind\n");
  EXPECT_NE(ParseError("left: pin\nright: geo\non: pin.ind = pin.x\n").find("between the two"),
            std::string::npos);
  EXPECT_NE(ParseError("left: pin\nright: geo\non: ind\ntime_range: geo.ts > pin.ts\n")
                .find(":4:13: time_range: a time_range reads"),
            std::string::npos)
      << ParseError("left: pin\nright: geo\non: ind\ntime_range: geo.ts > pin.ts\n");
  EXPECT_NE(ParseError("left: pin\nright: geo\non: ind\n"
                       "time_range: geo.ts BETWEEN pin.ts + 1h AND pin.ts - 1h\n")
                .find("the range is empty"),
            std::string::npos);
  EXPECT_NE(ParseError("left: pin\nright: geo\non: ind\n"
                       "time_range: geo.ts BETWEEN pin.ts - 1h AND pin.t2 + 1h\n")
                .find("both bounds must be on one column"),
            std::string::npos);
  EXPECT_NE(ParseError("left: pin\nright: geo\non: ind\n"
                       "time_range: geo.ts BETWEEN pin.ts - 1x AND pin.ts + 1h\n")
                .find("'1x'"),
            std::string::npos);
  EXPECT_NE(ParseError("left: pin\nright: pin\non: ind\n").find("two different inputs"),
            std::string::npos);
  EXPECT_NE(ParseError("left: pin\nright: geo\non: ind\nttl: 0s\n").find("ttl must be > 0"),
            std::string::npos);
}

}  // namespace
}  // namespace pinstream
