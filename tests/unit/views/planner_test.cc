#include "views/planner.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "views/sql_parser.h"

namespace pinstream::views {
namespace {

// The cleaned tables of conf/pinterest.yaml, as their queries derive them.
SchemaCatalog PinterestCatalog() {
  SchemaCatalog c;
  c.Add(TableInfo{"pin",
                  {{"ind", TypeId::kInt64},
                   {"unique_id", TypeId::kString},
                   {"title", TypeId::kString},
                   {"description", TypeId::kString},
                   {"follower_count", TypeId::kInt64},
                   {"poster_name", TypeId::kString},
                   {"tag_list", TypeId::kString},
                   {"is_image_or_video", TypeId::kString},
                   {"image_src", TypeId::kString},
                   {"save_location", TypeId::kString},
                   {"category", TypeId::kString}},
                  true,
                  "test"});
  c.Add(TableInfo{"geo",
                  {{"ind", TypeId::kInt64},
                   {"country", TypeId::kString},
                   {"coordinates", TypeId::kDoubleArray},
                   {"timestamp", TypeId::kTimestamp}},
                  true,
                  "test"});
  c.Add(TableInfo{"user",
                  {{"ind", TypeId::kInt64},
                   {"user_name", TypeId::kString},
                   {"age", TypeId::kInt64},
                   {"date_joined", TypeId::kTimestamp}},
                  true,
                  "test"});
  return c;
}

Result<PlanPtr> Plan(const std::string& sql, std::size_t statement = 0) {
  PS_ASSIGN_OR_RETURN(ParsedSql parsed, ParseSql("q.sql", sql));
  return PlanStatement(parsed, statement, PinterestCatalog());
}

PlanPtr MustPlan(const std::string& sql) {
  auto r = Plan(sql);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << "\n" << sql;
  return r.ok() ? *r : nullptr;
}

std::string PlanError(const std::string& sql) {
  auto r = Plan(sql);
  EXPECT_FALSE(r.ok()) << "planned:\n" << (r.ok() ? Explain(**r) : "");
  return r.ok() ? "" : r.status().message();
}

std::string Columns(const PlanNode& n) {
  std::string out;
  for (const auto& c : n.columns)
    out += (out.empty() ? "" : ", ") + c.name + " " + std::string(TypeName(c.type));
  return out;
}

// Every node of the plan (and of scalar subqueries in it), depth first.
void Collect(const PlanPtr& n, std::vector<const PlanNode*>& out) {
  out.push_back(n.get());
  auto visit = [&](const ExprPtr& e) {
    if (e && e->kind == ExprKind::kSubquery) Collect(e->subquery, out);
    if (e) {
      for (const auto& a : e->args) {
        if (a->kind == ExprKind::kSubquery) Collect(a->subquery, out);
      }
    }
  };
  visit(n->predicate);
  for (const auto& e : n->exprs) visit(e);
  for (const auto& in : n->inputs) Collect(in, out);
}

std::vector<const PlanNode*> NodesOf(const PlanPtr& root, NodeKind kind) {
  std::vector<const PlanNode*> all, out;
  Collect(root, all);
  for (const auto* n : all) {
    if (n->kind == kind) out.push_back(n);
  }
  return out;
}

std::string ReadShipped(const std::string& name) {
  std::ifstream in(std::string(PINSTREAM_SOURCE_DIR) + "/conf/queries/" + name);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// --- the eight shipped queries -------------------------------------------------------------------

TEST(PlannerShippedQueriesTest, Q1TopCategoryPerCountry) {
  PlanPtr p = MustPlan(ReadShipped("q1.sql"));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p), "country string, category string, category_count int64");
  EXPECT_EQ(p->kind, NodeKind::kSort);
  auto topn = NodesOf(p, NodeKind::kTopN);
  ASSERT_EQ(topn.size(), 1u);
  EXPECT_EQ(topn[0]->rank_function, "rank");
  EXPECT_EQ(topn[0]->limit, 1);
  ASSERT_EQ(topn[0]->partition.size(), 1u);
  EXPECT_EQ(topn[0]->partition[0]->ToString(), "counts.country");
  EXPECT_TRUE(topn[0]->order[0].descending);
  auto agg = NodesOf(p, NodeKind::kAggregate);
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(Columns(*agg[0]), "country string, category string, category_count int64");
  auto joins = NodesOf(p, NodeKind::kJoin);
  ASSERT_EQ(joins.size(), 1u);
  EXPECT_EQ(joins[0]->join, JoinKind::kInner);
  EXPECT_EQ(joins[0]->left_keys[0]->ToString(), "p.ind");
  EXPECT_EQ(joins[0]->right_keys[0]->ToString(), "g.ind");
}

TEST(PlannerShippedQueriesTest, Q2PostsPerCategoryPerYear) {
  PlanPtr p = MustPlan(ReadShipped("q2.sql"));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p), "post_year int64, category string, category_count int64");
  auto agg = NodesOf(p, NodeKind::kAggregate);
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0]->group[0]->ToString(), "year(g.timestamp)");  // GROUP BY an output name
  auto filters = NodesOf(p, NodeKind::kFilter);
  ASSERT_EQ(filters.size(), 1u);
  // The string bounds compare as timestamps.
  EXPECT_EQ(filters[0]->predicate->ToString(),
            "((g.timestamp >= TIMESTAMP '2018-01-01 00:00:00') and (g.timestamp < TIMESTAMP "
            "'2023-01-01 00:00:00'))");
}

