#include "engine/job_schedule.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <limits>
#include <vector>

#include "engine/time_util.h"

namespace pinstream {
namespace {

constexpr std::int64_t kMinute = 60'000'000LL;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kDay = 24 * kHour;

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  for (;;) {
    std::size_t j = s.find(sep, i);
    out.push_back(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) return out;
    i = j + 1;
  }
}

struct FieldSpec {
  const char* name;
  int lo, hi;
  const char* const* names;  // optional names for lo..hi
};

const char* const kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

Result<int> ParseValue(std::string_view v, const FieldSpec& f, std::string_view expr) {
  if (f.names != nullptr && v.size() == 3) {
    int count =
        f.hi - f.lo + 1 - (f.names == kDayNames ? 1 : 0);  // day-of-week allows 7 numerically only
    for (int i = 0; i < count; ++i) {
      std::string_view n = f.names[i];
      bool eq = true;
      for (std::size_t k = 0; k < 3; ++k)
        eq &= std::toupper(static_cast<unsigned char>(v[k])) == n[k];
      if (eq) return f.lo + i;
    }
  }
  int x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty()) {
    return InvalidArgument(fmt::format("cron '{}': '{}' is not a valid {} value", expr, v, f.name));
  }
  if (x < f.lo || x > f.hi) {
    return InvalidArgument(
        fmt::format("cron '{}': {} {} is outside {}-{}", expr, f.name, x, f.lo, f.hi));
  }
  return x;
}

// Parses one field into the set of values it allows; *restricted = false for "*".
template <std::size_t N>
Status ParseField(std::string_view text, const FieldSpec& f, std::string_view expr,
                  std::bitset<N>* set, bool* restricted) {
  *restricted = text != "*";
  for (std::string_view part : Split(text, ',')) {
    if (part.empty())
      return InvalidArgument(
          fmt::format("cron '{}': empty list item in the {} field", expr, f.name));
    int step = 1;
    std::size_t slash = part.find('/');
    std::string_view range = part.substr(0, slash);
    if (slash != std::string_view::npos) {
      std::string_view s = part.substr(slash + 1);
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
      if (ec != std::errc() || p != s.data() + s.size() || step <= 0) {
        return InvalidArgument(
            fmt::format("cron '{}': '{}' is not a valid step in the {} field", expr, s, f.name));
      }
    }
    int lo = f.lo, hi = f.hi;
    if (range != "*") {
      std::size_t dash = range.find('-');
      PS_ASSIGN_OR_RETURN(lo, ParseValue(range.substr(0, dash), f, expr));
      if (dash != std::string_view::npos) {
        PS_ASSIGN_OR_RETURN(hi, ParseValue(range.substr(dash + 1), f, expr));
        if (hi < lo)
          return InvalidArgument(fmt::format("cron '{}': range {} runs backwards in the {} field",
                                             expr, range, f.name));
      } else if (slash == std::string_view::npos) {
        hi = lo;  // a single value
      }           // "a/n": from a to the field's end
    }
    for (int v = lo; v <= hi; v += step) set->set(static_cast<std::size_t>(v));
  }
  return Status::Ok();
}

}  // namespace

Result<JobSchedule> JobSchedule::Every(std::int64_t interval_us) {
  if (interval_us < 1'000'000) return InvalidArgument("a job's interval must be at least 1s");
  JobSchedule s;
  s.kind_ = Kind::kEvery;
  s.interval_us_ = interval_us;
  s.description_ = "every " + FormatDurationMicros(interval_us);
  return s;
}

Result<JobSchedule> JobSchedule::DailyAt(std::string_view hh_mm) {
  int hh = -1, mm = -1;
  if (hh_mm.size() == 5 && hh_mm[2] == ':') {
    std::from_chars(hh_mm.data(), hh_mm.data() + 2, hh);
    std::from_chars(hh_mm.data() + 3, hh_mm.data() + 5, mm);
  }
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59) {
    return InvalidArgument(fmt::format("'{}' is not a time of day HH:MM (UTC)", hh_mm));
  }
  PS_ASSIGN_OR_RETURN(JobSchedule s, Cron(fmt::format("{} {} * * *", mm, hh)));
  s.description_ = fmt::format("daily at {} UTC", hh_mm);
  return s;
}

