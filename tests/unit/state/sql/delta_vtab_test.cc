// The delta-table virtual table (delta_vtab.h) as SQLite drives it: time-travel arguments, the
// key lookups of joins and `col = constant` with keys of every kind, and the hidden `<col>_us`
// columns of timestamps.
#include "state/sql/delta_vtab.h"

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

// Rows k = from..to-1 with a name, a timestamp one hour apart (from 1969-12-31 22:00 UTC: two
// rows before the epoch) and a score.
RecordBatch Rows(int from, int to) {
  RecordBatch b;
  Column k(TypeId::kInt64), name(TypeId::kString), at(TypeId::kTimestamp), score(TypeId::kDouble);
  for (int i = from; i < to; ++i) {
    b.row_ids().push_back(static_cast<RowId>(i - from));
    k.AppendInt(i);
    name.AppendString("n" + std::to_string(i));
    at.AppendInt((i - 2) * 3'600'000'000LL + (i == 5 ? 250'000 : 0));
    score.AppendDouble(i * 1.5);
  }
  b.AddColumn("k", std::move(k));
  b.AddColumn("name", std::move(name));
  b.AddColumn("at", std::move(at));
  b.AddColumn("score", std::move(score));
  return b;
}

class DeltaVtabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.data_dir = dir_.path();
    store_ = std::move(Store::Open(o)).value();
    Write(Rows(0, 10));   // version 0
    Write(Rows(10, 20));  // version 1
    session_ = std::move(SqlSession::Open(store_.get())).value();
  }
  void Write(const RecordBatch& rows) {
    DeltaTable* t = *store_->Table("t", true);
    auto txn = store_->BeginTxn();
    WriteOptions w;
    w.rows_per_chunk = 4;
    ASSERT_TRUE(t->StageWrite(*txn, rows, w).ok());
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  }
  std::vector<std::string> Col(const std::string& sql) {
    auto r = session_->Query(sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    if (!r.ok()) return {};
    return ColumnStrings(r->rows, r->rows.name(0));
  }
  std::string One(const std::string& sql) {
    auto c = Col(sql);
    return c.empty() ? "<none>" : c[0];
  }
  std::string Error(const std::string& sql) {
    auto r = session_->Query(sql);
    EXPECT_FALSE(r.ok()) << sql;
    return r.ok() ? "" : r.status().message();
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<SqlSession> session_;
};

TEST_F(DeltaVtabTest, TimeTravelTakesAVersionOrATimestampAndSaysWhatItNeeds) {
  EXPECT_EQ(One("SELECT count(*) FROM t_at(0)"), "10");
  EXPECT_EQ(One("SELECT count(*) FROM t_at(1)"), "20");
  EXPECT_EQ(One("SELECT count(*) FROM t_at('2999-01-01 00:00:00')"),
            "20");  // the latest at that time
  EXPECT_NE(Error("SELECT count(*) FROM t_at").find("t_at needs a version"), std::string::npos);
  EXPECT_NE(
      Error("SELECT count(*) FROM t_at(1.5)").find("takes a version number or a timestamp text"),
      std::string::npos);
  EXPECT_NE(Error("SELECT count(*) FROM t_at('yesterday')").find("t_at:"), std::string::npos);
  EXPECT_FALSE(session_->Query("SELECT count(*) FROM t_at(7)").ok());  // no such version
}

// VERSION AS OF and TIMESTAMP AS OF before what VACUUM kept: a clear error naming the oldest
// readable version; from it on, time travel reads as before.
TEST_F(DeltaVtabTest, TimeTravelBeforeTheRetentionWindowNamesTheOldestReadableVersion) {
  DeltaTable* t = *store_->Table("t", false);
  auto txn = store_->BeginTxn();
  WriteOptions ow;
  ow.overwrite = true;
  ASSERT_TRUE(t->StageWrite(*txn, Rows(20, 25), ow).ok());  // version 2
  ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  VacuumOptions vo;
  vo.retain_us = 0;
  vo.now_us = NowMicros() + 1000;
  auto r = t->Vacuum(vo);  // keeps version 2 on; versions 0 and 1 go
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, MaintenanceOutcome::kCommitted) << r->detail;
  for (const char* sql : {"SELECT count(*) FROM t_at(0)", "SELECT count(*) FROM t_at(1)",
                          "SELECT count(*) FROM t_at('1970-01-01 00:00:00')"}) {
    const std::string e = Error(sql);
    EXPECT_NE(e.find("the oldest readable version is 2"), std::string::npos) << sql << ": " << e;
  }
  EXPECT_EQ(One("SELECT count(*) FROM t_at(2)"), "5");
  EXPECT_EQ(One("SELECT count(*) FROM t_at(3)"), "5");  // the VACUUM version
  EXPECT_EQ(One("SELECT count(*) FROM t_at('2999-01-01 00:00:00')"), "5");
  EXPECT_EQ(One("SELECT count(*) FROM t"), "5");
}

