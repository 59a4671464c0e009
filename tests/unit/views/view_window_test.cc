// Windows in live views: TUMBLE / HOP in FROM planned, lowered (ViewWindow) and run the way the
// engine runs a view (view_graph_harness.h) keep the answer SQLite gives — after every batch of
// random weighted changes, across restarts — to the same query written without window functions
// (the batch SQL has none: the reference expands each row into its windows with the arithmetic
// of operators/aggregate's windows, window_start = floor(t / slide) * slide - j * slide).
#include <gtest/gtest.h>

#include "tests/unit/views/view_graph_harness.h"
#include "views/view_window.h"

namespace pinstream::views {
namespace {

using testing::Bid;
using testing::ChangeDriver;
using testing::kBase;
using testing::kSecond;
using testing::LowerSql;
using testing::RunViewProperty;
using testing::TestTable;

// bid: auction 0..4, bidder 0..2, price 1..20, date_time within 40 s of kBase (or null).
std::vector<Value> MakeBid(std::mt19937_64& rng) {
  auto pick = [&](int n) { return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n)); };
  return {Value::Int64(pick(5)), Value::Int64(pick(3)), Value::Int64(1 + pick(20)),
          pick(12) != 0 ? Value::Timestamp(kBase + pick(40) * kSecond + pick(3) * 250000)
                        : Value()};
}

// The rows of bid with window_start / window_end for windows of `size` s every `slide` s (size a
// multiple of slide), as the batch SQL writes it.
std::string Windowed(int slide, int size) {
  std::string s = std::to_string(static_cast<std::int64_t>(slide) * kSecond);
  std::string z = std::to_string(static_cast<std::int64_t>(size) * kSecond);
  std::string ks = "SELECT 0 AS j";
  for (int j = 1; j < size / slide; ++j) ks += " UNION ALL SELECT " + std::to_string(j);
  std::string start = "(unix_micros(b.date_time) / " + s + " - k.j) * " + s;
  return "(SELECT b.*, to_timestamp(" + start + ") AS window_start, to_timestamp(" + start +
         " + " + z + ") AS window_end FROM bid b, (" + ks +
         ") k WHERE b.date_time IS NOT NULL)";
}

void Check(const std::string& sql, const std::string& reference, std::uint64_t seed,
           int shards = 1) {
  SCOPED_TRACE(sql);
  std::vector<TestTable> tables = {Bid()};
  Result<LoweredView> v = LowerSql(tables, sql);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ChangeDriver driver(tables, {MakeBid}, seed);
  RunViewProperty(*v, driver, reference, 60, 13, 12, shards);
}

TEST(ViewWindow, WindowStartsAreTheAggregatesWindows) {
  std::vector<std::int64_t> got;
  auto starts = [&](std::int64_t t, std::int64_t size, std::int64_t slide) {
    got.clear();
    ForEachWindowStart(t, size, slide, [&](std::int64_t s) { got.push_back(s); });
    return got;
  };
  EXPECT_EQ(starts(25, 10, 10), (std::vector<std::int64_t>{20}));
  EXPECT_EQ(starts(20, 10, 10), (std::vector<std::int64_t>{20}));
  EXPECT_EQ(starts(25, 10, 2), (std::vector<std::int64_t>{24, 22, 20, 18, 16}));
  EXPECT_EQ(starts(-3, 10, 10), (std::vector<std::int64_t>{-10}));
  EXPECT_EQ(starts(-4, 4, 2), (std::vector<std::int64_t>{-4, -6}));
  EXPECT_EQ(starts(7, 5, 3), (std::vector<std::int64_t>{6, 3}));  // slide not dividing size
}

TEST(ViewWindow, TumblingAndHoppingAggregatesKeepTheSqlAnswer) {
  Check("SELECT auction, window_start, window_end, count(*) AS bids, max(price) AS top\n"
        "FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND)\n"
        "GROUP BY auction, window_start, window_end",
        "SELECT auction, window_start, window_end, count(*) AS bids, max(price) AS top FROM " +
            Windowed(10, 10) + " GROUP BY auction, window_start, window_end",
        501);
  Check("SELECT h.auction, window_start, count(*) AS num\n"
        "FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND) AS h\n"
        "GROUP BY h.auction, window_start",
        "SELECT auction, window_start, count(*) AS num FROM " + Windowed(2, 10) +
            " GROUP BY auction, window_start",
        502, 3);
  // Every column of every window a row is in (weights: retractions leave each window).
  Check("SELECT * FROM HOP(bid, date_time, INTERVAL '5' SECOND, INTERVAL '15' SECOND)",
        "SELECT auction, bidder, price, date_time, window_start, window_end FROM " +
            Windowed(5, 15),
        503);
}

// Nexmark q5 (hot items: the auctions with the most bids per sliding window) and q7 (the highest
// bid per tumbling window), as RisingWave writes them with HOP / TUMBLE.
TEST(ViewWindow, NexmarkQ5AndQ7KeepTheSqlAnswer) {
  std::string counts = "SELECT auction, count(*) AS num, window_start AS starttime FROM " +
                       Windowed(2, 10) + " GROUP BY auction, window_start";
  Check("SELECT AuctionBids.auction, AuctionBids.num FROM (\n"
        "  SELECT bid.auction, count(*) AS num, window_start AS starttime\n"
        "  FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)\n"
        "  GROUP BY window_start, bid.auction) AS AuctionBids\n"
        "JOIN (\n"
        "  SELECT max(CountBids.num) AS maxn, CountBids.starttime_c FROM (\n"
        "    SELECT count(*) AS num, window_start AS starttime_c\n"
        "    FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)\n"
        "    GROUP BY bid.auction, window_start) AS CountBids\n"
        "  GROUP BY CountBids.starttime_c) AS MaxBids\n"
        "ON AuctionBids.starttime = MaxBids.starttime_c AND AuctionBids.num >= MaxBids.maxn",
        "SELECT a.auction, a.num FROM (" + counts + ") a JOIN (SELECT max(num) AS maxn, "
            "starttime FROM (" + counts + ") GROUP BY starttime) m ON a.starttime = m.starttime "
            "AND a.num >= m.maxn",
        504);
  Check("SELECT B.auction, B.price, B.bidder, B.date_time\n"
        "FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND) B\n"
        "JOIN (SELECT max(price) AS maxprice, window_start\n"
        "      FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND) GROUP BY window_start) B1\n"
        "ON B.price = B1.maxprice AND B.window_start = B1.window_start",
        "SELECT b.auction, b.price, b.bidder, b.date_time FROM " + Windowed(10, 10) +
            " b JOIN (SELECT max(price) AS maxprice, window_start FROM " + Windowed(10, 10) +
            " GROUP BY window_start) b1 ON b.price = b1.maxprice AND b.window_start = "
            "b1.window_start",
        505, 2);
}

}  // namespace
}  // namespace pinstream::views
