// ScalarExpr against SQLite: every expression is planned from SQL text by the views planner,
// evaluated over a batch of random rows, and compared row by row with what SQLite (with the
// batch SQL's functions, state/sql/sql_functions.h) returns for the same SQL over the same rows.
#include "views/scalar_expr.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <random>

#include "engine/time_util.h"
#include "state/sql/sql_functions.h"
#include "views/planner.h"
#include "views/sql_parser.h"

namespace pinstream::views {
namespace {

using Col = ::pinstream::Column;

const std::vector<std::pair<std::string, TypeId>> kColumns = {
    {"i", TypeId::kInt64},   {"j", TypeId::kInt64},  {"d", TypeId::kDouble},
    {"e", TypeId::kDouble},  {"s", TypeId::kString}, {"u", TypeId::kString},
    {"w", TypeId::kString},  {"ts", TypeId::kTimestamp}, {"b", TypeId::kBool},
};

SchemaCatalog Catalog() {
  SchemaCatalog c;
  TableInfo t{"t", {}, true, "test"};
  for (const auto& [name, type] : kColumns) t.columns.push_back({name, type});
  c.Add(t);
  return c;
}

// Random rows: small integers (so that arithmetic stays in range), doubles with many decimals
// and exact halves, strings that exercise LIKE, casts and UTF-8, timestamps 2010-2025.
RecordBatch RandomRows(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<std::uint64_t>(k)); };
  static const char* kStrings[] = {"abc",     "ABC",  "a_c",    "%x",       "",     " pad  ",
                                   "héllo",   "Ünï",  "12abc",  "  -5x",    "1e3",  "2.5x",
                                   "art",     "Art%", "b",      "zzz",      "a",    "ab",
                                   "-0",      "+7",   "0.5e-2", "99999999999999999999"};
  static const char* kTimes[] = {"2020-08-28 03:52:47", "2018-01-01", "2019-12-31T23:59:59Z",
                                 "2021-06-15T10:00:00+02:00", "2017-03-04 05:06:07.123456"};
  RecordBatch b;
  b.row_ids().resize(n);
  std::vector<Col> cols;
  for (const auto& [name, type] : kColumns) cols.emplace_back(type);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t c = 0; c < kColumns.size(); ++c) {
      Col& col = cols[c];
      if (pick(8) == 0) {
        col.AppendNull();
        continue;
      }
      switch (kColumns[c].second) {
        case TypeId::kInt64:
          col.AppendInt(pick(10) == 0 ? pick(2000000) - 1000000 : pick(41) - 20);
          break;
        case TypeId::kDouble: {
          int k = pick(4);
          double v = k == 0   ? (pick(41) - 20) / 2.0
                     : k == 1 ? (pick(2000001) - 1000000) / 1000.0
                     : k == 2 ? std::ldexp(static_cast<double>(rng() >> 11), -53) * 1000 - 500
                              : (pick(20001) - 10000) / 7.0;
          col.AppendDouble(v);
          break;
        }
        case TypeId::kString:
          if (kColumns[c].first == "w") {
            col.AppendString(kTimes[pick(5)]);
          } else {
            col.AppendString(kStrings[pick(static_cast<int>(std::size(kStrings)))]);
          }
          break;
        case TypeId::kTimestamp: {
          std::int64_t us = DaysFromCivil(2010 + pick(16), 1 + pick(12), 1 + pick(28)) *
                                86'400'000'000LL +
                            static_cast<std::int64_t>(pick(86400)) * 1'000'000 +
                            (pick(3) == 0 ? pick(1000000) : 0);
          col.AppendInt(us);
          break;
        }
        case TypeId::kBool:
          col.AppendBool(pick(2) == 1);
          break;
        default:
          break;
      }
    }
  }
  for (std::size_t c = 0; c < kColumns.size(); ++c) b.AddColumn(kColumns[c].first, cols[c]);
  return b;
}