TEST(PlannerShippedQueriesTest, Q3BothStatements) {
  std::string sql = ReadShipped("q3.sql");
  auto a = Plan(sql, 0);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(Columns(**a), "country string, poster_name string, follower_count int64");
  EXPECT_EQ(NodesOf(*a, NodeKind::kDistinct).size(), 1u);
  auto topn = NodesOf(*a, NodeKind::kTopN);
  ASSERT_EQ(topn.size(), 1u);
  EXPECT_EQ(topn[0]->limit, 1);  // bounded by the outer query's WHERE r = 1
  auto b = Plan(sql, 1);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(Columns(**b), "country string, follower_count int64");
  // The scalar subquery over the same WITH query: a global max.
  // `top` is inlined twice (the FROM and the subquery): two grouped aggregates and the global max.
  auto aggs = NodesOf(*b, NodeKind::kAggregate);
  ASSERT_EQ(aggs.size(), 3u);
  int global = 0;
  for (const auto* agg : aggs) global += agg->group.empty() ? 1 : 0;
  EXPECT_EQ(global, 1);
}

TEST(PlannerShippedQueriesTest, Q4ToQ8) {
  struct Case {
    const char* file;
    const char* columns;
    const char* aggregate;
  };
  for (const Case& c : {
           Case{"q4.sql", "age_group string, category string, category_count int64", "count(*)"},
           Case{"q5.sql", "age_group string, median_follower_count int64",
                "median(p.follower_count)"},
           Case{"q6.sql", "post_year int64, number_users_joined int64", "count(*)"},
           Case{"q7.sql", "post_year int64, median_follower_count int64",
                "median(p.follower_count)"},
           Case{"q8.sql", "age_group string, post_year int64, median_follower_count int64",
                "median(p.follower_count)"},
       }) {
    SCOPED_TRACE(c.file);
    PlanPtr p = MustPlan(ReadShipped(c.file));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(Columns(*p), c.columns);
    auto agg = NodesOf(p, NodeKind::kAggregate);
    ASSERT_EQ(agg.size(), 1u);
    EXPECT_EQ(agg[0]->aggregates[0].ToString(), c.aggregate);
  }
}

TEST(PlannerShippedQueriesTest, ExplainShowsTheTree) {
  PlanPtr p = MustPlan(ReadShipped("q5.sql"));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Explain(*p),
            "Sort age_group\n"
            "  Project age_group, median(p.follower_count) AS median_follower_count  → (age_group: "
            "string, median_follower_count: int64)\n"
            "    Aggregate group by CASE WHEN (u.age between 18 AND 24) THEN '18-24' WHEN (u.age "
            "between 25 AND 35) THEN '25-35' WHEN (u.age between 36 AND 50) THEN '36-50' ELSE "
            "'50+' END: median(p.follower_count) AS median_follower_count  → (age_group: string, "
            "median_follower_count: int64)\n"
            "      Join inner on p.ind = u.ind  → (left, right: 15 columns)\n"
            "        Scan pin AS p  → (ind: int64, unique_id: string, title: string, description: "
            "string, follower_count: int64, poster_name: string, tag_list: string, "
            "is_image_or_video: string, image_src: string, save_location: string, category: "
            "string)\n"
            "        Scan user AS u  → (ind: int64, user_name: string, age: int64, date_joined: "
            "timestamp)\n");
  // Scalar subqueries are shown under the node that uses them.
  PlanPtr q3b =
      MustPlan("SELECT title FROM pin WHERE follower_count > (SELECT avg(age) FROM user)");
  ASSERT_NE(q3b, nullptr);
  EXPECT_EQ(
      Explain(*q3b),
      "Project pin.title AS title  → (title: string)\n"
      "  Filter (pin.follower_count > (scalar subquery: avg(age)))\n"
      "    scalar subquery:\n"
      "      Project avg(user.age) AS avg(age)  → (avg(age): double)\n"
      "        Aggregate global: avg(user.age) AS avg(age)  → (avg(age): double)\n"
      "          Scan user  → (ind: int64, user_name: string, age: int64, date_joined: timestamp)\n"
      "    Scan pin  → (ind: int64, unique_id: string, title: string, description: string, "
      "follower_count: int64, poster_name: string, tag_list: string, is_image_or_video: "
      "string, image_src: string, save_location: string, category: string)\n");
}

// --- other queries: the planner is general -------------------------------------------------------

TEST(PlannerTest, ThreeTableJoinsAreLeftDeep) {
  PlanPtr p = MustPlan(
      "SELECT p.category, g.country, u.age FROM pin p JOIN geo g ON p.ind = g.ind "
      "LEFT JOIN user u ON u.ind = p.ind AND u.age > 30 WHERE g.country <> 'Fiji'");
  ASSERT_NE(p, nullptr);
  auto joins = NodesOf(p, NodeKind::kJoin);
  ASSERT_EQ(joins.size(), 2u);
  EXPECT_EQ(joins[0]->join, JoinKind::kLeft);
  EXPECT_EQ(joins[0]->inputs[0]->kind, NodeKind::kJoin);   // left-deep
  EXPECT_EQ(joins[0]->left_keys[0]->ToString(), "p.ind");  // oriented left = right
  EXPECT_EQ(joins[0]->right_keys[0]->ToString(), "u.ind");
  EXPECT_EQ(joins[0]->right_keys[0]->column, 0);  // over the right input's columns
  // The right-only condition of the LEFT JOIN filters the right side before the join.
  EXPECT_EQ(joins[0]->inputs[1]->kind, NodeKind::kFilter);
  EXPECT_EQ(joins[1]->join, JoinKind::kInner);
  EXPECT_EQ(Columns(*p), "category string, country string, age int64");
}

