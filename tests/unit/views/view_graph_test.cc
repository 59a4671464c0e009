// Lowered views: a view's SQL planned and lowered to an operator graph, run the way the engine
// runs a multi-input query (view_graph_harness.h), keeps the SQL's answer — SQLite running the
// same SQL over the accumulated input — after every batch of random weighted changes, across
// restarts from committed state.
#include <gtest/gtest.h>

#include "tests/unit/views/view_graph_harness.h"

namespace pinstream::views {
namespace {

using testing::ChangeDriver;
using testing::LowerSql;
using testing::RunViewProperty;
using testing::TestTable;

// t: g string (3 values or null), k int64 0..2, x int64 -5..5 or null, y double (a multiple of
// 0.25: exact, so sums do not depend on their order) or null.
TestTable T() {
  return {"t",
          {{"g", TypeId::kString},
           {"k", TypeId::kInt64},
           {"x", TypeId::kInt64},
           {"y", TypeId::kDouble}}};
}

std::vector<Value> MakeT(std::mt19937_64& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  static const char* kG[] = {"a", "b", "c"};
  return {pick(6) != 0 ? Value::String(kG[pick(3)]) : Value(), Value::Int64(pick(3)),
          pick(5) != 0 ? Value::Int64(pick(11) - 5) : Value(),
          pick(5) != 0 ? Value::Double((pick(41) - 20) / 4.0) : Value()};
}

// u: g string (4 values, one not in t, or null), z int64 0..3.
TestTable U() { return {"u", {{"g", TypeId::kString}, {"z", TypeId::kInt64}}}; }

std::vector<Value> MakeU(std::mt19937_64& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  static const char* kG[] = {"a", "b", "c", "d"};
  return {pick(7) != 0 ? Value::String(kG[pick(4)]) : Value(), Value::Int64(pick(4))};
}

// w: z int64 0..4, v string.
TestTable W() { return {"w", {{"z", TypeId::kInt64}, {"v", TypeId::kString}}}; }

std::vector<Value> MakeW(std::mt19937_64& rng) {
  static const char* kV[] = {"p", "q"};
  return {Value::Int64(static_cast<std::int64_t>(rng() % 5)), Value::String(kV[rng() % 2])};
}

// Lowers `sql` over t, u, w and checks it against SQLite over random changes of all three.
void CheckSql(const std::string& sql, std::uint64_t seed, int batches = 70, int shards = 1) {
  SCOPED_TRACE(sql);
  std::vector<TestTable> tables = {T(), U(), W()};
  Result<LoweredView> v = LowerSql(tables, sql);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ChangeDriver driver(tables, {MakeT, MakeU, MakeW}, seed);
  RunViewProperty(*v, driver, sql, batches, 13, 12, shards);
}

TEST(ViewGraph, ShardedGraphsKeepTheSqlAnswer) {
  std::uint64_t seed = 210;
  for (const char* sql : {
           "SELECT t.g, t.k, t.x, u.g AS ug, u.z FROM t LEFT JOIN u ON t.g = u.g",
           "SELECT t.x, u.z FROM t JOIN u ON t.k + 1 = u.z",
           "SELECT u.z, count(*) AS n, median(t.x) AS m FROM t LEFT JOIN u ON t.g = u.g GROUP BY "
           "u.z",
           "SELECT g, x FROM t WHERE x = (SELECT max(x) FROM t)",
           "SELECT g, k, x, r FROM (SELECT g, k, x, rank() OVER (PARTITION BY g ORDER BY x DESC) "
           "AS r FROM t) WHERE r <= 2",
           "SELECT g, k, x, y FROM t ORDER BY y NULLS FIRST, x, g, k LIMIT 4 OFFSET 3",
           "SELECT g FROM t UNION SELECT g FROM u",
           "SELECT count(*), sum(x), median(y) FROM t",
       }) {
    CheckSql(sql, seed++, 50, 3);
  }
}

TEST(ViewJoin, InnerAndLeftJoinsKeepTheSqlAnswer) {
  std::uint64_t seed = 100;
  for (const char* sql : {
           "SELECT t.g, t.x, u.z FROM t JOIN u ON t.g = u.g",
           // Left: unmatched rows with nulls, retracted by their first match, back after the
           // last match leaves; NULL keys never match.
           "SELECT t.g, t.k, t.x, u.g AS ug, u.z FROM t LEFT JOIN u ON t.g = u.g",
           "SELECT t.g, u.z FROM t LEFT JOIN u ON t.g = u.g AND u.z > 1",
           // Keys computed from expressions; two keys.
           "SELECT t.x, u.z FROM t JOIN u ON t.k + 1 = u.z",
           "SELECT t.x, u.z FROM t JOIN u ON t.g = u.g AND t.k = u.z",
           // Multi-way, left-deep, inner then left.
           "SELECT t.k, u.z, w.v FROM t JOIN u ON t.g = u.g LEFT JOIN w ON u.z = w.z",
           "SELECT t.g, w.v, count(*) AS n FROM t LEFT JOIN u ON t.g = u.g LEFT JOIN w ON u.z = "
           "w.z GROUP BY t.g, w.v",
           // Join then aggregate: medians moving as matches come and go.
           "SELECT u.z, count(*) AS n, median(t.x) AS m, count(t.x) FROM t LEFT JOIN u ON t.g = "
           "u.g GROUP BY u.z",
           // A self-join (two inputs reading one table).
           "SELECT a.g, a.x, b.x AS bx FROM t a JOIN t b ON a.k = b.k WHERE a.x > 2 AND b.y < 0",
           // Comma join with the equality in WHERE.
           "SELECT u.z, w.v FROM u, w WHERE u.z = w.z AND u.g <> 'a'",
       }) {
    CheckSql(sql, seed++);
  }
}

// A key's rows on a side live in one state entry (its bucket) until they outgrow it, then in
// entries of their own: a hot key grows past that on both sides, while its matches come and go
// (a left join's null rows retracted and back), is retracted to nothing and comes back — the
// answer checked after every batch, with restarts from committed state in between.
TEST(ViewJoin, HotKeysOutgrowTheirBucketAndEmptyAgain) {
  const std::vector<TestTable> tables = {T(), U(), W()};
  for (const char* sql : {
           "SELECT t.g, t.k, t.x, u.g AS ug, u.z FROM t LEFT JOIN u ON t.g = u.g",
           "SELECT t.x, u.z FROM t JOIN u ON t.g = u.g",
           "SELECT u.z, count(*) AS n, median(t.x) AS m FROM t LEFT JOIN u ON t.g = u.g GROUP BY "
           "u.z",
       }) {
    SCOPED_TRACE(sql);
    Result<LoweredView> v = LowerSql(tables, sql);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    testing::GraphRun run(*v);
    testing::Reference ref(tables);
    // Distinct t rows of key 'a' (k, x, y vary) and u rows of key 'a'.
    auto t_row = [](int i) {
      return std::vector<Value>{Value::String("a"), Value::Int64(i % 3), Value::Int64(i % 11 - 5),
                                Value::Double(i / 4.0)};
    };
    auto u_row = [](int i) { return std::vector<Value>{Value::String("a"), Value::Int64(i)}; };
    auto batch_of = [](const TestTable& table,
                       const std::vector<std::pair<std::vector<Value>, std::int64_t>>& changes) {
      RecordBatch b;
      b.row_ids().resize(changes.size());
      std::vector<std::int64_t> weights;
      for (std::size_t c = 0; c < table.columns.size(); ++c) {
        ::pinstream::Column col(table.columns[c].type);
        for (const auto& [row, w] : changes) EXPECT_TRUE(col.AppendValue(row[c]).ok());
        b.AddColumn(table.columns[c].name, std::move(col));
      }
      for (const auto& ch : changes) weights.push_back(ch.second);
      b.SetWeights(std::move(weights));
      return b;
    };
    int step = 0;
    auto apply = [&](const std::vector<std::pair<std::vector<Value>, std::int64_t>>& t_changes,
                     const std::vector<std::pair<std::vector<Value>, std::int64_t>>& u_changes) {
      std::map<std::string, RecordBatch> changes;
      if (!t_changes.empty()) changes.emplace("t", batch_of(tables[0], t_changes));
      if (!u_changes.empty()) changes.emplace("u", batch_of(tables[1], u_changes));
      for (const auto& [row, w] : t_changes)
        for (std::int64_t c = 0; c < std::abs(w); ++c)
          w > 0 ? ref.Insert("t", row) : ref.Delete("t", row);
      for (const auto& [row, w] : u_changes)
        for (std::int64_t c = 0; c < std::abs(w); ++c)
          w > 0 ? ref.Insert("u", row) : ref.Delete("u", row);
      run.Batch(changes);
      ASSERT_EQ(run.accumulated(), ref.Query(sql)) << "step " << step;
      if (++step % 7 == 0) run.Restart();
    };
    for (int round = 0; round < 2; ++round) {
      // Grow: 10 t rows a batch (up to 150: far past the bucket's inline size), a u row every
      // third batch, retracted again two batches later (a left join's null rows leave and come
      // back while u holds that row only).
      for (int i = 0; i < 15; ++i) {
        std::vector<std::pair<std::vector<Value>, std::int64_t>> tc, uc;
        for (int j = 0; j < 10; ++j) tc.push_back({t_row(10 * i + j), j % 4 == 0 ? 2 : 1});
        if (i % 3 == 0) uc.push_back({u_row(i), 1});
        if (i % 3 == 2) uc.push_back({u_row(i - 2), -1});
        if (i % 5 == 4) {  // kept: the key outgrows its bucket on u too (90 rows)
          for (int j = 0; j < 30; ++j) uc.push_back({u_row(1000 + 100 * i + j), 1});
        }
        apply(tc, uc);
        if (::testing::Test::HasFatalFailure()) return;
      }
      // Shrink to nothing: u's rows leave at once (t's rows come back with nulls), then t's, ten
      // a batch.
      std::vector<std::pair<std::vector<Value>, std::int64_t>> uc;
      for (int i = 4; i < 15; i += 5) {
        for (int j = 0; j < 30; ++j) uc.push_back({u_row(1000 + 100 * i + j), -1});
      }
      apply({}, uc);
      if (::testing::Test::HasFatalFailure()) return;
      for (int i = 0; i < 15; ++i) {
        std::vector<std::pair<std::vector<Value>, std::int64_t>> tc;
        for (int j = 0; j < 10; ++j) tc.push_back({t_row(10 * i + j), j % 4 == 0 ? -2 : -1});
        apply(tc, {});
        if (::testing::Test::HasFatalFailure()) return;
      }
      EXPECT_TRUE(run.accumulated().empty());
    }
  }
}

TEST(ViewJoin, ScalarSubqueriesAreJoinsToAOneRowAggregate) {
  std::uint64_t seed = 130;
  for (const char* sql : {
           "SELECT g, x FROM t WHERE x = (SELECT max(x) FROM t)",
           "SELECT g, x - (SELECT min(z) FROM u) AS d FROM t WHERE x > 0",
           "WITH top AS (SELECT g, max(x) AS m FROM t GROUP BY g) SELECT g, m FROM top WHERE m = "
           "(SELECT max(m) FROM top)",
           "SELECT g, count(*) AS n FROM t GROUP BY g HAVING count(*) > (SELECT count(*) FROM u) "
           "/ 3",
       }) {
    CheckSql(sql, seed++);
  }
}

TEST(ViewTopN, RanksWithTiesAsSqlDefinesThem) {
  std::uint64_t seed = 150;
  for (const char* sql : {
           "SELECT g, k, x, r FROM (SELECT g, k, x, rank() OVER (PARTITION BY g ORDER BY x DESC) "
           "AS r FROM t) WHERE r <= 2",
           "SELECT g, x, y, r FROM (SELECT g, x, y, dense_rank() OVER (PARTITION BY k ORDER BY x, "
           "y DESC) AS r FROM t) WHERE r BETWEEN 2 AND 3",
           // row_number over every column: only equal rows tie (their numbers are interchangeable).
           "SELECT k, g, x, y, n FROM (SELECT *, row_number() OVER (PARTITION BY k ORDER BY x "
           "NULLS LAST, y DESC, g) AS n FROM t) WHERE n < 4",
           // A category's rank changes when counts change (Q1's shape).
           "WITH c AS (SELECT g, k, count(*) AS n FROM t GROUP BY g, k) SELECT g, k, n FROM "
           "(SELECT *, rank() OVER (PARTITION BY g ORDER BY n DESC) AS r FROM c) WHERE r = 1",
           // The rank over an expression of the partition and order.
           "SELECT band, x, r FROM (SELECT x, k % 2 AS band, rank() OVER (PARTITION BY k % 2 ORDER "
           "BY x * -1) AS r FROM t) WHERE r IN (1, 3)",
       }) {
    CheckSql(sql, seed++);
  }
}

TEST(ViewTopN, OrderByLimitOffsetIsATopNOverOnePartition) {
  std::uint64_t seed = 170;
  for (const char* sql : {
           "SELECT g, k, x, y FROM t ORDER BY x DESC, y, g, k LIMIT 5",
           "SELECT g, k, x, y FROM t ORDER BY y NULLS FIRST, x, g, k LIMIT 4 OFFSET 3",
           "SELECT g, count(*) AS n FROM t GROUP BY g ORDER BY n DESC, g LIMIT 2",
           "SELECT x FROM t ORDER BY k, g, y, x LIMIT 3",  // hidden ORDER BY columns
           "SELECT g, count(*) AS n FROM (SELECT g, x FROM t ORDER BY x, g, k, y LIMIT 6) GROUP "
           "BY g",
       }) {
    CheckSql(sql, seed++);
  }
}

TEST(ViewUnion, UnionAllAndUnion) {
  std::uint64_t seed = 190;
  for (const char* sql : {
           "SELECT g, x FROM t WHERE x > 0 UNION ALL SELECT g, z FROM u",
           "SELECT g FROM t UNION SELECT g FROM u",
           "SELECT x FROM t UNION ALL SELECT y FROM t",  // int64 and double: double
           "SELECT g, count(*) FROM (SELECT g FROM t UNION ALL SELECT g FROM u WHERE z > 1) GROUP "
           "BY g",
       }) {
    CheckSql(sql, seed++);
  }
}

TEST(Lowering, OneTableViewsKeepTheirSqlAnswer) {
  std::uint64_t seed = 20;
  for (const char* sql : {
           "SELECT g, count(*) AS n, sum(x) AS s FROM t WHERE y > 0 GROUP BY g HAVING count(*) > 1 "
           "ORDER BY g",
           "SELECT DISTINCT g, k FROM t WHERE x IS NOT NULL",
           "SELECT CASE WHEN x BETWEEN 0 AND 2 THEN 'low' WHEN x > 2 THEN 'high' END AS band, "
           "median(y) AS m, count(DISTINCT g) FROM t GROUP BY band",
           "SELECT count(*), max(y), percentile_approx(x, 0.9) FROM t",
           "WITH c AS (SELECT g, count(*) AS n FROM t GROUP BY g) SELECT n, count(*) FROM c GROUP "
           "BY n",
           "SELECT k * 10 + coalesce(x, -1) AS code, upper(g) FROM t WHERE g IN ('a', 'b') OR x "
           "IS NULL",
           "SELECT * FROM t",
       }) {
    SCOPED_TRACE(sql);
    Result<LoweredView> v = LowerSql({T()}, sql);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->Tables(), std::vector<std::string>{"t"});
    ChangeDriver driver({T()}, {MakeT}, seed++);
    RunViewProperty(*v, driver, sql, 80);
  }
}

TEST(Lowering, WhatIsNotLoweredIsRefusedWithItsPosition) {
  std::vector<TestTable> tables = {T(), U()};
  auto lower = [&](const std::string& sql) -> std::string {
    Result<LoweredView> v = LowerSql(tables, sql);
    EXPECT_FALSE(v.ok()) << sql;
    return v.ok() ? "" : v.status().message();
  };
  EXPECT_EQ(lower("SELECT t.g, u.z\nFROM t JOIN u ON t.y = u.z"),
            "v.sql:2:18: a join key of two types (double = int64) is not lowered to a running "
            "view yet");
  EXPECT_EQ(lower("SELECT g FROM t\nORDER BY g OFFSET 3"),
            "v.sql:1:1: OFFSET without LIMIT is not lowered to a running view yet");
  EXPECT_NE(lower("SELECT g FROM t WHERE x > 0 LIMIT 3").find("LIMIT / OFFSET without ORDER BY"),
            std::string::npos);
  EXPECT_NE(lower("SELECT sum(x * (SELECT max(z) FROM u)) FROM t").find("a scalar subquery here"),
            std::string::npos);
  EXPECT_NE(lower("SELECT CAST(g AS TIMESTAMP) FROM t").find("v.sql:1:8: CAST to timestamp"),
            std::string::npos);
}

TEST(Lowering, TheGraphHasTheEnginesMultiInputShape) {
  Result<LoweredView> v =
      LowerSql({T()}, "SELECT g, count(*) AS n FROM t WHERE y > 0 GROUP BY g HAVING count(*) > 1");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->inputs.size(), 1u);
  EXPECT_EQ(v->inputs[0].name, "in1");
  EXPECT_EQ(v->inputs[0].table, "t");
  EXPECT_EQ(v->columns, (std::vector<std::string>{"g", "n"}));
  // Each node reads the one before it, by name.
  std::string prev = "in1";
  for (const auto& n : v->nodes) {
    EXPECT_EQ(n.inputs, std::vector<std::string>{prev});
    EXPECT_EQ(n.spec->ConsumedInputs(), n.inputs);
    prev = n.name;
  }
  std::string all;
  for (const auto& l : v->graph) all += l + "\n";
  EXPECT_EQ(v->graph.size(), v->inputs.size() + v->nodes.size());
  // Only the columns the view reads (g, y) are kept; k and x become nulls.
  EXPECT_NE(all.find("in1: changes of table t (g, y; 2 other columns not read)"), std::string::npos)
      << all;
  EXPECT_NE(all.find("n1 ← in1: filter "), std::string::npos) << all;
  EXPECT_NE(all.find("aggregate group by "), std::string::npos) << all;