class Sqlite {
 public:
  explicit Sqlite(const RecordBatch& rows) {
    EXPECT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    EXPECT_EQ(state::sql::RegisterSqlFunctions(db_), SQLITE_OK);
    Exec("CREATE TABLE t(i INTEGER, j INTEGER, d REAL, e REAL, s TEXT, u TEXT, w TEXT, ts TEXT, "
         "b INTEGER)");
    sqlite3_stmt* ins = nullptr;
    sqlite3_prepare_v2(db_, "INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?)", -1, &ins, nullptr);
    for (std::size_t r = 0; r < rows.num_rows(); ++r) {
      sqlite3_reset(ins);
      for (std::size_t c = 0; c < rows.num_columns(); ++c) {
        const Col& col = rows.column(c);
        int p = static_cast<int>(c) + 1;
        if (col.IsNull(r)) {
          sqlite3_bind_null(ins, p);
        } else if (col.type() == TypeId::kDouble) {
          sqlite3_bind_double(ins, p, col.Double(r));
        } else if (col.type() == TypeId::kString) {
          sqlite3_bind_text(ins, p, col.Str(r).data(), static_cast<int>(col.Str(r).size()),
                            SQLITE_TRANSIENT);
        } else if (col.type() == TypeId::kTimestamp) {
          std::string s = FormatTimestamp(col.Int(r), TimestampStyle::kSql);
          sqlite3_bind_text(ins, p, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
        } else {
          sqlite3_bind_int64(ins, p, col.Int(r));
        }
      }
      EXPECT_EQ(sqlite3_step(ins), SQLITE_DONE);
    }
    sqlite3_finalize(ins);
  }
  ~Sqlite() { sqlite3_close(db_); }

  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_free(err);
  }

  // One value per row of t (in insertion order); nullopt when SQLite fails the statement.
  struct Cell {
    int type = SQLITE_NULL;
    std::int64_t i = 0;
    double d = 0;
    std::string s;
  };
  std::optional<std::vector<Cell>> Column(const std::string& expr, std::string* error) {
    std::string sql = "SELECT " + expr + " FROM t ORDER BY rowid";
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      *error = sqlite3_errmsg(db_);
      return std::nullopt;
    }
    std::vector<Cell> out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      Cell c;
      c.type = sqlite3_column_type(st, 0);
      if (c.type == SQLITE_INTEGER) c.i = sqlite3_column_int64(st, 0);
      if (c.type == SQLITE_FLOAT) c.d = sqlite3_column_double(st, 0);
      if (c.type == SQLITE_TEXT) {
        c.s.assign(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                   static_cast<std::size_t>(sqlite3_column_bytes(st, 0)));
      }
      out.push_back(std::move(c));
    }
    if (rc != SQLITE_DONE) *error = sqlite3_errmsg(db_);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return std::nullopt;
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

Result<ScalarExpr> CompileSql(const std::string& expr) {
  PS_ASSIGN_OR_RETURN(ParsedSql parsed, ParseSql("e.sql", "SELECT " + expr + " AS v FROM t"));
  PS_ASSIGN_OR_RETURN(PlanPtr plan, PlanStatement(parsed, 0, Catalog()));
  if (plan->kind != NodeKind::kProject || plan->inputs.at(0)->kind != NodeKind::kScan) {
    return Internal("unexpected plan:\n" + Explain(*plan));
  }
  return ScalarExpr::Compile(plan->exprs.at(0));
}

std::string Show(const Sqlite::Cell& c) {
  switch (c.type) {
    case SQLITE_INTEGER:
      return "integer " + std::to_string(c.i);
    case SQLITE_FLOAT: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "real %.17g", c.d);
      return buf;
    }
    case SQLITE_TEXT:
      return "text '" + c.s + "'";
    default:
      return "null";
  }
}

