// The delta source (kind: delta): a table read as a stream — the versions after the checkpointed
// position, split across batches by the caps, changes commits as weighted rows (or skipped), the
// starting version, the missing-table error, the hold VACUUM keeps, and a chain through the delta
// sink that ends with the same rows as its source table.
#include "connectors/table/delta_source.h"

#include <gtest/gtest.h>

#include "connectors/sinks/delta_sink.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::connectors {
namespace {

using pinstream::testing::StringBatch;

class DeltaSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state::StoreOptions o;
    o.data_dir = dir_.path();
    store_ = std::move(state::Store::Open(o)).value();
    env_.store = store_.get();
  }
  state::DeltaTable* Table(const std::string& name = "t") {
    return *store_->Table(name, /*create=*/true);
  }
  void Append(const RecordBatch& rows, const std::string& table = "t") {
    auto txn = store_->BeginTxn();
    ASSERT_TRUE(Table(table)->StageWrite(*txn, rows, {}).ok());
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  }
  void Changes(RecordBatch rows, std::vector<std::int64_t> weights) {
    rows.SetWeights(std::move(weights));
    auto txn = store_->BeginTxn();
    ASSERT_TRUE(
        Table()->StageChanges(*txn, std::span<const RecordBatch>(&rows, 1), {"id"}, {}).ok());
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  }
  static RecordBatch Ids(int from, int to) {
    std::vector<std::vector<std::string>> rows;
    for (int i = from; i < to; ++i) rows.push_back({std::to_string(i), "n" + std::to_string(i)});
    return StringBatch({"id", "name"}, rows);
  }
  std::shared_ptr<const SourceSpec> Spec(const std::string& yaml) {
    return ParseDeltaSource(ConfigNode::LoadString(yaml, "source.yaml"), &env_);
  }
  std::unique_ptr<Source> Create(const std::string& yaml, bool written_here = false) {
    SourceCreateContext ctx{"src", "q"};
    ctx.table_written_by_config = written_here;
    return std::move(Spec(yaml)->Create(ctx)).value();
  }
  // Reads [start, end) of partition `part`: "<weight><id>" per row, and checks the offsets.
  static std::vector<std::string> Read(Source& s, const std::string& part, std::int64_t start,
                                       std::int64_t end) {
    std::vector<std::string> out;
    Status st = s.Read(ReadRange{part, start, end}, 2, [&](SourceChunk&& c) {
      EXPECT_EQ(c.offsets.size(), c.batch.num_rows());
      EXPECT_LE(c.batch.num_rows(), 2u);
      auto ids = testing::ColumnStrings(c.batch, "id");
      for (std::size_t i = 0; i < ids.size(); ++i) {
        EXPECT_GE(c.offsets[i], start);
        EXPECT_LT(c.offsets[i], end);
        out.push_back((c.batch.weight(i) > 0 ? "+" : "-") + ids[i]);
      }
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  static std::string ConfigErrorOf(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  }

  pinstream::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  ConnectorEnv env_;
};

TEST_F(DeltaSourceTest, ReadsTheVersionsAfterTheCommittedPosition) {
  Append(Ids(0, 3));
  Append(Ids(3, 5));
  auto s = Create("table: t");
  ASSERT_TRUE(s->Open().ok());
  auto latest = s->LatestOffsets({}, true);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, (PartitionOffsets{{"t", DeltaOffset(2, 0)}}));
  EXPECT_EQ(*s->InitialOffset("t"), 0);
  EXPECT_EQ(Read(*s, "t", 0, DeltaOffset(2, 0)),
            (std::vector<std::string>{"+0", "+1", "+2", "+3", "+4"}));
  // Nothing new: the same end; a new version: only its rows.
  EXPECT_EQ(s->LatestOffsets({{"t", DeltaOffset(2, 0)}}, true)->at("t"), DeltaOffset(2, 0));
  Append(Ids(5, 6));
  EXPECT_EQ(s->LatestOffsets({{"t", DeltaOffset(2, 0)}}, true)->at("t"), DeltaOffset(3, 0));
  EXPECT_EQ(Read(*s, "t", DeltaOffset(2, 0), DeltaOffset(3, 0)), (std::vector<std::string>{"+5"}));
  EXPECT_FALSE(s->OffsetsCountRecords());
  EXPECT_EQ(s->DescribePosition("t", DeltaOffset(2, 1)), "t version 2 change row 1");
}

TEST_F(DeltaSourceTest, MaxRecordsPerTriggerSplitsAVersionAcrossBatches) {
  Append(Ids(0, 3));
  Append(Ids(3, 5));
  auto s = Create("{table: t, max_records_per_trigger: 2}");
  ASSERT_TRUE(s->Open().ok());
  std::vector<std::string> all;
  PartitionOffsets committed;
  std::vector<std::int64_t> ends;
  for (int batch = 0; batch < 5; ++batch) {
    auto latest = s->LatestOffsets(committed, /*apply_limits=*/true);
    ASSERT_TRUE(latest.ok());
    std::int64_t start = committed.count("t") ? committed["t"] : *s->InitialOffset("t");
    std::int64_t end = latest->at("t");
    if (end == start) break;
    ends.push_back(end);
    for (auto& r : Read(*s, "t", start, end)) all.push_back(r);
    committed["t"] = end;
  }
  // 2 rows a batch: version 0 ends in the second batch, version 1 in the third.
  EXPECT_EQ(ends,
            (std::vector<std::int64_t>{DeltaOffset(0, 2), DeltaOffset(1, 1), DeltaOffset(2, 0)}));
  EXPECT_EQ(all, (std::vector<std::string>{"+0", "+1", "+2", "+3", "+4"}));
  // Without its own cap, the query's cap (LimitRange) splits the same way.
  auto u = Create("table: t");
  ASSERT_TRUE(u->Open().ok());
  auto lim = u->LimitRange("t", DeltaOffset(0, 2), DeltaOffset(2, 0), 2);
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(lim->end, DeltaOffset(1, 1));
  EXPECT_EQ(lim->records, 2);
  lim = u->LimitRange("t", DeltaOffset(0, 0), DeltaOffset(2, 0), 100);
  EXPECT_EQ(lim->end, DeltaOffset(2, 0));
  EXPECT_EQ(lim->records, 5);
}

TEST_F(DeltaSourceTest, ChangesCommitsArriveAsWeightedRowsUnlessSkipped) {
  Append(Ids(0, 3));
  Changes(StringBatch({"id", "name"}, {{"1", "n1"}, {"7", "n7"}}), {-1, +1});
  Append(Ids(8, 9));
  auto s = Create("table: t");
  ASSERT_TRUE(s->Open().ok());
  EXPECT_EQ(Read(*s, "t", 0, DeltaOffset(3, 0)),
            (std::vector<std::string>{"+0", "+1", "+2", "-1", "+7", "+8"}));
  // The table has had changes commits: its stream is declared as changes.
  EXPECT_EQ(Spec("table: t")->DeclaredSchema().changes, ChangeKind::kChanges);
  EXPECT_EQ(Spec("table: t")->DeclaredSchema().schema.size(), 2u);
  // skip_change_commits: the version that removed a row is not read at all.
  auto k = Create("{table: t, skip_change_commits: true}");
  ASSERT_TRUE(k->Open().ok());
  EXPECT_EQ(Read(*k, "t", 0, DeltaOffset(3, 0)),
            (std::vector<std::string>{"+0", "+1", "+2", "+8"}));
  EXPECT_EQ(k->LimitRange("t", 0, DeltaOffset(3, 0), 100)->records, 4);
  EXPECT_EQ(Spec("{table: t, skip_change_commits: true}")->DeclaredSchema().changes,
            ChangeKind::kInsertOnly);
}

TEST_F(DeltaSourceTest, StartingVersionLatestOrANumber) {
  Append(Ids(0, 1));
  Append(Ids(1, 2));
  auto latest = Create("{table: t, starting_version: latest}");
  ASSERT_TRUE(latest->Open().ok());
  ASSERT_TRUE(latest->LatestOffsets({}, true).ok());
  EXPECT_EQ(*latest->InitialOffset("t"), DeltaOffset(2, 0));
  Append(Ids(2, 3));
  EXPECT_EQ(*latest->InitialOffset("t"), DeltaOffset(2, 0));  // decided once
  auto one = Create("{table: t, starting_version: 1}");
  ASSERT_TRUE(one->Open().ok());
  ASSERT_TRUE(one->LatestOffsets({}, true).ok());
  EXPECT_EQ(Read(*one, "t", *one->InitialOffset("t"), DeltaOffset(3, 0)),
            (std::vector<std::string>{"+1", "+2"}));
}

TEST_F(DeltaSourceTest, AMissingTableIsRefusedUnlessAQueryOfTheConfigWritesIt) {
  Append(Ids(0, 1), "pin");
  auto s = Create("table: nope");
  Status st = s->Open();
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find("table 'nope'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("no query of this config writes"), std::string::npos);
  EXPECT_NE(st.message().find("tables: pin"), std::string::npos) << st.message();
  // Written by another query of the config: no partition until it has a version.
  auto w = Create("table: later", /*written_here=*/true);
  ASSERT_TRUE(w->Open().ok());
  EXPECT_TRUE(w->LatestOffsets({}, true)->empty());
  Append(Ids(0, 2), "later");
  EXPECT_EQ(w->LatestOffsets({}, true)->at("later"), DeltaOffset(1, 0));
}

TEST_F(DeltaSourceTest, ConfigErrorsNameTheirLocation) {
  EXPECT_NE(ConfigErrorOf([&] {
              Spec("{table: t, starting_version: -3}");
            }).find("source.yaml:1:30: starting_version: must be earliest, latest or a version"),
            std::string::npos)
      << ConfigErrorOf([&] { Spec("{table: t, starting_version: -3}"); });
  EXPECT_NE(ConfigErrorOf([&] { Spec("{table: t, starting_versoin: 3}"); }).find("did you mean"),
            std::string::npos);
  EXPECT_NE(ConfigErrorOf([&] {
              Spec("{table: t, max_records_per_trigger: -1}");
            }).find("max_records_per_trigger: must be 0"),
            std::string::npos);
}

TEST_F(DeltaSourceTest, TheVersionsARunningReaderNeedsAreHeldForVacuum) {
  Append(Ids(0, 1));
  Append(Ids(1, 2));
  Append(Ids(2, 3));
  auto& readers = store_->table_readers();
  {
    auto s = Create("table: t");
    ASSERT_TRUE(s->Open().ok());
    EXPECT_FALSE(readers.OldestHeld("t").has_value());
    // The first planning call holds the recovered (durable) position, and the version before
    // it (a version's deleted rows are read from the one before).
    ASSERT_TRUE(s->LatestOffsets({{"t", DeltaOffset(1, 0)}}, true).ok());
    EXPECT_EQ(readers.OldestHeld("t"), 0);
    s->OnBatchCommitted({{"t", DeltaOffset(2, 0)}});
    EXPECT_EQ(readers.OldestHeld("t"), 1);
    EXPECT_EQ(readers.Holds("t"), (std::map<std::string, std::int64_t>{{"q/src", 1}}));
  }
  EXPECT_FALSE(readers.OldestHeld("t").has_value());  // released with the source
  // A restarted query holds from its recovered position at once (StreamingQuery::Start, before
  // the daemon is ready and table maintenance runs), not only when it first plans.
  auto s = Create("table: t");
  s->OnRecovered({{"t", DeltaOffset(2, 0)}});
  EXPECT_EQ(readers.OldestHeld("t"), 1);
}

state::VacuumOptions RetainNothing() {
  state::VacuumOptions o;
  o.retain_us = 0;
  o.now_us = NowMicros() + 1000;
  return o;
}

// The reader's next version is an overwrite: its deleted rows are those of the version before,
// which VACUUM must keep while the reader stands there.
TEST_F(DeltaSourceTest, VacuumKeepsTheVersionBeforeTheNextOneTheReaderReads) {
  Append(Ids(0, 3));
  auto txn = store_->BeginTxn();
  state::WriteOptions ow;
  ow.overwrite = true;
  ASSERT_TRUE(Table()->StageWrite(*txn, Ids(10, 12), ow).ok());
  ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  Append(Ids(12, 13));
  auto s = Create("table: t");
  ASSERT_TRUE(s->Open().ok());
  ASSERT_TRUE(s->LatestOffsets({{"t", DeltaOffset(1, 0)}}, true).ok());
  auto r = Table()->Vacuum(RetainNothing());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->held_from, 0);
  EXPECT_EQ(Table()->info().oldest_readable, 0);
  EXPECT_EQ(Read(*s, "t", DeltaOffset(1, 0), DeltaOffset(3, 0)),
            (std::vector<std::string>{"-0", "-1", "-2", "+10", "+11", "+12"}));
  // Once the reader has moved past the overwrite, version 0's rows go.
  s->OnBatchCommitted({{"t", DeltaOffset(3, 0)}});
  auto r2 = Table()->Vacuum(RetainNothing());
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  ASSERT_EQ(r2->outcome, state::MaintenanceOutcome::kCommitted) << r2->detail;
  EXPECT_EQ(r2->oldest_readable, 2);
  EXPECT_EQ(r2->chunks_removed, 1);
}

// A reader starting while VACUUM commits (its first hold comes after VACUUM checked the holds)
// is refused with the oldest readable version, never left holding versions VACUUM deletes.
TEST_F(DeltaSourceTest, AReaderStartingWhileVacuumCommitsIsRefusedNotLeftReadingDeletedVersions) {
  Append(Ids(0, 3));
  auto txn = store_->BeginTxn();
  state::WriteOptions ow;
  ow.overwrite = true;
  ASSERT_TRUE(Table()->StageWrite(*txn, Ids(10, 12), ow).ok());
  ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  Append(Ids(12, 13));
  Append(Ids(13, 14));
  auto s = Create("table: t");
  ASSERT_TRUE(s->Open().ok());
  Status during;
  state::VacuumOptions opt = RetainNothing();
  opt.before_commit = [&] {
    during = s->LatestOffsets({{"t", DeltaOffset(1, 0)}}, true).status();
  };
  auto r = Table()->Vacuum(opt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, state::MaintenanceOutcome::kCommitted) << r->detail;
  EXPECT_EQ(r->oldest_readable, 3);
  EXPECT_EQ(during.code(), StatusCode::kOutOfRange) << during.ToString();
  EXPECT_NE(during.message().find("the oldest readable version is 3"), std::string::npos)
      << during.message();
  EXPECT_FALSE(store_->table_readers().OldestHeld("t").has_value());
  // A reader that held first keeps what it needs: VACUUM gives up, then keeps from its hold.
  auto early = Create("table: t");
  ASSERT_TRUE(early->Open().ok());
  Append(Ids(14, 15));  // version 5 (the VACUUM was 4)
  opt = RetainNothing();
  opt.before_commit = [] { ADD_FAILURE() << "VACUUM committed below a hold"; };
  ASSERT_TRUE(early->LatestOffsets({{"t", DeltaOffset(4, 0)}}, true).ok());
  EXPECT_EQ(store_->table_readers().OldestHeld("t"), 3);
  auto kept = Table()->Vacuum(opt);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(Table()->info().oldest_readable, 3);
}

// raw → copy through the source and the delta sink, batch by batch: the copy ends with the same
// rows as the source table, retractions included (applied as a changes commit).
TEST_F(DeltaSourceTest, AChainThroughTheDeltaSinkEndsWithTheSourcesRows) {
  Append(Ids(0, 3));
  auto s = Create("{table: t, max_records_per_trigger: 2}");
  ASSERT_TRUE(s->Open().ok());
  auto sink_spec = ParseDeltaSink(ConfigNode::LoadString("table: copy", "sink.yaml"), &env_);
  auto sink = std::move(sink_spec->Create(SinkCreateContext{"q"})).value();
  ASSERT_TRUE(sink->Open(SinkContext{"q", "qid", 0}).ok());
  PartitionOffsets committed;
  std::int64_t batch = 0;
  auto run = [&] {
    for (;;) {
      std::int64_t end = s->LatestOffsets(committed, true)->at("t");
      std::int64_t start = committed.count("t") ? committed["t"] : *s->InitialOffset("t");
      if (end == start) return;
      std::vector<RecordBatch> out;
      ASSERT_TRUE(s->Read(ReadRange{"t", start, end}, 100, [&](SourceChunk&& c) {
                     out.push_back(std::move(c.batch));
                     return Status::Ok();
                   }).ok());
      auto txn = store_->BeginTxn(batch);
      ASSERT_TRUE(sink->Stage(batch++, out, *txn).ok());
      ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
      committed["t"] = end;
    }
  };
  run();
  Changes(StringBatch({"id", "name"}, {{"1", "n1"}, {"2", "n2"}, {"2", "two"}}), {-1, -1, +1});
  Append(Ids(3, 4));
  run();
  auto ids = [&](const std::string& table) {
    auto rows = (*(*store_->Table(table, false))->Snapshot())->ReadAll();
    auto v = testing::ColumnStrings(*rows, "name");
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(ids("copy"), (std::vector<std::string>{"n0", "n3", "two"}));
  EXPECT_EQ(ids("copy"), ids("t"));
}

}  // namespace
}  // namespace pinstream::connectors
