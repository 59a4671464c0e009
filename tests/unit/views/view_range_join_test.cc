// Interval arithmetic and range conditions in live views: timestamp ± INTERVAL, comparisons of
// timestamps, and joins whose ON has conditions beside its equality keys (the standard Nexmark q7:
// bids joined to the window's maximum with a BETWEEN on the time) — planned, lowered and run the
// way the engine runs a view (view_graph_harness.h), checked after every batch of random weighted
// changes, across restarts, against SQLite. SQLite has no INTERVAL: the reference writes the
// arithmetic its way, on unix_micros (to_timestamp(unix_micros(t) - 10000000) for
// t - INTERVAL '10' SECOND), as view_window_test does for windows.
#include <gtest/gtest.h>

#include "tests/unit/views/view_graph_harness.h"

namespace pinstream::views {
namespace {

using testing::Bid;
using testing::ChangeDriver;
using testing::kBase;
using testing::kSecond;
using testing::LowerSql;
using testing::RunViewProperty;
using testing::TestTable;

// bid: auction 0..3, bidder 0..2, price 1..12, date_time within 40 s of kBase (quarter seconds,
// so some bids lie exactly on a window's end or another bid's bound) or null.
std::vector<Value> MakeBid(std::mt19937_64& rng) {
  auto pick = [&](int n) {
    return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n));
  };
  return {
      Value::Int64(pick(4)), Value::Int64(pick(3)), Value::Int64(1 + pick(12)),
      pick(12) != 0 ? Value::Timestamp(kBase + pick(40) * kSecond + pick(4) * 250000) : Value()};
}

// person: id 0..3 (the bidders and then some), name, since (a timestamp within 40 s, or null).
TestTable Person() {
  return {"person",
          {{"id", TypeId::kInt64}, {"name", TypeId::kString}, {"since", TypeId::kTimestamp}}};
}

std::vector<Value> MakePerson(std::mt19937_64& rng) {
  auto pick = [&](int n) {
    return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n));
  };
  static const char* kNames[] = {"ann", "bo", "cy"};
  return {Value::Int64(pick(4)), Value::String(kNames[pick(3)]),
          pick(8) != 0 ? Value::Timestamp(kBase + pick(40) * kSecond) : Value()};
}

void Check(const std::string& sql, const std::string& reference, std::uint64_t seed,
           int shards = 1) {
  SCOPED_TRACE(sql);
  std::vector<TestTable> tables = {Bid(), Person()};
  Result<LoweredView> v = LowerSql(tables, sql);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ChangeDriver driver(tables, {MakeBid, MakePerson}, seed);
  RunViewProperty(*v, driver, reference, 60, 13, 12, shards);
}

TEST(ViewInterval, TimestampArithmeticAndComparisonsKeepTheSqlAnswer) {
  Check(
      "SELECT auction, date_time + INTERVAL '1' MINUTE AS later,\n"
      "  date_time - INTERVAL '1.5 seconds' AS earlier, INTERVAL '2 hours' + date_time AS h\n"
      "FROM bid\n"
      "WHERE date_time > TIMESTAMP '2018-01-01 00:00:20' - INTERVAL '5' SECOND\n"
      "  AND date_time + INTERVAL '250 ms' <= '2018-01-01 00:00:35'",
      "SELECT auction, to_timestamp(unix_micros(date_time) + 60000000) AS later,\n"
      "  to_timestamp(unix_micros(date_time) - 1500000) AS earlier,\n"
      "  to_timestamp(unix_micros(date_time) + 7200000000) AS h\n"
      "FROM bid WHERE unix_micros(date_time) > " +
          std::to_string(kBase + 15 * kSecond) +
          " AND unix_micros(date_time) + 250000 <= " + std::to_string(kBase + 35 * kSecond),
      601);
  // Timestamps compared across a join, and grouped by a shifted time.
  Check(
      "SELECT p.name, b.date_time - INTERVAL '10' SECOND AS shifted, count(*) AS n\n"
      "FROM bid b JOIN person p ON b.bidder = p.id\n"
      "WHERE b.date_time >= p.since\n"
      "GROUP BY p.name, b.date_time - INTERVAL '10' SECOND",
      "SELECT p.name, to_timestamp(unix_micros(b.date_time) - 10000000) AS shifted, "
      "count(*) AS n FROM bid b JOIN person p ON b.bidder = p.id\n"
      "WHERE unix_micros(b.date_time) >= unix_micros(p.since)\n"
      "GROUP BY p.name, unix_micros(b.date_time)",
      602, 2);
}

// The standard Nexmark q7 (nexmark/nexmark's q7.sql): every bid joined to the maximum price of
// each 10 s window on the price, kept when its time is within the window's 10 s before its end.
TEST(ViewInterval, StandardNexmarkQ7KeepsTheSqlAnswer) {
  std::string windows =
      "(SELECT b.*, to_timestamp(unix_micros(b.date_time) / 10000000 * 10000000 + 10000000) AS "
      "window_end FROM bid b WHERE b.date_time IS NOT NULL)";
  Check(
      "SELECT B.auction, B.price, B.bidder, B.date_time\n"
      "FROM bid B\n"
      "JOIN (SELECT max(price) AS maxprice, window_end AS date_time\n"
      "      FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND)\n"
      "      GROUP BY window_start, window_end) B1\n"
      "ON B.price = B1.maxprice\n"
      "WHERE B.date_time BETWEEN B1.date_time - INTERVAL '10' SECOND AND B1.date_time",
      "SELECT B.auction, B.price, B.bidder, B.date_time FROM bid B\n"
      "JOIN (SELECT max(price) AS maxprice, window_end AS date_time FROM " +
          windows +
          " GROUP BY window_end) B1\n"
          "ON B.price = B1.maxprice\n"
          "WHERE unix_micros(B.date_time) BETWEEN unix_micros(B1.date_time) - 10000000 AND "
          "unix_micros(B1.date_time)",
      603, 2);
}