TEST(PlannerTest, CommaJoinsTakeTheirKeysFromWhere) {
  PlanPtr p = MustPlan(
      "SELECT g.country, count(*) FROM pin p, geo g, user u "
      "WHERE p.ind = g.ind AND u.ind = g.ind AND u.age >= 18 GROUP BY 1");
  ASSERT_NE(p, nullptr);
  auto joins = NodesOf(p, NodeKind::kJoin);
  ASSERT_EQ(joins.size(), 2u);
  EXPECT_EQ(joins[0]->left_keys[0]->ToString(), "g.ind");
  EXPECT_EQ(joins[0]->right_keys[0]->ToString(), "u.ind");
  auto filters = NodesOf(p, NodeKind::kFilter);
  ASSERT_EQ(filters.size(), 1u);
  EXPECT_EQ(filters[0]->predicate->ToString(), "(u.age >= 18)");
  EXPECT_EQ(Columns(*p), "country string, count(*) int64");
}

TEST(PlannerTest, JoinUsing) {
  PlanPtr p = MustPlan("SELECT ind, country FROM pin JOIN geo USING (ind)");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p), "ind int64, country string");
  EXPECT_EQ(NodesOf(p, NodeKind::kJoin)[0]->left_keys[0]->ToString(), "pin.ind");
}

TEST(PlannerTest, NestedWithQueries) {
  PlanPtr p = MustPlan(
      "WITH a AS (SELECT ind, category FROM pin WHERE category IS NOT NULL),"
      "     b AS (WITH c AS (SELECT * FROM a) SELECT category, count(*) AS n FROM c GROUP BY "
      "category)"
      " SELECT x.category, x.n FROM b x JOIN b y ON x.category = y.category");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p), "category string, n int64");
  // b is inlined at both references.
  EXPECT_EQ(NodesOf(p, NodeKind::kAggregate).size(), 2u);
  EXPECT_EQ(NodesOf(p, NodeKind::kScan).size(), 2u);
}

TEST(PlannerTest, WithColumnNames) {
  PlanPtr p = MustPlan("WITH t(k, c) AS (SELECT ind, category FROM pin) SELECT k, c FROM t");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p), "k int64, c string");
}

TEST(PlannerTest, HavingAndAggregates) {
  PlanPtr p = MustPlan(
      "SELECT category, count(*) AS n, count(DISTINCT poster_name) AS posters, "
      "sum(follower_count), "
      "avg(follower_count) AS mean, min(title), max(follower_count), "
      "percentile_approx(follower_count, 0.9) AS p90, "
      "percentile_disc(0.25) WITHIN GROUP (ORDER BY follower_count) AS p25, "
      "count(*) FILTER (WHERE follower_count > 1000) AS big "
      "FROM pin GROUP BY category HAVING count(*) > 10 AND avg(follower_count) > 100.5");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p),
            "category string, n int64, posters int64, sum(follower_count) int64, mean double, "
            "min(title) string, max(follower_count) int64, p90 int64, p25 int64, big int64");
  auto agg = NodesOf(p, NodeKind::kAggregate);
  ASSERT_EQ(agg.size(), 1u);
  std::string calls;
  for (const auto& a : agg[0]->aggregates) calls += a.ToString() + "; ";
  EXPECT_EQ(calls,
            "count(*); count(DISTINCT pin.poster_name); sum(pin.follower_count); "
            "avg(pin.follower_count); min(pin.title); max(pin.follower_count); "
            "percentile_approx(pin.follower_count, 0.9); percentile_disc(pin.follower_count, "
            "0.25); count(*) FILTER (WHERE (pin.follower_count > 1000)); ");
  auto filters = NodesOf(p, NodeKind::kFilter);
  ASSERT_EQ(filters.size(), 1u);  // HAVING, over the aggregate's columns
  EXPECT_EQ(filters[0]->inputs[0]->kind, NodeKind::kAggregate);
}

TEST(PlannerTest, GlobalAggregate) {
  PlanPtr p = MustPlan("SELECT count(*) AS n, max(age) - min(age) AS spread FROM user");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p), "n int64, spread int64");
  EXPECT_TRUE(NodesOf(p, NodeKind::kAggregate)[0]->group.empty());
}

TEST(PlannerTest, UnionAllAndUnion) {
  PlanPtr p = MustPlan(
      "SELECT ind, 'pin' AS source FROM pin UNION ALL SELECT ind, 'geo' FROM geo "
      "UNION ALL SELECT ind, 'user' FROM user ORDER BY 1 LIMIT 10");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p), "ind int64, source string");
  EXPECT_EQ(p->kind, NodeKind::kLimit);
  EXPECT_EQ(p->limit, 10);
  EXPECT_EQ(NodesOf(p, NodeKind::kUnionAll).size(), 2u);
  PlanPtr u = MustPlan("SELECT category FROM pin UNION SELECT country FROM geo");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->kind, NodeKind::kDistinct);
  // int64 and double unify to double.
  PlanPtr d = MustPlan("SELECT age FROM user UNION ALL SELECT avg(age) FROM user");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(Columns(*d), "age double");
}

