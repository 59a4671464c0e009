// The delta sink (kind: delta) over a store: a version per batch with the batch's txn, in the
// batch's transaction; the encode-ahead path (Prepare) gives the same version; replays refused.
#include "connectors/sinks/delta_sink.h"

#include <gtest/gtest.h>

#include "state/delta_table.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::connectors {
namespace {

using pinstream::testing::IdNameRows;

class DeltaSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state::StoreOptions o;
    o.data_dir = dir_.path();
    store_ = std::move(state::Store::Open(o)).value();
    env_.store = store_.get();
  }
  std::unique_ptr<Sink> Open(const std::string& table, std::int64_t epoch = 0) {
    auto spec = ParseDeltaSink(ConfigNode::LoadString("table: " + table, "sink.yaml"), &env_);
    EXPECT_EQ(spec->TableName(), table);
    auto sink = std::move(spec->Create(SinkCreateContext{"q"})).value();
    EXPECT_TRUE(sink->Open(SinkContext{"q", "query-id", epoch}).ok());
    return sink;
  }
  // Stages batch `id` (directly, or through Prepare) into a transaction and commits it.
  Status Write(Sink& sink, std::int64_t id, std::vector<RecordBatch> out, bool prepare) {
    auto txn = store_->BeginTxn(id);
    Status st;
    if (prepare) {
      auto prepared = sink.Prepare(id, out);
      if (!prepared.ok()) return prepared.status();
      st = sink.StagePrepared(id, out, std::move(prepared).value(), *txn);
    } else {
      st = sink.Stage(id, out, *txn);
    }
    if (!st.ok()) return st;
    return store_->Commit(std::move(txn));
  }
  pinstream::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  ConnectorEnv env_;
};

TEST_F(DeltaSinkTest, EachBatchIsOneVersionCarryingTheBatchsTxn) {
  for (bool prepare : {false, true}) {
    std::string table = prepare ? "prepared" : "staged";
    auto sink = Open(table);
    ASSERT_TRUE(Write(*sink, 0, {IdNameRows(0, 3), IdNameRows(3, 5)}, prepare).ok());
    ASSERT_TRUE(Write(*sink, 1, {IdNameRows(5, 6)}, prepare).ok());
    state::DeltaTable* t = *store_->Table(table, false);
    EXPECT_EQ(t->latest_version(), 1) << table;
    EXPECT_EQ(t->num_rows(), 6) << table;
    auto history = t->History();
    ASSERT_TRUE(history.ok());
    EXPECT_EQ((*history)[0].batch_id, 1);
    EXPECT_EQ((*history)[0].app_id, "query-id");
    EXPECT_EQ((*history)[0].query_name, "q");
    EXPECT_EQ((*history)[0].operation, "STREAMING UPDATE");
    EXPECT_EQ(t->LastTxn("query-id"), (std::make_pair<std::int64_t, std::int64_t>(0, 1)));
  }
}

TEST_F(DeltaSinkTest, ABatchWithoutRowsAddsNoVersion) {
  auto sink = Open("t");
  ASSERT_TRUE(Write(*sink, 0, {IdNameRows(0, 2)}, false).ok());
  ASSERT_TRUE(Write(*sink, 1, {}, false).ok());
  ASSERT_TRUE(Write(*sink, 2, {RecordBatch()}, true).ok());
  EXPECT_EQ((*store_->Table("t", false))->latest_version(), 0);
}

TEST_F(DeltaSinkTest, ABatchAlreadyCommittedIsRefusedUntilARewindBumpsTheEpoch) {
  auto sink = Open("t");
  ASSERT_TRUE(Write(*sink, 0, {IdNameRows(0, 2)}, false).ok());
  Status again = Write(*sink, 0, {IdNameRows(0, 2)}, true);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.ToString();
  EXPECT_EQ((*store_->Table("t", false))->num_rows(), 2);
  auto rewound = Open("t", /*epoch=*/1);  // `checkpoint rewind` replays batch 0 as a new version
  ASSERT_TRUE(Write(*rewound, 0, {IdNameRows(0, 2)}, false).ok());
  EXPECT_EQ((*store_->Table("t", false))->latest_version(), 1);
}

TEST_F(DeltaSinkTest, AnInvalidTableNameIsAConfigErrorWithItsLocation) {
  try {
    ParseDeltaSink(ConfigNode::LoadString("table: 'no/slash'", "sink.yaml"), &env_);
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("sink.yaml:1:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("invalid table name"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pinstream::connectors
