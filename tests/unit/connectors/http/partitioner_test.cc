#include "connectors/http/partitioner.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace pinstream::connectors::http {
namespace {

TEST(PartitionerTest, KafkaMurmur2MatchesKafkasOwnTestVectors) {
  // org.apache.kafka.common.utils.UtilsTest.testMurmur2
  EXPECT_EQ(KafkaMurmur2("21"), -973932308);
  EXPECT_EQ(KafkaMurmur2("foobar"), -790332482);
  EXPECT_EQ(KafkaMurmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(KafkaMurmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(KafkaMurmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(KafkaMurmur2("abc"), 479470107);
  EXPECT_EQ(KafkaPartitionForKey("abc", 7), 479470107 % 7);
}

TEST(PartitionerTest, KinesisRoutesByMd5OverEqualHashKeyRanges) {
  // Expected shards computed independently: int(md5(key)) // (2**128 // shards).
  EXPECT_EQ(KinesisShardForKey("partition-1", 2), 1);
  EXPECT_EQ(KinesisShardForKey("partition-1", 4), 2);
  EXPECT_EQ(KinesisShardForKey("partition-2", 4), 0);
  EXPECT_EQ(KinesisShardForKey("abc", 3), 1);
  EXPECT_EQ(KinesisShardForKey("x", 1), 0);
  auto r = KinesisHashKeyRange(1, 4);
  EXPECT_EQ(r.first, "85070591730234615865843651857942052864");
  EXPECT_EQ(r.second, "170141183460469231731687303715884105727");
  EXPECT_EQ(KinesisHashKeyRange(0, 1).second, "340282366920938463463374607431768211455");
}

TEST(PartitionerTest, RoundRobinHandsOutConsecutivePositionsPerStream) {
  RoundRobin rr;
  EXPECT_EQ(rr.Take("a", 3), 0u);
  EXPECT_EQ(rr.Take("a", 1), 3u);
  EXPECT_EQ(rr.Take("b", 2), 0u);  // each stream counts on its own
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) rr.Take("c", 2);
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(rr.Take("c", 1), 8000u);  // no position handed out twice
}

}  // namespace
}  // namespace pinstream::connectors::http
