// The eight shipped queries (conf/queries/q1..q8.sql) lowered to running view graphs: after every
// batch of random changes of pin, geo and user — inserts, duplicates, retractions, pins arriving
// before their geo or user row (and the reverse), restarts from committed state — each view's
// accumulated output equals SQLite (with the batch SQL's functions) running the file's statement
// over the accumulated tables.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/unit/views/view_graph_harness.h"

namespace pinstream::views {
namespace {

using testing::ChangeDriver;
using testing::RunViewProperty;
using testing::TestTable;

// The columns of conf/pinterest.yaml's cleaned tables the queries read. Small domains so that
// joins match, groups collide and ranks tie.
std::vector<TestTable> Tables() {
  return {
      {"pin",
       {{"ind", TypeId::kInt64},
        {"poster_name", TypeId::kString},
        {"follower_count", TypeId::kInt64},
        {"category", TypeId::kString}}},
      {"geo",
       {{"ind", TypeId::kInt64}, {"country", TypeId::kString}, {"timestamp", TypeId::kTimestamp}}},
      {"user",
       {{"ind", TypeId::kInt64}, {"age", TypeId::kInt64}, {"date_joined", TypeId::kTimestamp}}}};
}

int Pick(std::mt19937_64& rng, int n) {
  return static_cast<int>(rng() % static_cast<std::uint64_t>(n));
}

// A timestamp in [first_year, first_year + years) at a whole second.
Value Timestamp(std::mt19937_64& rng, int first_year, int years) {
  std::int64_t days = DaysFromCivil(first_year + Pick(rng, years), 1 + Pick(rng, 12),
                                    1 + static_cast<unsigned>(Pick(rng, 28)));
  return Value::Timestamp((days * 86400 + Pick(rng, 86400)) * 1'000'000);
}

std::vector<Value> MakePin(std::mt19937_64& rng) {
  static const char* kPoster[] = {"ann", "bob", "cy", "dee"};
  static const char* kCategory[] = {"art", "food", "travel", "diy"};
  return {Value::Int64(Pick(rng, 10)), Value::String(kPoster[Pick(rng, 4)]),
          Pick(rng, 6) != 0 ? Value::Int64(Pick(rng, 20)) : Value(),
          Value::String(kCategory[Pick(rng, 4)])};
}

std::vector<Value> MakeGeo(std::mt19937_64& rng) {
  static const char* kCountry[] = {"Chad", "Fiji", "Peru"};
  return {Value::Int64(Pick(rng, 10)), Value::String(kCountry[Pick(rng, 3)]),
          Timestamp(rng, 2016, 9)};
}

std::vector<Value> MakeUser(std::mt19937_64& rng) {
  return {Value::Int64(Pick(rng, 10)), Value::Int64(15 + Pick(rng, 45)), Timestamp(rng, 2013, 10)};
}

std::string ReadQuery(int i) {
  std::ifstream f(std::string(PINSTREAM_SOURCE_DIR) + "/conf/queries/q" + std::to_string(i) +
                  ".sql");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void CheckShippedQueries(int shards, std::uint64_t seed) {
  std::vector<TestTable> tables = Tables();
  for (int q = 1; q <= 8; ++q) {
    std::string text = ReadQuery(q);
    ASSERT_FALSE(text.empty()) << "q" << q;
    auto parsed = ParseSql("q" + std::to_string(q) + ".sql", text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    for (std::size_t s = 0; s < parsed->statements.size(); ++s) {
      SCOPED_TRACE("q" + std::to_string(q) + " statement " + std::to_string(s + 1));
      auto plan = PlanStatement(*parsed, s, testing::CatalogOf(tables));
      ASSERT_TRUE(plan.ok()) << plan.status().ToString();
      auto view = LowerPlan(*parsed, s, **plan);
      ASSERT_TRUE(view.ok()) << view.status().ToString();
      ChangeDriver driver(tables, {MakePin, MakeGeo, MakeUser}, seed++);
      RunViewProperty(*view, driver, StatementText(*parsed, s), 60, 11, 10, shards);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(ViewQueries, TheEightShippedQueriesLowerAndKeepTheirAnswer) { CheckShippedQueries(1, 300); }

// Three shards: every keyed operator's rows routed by its key columns' names, as the exchange
// does; global aggregates, scalar subqueries' joins and LIMIT gathered on one shard.
TEST(ViewQueries, TheEightShippedQueriesOnThreeShards) { CheckShippedQueries(3, 400); }

}  // namespace
}  // namespace pinstream::views
