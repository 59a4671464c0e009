#include "state/sql/sql_session.h"

#include <gtest/gtest.h>

#include <cmath>

#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::state::sql {
namespace {

using pinstream::testing::ColumnStrings;
using pinstream::testing::TempDir;

// Rows ind = from..to-1 with a category, a follower count (null every 7th), a timestamp and an
// array, so that every column type crosses the SQL boundary.
RecordBatch Rows(int from, int to) {
  RecordBatch b;
  Column ind(TypeId::kInt64), cat(TypeId::kString), fc(TypeId::kInt64), ts(TypeId::kTimestamp),
      xy(TypeId::kDoubleArray), ok(TypeId::kBool), score(TypeId::kDouble);
  for (int i = from; i < to; ++i) {
    b.row_ids().push_back(static_cast<RowId>(i - from));
    ind.AppendInt(i);
    cat.AppendString(i % 3 == 0 ? "art" : (i % 3 == 1 ? "beauty" : "travel"));
    if (i % 7 == 0)
      fc.AppendNull();
    else
      fc.AppendInt(i * 10);
    ts.AppendInt(*ParseTimestamp("2018-01-01 00:00:00") +
                 static_cast<std::int64_t>(i) * 86'400'000'000LL);
    std::vector<double> a{i + 0.5, -1.0 * i};
    xy.AppendArray(a);
    ok.AppendBool(i % 2 == 0);
    score.AppendDouble(i / 4.0);
  }
  b.AddColumn("ind", std::move(ind));
  b.AddColumn("category", std::move(cat));
  b.AddColumn("follower_count", std::move(fc));
  b.AddColumn("ts", std::move(ts));
  b.AddColumn("xy", std::move(xy));
  b.AddColumn("ok", std::move(ok));
  b.AddColumn("score", std::move(score));
  return b;
}

class SqlSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.data_dir = dir_.path() + "/data";
    store_ = std::move(Store::Open(o)).value();
  }
  void Write(const std::string& table, const RecordBatch& rows, std::int64_t rows_per_chunk = 16384,
             bool overwrite = false) {
    DeltaTable* t = *store_->Table(table, true);
    auto txn = store_->BeginTxn();
    WriteOptions w;
    w.rows_per_chunk = rows_per_chunk;
    w.overwrite = overwrite;
    w.operation = overwrite ? "WRITE" : "STREAMING UPDATE";
    ASSERT_TRUE(t->StageWrite(*txn, rows, w).ok());
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  }
  std::unique_ptr<SqlSession> Session() {
    return std::move(SqlSession::Open(store_.get())).value();
  }
  std::vector<std::string> Col(SqlSession& s, const std::string& sql, const std::string& col) {
    auto r = s.Query(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    return ColumnStrings(r->rows, col);
  }
  std::string One(SqlSession& s, const std::string& sql) {
    auto r = s.Query(sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
    if (!r.ok() || r->rows.num_rows() == 0) return "<none>";
    return ColumnStrings(r->rows, r->rows.name(0))[0];
  }
  std::string Error(SqlSession& s, const std::string& sql) {
    auto r = s.Query(sql);
    EXPECT_FALSE(r.ok()) << sql;
    return r.ok() ? "" : r.status().message();
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqlSessionTest, TablesAreQueryableWithTheirTypes) {
  Write("t", Rows(0, 10));
  auto s = Session();
  EXPECT_EQ(One(*s, "SELECT count(*) FROM t"), "10");
  EXPECT_EQ(One(*s, "SELECT ts FROM t WHERE ind = 3"), "2018-01-04 00:00:00");
  EXPECT_EQ(One(*s, "SELECT typeof(ts) FROM t WHERE ind = 3"), "text");
  EXPECT_EQ(One(*s, "SELECT ts_us FROM t WHERE ind = 0"),
            std::to_string(*ParseTimestamp("2018-01-01")));
  EXPECT_EQ(One(*s, "SELECT xy FROM t WHERE ind = 2"), "[2.5,-2]");
  EXPECT_EQ(One(*s, "SELECT json_extract(xy, '$[0]') FROM t WHERE ind = 2"), "2.5");
  EXPECT_EQ(One(*s, "SELECT ok FROM t WHERE ind = 4"), "true");  // a BOOLEAN column keeps its type
  EXPECT_EQ(One(*s, "SELECT ok + 0 FROM t WHERE ind = 4"), "1");
  EXPECT_EQ(One(*s, "SELECT score FROM t WHERE ind = 3"), "0.75");
  EXPECT_EQ(One(*s, "SELECT count(*) FROM t WHERE follower_count IS NULL"), "2");
  // A directly selected timestamp column stays a timestamp in the result (job result tables).
  auto r = s->Query("SELECT ind, ts FROM t ORDER BY ind LIMIT 2");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows.column(1).type(), TypeId::kTimestamp);
  EXPECT_EQ(r->rows.column(0).type(), TypeId::kInt64);
}

TEST_F(SqlSessionTest, TimeTravelSeesExactlyTheRowsOfThatVersion) {
  Write("t", Rows(0, 5));
  Write("t", Rows(5, 8), 2);  // several chunks in one version
  Write("t", Rows(100, 102), 16384, /*overwrite=*/true);
  Write("t", Rows(200, 201));
  auto s = Session();
  EXPECT_EQ(Col(*s, "SELECT ind FROM t_at(0) ORDER BY ind", "ind"),
            (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  EXPECT_EQ(Col(*s, "SELECT ind FROM t_at(1) ORDER BY ind", "ind"),
            (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7"}));
  EXPECT_EQ(Col(*s, "SELECT ind FROM t_at(2) ORDER BY ind", "ind"),
            (std::vector<std::string>{"100", "101"}));
  EXPECT_EQ(Col(*s, "SELECT ind FROM t ORDER BY ind", "ind"),
            (std::vector<std::string>{"100", "101", "200"}));
  // Two versions in one statement.
  EXPECT_EQ(One(*s, "SELECT (SELECT count(*) FROM t_at(1)) - (SELECT count(*) FROM t_at(0))"), "3");
  EXPECT_EQ(One(*s, "SELECT count(*) FROM t_at(1) a JOIN t_at(0) b ON a.ind = b.ind"), "5");
  // TIMESTAMP AS OF: the latest version committed at or before the time.
  EXPECT_EQ(One(*s, "SELECT count(*) FROM t_at('2999-01-01 00:00:00')"), "3");
  EXPECT_NE(Error(*s, "SELECT * FROM t_at('1999-01-01')").find("no version committed at or before"),
            std::string::npos);
  EXPECT_NE(Error(*s, "SELECT * FROM t_at(9)").find("version 9 does not exist"), std::string::npos);
  EXPECT_NE(Error(*s, "SELECT * FROM t_at").find("t_at needs a version"), std::string::npos);
}

TEST_F(SqlSessionTest, EachStatementSeesTheLatestCommittedVersion) {
  Write("t", Rows(0, 3));
  auto s = Session();
  EXPECT_EQ(One(*s, "SELECT count(*) FROM t"), "3");
  Write("t", Rows(3, 7));
  EXPECT_EQ(One(*s, "SELECT count(*) FROM t"), "7");
  // A table created after the session opened, and a column added by schema evolution.
  Write("u", Rows(0, 2));
  EXPECT_EQ(One(*s, "SELECT count(*) FROM u"), "2");
  RecordBatch wider = Rows(10, 11);
  Column extra(TypeId::kString);
  extra.AppendString("new");
  wider.AddColumn("extra", std::move(extra));
  Write("t", wider);
  EXPECT_EQ(
      Col(*s, "SELECT extra FROM t ORDER BY ind", "extra"),
      (std::vector<std::string>{"null", "null", "null", "null", "null", "null", "null", "new"}));
}

TEST_F(SqlSessionTest, ReaderFollowsTheWriter) {
  Write("t", Rows(0, 3));
  auto reader = std::move(Store::OpenReader(dir_.path() + "/data")).value();
  auto s = std::move(SqlSession::Open(reader.get())).value();
  EXPECT_EQ(One(*s, "SELECT count(*) FROM t"), "3");
  Write("t", Rows(3, 5));
  EXPECT_EQ(One(*s, "SELECT count(*) FROM t"), "5");
}

// Found by the sql_vtab fuzzer: SQLite reads no further than a NUL byte, so a statement list
// with one inside never moved on (Query looped forever).
TEST_F(SqlSessionTest, ANulByteInTheTextIsAnErrorNotALoop) {
  Write("t", Rows(0, 10));
  auto s = Session();
  using namespace std::string_literals;
  EXPECT_EQ(Error(*s, "SELECT count(*) FROM t;\0SELECT 2"s),
            "SQL error: the text has a NUL byte at offset 23");
  EXPECT_EQ(Error(*s, "SELECT count(*) FROM t WHERE ind > 3\0 AND 1"s),
            "SQL error: the text has a NUL byte at offset 36");
}

TEST_F(SqlSessionTest, WritesAttachAndExtensionsAreRefusedClearly) {
  Write("t", Rows(0, 3));
  auto s = Session();
  EXPECT_NE(Error(*s, "INSERT INTO t(ind) VALUES (1)")
                .find("INSERT on 't' is not allowed: pinstream sql is read-only"),
            std::string::npos);
  EXPECT_NE(Error(*s, "UPDATE t SET ind = 1").find("read-only"), std::string::npos);
  EXPECT_NE(Error(*s, "DELETE FROM t").find("read-only"), std::string::npos);
  EXPECT_NE(Error(*s, "ATTACH '" + dir_.path() + "/x.db' AS x").find("ATTACH is not allowed"),
            std::string::npos);
  EXPECT_NE(
      Error(*s, "SELECT load_extension('/tmp/none.so')").find("load_extension() is not allowed"),
      std::string::npos);
  EXPECT_NE(Error(*s, "CREATE TABLE x(a)").find("CREATE, DROP, ALTER) is not allowed"),
            std::string::npos);
  EXPECT_NE(Error(*s, "CREATE TEMP TABLE x(a)").find("is not allowed"), std::string::npos);
  EXPECT_NE(Error(*s, "DROP TABLE t").find("is not allowed"), std::string::npos);
  EXPECT_NE(Error(*s, "PRAGMA writable_schema = 1").find("PRAGMA writable_schema is not allowed"),
            std::string::npos);
  EXPECT_NE(Error(*s, "SELECT * FROM nope").find("no such table: nope"), std::string::npos);
  // Still usable afterwards, and read-only built-ins work.
  EXPECT_EQ(One(*s, "SELECT count(*) FROM t"), "3");
  EXPECT_EQ(One(*s, "SELECT count(*) FROM pragma_table_info('t')"), "7");
  EXPECT_EQ(One(*s, "SELECT count(*) FROM json_each('[1,2,3]')"), "3");
  EXPECT_EQ(*ParseTimestamp("2018-01-01") > 0, true);
}

TEST_F(SqlSessionTest, MedianAndPercentileFollowTheRankDefinition) {
  RecordBatch b;
  Column g(TypeId::kString), v(TypeId::kInt64);
  // group a: 1..4 → rank ceil(4/2) = 2 → 2 (not 2.5); group b: 5, 1, 9 → 5; group c: only nulls.
  for (auto [grp, val] : std::vector<std::pair<const char*, int>>{
           {"a", 4}, {"a", 1}, {"a", 3}, {"a", 2}, {"b", 5}, {"b", 1}, {"b", 9}}) {
    b.row_ids().push_back(b.num_rows());
    g.AppendString(grp);
    v.AppendInt(val);
  }
  b.row_ids().push_back(b.num_rows());
  g.AppendString("c");
  v.AppendNull();
  b.row_ids().push_back(b.num_rows());
  g.AppendString("a");
  v.AppendNull();  // nulls do not count
  b.AddColumn("g", std::move(g));
  b.AddColumn("v", std::move(v));
  Write("m", b);
  auto s = Session();
  EXPECT_EQ(Col(*s, "SELECT g, median(v) AS m FROM m GROUP BY g ORDER BY g", "m"),
            (std::vector<std::string>{"2", "5", "null"}));
  EXPECT_EQ(One(*s, "SELECT percentile_approx(v, 0.5) FROM m WHERE g = 'a'"), "2");
  EXPECT_EQ(One(*s, "SELECT percentile_approx(v, 0.75) FROM m WHERE g = 'a'"), "3");
  EXPECT_EQ(One(*s, "SELECT percentile_approx(v, 1.0, 10000) FROM m WHERE g = 'a'"), "4");
  EXPECT_EQ(One(*s, "SELECT percentile_approx(v, 0) FROM m WHERE g = 'a'"), "1");
  EXPECT_EQ(One(*s, "SELECT median(v / 2.0) FROM m WHERE g = 'b'"), "2.5");
  // As a window function.
  EXPECT_EQ(
      Col(*s,
          "SELECT median(v) OVER (PARTITION BY g) AS m FROM m WHERE v IS NOT NULL ORDER BY g, v",
          "m"),
      (std::vector<std::string>{"2", "2", "2", "2", "5", "5", "5"}));
  EXPECT_EQ(
      Col(*s,
          "SELECT median(v) OVER (ORDER BY v ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS m FROM m "
          "WHERE g = 'a' AND v IS NOT NULL ORDER BY v",
          "m"),
      (std::vector<std::string>{"1", "2", "3", "3"}));
  EXPECT_NE(Error(*s, "SELECT percentile_approx(v, 1.5) FROM m").find("between 0 and 1"),
            std::string::npos);
  EXPECT_NE(Error(*s, "SELECT median(g) FROM m").find("not a number"), std::string::npos);
}

TEST_F(SqlSessionTest, DateFunctions) {
  Write("t", Rows(0, 1));
  auto s = Session();
  EXPECT_EQ(One(*s, "SELECT year('2020-08-28 03:52:47')"), "2020");
  EXPECT_EQ(One(*s, "SELECT month('2020-08-28T03:52:47Z')"), "8");
  EXPECT_EQ(One(*s, "SELECT day('2020-08-28T23:52:47-02:00')"), "29");  // normalised to UTC
  EXPECT_EQ(One(*s,
                "SELECT hour('2020-08-28 03:52:47') || ':' || minute('2020-08-28 03:52:47') || ':' "
                "|| second('2020-08-28 03:52:47')"),
            "3:52:47");
  EXPECT_EQ(One(*s, "SELECT unix_timestamp('1970-01-02 00:00:00')"), "86400");
  EXPECT_EQ(One(*s, "SELECT to_timestamp('2020-08-28T03:52:47.5+01:00')"),
            "2020-08-28 02:52:47.500000");
  EXPECT_EQ(One(*s, "SELECT year(ts_us) FROM t"), "2018");
  EXPECT_EQ(One(*s, "SELECT year(NULL)"), "null");
  EXPECT_EQ(One(*s, "SELECT concat_ws(' ', 'a', NULL, 'b')"), "a b");
  EXPECT_NE(Error(*s, "SELECT year('2020:08:28 03:52:47')").find("year:"), std::string::npos);
  // The canonical text form is read directly; invalid dates in that shape still fail.
  EXPECT_EQ(
      One(*s,
          "SELECT year('2020-02-29 10:00:00.500000') || '-' || day('2020-02-29 10:00:00.500000')"),
      "2020-29");
  EXPECT_NE(Error(*s, "SELECT year('2021-02-29 00:00:00')").find("year:"), std::string::npos);
  EXPECT_NE(Error(*s, "SELECT month('2021-13-01 00:00:00')").find("month:"), std::string::npos);
}

TEST_F(SqlSessionTest, PushedDownFiltersGiveSQLitesAnswerAndSkipData) {
  // 40 versions of 50 rows, 10-row chunks: ind ranges do not overlap between versions.
  for (int v = 0; v < 40; ++v) Write("t", Rows(v * 50, v * 50 + 50), 10);
  auto s = Session();
  // Each pushed-down comparison against the same comparison SQLite does alone (+0 / || '' hide
  // the column from the planner).
  const char* cases[][2] = {
      {"ind > 1900", "ind + 0 > 1900"},
      {"ind >= 1900 AND ind < 1910", "ind + 0 >= 1900 AND ind + 0 < 1910"},
      {"ind = 77", "ind + 0 = 77"},
      {"ind <= 3.5", "ind + 0 <= 3.5"},
      {"category = 'art'", "category || '' = 'art'"},
      {"category < 'b'", "category || '' < 'b'"},
      {"score > 400.25", "score + 0 > 400.25"},
      {"follower_count >= 19000", "follower_count + 0 >= 19000"},
      {"ts > '2022-01-01'", "ts || '' > '2022-01-01'"},  // text semantics: midnight > the date
      {"ts >= '2023-06-01 00:00:00'", "ts || '' >= '2023-06-01 00:00:00'"},
      {"ts_us < 1530000000000000", "ts_us + 0 < 1530000000000000"},
      {"ind = '77'",
       "CAST(ind AS INTEGER) = '77'"},  // text operand: SQLite's affinity rules decide
      {"ok = 1 AND ind < 20", "ok + 0 = 1 AND ind + 0 < 20"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c[0]);
    std::string a = std::string("SELECT group_concat(ind) FROM (SELECT ind FROM t WHERE ") + c[0] +
                    " ORDER BY ind)";
    std::string b = std::string("SELECT group_concat(ind) FROM (SELECT ind FROM t WHERE ") + c[1] +
                    " ORDER BY ind)";
    EXPECT_EQ(One(*s, a), One(*s, b));
  }
  ASSERT_TRUE(s->Query("SELECT count(*) FROM t WHERE ind >= 1900").ok());
  auto st = s->last_scan_stats();
  EXPECT_EQ(st.versions_pruned, 38);  // versions 0..37 hold ind < 1900
  EXPECT_EQ(st.chunks_read, 10);
  ASSERT_TRUE(s->Query("SELECT count(*) FROM t WHERE category = 'nope'").ok());
  st = s->last_scan_stats();
  EXPECT_EQ(st.chunks_read, 200);
  EXPECT_EQ(st.chunks_skipped, 200);  // decoded the filter column only, nothing matched
}

TEST_F(SqlSessionTest, JoinsLookUpRowsThroughOneIndexPerStatement) {
  Write("a", Rows(0, 300), 64);
  Write("b", Rows(100, 400), 64);
  auto s = Session();
  auto r = s->Query(
      "SELECT count(*), sum(a.follower_count), sum(b.score) FROM a JOIN b ON a.ind = b.ind");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ColumnStrings(r->rows, r->rows.name(0))[0], "200");
  EXPECT_EQ(s->last_scan_stats().indexes_built, 1);
  // Same answer without the index (the join condition hidden from the planner).
  EXPECT_EQ(One(*s, "SELECT sum(a.follower_count) FROM a JOIN b ON a.ind = b.ind"),
            One(*s, "SELECT sum(a.follower_count) FROM a JOIN b ON a.ind + 0 = b.ind + 0"));
  EXPECT_EQ(One(*s,
                "SELECT group_concat(x) FROM (SELECT a.ind || b.category AS x FROM a JOIN b USING "
                "(ind) WHERE a.ind < 110 ORDER BY 1)"),
            One(*s,
                "SELECT group_concat(x) FROM (SELECT a.ind || b.category AS x FROM a JOIN b ON "
                "a.ind + 0 = b.ind + 0 "
                "WHERE a.ind < 110 ORDER BY 1)"));
  // Text keys.
  EXPECT_EQ(One(*s,
                "SELECT count(*) FROM a JOIN b ON a.category = b.category WHERE a.ind < 3 AND "
                "b.ind < 103"),
            "3");
}

TEST_F(SqlSessionTest, SeveralStatementsGiveSeveralResultsWithTitles) {
  Write("t", Rows(0, 4));
  auto s = Session();
  auto all = s->QueryAll(
      "-- First. the count\nSELECT count(*) AS n FROM t;\n\n-- Second\n-- more words\nSELECT "
      "max(ind) AS m FROM t;");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].title, "First. the count");
  EXPECT_EQ((*all)[1].title, "Second");
  EXPECT_EQ(ColumnStrings((*all)[1].rows, "m")[0], "3");
  EXPECT_NE(Error(*s, "   -- nothing\n").find("no statement"), std::string::npos);
}

}  // namespace
}  // namespace pinstream::state::sql
