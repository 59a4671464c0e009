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
  std::vector<TestTable> tables = {T(), {"u", {{"g", TypeId::kString}, {"z", TypeId::kInt64}}}};
  auto lower = [&](const std::string& sql) -> std::string {
    Result<LoweredView> v = LowerSql(tables, sql);
    EXPECT_FALSE(v.ok());
    return v.ok() ? "" : v.status().message();
  };
  EXPECT_EQ(lower("SELECT t.g, u.z\nFROM t JOIN u ON t.g = u.g"),
            "v.sql:2:22: a join is not lowered to a running view yet");
  EXPECT_NE(lower("SELECT g FROM (SELECT g, rank() OVER (PARTITION BY k ORDER BY x) AS r FROM t) "
                  "WHERE r = 1")
                .find("a top-N (rank with a bound on it) is not lowered to a running view yet"),
            std::string::npos);
  EXPECT_NE(lower("SELECT g FROM t UNION ALL SELECT g FROM t").find("UNION ALL is not lowered"),
            std::string::npos);
  EXPECT_NE(lower("SELECT g FROM t ORDER BY g LIMIT 3").find("LIMIT / OFFSET is not lowered"),
            std::string::npos);
  EXPECT_NE(lower("SELECT g FROM t WHERE x = (SELECT max(x) FROM t)").find("a scalar subquery"),
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
  EXPECT_NE(all.find("in1: changes of table t (g, k, x, y)"), std::string::npos) << all;
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

}  // namespace
}  // namespace pinstream::views
