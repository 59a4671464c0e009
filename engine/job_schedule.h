// When a scheduled job (the Airflow DAG's role) runs. All times are UTC.
//
//   every: 24h          at every multiple of the interval since the Unix epoch (24h → 00:00,
//                       1h → the top of every hour, 15m → :00 :15 :30 :45)
//   at: "02:00"         daily at that time of day
//   cron: "0 2 * * 1-5" five fields — minute hour day-of-month month day-of-week — with `*`,
//                       numbers, ranges `a-b`, steps `*/n` `a-b/n` `a/n`, lists `a,b`, month
//                       and day names (JAN, MON), 7 = Sunday, and the macros @yearly
//                       (@annually), @monthly, @weekly, @daily (@midnight), @hourly. When both
//                       day fields are restricted a day matching either runs (as cron does).
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace pinstream {

class JobSchedule {
 public:
  static Result<JobSchedule> Every(std::int64_t interval_us);
  static Result<JobSchedule> DailyAt(std::string_view hh_mm);
  // Errors name the field and the value at fault; an expression that can never fire (e.g.
  // "0 0 30 2 *") is an error too.
  static Result<JobSchedule> Cron(std::string_view expression);

  // The first time strictly after `after_us` at which the job runs.
  std::int64_t NextAfter(std::int64_t after_us) const;
  const std::string& description() const { return description_; }

 private:
  enum class Kind { kEvery, kCron };
  bool Matches(std::int64_t day, unsigned month, unsigned dom) const;
  Kind kind_ = Kind::kEvery;
  std::int64_t interval_us_ = 0;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> doms_;    // 1..31
  std::bitset<13> months_;  // 1..12
  std::bitset<7> dows_;     // 0 = Sunday
  bool dom_restricted_ = false, dow_restricted_ = false;
  std::string description_;
};

}  // namespace pinstream