// Whether our value at row r equals SQLite's cell.
bool Same(const Col& col, std::size_t r, const Sqlite::Cell& c) {
  if (col.type() == TypeId::kNull || col.IsNull(r)) return c.type == SQLITE_NULL;
  switch (col.type()) {
    case TypeId::kBool:
    case TypeId::kInt64:
      if (c.type == SQLITE_INTEGER) return c.i == col.Int(r);
      return c.type == SQLITE_FLOAT && c.d == static_cast<double>(col.Int(r));
    case TypeId::kDouble:
      if (c.type == SQLITE_INTEGER) return static_cast<double>(c.i) == col.Double(r);
      return c.type == SQLITE_FLOAT && c.d == col.Double(r);
    case TypeId::kString:
      return c.type == SQLITE_TEXT && c.s == col.Str(r);
    case TypeId::kTimestamp:
      return c.type == SQLITE_TEXT && c.s == FormatTimestamp(col.Int(r), TimestampStyle::kSql);
    default:
      return false;
  }
}

class ScalarExprVsSqlite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rows_ = new RecordBatch(RandomRows(600, 27));
    sqlite_ = new Sqlite(*rows_);
  }
  static void TearDownTestSuite() {
    delete sqlite_;
    delete rows_;
  }

  // Plans, evaluates and compares; returns the number of rows that differ (printing the first).
  void Check(const std::string& expr) {
    SCOPED_TRACE(expr);
    Result<ScalarExpr> e = CompileSql(expr);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Result<Col> got = e->Evaluate(*rows_);
    std::string error;
    auto want = sqlite_->Column(expr, &error);
    ASSERT_TRUE(want.has_value()) << "SQLite failed: " << error;
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), want->size());
    ASSERT_EQ(got->type(), e->type());
    int differ = 0;
    for (std::size_t r = 0; r < want->size(); ++r) {
      if (Same(*got, r, (*want)[r])) continue;
      if (differ++ < 3) {
        ADD_FAILURE() << "row " << r << ": got " << got->GetValue(r).ToString() << " ("
                      << TypeName(got->type()) << "), SQLite " << Show((*want)[r]) << "; row: i="
                      << rows_->column(0).GetValue(r).ToString()
                      << " j=" << rows_->column(1).GetValue(r).ToString()
                      << " d=" << rows_->column(2).GetValue(r).ToString()
                      << " s=" << rows_->column(4).GetValue(r).ToString();
      }
    }
    EXPECT_EQ(differ, 0);
  }

  static RecordBatch* rows_;
  static Sqlite* sqlite_;
};
RecordBatch* ScalarExprVsSqlite::rows_ = nullptr;
Sqlite* ScalarExprVsSqlite::sqlite_ = nullptr;

TEST_F(ScalarExprVsSqlite, Arithmetic) {
  for (const char* e : {"i + j", "i - j", "i * j", "i / j", "i % j", "-i", "d + e", "d - i",
                        "d * e", "d / e", "i / d", "d % j", "d % e", "i + 1.5", "(i + j) * 2 - d",
                        "-d", "b + i", "i / 0", "d / 0", "7 / 2", "-7 / 2", "-7 % 3"}) {
    Check(e);
  }
}

TEST_F(ScalarExprVsSqlite, Comparisons) {
  for (const char* e : {"i = j", "i <> j", "i < j", "i <= j", "i > j", "i >= j", "i = d",
                        "d < e", "d >= i", "s = u", "s < u", "s >= u", "s <> 'abc'",
                        "ts >= '2018-01-01 00:00:00'", "ts < '2023-01-01 00:00:00'",
                        "ts = ts", "b = 1", "i == j", "i != j"}) {
    Check(e);
  }
}

TEST_F(ScalarExprVsSqlite, ThreeValuedLogic) {
  for (const char* e : {"i > 0 AND j > 0", "i > 0 OR j > 0", "NOT (i > 0)", "NOT b",
                        "i > 0 AND (j > 0 OR d > 0)", "NOT (i > 0 OR d IS NULL)",
                        "(i > 0) AND NULL", "(i > 0) OR NULL", "b AND i > 0", "d AND i",
                        "i IS NULL", "s IS NOT NULL", "(i > j) IS NULL"}) {
    Check(e);
  }
}

