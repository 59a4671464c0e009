// VACUUM (DeltaTable::Vacuum) and the version holds readers register against it.
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/store.h"
#include "state/table_maintenance.h"
#include "tests/testing/test_util.h"

namespace pinstream::state {
namespace {

using pinstream::testing::TempDir;

RecordBatch Rows(int from, int to) { return pinstream::testing::IdNameRows(from, to); }

std::vector<std::int64_t> SortedIds(const TableSnapshot& s) {
  std::vector<std::int64_t> out;
  auto all = s.ReadAll();
  EXPECT_TRUE(all.ok());
  int c = all->FindColumn("id");
  for (std::size_t r = 0; r < all->num_rows(); ++r)
    out.push_back(all->column(static_cast<std::size_t>(c)).Int(r));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::int64_t> Range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = from; i < to; ++i) out.push_back(i);
  return out;
}

// Keys of the table's kind ('C' chunks, 'L' log entries, 'D' deletion vectors, ...).
std::int64_t CountKeys(Store* store, const DeltaTable* t, char kind) {
  std::int64_t n = 0;
  auto it = store->NewIterator(KeySpace::kTables, TableKey(t->id(), kind));
  for (it->Seek(TableKey(t->id(), kind)); it->Valid(); it->Next()) ++n;
  return n;
}

class TableVacuumTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    StoreOptions o;
    o.data_dir = dir_.path() + "/data";
    store_ = std::move(Store::Open(o)).value();
  }
  // One version per row, ids from..from+n-1.
  void Append(DeltaTable* t, int from, int n) {
    auto txn = store_->BeginTxn();
    for (int i = from; i < from + n; ++i) {
      ASSERT_TRUE(t->StageWrite(*txn, Rows(i, i + 1), {}).ok());
      ASSERT_TRUE(store_->Write(*txn, /*sync=*/false).ok());
    }
  }
  Status Changes(DeltaTable* t, std::vector<int> ids, std::vector<std::int64_t> weights) {
    RecordBatch b;
    for (int id : ids) {
      if (b.num_rows() == 0)
        b = Rows(id, id + 1);
      else
        EXPECT_TRUE(b.Append(Rows(id, id + 1)).ok());
    }
    b.SetWeights(std::move(weights));
    auto txn = store_->BeginTxn();
    PS_RETURN_IF_ERROR(t->StageChanges(*txn, std::span<const RecordBatch>(&b, 1), {"id"}, {}));
    return store_->Commit(std::move(txn));
  }
  // Everything older than now: the latest version is the oldest kept (unless held).
  static VacuumOptions RetainNothing(bool dry_run = false) {
    VacuumOptions o;
    o.retain_us = 0;
    o.now_us = NowMicros() + 1000;
    o.dry_run = dry_run;
    return o;
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(TableVacuumTest, DeletesWhatOnlyVersionsBeforeTheWindowNeedAndKeepsTheRest) {
  DeltaTable* t = *store_->Table("t", true);
  Append(t, 0, 200);
  OptimizeOptions opt;
  opt.rows_per_chunk = 64;
  ASSERT_EQ(t->Optimize(opt)->outcome, MaintenanceOutcome::kCommitted);  // version 200
  Append(t, 200, 50);                                                    // versions 201..250
  ASSERT_EQ(CountKeys(store_.get(), t, 'C'), 200 + 4 + 50);

  // Within the default window (7 days) nothing goes.
  auto none = t->Vacuum(VacuumOptions{});
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->outcome, MaintenanceOutcome::kNothingToDo);
  EXPECT_EQ(t->latest_version(), 250);

  // A dry run says what a VACUUM keeping only the latest version deletes, and deletes nothing.
  auto dry = t->Vacuum(RetainNothing(/*dry_run=*/true));
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->outcome, MaintenanceOutcome::kDryRun);
  EXPECT_EQ(dry->oldest_readable, 250);
  EXPECT_EQ(dry->versions_removed, 200);  // 0..199, rewritten by OPTIMIZE
  EXPECT_EQ(dry->chunks_removed, 200);
  EXPECT_EQ(dry->log_entries_removed, 250);
  EXPECT_EQ(t->latest_version(), 250);
  EXPECT_EQ(CountKeys(store_.get(), t, 'C'), 254);
  EXPECT_TRUE(t->Snapshot(3).ok());

  auto r = t->Vacuum(RetainNothing());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, MaintenanceOutcome::kCommitted) << r->detail;
  EXPECT_EQ(r->oldest_readable, 250);
  EXPECT_EQ(r->chunks_removed, dry->chunks_removed);
  EXPECT_EQ(r->bytes_removed, dry->bytes_removed);
  EXPECT_GT(r->bytes_removed, 0);
  EXPECT_EQ(r->commit.version, 251);
  EXPECT_EQ(r->commit.operation, "VACUUM");
  EXPECT_FALSE(r->commit.data_change);
  EXPECT_EQ(CountKeys(store_.get(), t, 'C'), 4 + 50);
  EXPECT_EQ(CountKeys(store_.get(), t, 'L'), 2);  // versions 250 and 251
  // The retained versions read exactly their rows; the VACUUM version too.
  EXPECT_EQ(SortedIds(**t->Snapshot(250)), Range(0, 250));
  EXPECT_EQ(SortedIds(**t->Snapshot()), Range(0, 250));
  EXPECT_EQ(t->num_rows(), 250);
  // Older ones are refused, naming the oldest readable version.
  auto gone = t->Snapshot(249);
  ASSERT_EQ(gone.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(gone.status().message().find("oldest readable version is 250"), std::string::npos)
      << gone.status().message();
  auto before = t->VersionAsOf(1);
  ASSERT_EQ(before.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(before.status().message().find("oldest readable version is 250"), std::string::npos)
      << before.status().message();
  auto hist = *t->History();
  ASSERT_EQ(hist.size(), 2u);
  EXPECT_EQ(hist[0].operation, "VACUUM");
  // Nothing left to do; after a reopen the same, from the checkpoint VACUUM wrote.
  EXPECT_EQ(t->Vacuum(RetainNothing())->outcome, MaintenanceOutcome::kNothingToDo);
  Reopen();
  t = *store_->Table("t", false);
  EXPECT_EQ(t->info().oldest_readable, 250);
  EXPECT_EQ(SortedIds(**t->Snapshot(250)), Range(0, 250));
  EXPECT_EQ(t->Snapshot(100).status().code(), StatusCode::kOutOfRange);
  Append(t, 250, 5);
  EXPECT_EQ(SortedIds(**t->Snapshot()), Range(0, 255));
  EXPECT_EQ(t->latest_version(), 256);
}

TEST_F(TableVacuumTest, KeepsWhatAnOpenSnapshotAndAHeldVersionNeed) {
  DeltaTable* t = *store_->Table("t", true);
  Append(t, 0, 300);
  OptimizeOptions opt;
  opt.rows_per_chunk = 32;
  ASSERT_EQ(t->Optimize(opt)->outcome, MaintenanceOutcome::kCommitted);  // version 300
  Append(t, 300, 10);                                                    // versions 301..310
  auto open = std::move(t->Snapshot(50)).value();   // a query reading version 50
  ASSERT_TRUE(store_->table_readers().Hold("t", "q/src", 150).ok());  // a streaming reader at 150

  auto r = t->Vacuum(RetainNothing());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, MaintenanceOutcome::kCommitted) << r->detail;
  EXPECT_EQ(r->held_from, 150);
  EXPECT_EQ(r->oldest_readable, 150);
  EXPECT_EQ(r->chunks_removed, 0);  // version 150's live set still holds 0..150
  EXPECT_EQ(r->log_entries_removed, 150);
  EXPECT_EQ(SortedIds(**t->Snapshot(150)), Range(0, 151));
  EXPECT_EQ(SortedIds(**t->Snapshot(305)), Range(0, 305));
  EXPECT_EQ(t->Snapshot(149).status().code(), StatusCode::kOutOfRange);

  // The reader moves on past OPTIMIZE: the rewritten small chunks go now.
  ASSERT_TRUE(store_->table_readers().Hold("t", "q/src", 305).ok());
  auto r2 = t->Vacuum(RetainNothing());
  ASSERT_TRUE(r2.ok());
  ASSERT_EQ(r2->outcome, MaintenanceOutcome::kCommitted) << r2->detail;
  EXPECT_EQ(r2->oldest_readable, 305);
  EXPECT_EQ(r2->chunks_removed, 300);
  EXPECT_EQ(SortedIds(**t->Snapshot(305)), Range(0, 305));
  // The snapshot opened before either VACUUM still reads its version.
  EXPECT_EQ(SortedIds(*open), Range(0, 51));
  // Released: the next VACUUM may go up to the latest version, but a handful of log entries is
  // not worth a version.
  store_->table_readers().Release("t", "q/src");
  auto r3 = t->Vacuum(RetainNothing());
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->held_from, -1);
  EXPECT_EQ(r3->outcome, MaintenanceOutcome::kNothingToDo);
  EXPECT_EQ(t->info().oldest_readable, 305);
  EXPECT_EQ(SortedIds(*open), Range(0, 51));
  EXPECT_EQ(SortedIds(**t->Snapshot()), Range(0, 310));
}