TEST(PlannerTest, TopNPerGroup) {
  struct Case {
    const char* where;
    std::int64_t limit;
  };
  for (const Case& c :
       {Case{"rn <= 3", 3}, Case{"rn < 4", 3}, Case{"rn = 1", 1}, Case{"rn BETWEEN 1 AND 5", 5},
        Case{"2 >= rn", 2}, Case{"rn IN (1, 2)", 2}, Case{"rn <= 3 AND rn <= 2", 2}}) {
    SCOPED_TRACE(c.where);
    PlanPtr p = MustPlan(
        std::string("SELECT category, title, rn FROM (SELECT category, title, row_number() OVER "
                    "(PARTITION BY category ORDER BY follower_count DESC, title) AS rn FROM pin) t "
                    "WHERE ") +
        c.where);
    ASSERT_NE(p, nullptr);
    auto topn = NodesOf(p, NodeKind::kTopN);
    ASSERT_EQ(topn.size(), 1u);
    EXPECT_EQ(topn[0]->limit, c.limit);
    EXPECT_EQ(topn[0]->rank_function, "row_number");
    EXPECT_EQ(topn[0]->order.size(), 2u);
  }
  PlanPtr dense = MustPlan(
      "WITH r AS (SELECT country, ind, dense_rank() OVER (PARTITION BY country ORDER BY timestamp) "
      "AS d FROM geo) SELECT country, ind FROM r WHERE d <= 2");
  ASSERT_NE(dense, nullptr);
  EXPECT_EQ(NodesOf(dense, NodeKind::kTopN)[0]->rank_function, "dense_rank");
}

TEST(PlannerTest, OrderByLimitInsideASubqueryIsATopN) {
  PlanPtr p = MustPlan(
      "SELECT title FROM (SELECT title, follower_count FROM pin ORDER BY follower_count DESC "
      "LIMIT 5) t");
  ASSERT_NE(p, nullptr);
  auto topn = NodesOf(p, NodeKind::kTopN);
  ASSERT_EQ(topn.size(), 1u);
  EXPECT_TRUE(topn[0]->partition.empty());
  EXPECT_EQ(topn[0]->limit, 5);
  // ORDER BY alone inside a subquery changes nothing and is dropped.
  PlanPtr q = MustPlan("SELECT title FROM (SELECT title FROM pin ORDER BY title) t");
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(NodesOf(q, NodeKind::kSort).empty());
}

TEST(PlannerTest, Expressions) {
  PlanPtr p = MustPlan(
      "SELECT CASE category WHEN 'art' THEN 1 WHEN 'diy' THEN 2 ELSE 0 END AS c, "
      "follower_count * 2 + 1 AS f, follower_count / 3.0 AS g, -follower_count AS h, "
      "title || ' by ' || poster_name AS t, lower(category) AS l, coalesce(title, 'none') AS co, "
      "CAST(follower_count AS text) AS s, EXTRACT(YEAR FROM g.timestamp) AS y, "
      "upper(concat_ws('-', category, poster_name)) AS u, abs(p.ind - 10) AS a "
      "FROM pin p JOIN geo g ON p.ind = g.ind "
      "WHERE category IN ('art', 'diy', 'travel') AND title IS NOT NULL AND title LIKE '%a%' "
      "AND follower_count BETWEEN 10 AND 1e6 AND NOT (p.ind = 3 OR p.ind == 4) "
      "AND g.timestamp < TIMESTAMP '2022-01-01' AND category NOT IN ('x')");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p),
            "c int64, f int64, g double, h int64, t string, l string, co string, s string, y "
            "int64, u string, a int64");
}

TEST(PlannerTest, GroupByPositionsAndOrderByHiddenColumns) {
  PlanPtr p = MustPlan("SELECT category, count(*) FROM pin GROUP BY 1 ORDER BY 2 DESC, 1");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p), "category string, count(*) int64");
  EXPECT_EQ(p->order.size(), 2u);
  EXPECT_TRUE(p->order[0].descending);
  // ORDER BY a column not selected: carried to the sort, then dropped.
  PlanPtr h = MustPlan("SELECT title FROM pin ORDER BY follower_count DESC LIMIT 3");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(Columns(*h), "title string");
  EXPECT_EQ(h->kind, NodeKind::kProject);
  EXPECT_EQ(h->inputs[0]->kind, NodeKind::kLimit);
}

TEST(PlannerTest, ScalarSubquery) {
  PlanPtr p = MustPlan(
      "SELECT title FROM pin WHERE follower_count > (SELECT avg(follower_count) FROM pin)");
  ASSERT_NE(p, nullptr);
  auto filters = NodesOf(p, NodeKind::kFilter);
  ASSERT_EQ(filters.size(), 1u);
  EXPECT_EQ(filters[0]->predicate->args[1]->kind, ExprKind::kSubquery);
}

