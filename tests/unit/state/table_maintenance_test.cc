// The daemon's table maintenance: OPTIMIZE by the storage policy and on demand, on a thread of
// its own.
#include "state/table_maintenance.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>

#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::state {
namespace {

using pinstream::testing::TempDir;

class TableMaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = dir_.path() + "/data";
    options_.maintenance.min_small_chunks = 8;
    options_.table_maintenance["frozen"] = options_.maintenance;
    options_.table_maintenance["frozen"].auto_optimize = false;
    store_ = std::move(Store::Open(options_)).value();
  }
  DeltaTable* Table(const std::string& name, int versions) {
    DeltaTable* t = *store_->Table(name, true);
    auto txn = store_->BeginTxn();
    for (int i = 0; i < versions; ++i) {
      EXPECT_TRUE(t->StageWrite(*txn, testing::IdNameRows(i, i + 1), {}).ok());
      EXPECT_TRUE(store_->Write(*txn, false).ok());
    }
    return t;
  }
  TempDir dir_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

TEST_F(TableMaintenanceTest, ThePolicyCompactsTablesWithManySmallChunksOnly) {
  DeltaTable* busy = Table("busy", 20);
  DeltaTable* quiet = Table("quiet", 5);     // fewer small chunks than the policy asks for
  DeltaTable* frozen = Table("frozen", 20);  // auto_optimize off for this table
  TableMaintenance m(store_.get(), options_);
  m.RunPolicyOnce();
  EXPECT_EQ(busy->info().live_chunks, 1);
  EXPECT_EQ(busy->History(1)->front().query_name, "auto compaction");
  EXPECT_EQ(busy->num_rows(), 20);
  EXPECT_EQ(quiet->info().live_chunks, 5);
  EXPECT_EQ(frozen->info().live_chunks, 20);
  EXPECT_EQ(m.counters().optimize_commits, 1);
  m.RunPolicyOnce();  // nothing more to do
  EXPECT_EQ(m.counters().optimize_commits, 1);
  EXPECT_EQ(m.counters().passes, 2);
}

TEST_F(TableMaintenanceTest, OnDemandRequestsRunOnTheMaintenanceThread) {
  Table("t", 30);
  TableMaintenance m(store_.get(), options_);
  ASSERT_TRUE(m.Start().ok());
  EXPECT_TRUE(testing::WaitFor([] {
    auto names = testing::ThreadNames();
    return std::find(names.begin(), names.end(), "table-maint") != names.end();
  }));
  std::promise<Result<OptimizeReport>> done;
  m.Optimize("t", [&](Result<OptimizeReport> r) { done.set_value(std::move(r)); });
  auto report = done.get_future().get();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->commits.size(), 1u);
  EXPECT_EQ(report->commits[0].chunks_removed, 30);
  EXPECT_EQ(report->commits[0].query_name, "pinstream optimize");
  std::promise<Result<OptimizeReport>> missing;
  m.Optimize("nope", [&](Result<OptimizeReport> r) { missing.set_value(std::move(r)); });
  EXPECT_EQ(missing.get_future().get().status().code(), StatusCode::kNotFound);
  m.Stop();
  // After Stop, a request is answered at once.
  std::promise<Result<OptimizeReport>> late;
  m.Optimize("t", [&](Result<OptimizeReport> r) { late.set_value(std::move(r)); });
  EXPECT_EQ(late.get_future().get().status().code(), StatusCode::kCancelled);
}

TEST_F(TableMaintenanceTest, OnceReadyTheThreadAppliesThePolicyByItself) {
  DeltaTable* t = Table("t", 20);
  options_.maintenance_interval_us = 1000;
  TableMaintenance m(store_.get(), options_);
  ASSERT_TRUE(m.Start().ok());
  m.SetReady();
  EXPECT_TRUE(testing::WaitFor([&] { return t->info().live_chunks == 1; }));
  m.Stop();
  EXPECT_EQ(t->num_rows(), 20);
}

}  // namespace
}  // namespace pinstream::state
