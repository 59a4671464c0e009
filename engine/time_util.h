// Parsing and formatting of timestamps, durations and byte sizes.
//
// Timestamps are int64 microseconds since the Unix epoch, UTC. ParseTimestamp accepts what the
// Pinterest clients send (conf/README.md "Records"):
//   "2020-08-28 03:52:47"            space separator
//   "2020-08-28T03:52:47"            ISO-8601 'T'
//   "2020-08-28T03:52:47.123456"     fraction, 1..9 digits (truncated to microseconds)
//   "2020-08-28T03:52:47Z", "...+02:00", "...-0530", "...+02"   zone designators, converted to UTC
//   "2020-08-28"                     a date alone means midnight UTC
// Anything else (e.g. "2020:08:28 03:52:47") is an error naming the value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace pinstream {

Result<std::int64_t> ParseTimestamp(std::string_view text);

enum class TimestampStyle {
  kSql,      // 2020-08-28 03:52:47[.123456]   (fraction only when non-zero)
  kIso,      // 2020-08-28T03:52:47.000Z       (Spark's JSON output, always milliseconds)
  kIsoMicro  // 2020-08-28T03:52:47.123456Z
};
std::string FormatTimestamp(std::int64_t micros, TimestampStyle style);

// Days since 1970-01-01 for a proleptic Gregorian date, and back.
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d);
void CivilFromDays(std::int64_t z, std::int64_t* y, unsigned* m, unsigned* d);

// A timestamp (µs since the epoch, UTC) as its civil date and time of day; negative timestamps
// fall on the days before 1970 (the time of day is never negative).
struct CivilTime {
  std::int64_t year = 1970;
  unsigned month = 1, day = 1;
  unsigned hour = 0, minute = 0, second = 0;
  std::int64_t micros = 0;  // within the second
};
CivilTime SplitMicros(std::int64_t us);

// Durations: "500ms", "2s", "1.5s", "10m", "24h", "7d", "250us", "1h30m"; a bare number is
// rejected (the unit is required). Returns microseconds.
Result<std::int64_t> ParseDurationMicros(std::string_view text);
std::string FormatDurationMicros(std::int64_t micros);

// Byte sizes: "1048576", "512KiB", "64MiB", "10GiB", "1MB" (decimal), "4k".
Result<std::int64_t> ParseByteSize(std::string_view text);

// Wall clock in microseconds (UTC).
std::int64_t NowMicros();
// Monotonic clock in nanoseconds, for measuring durations.
std::int64_t MonotonicNanos();

}  // namespace pinstream