TEST(PlannerTest, ViewsReadOtherViewsThroughTheCatalog) {
  SchemaCatalog c = PinterestCatalog();
  c.Add(TableInfo{"q1_live", {{"country", TypeId::kString}, {"n", TypeId::kInt64}}, true, "view"});
  auto parsed = ParseSql("q.sql", "SELECT country FROM q1_live WHERE n > 3");
  ASSERT_TRUE(parsed.ok());
  auto r = PlanStatement(*parsed, 0, c);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

// --- refusals and errors: the construct and its file:line:column ---------------------------------

// Found by the views_planner fuzzer: a byte that is not UTF-8 in an identifier reached
// libpg_query's JSON tree and came back as an Internal error without a position.
TEST(PlannerErrorTest, TextThatIsNotUtf8IsRefusedWithItsPosition) {
  EXPECT_EQ(PlanError("SELECT ind FROM p\x8fn p JOIN geo g ON p.ind = g.ind"),
            "q.sql:1:18: the SQL is not valid UTF-8 (byte 0x8f)");
  EXPECT_EQ(PlanError("SELECT title\n  FROM pin WHERE title = 'é\xc3'"),
            "q.sql:2:28: the SQL is not valid UTF-8 (byte 0xc3)");
  EXPECT_EQ(PlanError("SELECT 1 FROM pin WHERE title = '\xed\xa0\x80'"),  // a surrogate
            "q.sql:1:34: the SQL is not valid UTF-8 (byte 0xed)");
  EXPECT_TRUE(Plan("SELECT title FROM pin WHERE title = 'é€𝄞'").ok());
}

// Found by the views_planner fuzzer (ASan): the error for an unknown column named the scans of
// tables with incomplete schemas through raw pointers, one of them a subquery's scan already freed.
TEST(PlannerErrorTest, AnUnknownColumnBesideASubqueryOverAnIncompleteTable) {
  SchemaCatalog c = PinterestCatalog();
  c.Add(TableInfo{"raw", {{"ind", TypeId::kInt64}, {"age", TypeId::kInt64}}, false, "test"});
  auto parsed =
      ParseSql("q.sql", "SELECT &itle FROM pin WHERE follower_count > (SELECT avg(age) FROM raw)");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto r = PlanStatement(*parsed, 0, c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("q.sql:1:9: column itle does not exist", 0), 0u)
      << r.status().message();
}

TEST(PlannerErrorTest, UnknownNamesWithSuggestions) {
  EXPECT_EQ(PlanError("SELECT categry FROM pin"),
            "q.sql:1:8: column categry does not exist (did you mean category?)");
  EXPECT_EQ(PlanError("SELECT 1 AS x FROM pins"),
            "q.sql:1:20: no table named pins (did you mean pin?)");
  EXPECT_EQ(PlanError("SELECT x.ind FROM pin p"), "q.sql:1:8: no table x in FROM (for x.ind)");
  EXPECT_EQ(PlanError("SELECT yeer(timestamp) FROM geo"),
            "q.sql:1:8: unknown function yeer (did you mean year?) — not supported in live views");
}

TEST(PlannerErrorTest, PositionsAreInTheFileAfterRewrites) {
  // `user` is quoted before parsing and a subquery gets an alias: positions still point at what
  // the file says.
  EXPECT_EQ(PlanError("-- comment\nSELECT u.agee FROM user u"),
            "q.sql:2:8: column u.agee does not exist (did you mean age?)");
  EXPECT_EQ(PlanError("SELECT 1 AS one FROM user u JOIN pin p ON p.ind = u.ind\n"
                      "  WHERE u.nme = 'x'"),
            "q.sql:2:9: column u.nme does not exist (did you mean age?)");
  EXPECT_EQ(PlanError("SELECT x FROM (SELECT ind FROM user)\nWHERE y = 1"),
            "q.sql:2:7: column y does not exist (columns: ind)");
  EXPECT_EQ(PlanError("SELECT x FROM (SELECT ind FROM user) WHERE ind = 1"),
            "q.sql:1:8: column x does not exist (columns: ind)");
}

TEST(PlannerErrorTest, AmbiguousAndUngroupedColumns) {
  EXPECT_EQ(PlanError("SELECT ind FROM pin p JOIN geo g ON p.ind = g.ind"),
            "q.sql:1:8: column ind is ambiguous (p.ind, g.ind)");
  EXPECT_EQ(
      PlanError("SELECT category, title, count(*) FROM pin GROUP BY category"),
      "q.sql:1:18: column pin.title must appear in GROUP BY or be used in an aggregate function");
  EXPECT_EQ(PlanError("SELECT category FROM pin WHERE count(*) > 1"),
            "q.sql:1:32: aggregate functions are not allowed in WHERE");
}

TEST(PlannerErrorTest, UnsupportedJoins) {
  EXPECT_EQ(PlanError("SELECT 1 AS x FROM pin p RIGHT JOIN geo g ON p.ind = g.ind"),
            "q.sql:1:37: RIGHT JOIN (write it as a LEFT JOIN with the tables swapped) is not "
            "supported in live views");
  EXPECT_EQ(PlanError("SELECT 1 AS x FROM pin p FULL JOIN geo g ON p.ind = g.ind"),
            "q.sql:1:36: FULL JOIN is not supported in live views");
  EXPECT_EQ(PlanError("SELECT 1 AS x FROM pin p JOIN geo g ON p.ind < g.ind"),
            "q.sql:1:46: a join without an equality between its two sides is not supported in live "
            "views");
  EXPECT_EQ(
      PlanError("SELECT 1 AS x FROM pin p, geo g"),
      "q.sql:1:27: a FROM item without an equality in WHERE with the tables before it (a cross "
      "join) is not supported in live views");
  EXPECT_EQ(PlanError("SELECT 1 AS x FROM pin p LEFT JOIN geo g ON p.ind < g.ind"),
            "q.sql:1:51: a join without an equality between its two sides is not supported in live "
            "views");
  EXPECT_EQ(PlanError("SELECT 1 AS x FROM pin p LEFT JOIN geo g ON p.ind = g.ind AND p.ind > "
                      "(SELECT max(ind) FROM user)"),
            "q.sql:1:69: a scalar subquery in a LEFT JOIN's ON condition is not supported in live "
            "views");
  EXPECT_EQ(
      PlanError("SELECT 1 AS x FROM pin p LEFT JOIN geo g ON p.ind = g.ind AND p.follower_count"),
      "q.sql:1:63: a condition must be boolean, not int64 (p.follower_count)");
  EXPECT_EQ(PlanError("SELECT 1 AS x FROM pin p JOIN geo g ON p.category = g.ind"),
            "q.sql:1:51: cannot apply = to (string, int64): p.category, g.ind");
}

TEST(PlannerErrorTest, UnsupportedSubqueriesAndWindows) {
  EXPECT_EQ(PlanError("SELECT title FROM pin WHERE ind IN (SELECT ind FROM geo)"),
            "q.sql:1:33: IN (SELECT …) is not supported in live views");
  EXPECT_EQ(PlanError("SELECT title FROM pin p WHERE EXISTS (SELECT 1 AS x FROM geo g)"),
            "q.sql:1:31: EXISTS (SELECT …) is not supported in live views");
  EXPECT_EQ(PlanError("SELECT title FROM pin p WHERE follower_count > (SELECT max(age) FROM user u "
                      "WHERE u.ind = p.ind)"),
            "q.sql:1:91: no table p in FROM (for p.ind); it is a column of an enclosing query, "
            "and correlated subqueries are not supported");
  EXPECT_EQ(PlanError("SELECT title FROM pin WHERE ind = (SELECT ind FROM geo)"),
            "q.sql:1:35: a scalar subquery that is not an aggregate without GROUP BY (it must "
            "return one row) is not supported in live views");
  EXPECT_EQ(PlanError("SELECT title, lag(title) OVER (ORDER BY ind) AS l FROM pin"),
            "q.sql:1:15: lag() OVER (…) (of window functions, only rank, dense_rank and "
            "row_number) is not supported in live views");
  EXPECT_EQ(
      PlanError("SELECT title, rank() OVER (PARTITION BY category ORDER BY ind) AS r FROM pin"),
      "q.sql:1:15: rank() must be bounded by a filter on its value in an enclosing query "
      "(top-N per group, e.g. WHERE r <= 10): ranking every row of a partition is not "
      "supported");
  EXPECT_EQ(PlanError("SELECT title FROM (SELECT title FROM pin LIMIT 3) t"),
            "q.sql:1:48: LIMIT inside a subquery needs an ORDER BY (which rows it keeps would be "
            "arbitrary)");
}

TEST(PlannerErrorTest, OtherRefusals) {
  EXPECT_EQ(PlanError("WITH RECURSIVE t AS (SELECT 1 AS x) SELECT x FROM t"),
            "q.sql:1:1: WITH RECURSIVE is not supported in live views");
  EXPECT_EQ(PlanError("SELECT category FROM pin INTERSECT SELECT country FROM geo"),
            "q.sql:1:1: INTERSECT is not supported in live views");
  EXPECT_EQ(PlanError("SELECT DISTINCT ON (category) title FROM pin"),
            "q.sql:1:1: DISTINCT ON is not supported in live views");
  EXPECT_EQ(PlanError("SELECT category, count(*) FROM pin GROUP BY ROLLUP (category)"),
            "q.sql:1:45: GROUPING SETS / ROLLUP / CUBE is not supported in live views");
  EXPECT_EQ(PlanError("SELECT now() AS t FROM pin"),
            "q.sql:1:8: unknown function now — not supported in live views");
  EXPECT_EQ(PlanError("SELECT 1 AS one"),
            "q.sql:1:1: SELECT without FROM is not supported in live views");
  EXPECT_EQ(PlanError("SELECT p.ind, g.ind FROM pin p JOIN geo g ON p.ind = g.ind"),
            "q.sql:1:1: the result has two columns named ind (columns 1 and 2): name them apart "
            "with AS");
}

TEST(PlannerErrorTest, Types) {
  EXPECT_EQ(PlanError("SELECT title FROM pin WHERE category > 5"),
            "q.sql:1:38: cannot apply > to (string, int64): pin.category, 5");
  EXPECT_EQ(PlanError("SELECT ind FROM geo WHERE timestamp > 'yesterday'"),
            "q.sql:1:39: 'yesterday' is compared with a timestamp but is not one: "
            "invalid timestamp 'yesterday': date part is not YYYY-MM-DD (expected 'YYYY-MM-DD "
            "HH:MM:SS' or ISO-8601)");
  EXPECT_EQ(PlanError("SELECT title FROM pin WHERE title"),
            "q.sql:1:29: a condition must be boolean, not string (pin.title)");
}

TEST(PlannerErrorTest, SyntaxErrorsAndOtherStatements) {
  auto r = ParseSql("q.sql", "SELECT category\nFROM pin\nWHERE AND x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "q.sql:3:7: syntax error at or near \"AND\"");
  auto ins = ParseSql("q.sql", "SELECT 1 AS x FROM pin;\nINSERT INTO pin VALUES (1)");
  ASSERT_FALSE(ins.ok());
  EXPECT_EQ(ins.status().message(), "q.sql:1:24: only SELECT statements can be views, not Insert");
}

}  // namespace
}  // namespace pinstream::views

