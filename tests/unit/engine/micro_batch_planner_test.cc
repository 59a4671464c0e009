#include "engine/micro_batch_planner.h"

#include <gtest/gtest.h>

#include "engine/operator.h"
#include "engine/watermark.h"
#include "tests/testing/fake_connectors.h"

namespace pinstream {
namespace {

using testing::FakeSource;

class PlannerTest : public ::testing::Test {
 protected:
  PlannerTest() : data_(std::make_shared<FakeSource::Data>()), src_(data_) {}
  void Fill(const std::string& p, int n) {
    for (int i = 0; i < n; ++i) FakeSource::Append(*data_, p, "r");
  }
  std::shared_ptr<FakeSource::Data> data_;
  FakeSource src_;
};

TEST_F(PlannerTest, PlansFromCommittedEndsToLatest) {
  Fill("0", 10);
  Fill("1", 4);
  MicroBatchPlanner planner({{"s", &src_}}, 0);
  std::map<std::string, PartitionOffsets> committed{{"s", {{"0", 3}}}};
  auto plan = planner.PlanNext(5, 1000, committed, nullptr, true);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->ranges.size(), 2u);
  EXPECT_EQ(plan->ranges[0].range.start, 3);
  EXPECT_EQ(plan->ranges[0].range.end, 10);
  EXPECT_EQ(plan->offsets.sources["s"]["0"], 10);
  EXPECT_EQ(plan->offsets.sources["s"]["1"], 4);
  // Partition 1 is new: its start is recorded so a replay reads the same range.
  EXPECT_EQ(plan->offsets.new_partition_starts["s"]["1"], 0);
  EXPECT_EQ(plan->offsets.new_partition_starts["s"].count("0"), 0u);
}

TEST_F(PlannerTest, CapIsSharedInProportionToBacklog) {
  Fill("0", 900);
  Fill("1", 100);
  MicroBatchPlanner planner({{"s", &src_}}, 100);
  auto plan = planner.PlanNext(0, 0, {}, nullptr, true);
  ASSERT_TRUE(plan.ok());
  std::int64_t total = 0;
  for (const auto& r : plan->ranges) total += r.range.end - r.range.start;
  EXPECT_EQ(total, 100);
  EXPECT_EQ(plan->offsets.sources["s"]["0"], 90);
  EXPECT_EQ(plan->offsets.sources["s"]["1"], 10);
  EXPECT_EQ(plan->backlog_records, 900);
  // Without the cap (Trigger.Once) everything is planned.
  auto once = planner.PlanNext(0, 0, {}, nullptr, false);
  EXPECT_EQ(once->offsets.sources["s"]["0"], 900);
}

TEST_F(PlannerTest, BoundStopsAtTheAvailableNowTarget) {
  Fill("0", 10);
  MicroBatchPlanner planner({{"s", &src_}}, 0);
  std::map<std::string, PartitionOffsets> bound{{"s", {{"0", 6}}}};
  Fill("1", 5);  // arrives after the target was taken: not read
  auto plan = planner.PlanNext(0, 0, {}, &bound, true);
  ASSERT_EQ(plan->ranges.size(), 1u);
  EXPECT_EQ(plan->ranges[0].range.end, 6);
  EXPECT_EQ(plan->offsets.sources["s"].count("1"), 0u);
}

TEST_F(PlannerTest, NothingNewGivesAnEmptyPlan) {
  Fill("0", 5);
  MicroBatchPlanner planner({{"s", &src_}}, 0);
  std::map<std::string, PartitionOffsets> committed{{"s", {{"0", 5}}}};
  EXPECT_TRUE(planner.PlanNext(1, 0, committed, nullptr, true)->empty());
}

TEST_F(PlannerTest, SourceGoingBackwardsIsDataLossNotASilentSkip) {
  Fill("0", 5);
  MicroBatchPlanner planner({{"s", &src_}}, 0);
  std::map<std::string, PartitionOffsets> committed{{"s", {{"0", 9}}}};
  auto plan = planner.PlanNext(1, 0, committed, nullptr, true);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kDataLoss);
}

TEST_F(PlannerTest, ReplayReadsExactlyTheLoggedRange) {
  Fill("0", 20);
  MicroBatchPlanner planner({{"s", &src_}}, 0);
  OffsetLogEntry prev;
  prev.batch_id = 3;
  prev.sources["s"]["0"] = 7;
  OffsetLogEntry cur;
  cur.batch_id = 4;
  cur.sources["s"]["0"] = 12;
  cur.sources["s"]["1"] = 2;
  cur.new_partition_starts["s"]["1"] = 0;
  auto plan = planner.PlanFromLog(cur, &prev);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->ranges.size(), 2u);
  EXPECT_EQ(plan->ranges[0].range.start, 7);
  EXPECT_EQ(plan->ranges[0].range.end, 12);
  EXPECT_EQ(plan->ranges[1].range.partition, "1");
  EXPECT_EQ(plan->ranges[1].range.end, 2);
}