  // As a query: one input (its select), then one slot per node, each with a tag of its own.
  QueryConfig q;
  q.name = "q";
  AddToQuery(*v, &q);
  BuildQuerySlots(q);
  ASSERT_EQ(q.inputs.size(), 1u);
  ASSERT_EQ(q.slots.size(), 1 + v->nodes.size());
  EXPECT_EQ(q.slots[0].input_tags, std::vector<std::uint16_t>{0});
  std::uint16_t tag = 0;
  for (std::size_t i = 1; i < q.slots.size(); ++i) {
    EXPECT_EQ(q.slots[i].name, v->nodes[i - 1].name);
    EXPECT_EQ(q.slots[i].input_tags, std::vector<std::uint16_t>{tag});
    EXPECT_TRUE(q.slots[i].joins_inputs);
    EXPECT_NE(q.slots[i].output_tag, tag);
    tag = q.slots[i].output_tag;
  }
}

// A WITH query read twice (Q3 (b): its rows and the max over them) is lowered once: one scan,
// one aggregate, its node read by both consumers (the slot before the last passes the rows on);
// the answer stays SQL's, also where the shared node meets itself (a self-join, UNION ALL).
TEST(Lowering, ASubplanUsedTwiceIsComputedOnce) {
  const std::string q3b =
      "WITH top AS (SELECT g, max(x) AS m FROM t GROUP BY g) SELECT g, m FROM top WHERE m = "
      "(SELECT max(m) FROM top)";
  Result<LoweredView> v = LowerSql({T()}, q3b);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->inputs.size(), 1u);
  std::string all;
  for (const auto& l : v->graph) all += l + "\n";
  std::size_t grouped = 0;
  for (std::size_t at = 0; (at = all.find("aggregate group by", at)) != std::string::npos; ++at)
    ++grouped;
  EXPECT_EQ(grouped, 1u) << all;
  EXPECT_NE(all.find("[a subplan used twice or more: computed once]"), std::string::npos) << all;
  std::map<std::string, int> readers;
  for (const auto& n : v->nodes) {
    for (const auto& i : n.inputs) ++readers[i];
  }
  int shared = 0;
  for (const auto& [name, count] : readers) shared += count == 2 ? 1 : 0;
  EXPECT_EQ(shared, 1) << all;
  QueryConfig q;
  q.name = "q";
  AddToQuery(*v, &q);
  BuildQuerySlots(q);
  int passing = 0;
  for (const auto& slot : q.slots) passing += slot.passes_on.empty() ? 0 : 1;
  EXPECT_EQ(passing, 1);

  // Without shared inputs (a configured query) a second consumer is still an error.
  QueryConfig plain;
  plain.name = "p";
  AddToQuery(*v, &plain);
  plain.shared_inputs = false;
  EXPECT_THROW(BuildQuerySlots(plain), ConfigError);

  std::uint64_t seed = 700;
  for (const std::string& sql : {
           q3b,
           std::string("WITH c AS (SELECT g, count(*) AS n FROM t WHERE x > -3 GROUP BY g) "
                       "SELECT a.g, a.n AS n1, b.n AS n2 FROM c a JOIN c b ON a.g = b.g"),
           std::string("WITH c AS (SELECT g, sum(x) AS s FROM t GROUP BY g) SELECT g, s FROM c "
                       "UNION ALL SELECT g, s FROM c WHERE s > 0"),
           std::string("WITH j AS (SELECT t.g, t.x, u.z FROM t JOIN u ON t.g = u.g) SELECT z, "
                       "count(*) AS n FROM j WHERE x >= (SELECT avg(x) FROM j) GROUP BY z"),
       }) {
    CheckSql(sql, seed++);
    CheckSql(sql, seed++, 40, 3);
  }
}

}  // namespace
}  // namespace pinstream::views