namespace pinstream::views {
namespace {

TEST(PlannerTest, NegativeAndZeroConstants) {
  // libpg_query's JSON drops zero and folded negative integers; the planner reads them back.
  PlanPtr p = MustPlan("SELECT ind FROM pin WHERE follower_count > -3 AND ind <> 0 AND ind > - 12");
  ASSERT_NE(p, nullptr);
  auto filters = NodesOf(p, NodeKind::kFilter);
  ASSERT_EQ(filters.size(), 1u);
  EXPECT_EQ(filters[0]->predicate->ToString(),
            "(((pin.follower_count > -3) and (pin.ind <> 0)) and (pin.ind > -12))");
}

}  // namespace
}  // namespace pinstream::views

namespace pinstream::views {
namespace {

// TUMBLE / HOP in FROM: the table's columns and window_start, window_end (timestamps).
TEST(PlannerWindowTest, TumbleAndHopAddWindowColumns) {
  PlanPtr hop = MustPlan(
      "SELECT h.country, window_start, window_end, count(*) AS posts\n"
      "FROM HOP(geo, timestamp, INTERVAL '1' HOUR, INTERVAL '1 day') AS h\n"
      "GROUP BY h.country, window_start, window_end");
  ASSERT_NE(hop, nullptr);
  EXPECT_EQ(Columns(*hop), "country string, window_start timestamp, window_end timestamp, "
                           "posts int64");
  auto windows = NodesOf(hop, NodeKind::kWindow);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0]->window_slide_us, 3600LL * 1000000);
  EXPECT_EQ(windows[0]->window_size_us, 86400LL * 1000000);
  EXPECT_EQ(windows[0]->time_column, 3);
  EXPECT_EQ(Columns(*windows[0]), "ind int64, country string, coordinates array<double>, "
                                  "timestamp timestamp, window_start timestamp, "
                                  "window_end timestamp");
  EXPECT_NE(Explain(*hop).find("Window HOP(timestamp, slide 1h, size "), std::string::npos)
      << Explain(*hop);
  // TUMBLE: one window per row, qualified by the table's name; a WITH query as the table.
  PlanPtr tumble = MustPlan(
      "WITH g AS (SELECT * FROM geo WHERE country <> 'x')\n"
      "SELECT g.ind, window_end FROM TUMBLE(g, timestamp, INTERVAL '10' SECOND)");
  ASSERT_NE(tumble, nullptr);
  windows = NodesOf(tumble, NodeKind::kWindow);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(windows[0]->window_slide_us, 10000000);
  EXPECT_EQ(windows[0]->window_size_us, 10000000);
  EXPECT_NE(Explain(*tumble).find("Window TUMBLE(timestamp, 10s)"), std::string::npos)
      << Explain(*tumble);
  for (const char* interval : {"'500 milliseconds'", "'0.5' SECOND", "'2 mins'", "'1' MINUTE",
                               "'3 hours'", "'1' DAY"}) {
    EXPECT_NE(MustPlan(std::string("SELECT ind FROM TUMBLE(geo, timestamp, INTERVAL ") +
                       interval + ")"),
              nullptr)
        << interval;
  }
}