// A hold and a VACUUM never cross: a hold taken once VACUUM has checked the holds (here: just
// before its commit, under the table-commit lock) is refused naming the oldest readable version,
// so no reader goes on believing it holds a version VACUUM deletes.
TEST_F(TableVacuumTest, AHoldTakenWhileVacuumCommitsIsRefusedNamingTheOldestReadableVersion) {
  DeltaTable* t = *store_->Table("t", true);
  Append(t, 0, 300);
  OptimizeOptions opt;
  opt.rows_per_chunk = 32;
  ASSERT_EQ(t->Optimize(opt)->outcome, MaintenanceOutcome::kCommitted);  // version 300
  Append(t, 300, 10);                                                    // versions 301..310
  auto& readers = store_->table_readers();
  Status late, at_floor;
  VacuumOptions vo = RetainNothing();
  vo.before_commit = [&] {
    late = readers.Hold("t", "late/src", 20);
    at_floor = readers.Hold("t", "other/src", 310);
  };
  auto r = t->Vacuum(vo);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, MaintenanceOutcome::kCommitted) << r->detail;
  EXPECT_EQ(r->oldest_readable, 310);
  EXPECT_EQ(late.code(), StatusCode::kOutOfRange) << late.ToString();
  EXPECT_NE(late.message().find("oldest readable version is 310"), std::string::npos)
      << late.message();
  EXPECT_TRUE(at_floor.ok()) << at_floor.ToString();
  EXPECT_EQ(readers.Holds("t"), (std::map<std::string, std::int64_t>{{"other/src", 310}}));
  EXPECT_EQ(t->Snapshot(20).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(SortedIds(**t->Snapshot(310)), Range(0, 310));
  // After a restart the floor is the table's oldest readable version.
  readers.Release("t", "other/src");
  Reopen();
  t = *store_->Table("t", false);
  EXPECT_EQ(store_->table_readers().Hold("t", "q/src", 100).code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(store_->table_readers().Hold("t", "q/src", 310).ok());
}

TEST_F(TableVacuumTest, DeletionVectorsNoRetainedVersionUsesGo) {
  DeltaTable* t = *store_->Table("agg", true);
  ASSERT_TRUE(Changes(t, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}).ok());
  ASSERT_TRUE(Changes(t, {1}, {-1}).ok());  // the chunk's deletion vector as of version 1
  ASSERT_TRUE(Changes(t, {2}, {-1}).ok());  // replaced by version 2's
  ASSERT_EQ(CountKeys(store_.get(), t, 'D'), 2);
  auto r = t->Vacuum(RetainNothing());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, MaintenanceOutcome::kCommitted) << r->detail;
  EXPECT_EQ(r->deletion_vectors_removed, 1);
  EXPECT_EQ(CountKeys(store_.get(), t, 'D'), 1);
  std::vector<std::int64_t> want = {0, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(SortedIds(**t->Snapshot()), want);
  // The key index still finds the rows.
  ASSERT_TRUE(Changes(t, {3}, {-1}).ok());
  EXPECT_EQ(t->num_rows(), 7);
  Reopen();
  t = *store_->Table("agg", false);
  EXPECT_EQ(t->num_rows(), 7);
  EXPECT_EQ(SortedIds(**t->Snapshot(t->latest_version() - 2)), want);
}

TEST_F(TableVacuumTest, ThePolicyVacuumsEveryTableWithItsOwnRetention) {
  StoreOptions so;
  so.maintenance.auto_optimize = false;
  so.maintenance.vacuum_retain_us = 0;
  TableMaintenanceOptions keep_all = so.maintenance;
  keep_all.vacuum_retain_us = 3600LL * 1'000'000;
  so.table_maintenance["kept"] = keep_all;
  DeltaTable* a = *store_->Table("a", true);
  DeltaTable* kept = *store_->Table("kept", true);
  Append(a, 0, 150);
  Append(kept, 0, 150);
  TableMaintenance m(store_.get(), so);
  m.RunPolicyOnce();
  EXPECT_EQ(m.counters().vacuum_commits, 1);
  EXPECT_EQ(a->info().oldest_readable, 149);
  EXPECT_EQ(kept->info().oldest_readable, 0);
  // Once per vacuum interval (1 h by default): the next pass leaves it.
  Append(a, 150, 200);
  m.RunPolicyOnce();
  EXPECT_EQ(a->info().oldest_readable, 149);
}

}  // namespace
}  // namespace pinstream::state