// A statement reads every table as it was when the statement started: here, once it is
// prepared and before its first row, a new version overwrites the table and VACUUM removes
// versions 0 and 1; the statement still reads `t_at(0)` (and `t` is still version 1), through
// the pins it took at its start. The next statement sees the new state.
TEST_F(DeltaVtabTest, AStatementReadsTheTablesAsTheyWereWhenItStarted) {
  DeltaTable* t = *store_->Table("t", false);
  // SQLite connects the virtual tables once per connection: from now on they are not connected
  // again by the next statement's preparation.
  ASSERT_EQ(One("SELECT count(*) FROM t, t_at(0) WHERE t.k = t_at.k"), "10");
  bool vacuumed = false;
  session_->set_before_first_row_for_test([&] {
    auto txn = store_->BeginTxn();
    WriteOptions ow;
    ow.overwrite = true;
    ASSERT_TRUE(t->StageWrite(*txn, Rows(20, 25), ow).ok());  // version 2
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
    VacuumOptions vo;
    vo.retain_us = 0;
    vo.now_us = NowMicros() + 1000;
    auto r = t->Vacuum(vo);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    vacuumed = r->outcome == MaintenanceOutcome::kCommitted && r->oldest_readable == 2;
  });
  EXPECT_EQ(One("SELECT (SELECT count(*) FROM t) || ' ' || (SELECT sum(k) FROM t_at(0)) || ' ' || "
                "(SELECT count(*) FROM t_at('2999-01-01 00:00:00'))"),
            "20 45 20");
  EXPECT_TRUE(vacuumed);
  session_->set_before_first_row_for_test(nullptr);
  EXPECT_EQ(One("SELECT count(*) FROM t"), "5");
  EXPECT_NE(Error("SELECT count(*) FROM t_at(0)").find("the oldest readable version is 2"),
            std::string::npos);
}

// A scan that needs no column (`count(*)`) counts the snapshot's rows from the log and reads
// no chunk, however many versions hold them; with a column or a filter it reads the chunks.
TEST_F(DeltaVtabTest, CountingRowsReadsNoChunk) {
  for (int i = 20; i < 60; ++i) Write(Rows(i, i + 1));  // 40 one-row versions: 2..41
  EXPECT_EQ(One("SELECT count(*) FROM t"), "60");
  EXPECT_EQ(session_->last_scan_stats().chunks_read, 0);
  EXPECT_EQ(One("SELECT count(*) FROM t_at(1)"), "20");
  EXPECT_EQ(session_->last_scan_stats().chunks_read, 0);
  EXPECT_EQ(One("SELECT count(*) FROM (SELECT 1 FROM t UNION ALL SELECT 2 FROM t_at(5))"), "84");
  EXPECT_EQ(One("SELECT count(*) FROM t WHERE 1 = 1"), "60");
  EXPECT_EQ(One("SELECT count(*) FROM (SELECT * FROM t LIMIT 7)"), "7");
  EXPECT_EQ(One("SELECT count(name) FROM t"), "60");
  EXPECT_GT(session_->last_scan_stats().chunks_read, 40);
  EXPECT_EQ(One("SELECT count(*) FROM t WHERE k >= 50"), "10");
}

