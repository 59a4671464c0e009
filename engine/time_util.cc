#include "engine/time_util.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>

namespace pinstream {

// Howard Hinnant's civil-calendar algorithms (public domain description, rewritten here).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void CivilFromDays(std::int64_t z, std::int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

unsigned DaysInMonth(int y, int m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2) {
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[m - 1];
}

Status BadTimestamp(std::string_view text, std::string_view why) {
  return InvalidArgument(fmt::format(
      "invalid timestamp '{}': {} (expected 'YYYY-MM-DD HH:MM:SS' or ISO-8601)", text, why));
}

}  // namespace

Result<std::int64_t> ParseTimestamp(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (s.size() < 10 || !Digits(s, 0, 4, &y) || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d)) {
    return BadTimestamp(text, "date part is not YYYY-MM-DD");
  }
  if (mo < 1 || mo > 12) return BadTimestamp(text, "month out of range");
  if (d < 1 || static_cast<unsigned>(d) > DaysInMonth(y, mo)) {
    return BadTimestamp(text, "day out of range");
  }
  size_t pos = 10;
  std::int64_t frac_us = 0;
  std::int64_t offset_s = 0;
  if (pos < s.size()) {
    if (s[pos] != ' ' && s[pos] != 'T' && s[pos] != 't') {
      return BadTimestamp(text, "expected ' ' or 'T' after the date");
    }
    ++pos;
    if (!Digits(s, pos, 2, &h) || pos + 2 >= s.size() || s[pos + 2] != ':' ||
        !Digits(s, pos + 3, 2, &mi)) {
      return BadTimestamp(text, "time part is not HH:MM[:SS]");
    }
    pos += 5;
    if (pos < s.size() && s[pos] == ':') {
      if (!Digits(s, pos + 1, 2, &sec)) return BadTimestamp(text, "seconds are not two digits");
      pos += 3;
    }
    if (h > 23 || mi > 59 || sec > 60) return BadTimestamp(text, "time out of range");
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      size_t start = pos;
      std::int64_t scale = 100000;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (pos - start < 6) frac_us += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start || pos - start > 9) return BadTimestamp(text, "bad fractional seconds");
    }
    if (pos < s.size()) {
      char z = s[pos];
      if (z == 'Z' || z == 'z') {
        ++pos;
      } else if (z == '+' || z == '-') {
        int oh = 0, om = 0;
        if (!Digits(s, pos + 1, 2, &oh)) return BadTimestamp(text, "bad zone offset");
        size_t p = pos + 3;
        if (p < s.size() && s[p] == ':') ++p;
        if (p < s.size()) {
          if (!Digits(s, p, 2, &om)) return BadTimestamp(text, "bad zone offset");
          p += 2;
        }
        if (oh > 18 || om > 59) return BadTimestamp(text, "zone offset out of range");
        offset_s = (oh * 3600 + om * 60) * (z == '+' ? 1 : -1);
        pos = p;
      }
    }
    if (pos != s.size()) return BadTimestamp(text, "unexpected trailing characters");
  }
  std::int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  return secs * 1000000 + frac_us;
}

CivilTime SplitMicros(std::int64_t us) {
  constexpr std::int64_t kDay = 86'400'000'000LL;
  // Floor division without overflow at the ends of int64 (-us and days * kDay overflow there;
  // every int64 is a timestamp a stored chunk can hold).
  std::int64_t days = us / kDay;
  std::int64_t in_day = us % kDay;
  if (in_day < 0) {
    --days;
    in_day += kDay;
  }
  CivilTime t;
  CivilFromDays(days, &t.year, &t.month, &t.day);
  std::int64_t secs = in_day / 1'000'000;
  t.hour = static_cast<unsigned>(secs / 3600);
  t.minute = static_cast<unsigned>(secs / 60 % 60);
  t.second = static_cast<unsigned>(secs % 60);
  t.micros = in_day % 1'000'000;
  return t;
}

std::string FormatTimestamp(std::int64_t micros, TimestampStyle style) {
  CivilTime t = SplitMicros(micros);
  std::int64_t y = t.year, us = t.micros;
  unsigned m = t.month, d = t.day;
  int hh = static_cast<int>(t.hour), mm = static_cast<int>(t.minute),
      ss = static_cast<int>(t.second);
  char buf[64];
  switch (style) {
    case TimestampStyle::kSql:
      if (us == 0) {
        std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02d:%02d:%02d", static_cast<long long>(y),
                      m, d, hh, mm, ss);
      } else {
        std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02d:%02d:%02d.%06lld",
                      static_cast<long long>(y), m, d, hh, mm, ss, static_cast<long long>(us));
      }
      break;
    case TimestampStyle::kIso:
      std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03lldZ",
                    static_cast<long long>(y), m, d, hh, mm, ss, static_cast<long long>(us / 1000));
      break;
    case TimestampStyle::kIsoMicro:
      std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                    static_cast<long long>(y), m, d, hh, mm, ss, static_cast<long long>(us));
      break;
  }
  return buf;
}

Result<std::int64_t> ParseDurationMicros(std::string_view text) {
  std::string_view s = text;
  if (s.empty()) return InvalidArgument("empty duration");
  double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (i == 0) {
      return InvalidArgument(
          fmt::format("invalid duration '{}' (examples: 500ms, 2s, 10m, 24h, 7d)", text));
    }
    double num = std::strtod(std::string(s.substr(0, i)).c_str(), nullptr);
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    double mult;
    if (unit == "us")
      mult = 1;
    else if (unit == "ms")
      mult = 1e3;
    else if (unit == "s" || unit == "sec")
      mult = 1e6;
    else if (unit == "m" || unit == "min")
      mult = 60e6;
    else if (unit == "h")
      mult = 3600e6;
    else if (unit == "d")
      mult = 86400e6;
    else
      return InvalidArgument(fmt::format(
          "invalid duration '{}': unit '{}' is not one of us, ms, s, m, h, d", text, unit));
    total += num * mult;
  }
  return static_cast<std::int64_t>(std::llround(total));
}

std::string FormatDurationMicros(std::int64_t us) {
  if (us % 86400000000LL == 0 && us != 0) return fmt::format("{}d", us / 86400000000LL);
  if (us % 3600000000LL == 0 && us != 0) return fmt::format("{}h", us / 3600000000LL);
  if (us % 60000000 == 0 && us != 0) return fmt::format("{}m", us / 60000000);
  if (us % 1000000 == 0 && us != 0) return fmt::format("{}s", us / 1000000);
  if (us % 1000 == 0) return fmt::format("{}ms", us / 1000);
  return fmt::format("{}us", us);
}

Result<std::int64_t> ParseByteSize(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == 0)
    return InvalidArgument(
        fmt::format("invalid size '{}' (examples: 1048576, 64MiB, 10GiB)", text));
  double num = std::strtod(std::string(text.substr(0, i)).c_str(), nullptr);
  std::string unit;
  for (char c : text.substr(i)) {
    if (c != ' ') unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  double mult;
  if (unit.empty() || unit == "b")
    mult = 1;
  else if (unit == "k" || unit == "kib")
    mult = 1024.0;
  else if (unit == "m" || unit == "mib")
    mult = 1024.0 * 1024;
  else if (unit == "g" || unit == "gib")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tib")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "kb")
    mult = 1e3;
  else if (unit == "mb")
    mult = 1e6;
  else if (unit == "gb")
    mult = 1e9;
  else if (unit == "tb")
    mult = 1e12;
  else
    return InvalidArgument(fmt::format("invalid size '{}': unknown unit '{}'", text, unit));
  return static_cast<std::int64_t>(std::llround(num * mult));
}

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace pinstream