TEST(PlannerWindowTest, RefusedWindowForms) {
  EXPECT_EQ(PlanError("SELECT 1 AS x FROM generate_series(1, 3)"),
            "q.sql:1:20: the function generate_series in FROM (the window functions TUMBLE and "
            "HOP are) is not supported in live views");
  EXPECT_EQ(PlanError("SELECT ind FROM TUMBLE(geo, timestamp)"),
            "q.sql:1:17: TUMBLE takes (table, time column, INTERVAL size)");
  EXPECT_EQ(PlanError("SELECT ind FROM HOP(geo, timestamp, INTERVAL '1' HOUR)"),
            "q.sql:1:17: HOP takes (table, time column, INTERVAL slide, INTERVAL size)");
  EXPECT_EQ(PlanError("SELECT ind FROM TUMBLE(geo, ind, INTERVAL '1' HOUR)"),
            "q.sql:1:29: the window's time column ind is int64, not a timestamp");
  EXPECT_EQ(PlanError("SELECT ind FROM TUMBLE(geo, tstamp, INTERVAL '1' HOUR)"),
            "q.sql:1:29: column tstamp does not exist in TUMBLE's table");
  EXPECT_EQ(PlanError("SELECT ind FROM TUMBLE(geos, timestamp, INTERVAL '1' HOUR)"),
            "q.sql:1:24: no table named geos (did you mean geo?)");
  EXPECT_EQ(PlanError("SELECT ind FROM TUMBLE((SELECT 1), timestamp, INTERVAL '1' HOUR)"),
            "q.sql:1:24: TUMBLE's first argument names a table or a WITH query");
  EXPECT_EQ(PlanError("SELECT ind FROM TUMBLE(geo, timestamp, 10)"),
            "q.sql:1:40: TUMBLE takes an INTERVAL ('10' SECOND, '2 minutes') here");
  EXPECT_EQ(PlanError("SELECT ind FROM TUMBLE(geo, timestamp, INTERVAL '1' YEAR)"),
            "q.sql:1:40: this INTERVAL's unit (DAY, HOUR, MINUTE or SECOND are) is not supported "
            "in live views");
  EXPECT_EQ(PlanError("SELECT ind FROM TUMBLE(geo, timestamp, INTERVAL '1 fortnight')"),
            "q.sql:1:40: cannot read INTERVAL '1 fortnight' as a duration (an INTERVAL ('10' "
            "SECOND, '2 minutes'))");
  EXPECT_EQ(PlanError("SELECT ind FROM TUMBLE(geo, timestamp, INTERVAL '0' SECOND)"),
            "q.sql:1:40: a window's INTERVAL must be a whole number of microseconds > 0");
  EXPECT_EQ(PlanError("SELECT ind FROM HOP(geo, timestamp, INTERVAL '2' HOUR, INTERVAL '1' HOUR)"),
            "q.sql:1:37: HOP's slide (2h) is longer than its size (1h): rows between windows "
            "would be in none");
  EXPECT_EQ(PlanError("SELECT 1 AS x FROM TUMBLE(geo, timestamp, INTERVAL '1' HOUR) AS t(a, b)"),
            "q.sql:1:20: column names for a window function's result (TUMBLE AS t(a, …)) is not "
            "supported in live views");
}

}  // namespace
}  // namespace pinstream::views