TEST_F(DeltaVtabTest, KeyLookupsMatchExactlyWhatAScanMatches) {
  // `col = constant` goes through the lookup index; `+ 0` hides the column from it (and drops
  // the column's affinity, so only numeric keys compare alike both ways).
  for (const char* key : {"3", "3.0", "NULL", "3.5", "99"}) {
    std::string q = std::string("SELECT group_concat(name) FROM t WHERE k = ") + key;
    std::string scanned = std::string("SELECT group_concat(name) FROM t WHERE k + 0 = ") + key;
    EXPECT_EQ(One(q), One(scanned)) << key;
  }
  EXPECT_EQ(One("SELECT group_concat(name) FROM t WHERE k = 3.0"), "n3");
  EXPECT_EQ(One("SELECT group_concat(name) FROM t WHERE k = '3'"),
            "n3");  // INTEGER affinity, as SQLite
  EXPECT_EQ(One("SELECT count(*) FROM t WHERE k = NULL"), "0");
  EXPECT_EQ(One("SELECT name FROM t WHERE name = 'n12'"), "n12");
  EXPECT_EQ(One("SELECT count(*) FROM t AS a JOIN t AS b ON a.score = b.score"), "20");
  EXPECT_EQ(One("SELECT count(*) FROM t AS a JOIN t_at(0) AS b ON a.k = b.k"), "10");
}

TEST_F(DeltaVtabTest, TimestampsReadAsUtcTextWithAHiddenMicrosecondColumn) {
  EXPECT_EQ(Col("SELECT at FROM t WHERE k < 3 ORDER BY k"),
            (std::vector<std::string>{"1969-12-31 22:00:00", "1969-12-31 23:00:00",
                                      "1970-01-01 00:00:00"}));
  EXPECT_EQ(One("SELECT at FROM t WHERE k = 5"), "1970-01-01 03:00:00.250000");
  EXPECT_EQ(One("SELECT at_us FROM t WHERE k = 0"), std::to_string(-2 * 3'600'000'000LL));
  // Filters on the text compare as text, on the hidden column as numbers: the same rows.
  EXPECT_EQ(One("SELECT count(*) FROM t WHERE at < '1970-01-01 02:00:00'"),
            One("SELECT count(*) FROM t WHERE at_us < 7200000000"));
}

TEST_F(DeltaVtabTest, FiltersOnVersionsStatisticsSkipWholeVersions) {
  EXPECT_EQ(One("SELECT count(*) FROM t WHERE k >= 15"), "5");
  EXPECT_EQ(session_->last_scan_stats().versions_pruned, 1);  // version 0 holds k 0..9 only
  EXPECT_EQ(One("SELECT count(*) FROM t WHERE score < 0"), "0");
  EXPECT_EQ(session_->last_scan_stats().versions_pruned, 2);
}

TEST_F(DeltaVtabTest, RowsDeletedByAChangesCommitAreGoneFromScansFiltersAndLookups) {
  // Version 2 retracts k = 3 and 12 (by key) and inserts k = 30: SQL honours the deletion
  // vectors in full scans, pruned scans, the lookup index of joins, and time travel.
  DeltaTable* t = *store_->Table("t", false);
  RecordBatch b = Rows(3, 4);
  ASSERT_TRUE(b.Append(Rows(12, 13)).ok());
  ASSERT_TRUE(b.Append(Rows(30, 31)).ok());
  b.SetWeights({-1, -1, +1});
  auto txn = store_->BeginTxn();
  ASSERT_TRUE(t->StageChanges(*txn, std::span<const RecordBatch>(&b, 1), {"k"}, {}).ok());
  ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  EXPECT_EQ(One("SELECT count(*) FROM t"), "19");
  EXPECT_EQ(One("SELECT count(*) FROM t WHERE k = 3"), "0");
  EXPECT_EQ(One("SELECT count(*) FROM t WHERE k + 0 = 12"), "0");
  EXPECT_EQ(One("SELECT count(*) FROM t WHERE k >= 10"), "10");
  EXPECT_EQ(One("SELECT count(*) FROM t AS a JOIN t_at(1) AS b ON a.k = b.k"), "18");
  EXPECT_EQ(One("SELECT count(*) FROM t_at(1) WHERE k = 3"), "1");
  EXPECT_EQ(One("SELECT sum(k) FROM t"), std::to_string(190 - 3 - 12 + 30));
}

}  // namespace
}  // namespace pinstream::state::sql