// Inner joins with range conditions in ON beside the equality keys (a band join on time).
TEST(ViewRangeJoin, InnerJoinsWithRangeConditionsKeepTheSqlAnswer) {
  Check(
      "SELECT a.auction, a.price, b.price AS bp, b.date_time\n"
      "FROM bid a JOIN bid b ON a.auction = b.auction\n"
      "  AND b.date_time BETWEEN a.date_time - INTERVAL '5' SECOND\n"
      "                      AND a.date_time + INTERVAL '5' SECOND\n"
      "  AND a.price < b.price",
      "SELECT a.auction, a.price, b.price AS bp, b.date_time\n"
      "FROM bid a JOIN bid b ON a.auction = b.auction\n"
      "  AND unix_micros(b.date_time) BETWEEN unix_micros(a.date_time) - 5000000\n"
      "                                   AND unix_micros(a.date_time) + 5000000\n"
      "  AND a.price < b.price",
      604);
}

// A LEFT JOIN's conditions beside its keys decide which right rows match (a left row none matches
// is emitted with nulls), they do not filter after the join: as the right rows of a key come and
// go, each left row's matches and its null row are retracted and emitted again.
TEST(ViewRangeJoin, LeftJoinConditionsDecideMatchingAndRetract) {
  std::uint64_t seed = 610;
  struct Case {
    std::string view, reference;
    int shards;
  };
  const std::vector<Case> cases = {
      // Both sides' columns (a null `since` matches nothing).
      {"SELECT b.auction, b.price, p.name FROM bid b LEFT JOIN person p ON b.bidder = p.id AND "
       "b.date_time >= p.since",
       "SELECT b.auction, b.price, p.name FROM bid b LEFT JOIN person p ON b.bidder = p.id AND "
       "unix_micros(b.date_time) >= unix_micros(p.since)",
       1},
      // The left side's alone: a left row it is false for passes with nulls.
      {"SELECT b.auction, b.price, p.name, p.since FROM bid b LEFT JOIN person p "
       "ON b.bidder = p.id AND b.price > 6",
       "SELECT b.auction, b.price, p.name, p.since FROM bid b LEFT JOIN person p "
       "ON b.bidder = p.id AND b.price > 6",
       2},
      // A time band with intervals beside a condition on the right alone.
      {"SELECT b.auction, b.date_time, p.name FROM bid b LEFT JOIN person p ON b.bidder = p.id "
       "AND b.date_time BETWEEN p.since - INTERVAL '5' SECOND AND p.since + INTERVAL '5' SECOND "
       "AND p.name <> 'bo'",
       "SELECT b.auction, b.date_time, p.name FROM bid b LEFT JOIN person p ON b.bidder = p.id "
       "AND unix_micros(b.date_time) BETWEEN unix_micros(p.since) - 5000000 AND "
       "unix_micros(p.since) + 5000000 AND p.name <> 'bo'",
       1},
      // Aggregated above: counts move as matches come and go.
      {"SELECT p.name, count(*) AS n, count(p.id) AS matched, max(b.price) AS top FROM bid b "
       "LEFT JOIN person p ON b.bidder = p.id AND b.date_time < p.since + INTERVAL '10' SECOND "
       "GROUP BY p.name",
       "SELECT p.name, count(*) AS n, count(p.id) AS matched, max(b.price) AS top FROM bid b "
       "LEFT JOIN person p ON b.bidder = p.id AND unix_micros(b.date_time) < "
       "unix_micros(p.since) + 10000000 GROUP BY p.name",
       1},
      // A self-join on a hot key: both sides outgrow the key's entry (rows of their own).
      {"SELECT a.price, a.date_time, b.price AS later FROM bid a LEFT JOIN bid b "
       "ON a.auction = b.auction AND b.date_time > a.date_time + INTERVAL '20' SECOND "
       "AND b.price >= a.price",
       "SELECT a.price, a.date_time, b.price AS later FROM bid a LEFT JOIN bid b "
       "ON a.auction = b.auction AND unix_micros(b.date_time) > unix_micros(a.date_time) + "
       "20000000 AND b.price >= a.price",
       1},
      // Two joins alike but for their conditions are two joins (not one subplan shared).
      {"SELECT b.auction, p.name FROM bid b LEFT JOIN person p ON b.bidder = p.id AND b.price > 6 "
       "UNION ALL SELECT b.auction, p.name FROM bid b LEFT JOIN person p ON b.bidder = p.id AND "
       "b.price > 3",
       "SELECT b.auction, p.name FROM bid b LEFT JOIN person p ON b.bidder = p.id AND b.price > 6 "
       "UNION ALL SELECT b.auction, p.name FROM bid b LEFT JOIN person p ON b.bidder = p.id AND "
       "b.price > 3",
       1},
  };
  for (const auto& c : cases) Check(c.view, c.reference, seed++, c.shards);
}

}  // namespace
}  // namespace pinstream::views