TEST_F(ScalarExprVsSqlite, CaseBetweenIn) {
  for (const char* e :
       {"CASE WHEN i BETWEEN 18 AND 24 THEN '18-24' WHEN i BETWEEN 25 AND 35 THEN '25-35' "
        "ELSE '50+' END",
        "CASE WHEN i > 0 THEN i ELSE d END", "CASE i WHEN 1 THEN 'one' WHEN 2 THEN 'two' END",
        "CASE WHEN d > 0 THEN NULL ELSE j END", "CASE WHEN i IS NULL THEN 0 ELSE 1 END",
        "i BETWEEN j AND 10", "i NOT BETWEEN -5 AND 5", "d BETWEEN i AND j", "s BETWEEN 'a' AND 'b'",
        "i IN (1, 2, 3)", "i IN (1, NULL)", "i NOT IN (1, 2)", "i NOT IN (1, NULL)",
        "s IN ('abc', 'ABC', u)", "d IN (0.5, 1, i)", "ts BETWEEN '2015-01-01 00:00:00' AND "
        "'2020-01-01 00:00:00'"}) {
    Check(e);
  }
}

TEST_F(ScalarExprVsSqlite, TextFunctions) {
  for (const char* e :
       {"s || u", "s || i", "i || d", "s || ts", "d || ''", "lower(s)", "upper(s)", "trim(s)",
        "length(s)", "length(i)", "length(d)", "length(ts)", "substr(s, 2)", "substr(s, i)",
        "substr(s, i, j)", "substr(s, -2, 3)", "substr(s, 0, 2)", "substr(s, 2, -1)",
        "s LIKE 'a%'", "s LIKE '%b%'", "s LIKE 'a_c'", "s NOT LIKE u", "s LIKE '_'",
        "s LIKE '%'", "s LIKE 'h_llo'", "concat_ws('-', s, u, i)", "concat_ws(s, u, d)",
        "lower(d)", "upper(ts)"}) {
    Check(e);
  }
}

TEST_F(ScalarExprVsSqlite, NumericFunctionsAndCasts) {
  for (const char* e :
       {"abs(i)", "abs(d)", "round(d)", "round(d, 1)", "round(d, 2)", "round(d, 3)",
        "round(d, i)", "round(i)", "round(d, 12)", "coalesce(i, j, 0)", "coalesce(i, d)",
        "ifnull(s, u)", "nullif(i, j)", "nullif(s, 'abc')", "coalesce(d, i)",
        "CAST(s AS INTEGER)", "CAST(s AS REAL)", "CAST(d AS INTEGER)", "CAST(i AS REAL)",
        "CAST(i AS TEXT)", "CAST(d AS TEXT)", "CAST(ts AS TEXT)", "CAST(b AS INTEGER)",
        "CAST(s AS DOUBLE PRECISION)", "CAST(s AS BIGINT)"}) {
    Check(e);
  }
}

TEST_F(ScalarExprVsSqlite, TimestampFunctions) {
  for (const char* e : {"year(ts)", "month(ts)", "day(ts)", "hour(ts)", "minute(ts)",
                        "second(ts)", "unix_timestamp(ts)", "unix_micros(ts)", "to_timestamp(w)",
                        "year(w)", "hour(w)", "unix_timestamp(w)", "year(ts) >= 2018 AND year(ts) < 2023",
                        "CASE WHEN w LIKE '2020%' THEN year(w) END"}) {
    Check(e);
  }
}