namespace pinstream::views {
namespace {

// timestamp ± INTERVAL in the forms PostgreSQL, RisingWave and Flink users write, and comparisons
// of timestamps: a timestamp (the call add_interval over µs), a constant folded.
TEST(PlannerIntervalTest, TimestampPlusOrMinusAnInterval) {
  PlanPtr p = MustPlan(
      "SELECT g.timestamp - INTERVAL '10' SECOND AS a, g.timestamp + INTERVAL '10 seconds' AS b,\n"
      "  INTERVAL '1' HOUR + g.timestamp AS c, g.timestamp + '1 minute 30 seconds'::interval AS d,\n"
      "  g.timestamp - CAST('500 ms' AS INTERVAL) AS e, g.timestamp + INTERVAL '00:01:30' AS f,\n"
      "  g.timestamp - INTERVAL '1' DAY - INTERVAL '-2 hours' AS h\n"
      "FROM geo g JOIN user u ON g.ind = u.ind\n"
      "WHERE g.timestamp BETWEEN u.date_joined - INTERVAL '10' SECOND AND u.date_joined\n"
      "  AND g.timestamp > '2018-01-01 00:00:00' + INTERVAL '2 weeks'\n"
      "  AND u.date_joined <= g.timestamp");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Columns(*p),
            "a timestamp, b timestamp, c timestamp, d timestamp, e timestamp, f timestamp, "
            "h timestamp");
  std::string plan = Explain(*p);
  for (const char* text :
       {"(g.timestamp - INTERVAL '10 seconds') AS a", "(g.timestamp + INTERVAL '10 seconds') AS b",
        "(g.timestamp + INTERVAL '1 hour') AS c", "(g.timestamp + INTERVAL '90 seconds') AS d",
        "(g.timestamp - INTERVAL '500 milliseconds') AS e",
        "(g.timestamp + INTERVAL '90 seconds') AS f",
        "((g.timestamp - INTERVAL '1 day') + INTERVAL '2 hours') AS h",
        "(g.timestamp between (u.date_joined - INTERVAL '10 seconds') AND u.date_joined)",
        "(g.timestamp > TIMESTAMP '2018-01-15 00:00:00')", "(u.date_joined <= g.timestamp)"}) {
    EXPECT_NE(plan.find(text), std::string::npos) << text << "\n" << plan;
  }
}

TEST(PlannerIntervalTest, RefusedIntervalForms) {
  EXPECT_EQ(PlanError("SELECT INTERVAL '10' SECOND AS x FROM geo"),
            "q.sql:1:8: an INTERVAL other than added to or subtracted from a timestamp is not "
            "supported in live views");
  EXPECT_EQ(PlanError("SELECT ind + INTERVAL '10' SECOND AS x FROM geo"),
            "q.sql:1:12: an INTERVAL is added to or subtracted from a timestamp, not int64 "
            "(geo.ind)");
  EXPECT_EQ(PlanError("SELECT INTERVAL '10' SECOND - timestamp AS x FROM geo"),
            "q.sql:1:29: an INTERVAL minus a value (a timestamp minus an INTERVAL is supported)");
  EXPECT_EQ(PlanError("SELECT timestamp + INTERVAL '1' MONTH AS x FROM geo"),
            "q.sql:1:20: this INTERVAL's unit (DAY, HOUR, MINUTE or SECOND are) is not supported "
            "in live views");
  EXPECT_EQ(PlanError("SELECT timestamp + INTERVAL '1 month' AS x FROM geo"),
            "q.sql:1:20: cannot read INTERVAL '1 month' as a duration (an INTERVAL constant ('10' "
            "SECOND, '10 seconds', '1 minute 30 seconds'))");
  EXPECT_EQ(PlanError("SELECT timestamp + INTERVAL '0.5 us' AS x FROM geo"),
            "q.sql:1:20: an INTERVAL must be a whole number of microseconds (of at most 1e17): "
            "'0.5 us'");
  EXPECT_EQ(PlanError("SELECT timestamp - timestamp AS x FROM geo"),
            "q.sql:1:18: cannot apply - to (timestamp, timestamp): geo.timestamp, geo.timestamp");
  EXPECT_EQ(PlanError("SELECT 1 AS x FROM geo WHERE timestamp > 'soon' + INTERVAL '1' DAY"),
            "q.sql:1:42: 'soon' has an INTERVAL added but is not a timestamp: invalid timestamp "
            "'soon': date part is not YYYY-MM-DD (expected 'YYYY-MM-DD HH:MM:SS' or ISO-8601)");
}

// A LEFT JOIN's ON conditions beside its keys: those on the right side alone filter it first;
// the others (the left side's, both sides') decide matching inside the join (its residual); an
// inner join's become a filter above it.
TEST(PlannerRangeJoinTest, LeftJoinConditionsBesideTheKeysDecideMatching) {
  PlanPtr p = MustPlan(
      "SELECT p.ind, g.country, u.age FROM pin p\n"
      "LEFT JOIN user u ON p.ind = u.ind AND p.follower_count > 10\n"
      "LEFT JOIN geo g ON p.ind = g.ind AND g.country <> 'x'\n"
      "  AND g.timestamp BETWEEN u.date_joined - INTERVAL '1' DAY AND u.date_joined\n"
      "JOIN user v ON v.ind = p.ind AND v.date_joined < g.timestamp");
  ASSERT_NE(p, nullptr);
  std::string plan = Explain(*p);
  for (const char* text :
       {"Join left on p.ind = u.ind AND (p.follower_count > 10)",
        "Join left on p.ind = g.ind AND (g.timestamp between (u.date_joined - INTERVAL '1 day') "
        "AND u.date_joined)",
        "Filter (g.country <> 'x')", "Filter (v.date_joined < g.timestamp)",
        "Join inner on p.ind = v.ind"}) {
    EXPECT_NE(plan.find(text), std::string::npos) << text << "\n" << plan;
  }
  auto joins = NodesOf(p, NodeKind::kJoin);
  ASSERT_EQ(joins.size(), 3u);
  EXPECT_EQ(joins[0]->residual, nullptr);  // the inner join: a filter above
  ASSERT_NE(joins[1]->residual, nullptr);
  ASSERT_NE(joins[2]->residual, nullptr);
  // Over the joined row: the left's columns, then the right's.
  EXPECT_EQ(joins[2]->residual->args[0]->column, 4);  // p.follower_count
}

}  // namespace
}  // namespace pinstream::views