// A source that resumes partition "0" elsewhere (a consumer group's committed offset).
class ResumingSource : public FakeSource {
 public:
  using FakeSource::FakeSource;
  Result<std::optional<std::int64_t>> ResumeOffset(const std::string& partition,
                                                   std::int64_t committed_end) override {
    if (partition == "0" && resume >= 0)
      return std::optional<std::int64_t>(std::max(resume, committed_end));
    return std::optional<std::int64_t>();
  }
  std::int64_t resume = -1;
};

TEST_F(PlannerTest, AMovedStartIsPlannedRecordedAndReplayed) {
  Fill("0", 20);
  Fill("1", 5);
  ResumingSource src(data_);
  src.resume = 15;
  MicroBatchPlanner planner({{"s", &src}}, 0);
  std::map<std::string, PartitionOffsets> committed{{"s", {{"0", 7}, {"1", 5}}}};
  auto plan = planner.PlanNext(4, 1000, committed, nullptr, true);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->ranges.size(), 1u);
  EXPECT_EQ(plan->ranges[0].range.start, 15);
  EXPECT_EQ(plan->ranges[0].range.end, 20);
  EXPECT_EQ(plan->offsets.new_partition_starts["s"]["0"], 15);
  // The replay of the logged batch starts at the moved start, not at the previous end.
  OffsetLogEntry prev;
  prev.batch_id = 3;
  prev.sources["s"] = {{"0", 7}, {"1", 5}};
  auto replay = planner.PlanFromLog(plan->offsets, &prev);
  ASSERT_TRUE(replay.ok());
  ASSERT_EQ(replay->ranges.size(), 1u);
  EXPECT_EQ(replay->ranges[0].range.start, 15);
  // Moved past everything there is: nothing to read, but the end moves and stays recorded.
  src.resume = 20;
  auto empty = planner.PlanNext(5, 1000, committed, nullptr, true);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->ranges.empty());
  EXPECT_EQ(empty->offsets.sources["s"]["0"], 20);
  EXPECT_EQ(empty->offsets.new_partition_starts["s"]["0"], 20);
}

TEST(OffsetLogTest, SerializesLikeSparkAndRoundTrips) {
  OffsetLogEntry e;
  e.batch_id = 7;
  e.batch_timestamp_ms = 1700000000123;
  e.sources["pin"]["0"] = 41;
  e.sources["pin"]["1"] = 17;
  e.new_partition_starts["pin"]["1"] = 3;
  std::string text = e.Serialize();
  EXPECT_EQ(text.substr(0, 3), "v1\n");
  auto back = OffsetLogEntry::Parse(7, text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->batch_timestamp_ms, e.batch_timestamp_ms);
  EXPECT_EQ(back->sources, e.sources);
  EXPECT_EQ(back->new_partition_starts, e.new_partition_starts);
}

TEST(OffsetLogTest, TruncatedOrCorruptEntriesAreCorruptionErrors) {
  OffsetLogEntry e;
  e.sources["pin"]["0"] = 41;
  std::string text = e.Serialize();
  for (std::string bad : {std::string(""), text.substr(0, text.size() / 2), std::string("v2\n{}"),
                          std::string("v1\n{\"batchTimestampMs\":1}\n{\"pin\":{\"0\":\"x\"}}")}) {
    auto r = OffsetLogEntry::Parse(1, bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  }
}

TEST(QueryMetadataTest, IncompatibleChangesNameTheChange) {
  QueryMetadata a, b;
  a.name = b.name = "pin";
  a.sources = {"pin_topic:http:pin"};
  b.sources = {"pin_topic:http:pin", "pin_stream:http:streaming-pin"};
  Status st = CheckMetadataCompatible(a, b);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("sources changed"), std::string::npos);
  b.sources = a.sources;
  a.stateful_operators = {"3:dedup:keys=unique_id"};
  b.stateful_operators = {"3:dedup:keys=index"};
  st = CheckMetadataCompatible(a, b);
  EXPECT_NE(st.message().find("stateful operators changed"), std::string::npos);
  EXPECT_NE(st.message().find("keys=unique_id"), std::string::npos);
  b.stateful_operators = a.stateful_operators;
  EXPECT_TRUE(CheckMetadataCompatible(a, b).ok());
  // Which source feeds which named input is what the tags of stored rows mean.
  a.inputs = {"pin=pin_topic", "geo=geo_topic"};
  b.inputs = {"pin=geo_topic", "geo=pin_topic"};
  st = CheckMetadataCompatible(a, b);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("inputs changed"), std::string::npos) << st.message();
  auto back = QueryMetadata::Parse(a.Serialize());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->inputs, a.inputs);
}