// A value the batch SQL fails on fails the evaluation too — but only where SQLite would
// evaluate it (a CASE branch not taken, the right side of a decided AND).
TEST(ScalarExpr, FailsWhereTheBatchSqlFails) {
  RecordBatch rows = RandomRows(50, 3);
  Sqlite sqlite(rows);
  std::string error;
  ASSERT_FALSE(sqlite.Column("year(s)", &error).has_value());
  Result<ScalarExpr> e = CompileSql("year(s)");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Result<Col> got = e->Evaluate(rows);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("year(t.s)"), std::string::npos) << got.status().message();

  for (const char* ok : {"CASE WHEN s = 'never' THEN year(s) ELSE 0 END",
                         "length(s) > 1000 AND year(s) > 0", "s IS NOT NULL OR year(s) > 0"}) {
    SCOPED_TRACE(ok);
    Result<ScalarExpr> c = CompileSql(ok);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE(c->Evaluate(rows).ok());
    // SQLite short-circuits AND / OR where it filters (WHERE), not in a select list.
    EXPECT_TRUE(sqlite.Column(std::string("1 FROM t WHERE ") + ok + " --", &error).has_value())
        << error;
  }
}

// EXTRACT(field FROM x) is PostgreSQL's spelling (the batch SQL has no EXTRACT): the planner
// reads it as the function of that name.
TEST(ScalarExpr, ExtractIsTheFunctionOfItsField) {
  RecordBatch rows = RandomRows(100, 5);
  for (const char* field : {"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"}) {
    SCOPED_TRACE(field);
    Result<ScalarExpr> a = CompileSql(std::string("EXTRACT(") + field + " FROM ts)");
    Result<ScalarExpr> b = CompileSql(std::string(field) + "(ts)");
    ASSERT_TRUE(a.ok() && b.ok());
    Result<Col> x = a->Evaluate(rows), y = b->Evaluate(rows);
    ASSERT_TRUE(x.ok() && y.ok());
    for (std::size_t r = 0; r < rows.num_rows(); ++r) {
      EXPECT_EQ(x->GetValue(r).ToString(), y->GetValue(r).ToString());
    }
  }
}

TEST(ScalarExpr, RefusesWhatItCannotComputeAsTheBatchSqlDoes) {
  for (const char* e : {"CAST(s AS TIMESTAMP)", "CAST(i AS BOOLEAN)", "CAST(ts AS INTEGER)",
                        "unix_timestamp(w, 'yyyy')"}) {
    SCOPED_TRACE(e);
    Result<ScalarExpr> c = CompileSql(e);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("not supported in live views yet"), std::string::npos)
        << c.status().message();
  }
}

TEST(ScalarExpr, EvaluateTrueKeepsOnlyTrueRows) {
  RecordBatch rows = RandomRows(200, 9);
  Result<ScalarExpr> c = CompileSql("i > 0 AND d IS NOT NULL");
  ASSERT_TRUE(c.ok());
  auto keep = c->EvaluateTrue(rows);
  ASSERT_TRUE(keep.ok());
  for (std::size_t r = 0; r < rows.num_rows(); ++r) {
    bool want = !rows.column(0).IsNull(r) && rows.column(0).Int(r) > 0 &&
                !rows.column(2).IsNull(r);
    EXPECT_EQ((*keep)[r] != 0, want) << r;
  }
}

TEST(ScalarExpr, ColumnOfAnotherTypeThanPlannedIsAnError) {
  Result<ScalarExpr> c = CompileSql("i + 1");
  ASSERT_TRUE(c.ok());
  RecordBatch b;
  b.row_ids().resize(1);
  Col s(TypeId::kString);
  s.AppendString("x");
  b.AddColumn("i", s);
  auto r = c->Evaluate(b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is string in the data but int64"), std::string::npos)
      << r.status().message();
}

TEST(SqliteDoubleText, AsSqlitePrintsIt) {
  EXPECT_EQ(SqliteDoubleText(2.0), "2.0");
  EXPECT_EQ(SqliteDoubleText(0.1), "0.1");
  EXPECT_EQ(SqliteDoubleText(1e20), "1.0e+20");
  EXPECT_EQ(SqliteDoubleText(1e-5), "1.0e-05");
  EXPECT_EQ(SqliteDoubleText(-0.0), "0.0");
  EXPECT_EQ(SqliteDoubleText(123456789012345678.0), "1.23456789012346e+17");
}

}  // namespace
}  // namespace pinstream::views
