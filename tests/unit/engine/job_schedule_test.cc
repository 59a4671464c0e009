#include "engine/job_schedule.h"

#include <gtest/gtest.h>

#include "engine/time_util.h"

namespace pinstream {
namespace {

std::int64_t T(const char* s) { return *ParseTimestamp(s); }
std::string Next(const JobSchedule& s, const char* after) {
  return FormatTimestamp(s.NextAfter(T(after)), TimestampStyle::kSql);
}

TEST(JobScheduleTest, EveryIsAlignedToTheEpoch) {
  auto daily = *JobSchedule::Every(24LL * 3600 * 1'000'000);
  EXPECT_EQ(Next(daily, "2026-11-22 15:04:05"), "2026-11-23 00:00:00");
  EXPECT_EQ(Next(daily, "2026-11-23 00:00:00"), "2026-11-24 00:00:00");  // strictly after
  auto quarter = *JobSchedule::Every(15LL * 60 * 1'000'000);
  EXPECT_EQ(Next(quarter, "2026-11-22 15:04:05"), "2026-11-22 15:15:00");
  EXPECT_EQ(Next(quarter, "2026-11-22 23:59:59"), "2026-11-23 00:00:00");
  EXPECT_FALSE(JobSchedule::Every(500'000).ok());
  EXPECT_EQ(daily.description(), "every 1d");
}

TEST(JobScheduleTest, DailyAt) {
  auto s = *JobSchedule::DailyAt("02:00");
  EXPECT_EQ(Next(s, "2026-11-22 01:59:59"), "2026-11-22 02:00:00");
  EXPECT_EQ(Next(s, "2026-11-22 02:00:00"), "2026-11-23 02:00:00");
  EXPECT_EQ(Next(s, "2026-12-31 03:00:00"), "2027-01-01 02:00:00");
  for (const char* bad : {"2:00", "24:00", "12:60", "ab:cd", "02-00"}) {
    EXPECT_FALSE(JobSchedule::DailyAt(bad).ok()) << bad;
  }
}

TEST(JobScheduleTest, CronFields) {
  // Weekdays at 02:30 (2026-11-22 is a Sunday).
  auto wd = *JobSchedule::Cron("30 2 * * 1-5");
  EXPECT_EQ(Next(wd, "2026-11-22 00:00:00"), "2026-11-23 02:30:00");
  EXPECT_EQ(Next(wd, "2026-11-27 02:30:00"), "2026-11-30 02:30:00");  // Friday → Monday
  // Steps, lists and names.
  auto steps = *JobSchedule::Cron("*/20 9-17/4 * JAN,jul *");
  EXPECT_EQ(Next(steps, "2026-11-22 00:00:00"), "2027-01-01 09:00:00");
  EXPECT_EQ(Next(steps, "2027-01-01 09:00:00"), "2027-01-01 09:20:00");
  EXPECT_EQ(Next(steps, "2027-01-01 09:40:00"), "2027-01-01 13:00:00");
  EXPECT_EQ(Next(steps, "2027-01-31 17:40:00"), "2027-07-01 09:00:00");
  // "a/n" runs from a to the field's end; 7 and SUN are Sunday.
  auto from = *JobSchedule::Cron("50/5 0 * * 7");
  EXPECT_EQ(Next(from, "2026-11-22 00:51:00"), "2026-11-22 00:55:00");
  EXPECT_EQ(Next(from, "2026-11-22 00:55:00"), "2026-11-29 00:50:00");
  EXPECT_EQ(Next(*JobSchedule::Cron("0 0 * * sun"), "2026-11-22 00:00:00"), "2026-11-29 00:00:00");
  // Both day fields restricted: either matches (the 1st of the month or any Monday).
  auto either = *JobSchedule::Cron("0 0 1 * MON");
  EXPECT_EQ(Next(either, "2026-11-22 00:00:00"), "2026-11-23 00:00:00");
  EXPECT_EQ(Next(either, "2026-11-30 00:00:00"), "2026-12-01 00:00:00");
  // Only day-of-month restricted: day-of-week is not a second condition.
  EXPECT_EQ(Next(*JobSchedule::Cron("0 0 13 * *"), "2026-11-22 00:00:00"), "2026-12-13 00:00:00");
  // Leap day.
  EXPECT_EQ(Next(*JobSchedule::Cron("0 12 29 2 *"), "2026-03-01 00:00:00"), "2028-02-29 12:00:00");
}

TEST(JobScheduleTest, CronMacros) {
  EXPECT_EQ(Next(*JobSchedule::Cron("@daily"), "2026-11-22 15:00:00"), "2026-11-23 00:00:00");
  EXPECT_EQ(Next(*JobSchedule::Cron("@midnight"), "2026-11-22 15:00:00"), "2026-11-23 00:00:00");
  EXPECT_EQ(Next(*JobSchedule::Cron("@hourly"), "2026-11-22 15:00:00"), "2026-11-22 16:00:00");
  EXPECT_EQ(Next(*JobSchedule::Cron("@weekly"), "2026-11-22 15:00:00"), "2026-11-29 00:00:00");
  EXPECT_EQ(Next(*JobSchedule::Cron("@monthly"), "2026-11-22 15:00:00"), "2026-12-01 00:00:00");
  EXPECT_EQ(Next(*JobSchedule::Cron("@yearly"), "2026-11-22 15:00:00"), "2027-01-01 00:00:00");
  EXPECT_EQ(Next(*JobSchedule::Cron("@annually"), "2026-11-22 15:00:00"), "2027-01-01 00:00:00");
}

TEST(JobScheduleTest, CronErrorsNameTheProblem) {
  auto msg = [](const char* e) {
    auto s = JobSchedule::Cron(e);
    EXPECT_FALSE(s.ok()) << e;
    return s.ok() ? std::string() : s.status().message();
  };
  EXPECT_NE(msg("0 2 * *").find("has 4 fields; it needs 5"), std::string::npos);
  EXPECT_NE(msg("61 2 * * *").find("minute 61 is outside 0-59"), std::string::npos);
  EXPECT_NE(msg("0 25 * * *").find("hour 25 is outside 0-23"), std::string::npos);
  EXPECT_NE(msg("0 0 0 * *").find("day-of-month 0 is outside 1-31"), std::string::npos);
  EXPECT_NE(msg("0 0 * FOO *").find("'FOO' is not a valid month value"), std::string::npos);
  EXPECT_NE(msg("*/0 * * * *").find("not a valid step"), std::string::npos);
  EXPECT_NE(msg("0 5-2 * * *").find("runs backwards"), std::string::npos);
  EXPECT_NE(msg("0 0 30 2 *").find("never fires"), std::string::npos);
  EXPECT_NE(msg("@sometimes").find("unknown macro"), std::string::npos);
  EXPECT_NE(msg("0 0 1,,2 * *").find("empty list item"), std::string::npos);
}

}  // namespace
}  // namespace pinstream