TEST(OffsetLogTest, TheBatchWatermarkAndItsInputValuesRoundTrip) {
  OffsetLogEntry e;
  e.batch_id = 3;
  e.batch_timestamp_ms = 1700000000000;
  e.batch_watermark_us = 1'600'000'000'123'456;
  e.input_watermarks_us = {{"pin", 1'600'000'000'123'456}, {"geo", 1'600'000'100'000'000}};
  e.sources["s"]["0"] = 5;
  auto back = OffsetLogEntry::Parse(3, e.Serialize());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->batch_watermark_us, e.batch_watermark_us);
  EXPECT_EQ(back->input_watermarks_us, e.input_watermarks_us);
  EXPECT_NE(e.Serialize().find("\"batchWatermarkMs\":1600000000123"), std::string::npos);
  OffsetLogEntry none;
  EXPECT_EQ(OffsetLogEntry::Parse(0, none.Serialize())->batch_watermark_us, kNoWatermark);
  CommitLogEntry c;
  c.event_time_max_us = {{"pin", 42}};
  c.event_time_floor_us = {{"pin_geo", -7}};
  EXPECT_EQ(CommitLogEntry::Parse(0, c.Serialize())->event_time_max_us, c.event_time_max_us);
  EXPECT_EQ(CommitLogEntry::Parse(0, c.Serialize())->event_time_floor_us, c.event_time_floor_us);
}

// An input reading a table whose writer bounds its event times (a join's output, emitted up to
// its lag behind the writer's watermark) is capped by that bound: min(max − delay, floor).
TEST(WatermarkTrackerTest, AnInputsFloorCapsItsTermSoRowsItsWriterEmittedLateAreNotLate) {
  WatermarkTracker t({{"pin_geo", true, 0}, {"user", true, 60}});
  t.Observe(0, [] {
    EventTimeStats s;
    s.Add(10'000);
    return s;
  }());
  t.Observe(1, [] {
    EventTimeStats s;
    s.Add(20'000);
    return s;
  }());
  t.SetFloor("pin_geo", 4'000);  // the writer: rows from here on are >= 4000
  ASSERT_TRUE(t.Advance());
  EXPECT_EQ(t.watermark(), 4'000);  // not 10000 (pin_geo's max − 0)
  EXPECT_EQ(t.InputWatermarks().at("pin_geo"), 4'000);
  EXPECT_EQ(t.InputWatermarks().at("user"), 19'940);
  // The writer's watermark moved on: so does the cap; it never moves the watermark back.
  t.SetFloor("pin_geo", 9'000);
  EXPECT_TRUE(t.Advance());
  EXPECT_EQ(t.watermark(), 9'000);
  t.SetFloor("pin_geo", 1'000);
  EXPECT_FALSE(t.Advance());
  EXPECT_EQ(t.watermark(), 9'000);
  // No bound: the input's own term.
  t.SetFloor("pin_geo", std::nullopt);
  EXPECT_TRUE(t.Advance());
  EXPECT_EQ(t.watermark(), 10'000);
  // An input without rows yet whose source bounds the rows to come holds the others back.
  WatermarkTracker e({{"pin_geo", true, 0}, {"user", true, 60}});
  e.Observe(1, [] {
    EventTimeStats s;
    s.Add(20'000);
    return s;
  }());
  e.SetFloor("pin_geo", INT64_MIN);  // its table is not written yet
  EXPECT_FALSE(e.Advance());
  e.SetFloor("pin_geo", std::nullopt);
  EXPECT_TRUE(e.Advance());
  EXPECT_EQ(e.watermark(), 19'940);
  // A restart restores the floors with the maxima.
  WatermarkTracker r({{"pin_geo", true, 0}, {"user", true, 60}});
  r.Restore(3'000, {{"pin_geo", 10'000}, {"user", 20'000}}, {{"pin_geo", 5'000}});
  ASSERT_TRUE(r.Advance());
  EXPECT_EQ(r.watermark(), 5'000);
  EXPECT_EQ(r.floors().at("pin_geo"), 5'000);
}

}  // namespace
}  // namespace pinstream
