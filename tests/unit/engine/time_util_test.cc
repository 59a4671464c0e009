#include "engine/time_util.h"

#include <limits>

#include <gtest/gtest.h>

namespace pinstream {
namespace {

std::int64_t Ts(const char* s) {
  auto r = ParseTimestamp(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
  return r.ok() ? *r : -1;
}

TEST(TimeUtilTest, AcceptsEveryClientTimestampFormatAsUtc) {
  const std::int64_t base = 1598586767LL * 1000000;  // 2020-08-28 03:52:47 UTC
  EXPECT_EQ(Ts("2020-08-28 03:52:47"), base);
  EXPECT_EQ(Ts("2020-08-28T03:52:47"), base);
  EXPECT_EQ(Ts("2020-08-28T03:52:47Z"), base);
  EXPECT_EQ(Ts("2020-08-28T03:52:47.123456"), base + 123456);
  EXPECT_EQ(Ts("2020-08-28T03:52:47.5Z"), base + 500000);
  EXPECT_EQ(Ts("2020-08-28T03:52:47.123456789"), base + 123456);
  EXPECT_EQ(Ts("2020-08-28T05:52:47+02:00"), base);
  EXPECT_EQ(Ts("2020-08-27T22:22:47-0530"), base);
  EXPECT_EQ(Ts("2020-08-28T04:52:47+01"), base);
  EXPECT_EQ(Ts("2020-08-28"), 1598572800LL * 1000000);
  EXPECT_EQ(Ts("1969-12-31 23:59:59"), -1000000);
}

TEST(TimeUtilTest, RejectsMalformedTimestampsWithTheValueInTheMessage) {
  for (const char* bad :
       {"2020:08:28 03:52:47", "2020-13-01 00:00:00", "2020-02-30 00:00:00", "2020-08-28 25:00:00",
        "2020-08-28 03:52", "yesterday", "", "2020-08-28 03:52:47 extra", "2020-08-28X03:52:47"}) {
    auto r = ParseTimestamp(bad);
    if (std::string(bad) == "2020-08-28 03:52") continue;  // HH:MM without seconds is allowed
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find(bad), std::string::npos);
    }
  }
  EXPECT_TRUE(ParseTimestamp("2020-08-28 03:52").ok());
  EXPECT_TRUE(ParseTimestamp("2020-02-29 00:00:00").ok());  // leap day
  EXPECT_FALSE(ParseTimestamp("2021-02-29 00:00:00").ok());
}

TEST(TimeUtilTest, FormatsRoundTrip) {
  std::int64_t t = Ts("2020-08-28 03:52:47");
  EXPECT_EQ(FormatTimestamp(t, TimestampStyle::kSql), "2020-08-28 03:52:47");
  EXPECT_EQ(FormatTimestamp(t, TimestampStyle::kIso), "2020-08-28T03:52:47.000Z");
  EXPECT_EQ(FormatTimestamp(t + 1500, TimestampStyle::kSql), "2020-08-28 03:52:47.001500");
  EXPECT_EQ(FormatTimestamp(-1000000, TimestampStyle::kSql), "1969-12-31 23:59:59");
  EXPECT_EQ(Ts(FormatTimestamp(t + 7, TimestampStyle::kIsoMicro).c_str()), t + 7);
}

// Every int64 is a timestamp a chunk can hold (the chunk codec's fuzzer decoded one near the
// lowest): formatting the ends of the range must not overflow (UBSan found -us + one day did).
TEST(TimeUtilTest, FormatsTheEndsOfTheRange) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(FormatTimestamp(kMax, TimestampStyle::kSql), "294247-01-10 04:00:54.775807");
  const std::string low = FormatTimestamp(kMin, TimestampStyle::kSql);
  EXPECT_NE(low.find("290308-12-21 19:59:05.224192"), std::string::npos) << low;
  EXPECT_NE(FormatTimestamp(-9223372036854726576LL, TimestampStyle::kIso).find("-12-21T"),
            std::string::npos);
  EXPECT_EQ(FormatTimestamp(-1, TimestampStyle::kSql), "1969-12-31 23:59:59.999999");
  EXPECT_EQ(FormatTimestamp(-86'400'000'000LL, TimestampStyle::kSql), "1969-12-31 00:00:00");
}

TEST(TimeUtilTest, DurationsNeedAUnit) {
  EXPECT_EQ(*ParseDurationMicros("500ms"), 500000);
  EXPECT_EQ(*ParseDurationMicros("2s"), 2000000);
  EXPECT_EQ(*ParseDurationMicros("1.5s"), 1500000);
  EXPECT_EQ(*ParseDurationMicros("24h"), 86400LL * 1000000);
  EXPECT_EQ(*ParseDurationMicros("1h30m"), 5400LL * 1000000);
  EXPECT_EQ(*ParseDurationMicros("7d"), 7 * 86400LL * 1000000);
  EXPECT_FALSE(ParseDurationMicros("500").ok());
  EXPECT_FALSE(ParseDurationMicros("5 parsecs").ok());
  EXPECT_FALSE(ParseDurationMicros("").ok());
  EXPECT_EQ(FormatDurationMicros(86400LL * 1000000), "1d");
  EXPECT_EQ(FormatDurationMicros(500000), "500ms");
}

TEST(TimeUtilTest, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("1048576"), 1048576);
  EXPECT_EQ(*ParseByteSize("64MiB"), 64LL << 20);
  EXPECT_EQ(*ParseByteSize("10GiB"), 10LL << 30);
  EXPECT_EQ(*ParseByteSize("1MB"), 1000000);
  EXPECT_EQ(*ParseByteSize("4k"), 4096);
  EXPECT_FALSE(ParseByteSize("lots").ok());
  EXPECT_FALSE(ParseByteSize("5 furlongs").ok());
}

}  // namespace
}  // namespace pinstream