Result<JobSchedule> JobSchedule::Cron(std::string_view expression) {
  std::string expr(expression);
  static const std::array<std::pair<const char*, const char*>, 7> kMacros = {
      {{"@yearly", "0 0 1 1 *"},
       {"@annually", "0 0 1 1 *"},
       {"@monthly", "0 0 1 * *"},
       {"@weekly", "0 0 * * 0"},
       {"@daily", "0 0 * * *"},
       {"@midnight", "0 0 * * *"},
       {"@hourly", "0 * * * *"}}};
  std::string fields_text = expr;
  if (!expr.empty() && expr[0] == '@') {
    bool found = false;
    for (const auto& [m, e] : kMacros) {
      if (expr == m) {
        fields_text = e;
        found = true;
      }
    }
    if (!found) {
      return InvalidArgument(
          fmt::format("cron '{}': unknown macro (use @yearly, @annually, @monthly, @weekly, "
                      "@daily, @midnight or @hourly)",
                      expr));
    }
  }
  std::vector<std::string_view> fields;
  for (std::string_view f : Split(fields_text, ' ')) {
    if (!f.empty()) fields.push_back(f);
  }
  if (fields.size() != 5) {
    return InvalidArgument(
        fmt::format("cron '{}' has {} fields; it needs 5: minute hour day-of-month month "
                    "day-of-week (e.g. \"0 2 * * *\")",
                    expr, fields.size()));
  }
  JobSchedule s;
  s.kind_ = Kind::kCron;
  bool r = false;
  PS_RETURN_IF_ERROR(
      ParseField(fields[0], FieldSpec{"minute", 0, 59, nullptr}, expr, &s.minutes_, &r));
  PS_RETURN_IF_ERROR(ParseField(fields[1], FieldSpec{"hour", 0, 23, nullptr}, expr, &s.hours_, &r));
  PS_RETURN_IF_ERROR(ParseField(fields[2], FieldSpec{"day-of-month", 1, 31, nullptr}, expr,
                                &s.doms_, &s.dom_restricted_));
  PS_RETURN_IF_ERROR(
      ParseField(fields[3], FieldSpec{"month", 1, 12, kMonthNames}, expr, &s.months_, &r));
  std::bitset<8> dows;
  PS_RETURN_IF_ERROR(ParseField(fields[4], FieldSpec{"day-of-week", 0, 7, kDayNames}, expr, &dows,
                                &s.dow_restricted_));
  for (std::size_t d = 0; d < 7; ++d) s.dows_[d] = dows[d];
  if (dows[7]) s.dows_[0] = true;  // 7 = Sunday
  s.description_ = "cron " + expr;
  // An expression that never fires (Feb 30) would leave a job silently idle: refuse it. A date
  // that exists fires within 8 years (Feb 29).
  std::int64_t probe = s.NextAfter(0);
  if (probe == std::numeric_limits<std::int64_t>::max()) {
    return InvalidArgument(fmt::format("cron '{}' never fires (no such date)", expr));
  }
  return s;
}

bool JobSchedule::Matches(std::int64_t day, unsigned month, unsigned dom) const {
  if (!months_[month]) return false;
  auto dow = static_cast<std::size_t>(((day % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
  bool dom_ok = doms_[dom], dow_ok = dows_[dow];
  if (dom_restricted_ && dow_restricted_) return dom_ok || dow_ok;
  return dom_ok && dow_ok;
}

std::int64_t JobSchedule::NextAfter(std::int64_t after_us) const {
  if (kind_ == Kind::kEvery) return (FloorDiv(after_us, interval_us_) + 1) * interval_us_;
  // The next whole minute, then search day by day (at most 8 years), hour by hour, minute by
  // minute.
  std::int64_t t = (FloorDiv(after_us, kMinute) + 1) * kMinute;
  std::int64_t day = FloorDiv(t, kDay);
  std::int64_t in_day = t - day * kDay;
  for (int i = 0; i < 366 * 8 + 2; ++i, ++day, in_day = 0) {
    std::int64_t y = 0;
    unsigned m = 0, d = 0;
    CivilFromDays(day, &y, &m, &d);
    if (!Matches(day, m, d)) continue;
    for (std::int64_t h = in_day / kHour; h < 24; ++h) {
      if (!hours_[static_cast<std::size_t>(h)]) continue;
      std::int64_t first_min = h == in_day / kHour ? (in_day % kHour) / kMinute : 0;
      for (std::int64_t mi = first_min; mi < 60; ++mi) {
        if (minutes_[static_cast<std::size_t>(mi)]) return day * kDay + h * kHour + mi * kMinute;
      }
    }
  }
  return std::numeric_limits<std::int64_t>::max();
}

}  // namespace pinstream
