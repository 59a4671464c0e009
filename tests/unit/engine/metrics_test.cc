// The metrics registry as the admin API reads it: counters of a family with their labels, and
// quantiles of what a histogram observed between two snapshots.
#include "engine/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace pinstream {
namespace {

TEST(MetricsTest, CounterValuesListAFamilysCountersWithTheirLabels) {
  MetricsRegistry m;
  m.GetCounter("requests_total", "h", {{"api", "a"}, {"status", "200"}})->Inc(3);
  m.GetCounter("requests_total", "h", {{"api", "b"}, {"status", "429"}})->Inc(2);
  m.GetCounter("other_total", "h")->Inc();
  auto values = m.CounterValues("requests_total");
  ASSERT_EQ(values.size(), 2u);
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values[0].first, (Labels{{"api", "a"}, {"status", "200"}}));
  EXPECT_EQ(values[0].second, 3u);
  EXPECT_EQ(values[1].first, (Labels{{"api", "b"}, {"status", "429"}}));
  EXPECT_EQ(values[1].second, 2u);
  EXPECT_TRUE(m.CounterValues("no_such_total").empty());
}

TEST(MetricsTest, QuantilesOfTheObservationsBetweenTwoSnapshots) {
  Histogram h({0.001, 0.01, 0.1, 1});
  for (int i = 0; i < 100; ++i) h.Observe(0.5);  // before: all slow
  Histogram::Snapshot before = h.snapshot();
  for (int i = 0; i < 10; ++i) h.Observe(0.005);  // since: all between 1 and 10 ms
  Histogram::Snapshot d = SnapshotDelta(h.snapshot(), before);
  EXPECT_EQ(d.count, 10u);
  EXPECT_GT(SnapshotQuantile(d, 0.99), 0.001);
  EXPECT_LE(SnapshotQuantile(d, 0.99), 0.01);
  EXPECT_GT(h.Quantile(0.5), 0.1);  // overall, the slow ones dominate
  EXPECT_EQ(SnapshotQuantile(SnapshotDelta(before, before), 0.5), 0);
}

}  // namespace
}  // namespace pinstream
