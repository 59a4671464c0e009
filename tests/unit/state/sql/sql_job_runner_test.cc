#include "state/sql/sql_job_runner.h"

#include <gtest/gtest.h>

#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/sql/sql_session.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::state::sql {
namespace {

using pinstream::testing::ColumnStrings;
using pinstream::testing::TempDir;

class SqlJobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.data_dir = dir_.path() + "/data";
    store_ = std::move(Store::Open(o)).value();
    AddRows(0, 6);
  }
  void AddRows(int from, int to) {
    RecordBatch b;
    Column ind(TypeId::kInt64), cat(TypeId::kString);
    for (int i = from; i < to; ++i) {
      b.row_ids().push_back(static_cast<RowId>(i - from));
      ind.AppendInt(i);
      cat.AppendString(i % 2 ? "art" : "travel");
    }
    b.AddColumn("ind", std::move(ind));
    b.AddColumn("category", std::move(cat));
    DeltaTable* t = *store_->Table("pin", true);
    auto txn = store_->BeginTxn();
    ASSERT_TRUE(t->StageWrite(*txn, b, WriteOptions{}).ok());
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  }
  JobConfig Job(const std::string& sql) {
    dir_.Write("q.sql", sql);
    JobConfig j;
    j.name = "daily";
    j.queries.push_back(JobQueryConfig{dir_.File("q.sql"), "q_result"});
    return j;
  }
  JobRun NewRun() {
    JobRun r;
    r.job = "daily";
    r.run_id = "manual__x";
    r.trigger = "manual";
    r.started_us = r.scheduled_us = NowMicros();
    return r;
  }
  std::vector<std::string> Sql(const std::string& q, const std::string& col) {
    auto s = std::move(SqlSession::Open(store_.get())).value();
    auto r = s->Query(q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? ColumnStrings(r->rows, col) : std::vector<std::string>{};
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqlJobRunnerTest, EachRunIsANewVersionOfTheResultTableWithItsHistoryRow) {
  SqlJobRunner runner(store_.get());
  JobConfig job = Job(
      "-- counts\nSELECT category, count(*) AS n FROM pin GROUP BY category ORDER BY category;");
  JobRun run = NewRun();
  ASSERT_TRUE(runner.Execute(job, &run).ok());
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_EQ(run.results[0].table, "q_result");
  EXPECT_EQ(run.results[0].version, 0);
  EXPECT_EQ(run.results[0].rows, 2);
  AddRows(6, 9);
  JobRun second = NewRun();
  ASSERT_TRUE(runner.Execute(job, &second).ok());
  EXPECT_EQ(second.results[0].version, 1);
  // Latest = this run's result only (overwrite); time travel = the earlier run.
  EXPECT_EQ(Sql("SELECT n FROM q_result ORDER BY category", "n"),
            (std::vector<std::string>{"4", "5"}));
  EXPECT_EQ(Sql("SELECT n FROM q_result_at(0) ORDER BY category", "n"),
            (std::vector<std::string>{"3", "3"}));
  EXPECT_EQ(Sql("SELECT status FROM job_runs", "status"),
            (std::vector<std::string>{"succeeded", "succeeded"}));
  EXPECT_EQ(
      Sql("SELECT json_extract(results, '$[0].version') AS v FROM job_runs ORDER BY start_time",
          "v"),
      (std::vector<std::string>{"0", "1"}));
}

TEST_F(SqlJobRunnerTest, SeveralStatementsWriteLetteredTablesInOneCommit) {
  SqlJobRunner runner(store_.get());
  JobRun run = NewRun();
  ASSERT_TRUE(
      runner.Execute(Job("SELECT count(*) AS n FROM pin;\nSELECT max(ind) AS m FROM pin;"), &run)
          .ok());
  ASSERT_EQ(run.results.size(), 2u);
  EXPECT_EQ(run.results[0].table, "q_result_a");
  EXPECT_EQ(run.results[1].table, "q_result_b");
  EXPECT_EQ(Sql("SELECT m FROM q_result_b", "m"), std::vector<std::string>{"5"});
}

TEST_F(SqlJobRunnerTest, AFailingQueryCommitsNothingAndRecordIsItsHistory) {
  SqlJobRunner runner(store_.get());
  JobRun run = NewRun();
  Status st = runner.Execute(Job("SELECT 1 AS one;\nSELECT * FROM missing_table;"), &run);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no such table: missing_table"), std::string::npos);
  EXPECT_NE(st.message().find("q.sql"), std::string::npos);
  EXPECT_EQ(store_->Table("q_result_a", false).status().code(), StatusCode::kNotFound);
  run.status = "failed";
  run.error = st.ToString();
  run.finished_us = NowMicros();
  ASSERT_TRUE(runner.Record(run).ok());
  EXPECT_EQ(Sql("SELECT status FROM job_runs", "status"), std::vector<std::string>{"failed"});
  EXPECT_NE(Sql("SELECT error FROM job_runs", "error")[0].find("missing_table"), std::string::npos);
}

TEST_F(SqlJobRunnerTest, ResultTypesStayStableAcrossRuns) {
  SqlJobRunner runner(store_.get());
  JobRun first = NewRun();
  ASSERT_TRUE(runner.Execute(Job("SELECT 1.5 AS x, 'a' AS y;"), &first).ok());
  // Next day the column is all null / integral: it still fits the table's double and text.
  JobRun second = NewRun();
  ASSERT_TRUE(runner.Execute(Job("SELECT 2 AS x, NULL AS y;"), &second).ok());
  EXPECT_EQ(Sql("SELECT typeof(x) AS t FROM q_result", "t"), std::vector<std::string>{"real"});
}

TEST_F(SqlJobRunnerTest, CancelStopsFurtherRuns) {
  SqlJobRunner runner(store_.get());
  runner.Cancel();
  JobRun run = NewRun();
  Status st = runner.Execute(Job("SELECT 1;"), &run);
  EXPECT_EQ(st.code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace pinstream::state::sql
