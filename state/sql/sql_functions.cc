#include "state/sql/sql_functions.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <string>
#include <vector>

#include "engine/time_util.h"

namespace pinstream::state::sql {
namespace {

// --- median / percentile_approx -------------------------------------------------------------

// The aggregate's state: the non-null values seen (window frames add and remove them). Integers
// and reals are kept apart so an all-integer input gives an integer result, as Spark's does.
struct PercentileState {
  std::vector<double> values;
  bool all_integers = true;
  double p = -1;  // fixed by the first row
};

PercentileState* State(sqlite3_context* ctx, bool create) {
  auto** slot = static_cast<PercentileState**>(
      sqlite3_aggregate_context(ctx, create ? sizeof(PercentileState*) : 0));
  if (slot == nullptr) return nullptr;
  if (*slot == nullptr && create) *slot = new (std::nothrow) PercentileState();
  return *slot;
}

bool ReadP(sqlite3_context* ctx, sqlite3_value* v, double* p) {
  int t = sqlite3_value_type(v);
  if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) {
    sqlite3_result_error(ctx, "percentile_approx: the percentage must be a number between 0 and 1",
                         -1);
    return false;
  }
  *p = sqlite3_value_double(v);
  if (!(*p >= 0.0 && *p <= 1.0)) {
    sqlite3_result_error(ctx, "percentile_approx: the percentage must be between 0 and 1", -1);
    return false;
  }
  return true;
}

void Step(sqlite3_context* ctx, sqlite3_value* x, double p) {
  PercentileState* s = State(ctx, true);
  if (s == nullptr) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  s->p = p;
  int t = sqlite3_value_type(x);
  if (t == SQLITE_NULL) return;
  if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) {
    // Numeric text (e.g. from a CSV-typed column) counts as its number; other text is an error.
    const unsigned char* txt = sqlite3_value_text(x);
    char* end = nullptr;
    double d = txt ? std::strtod(reinterpret_cast<const char*>(txt), &end) : 0;
    if (txt == nullptr || end == reinterpret_cast<const char*>(txt) || *end != '\0') {
      sqlite3_result_error(ctx, "median/percentile_approx: value is not a number", -1);
      return;
    }
    s->values.push_back(d);
    s->all_integers &= d == std::floor(d) && std::fabs(d) < 9.0e15;
    return;
  }
  s->values.push_back(sqlite3_value_double(x));
  s->all_integers &= t == SQLITE_INTEGER;
}

void Inverse(sqlite3_context* ctx, sqlite3_value* x) {
  PercentileState* s = State(ctx, false);
  if (s == nullptr || sqlite3_value_type(x) == SQLITE_NULL) return;
  double d = sqlite3_value_type(x) == SQLITE_TEXT
                 ? std::strtod(reinterpret_cast<const char*>(sqlite3_value_text(x)), nullptr)
                 : sqlite3_value_double(x);
  auto it = std::find(s->values.begin(), s->values.end(), d);
  if (it != s->values.end()) {
    *it = s->values.back();
    s->values.pop_back();
  }
}

void Result(sqlite3_context* ctx, PercentileState* s) {
  if (s == nullptr || s->values.empty()) {
    sqlite3_result_null(ctx);
    return;
  }
  std::size_t n = s->values.size();
  auto rank = static_cast<std::size_t>(std::ceil(s->p * static_cast<double>(n)));
  rank = std::clamp<std::size_t>(rank, 1, n);
  // nth_element is enough for one answer (window frames ask again after every row).
  std::nth_element(s->values.begin(), s->values.begin() + static_cast<std::ptrdiff_t>(rank - 1),
                   s->values.end());
  double v = s->values[rank - 1];
  if (s->all_integers) {
    sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(v));
  } else {
    sqlite3_result_double(ctx, v);
  }
}

void MedianStep(sqlite3_context* ctx, int, sqlite3_value** argv) { Step(ctx, argv[0], 0.5); }
void PercentileStep(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  double p = 0;
  if (!ReadP(ctx, argv[1], &p)) return;
  if (argc == 3 && sqlite3_value_type(argv[2]) != SQLITE_INTEGER &&
      sqlite3_value_type(argv[2]) != SQLITE_NULL) {
    sqlite3_result_error(ctx, "percentile_approx: accuracy must be an integer", -1);
    return;
  }
  Step(ctx, argv[0], p);
}
void AnyInverse(sqlite3_context* ctx, int, sqlite3_value** argv) { Inverse(ctx, argv[0]); }
void AnyValue(sqlite3_context* ctx) { Result(ctx, State(ctx, false)); }
void AnyFinal(sqlite3_context* ctx) {
  PercentileState* s = State(ctx, false);
  Result(ctx, s);
  delete s;
}

// --- timestamps -----------------------------------------------------------------------------

// Reads a timestamp argument: text in any accepted form or integer microseconds. False (and an
// error set) when it is neither; *null when the argument is null.
bool ReadTimestamp(sqlite3_context* ctx, sqlite3_value* v, std::int64_t* us, bool* null,
                   const char* fn) {
  *null = false;
  switch (sqlite3_value_type(v)) {
    case SQLITE_NULL:
      *null = true;
      return true;
    case SQLITE_INTEGER:
      *us = sqlite3_value_int64(v);
      return true;
    case SQLITE_TEXT: {
      std::string_view text(reinterpret_cast<const char*>(sqlite3_value_text(v)),
                            static_cast<std::size_t>(sqlite3_value_bytes(v)));
      auto r = ParseTimestamp(text);
      if (!r.ok()) {
        std::string msg = std::string(fn) + ": " + r.status().message();
        sqlite3_result_error(ctx, msg.c_str(), -1);
        return false;
      }
      *us = *r;
      return true;
    }
    default: {
      std::string msg =
          std::string(fn) + ": expects a timestamp (text or microseconds since the epoch)";
      sqlite3_result_error(ctx, msg.c_str(), -1);
      return false;
    }
  }
}

enum class Part { kYear, kMonth, kDay, kHour, kMinute, kSecond };

// The canonical text form that pinstream's tables produce — 'YYYY-MM-DD HH:MM:SS[.ffffff]' —
// read field by field without a full parse. False for anything else (then ParseTimestamp
// decides, errors included).
bool CanonicalParts(sqlite3_value* v, int parts[6]) {
  if (sqlite3_value_type(v) != SQLITE_TEXT) return false;
  int n = sqlite3_value_bytes(v);
  const auto* t = reinterpret_cast<const char*>(sqlite3_value_text(v));
  if (n != 19 && n != 26) return false;
  static const char kShape[] = "dddd-dd-dd dd:dd:dd.dddddd";
  for (int i = 0; i < n; ++i) {
    if (kShape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != kShape[i]) return false;
  }
  auto num = [&](int at, int len) {
    int x = 0;
    for (int i = 0; i < len; ++i) x = x * 10 + (t[at + i] - '0');
    return x;
  };
  parts[0] = num(0, 4);
  parts[1] = num(5, 2);
  parts[2] = num(8, 2);
  parts[3] = num(11, 2);
  parts[4] = num(14, 2);
  parts[5] = num(17, 2);
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (parts[1] < 1 || parts[1] > 12 || parts[3] > 23 || parts[4] > 59 || parts[5] > 59)
    return false;
  bool leap = (parts[0] % 4 == 0 && parts[0] % 100 != 0) || parts[0] % 400 == 0;
  int days = kDays[parts[1] - 1] + (parts[1] == 2 && leap ? 1 : 0);
  return parts[2] >= 1 && parts[2] <= days;
}

template <Part P>
void DatePart(sqlite3_context* ctx, int, sqlite3_value** argv) {
  static const char* kNames[] = {"year", "month", "day", "hour", "minute", "second"};
  int parts[6];
  if (CanonicalParts(argv[0], parts)) {
    sqlite3_result_int(ctx, parts[static_cast<int>(P)]);
    return;
  }
  std::int64_t us = 0;
  bool null = false;
  if (!ReadTimestamp(ctx, argv[0], &us, &null, kNames[static_cast<int>(P)])) return;
  if (null) {
    sqlite3_result_null(ctx);
    return;
  }
  CivilTime t = SplitMicros(us);
  switch (P) {
    case Part::kYear:
      sqlite3_result_int64(ctx, t.year);
      break;
    case Part::kMonth:
      sqlite3_result_int64(ctx, t.month);
      break;
    case Part::kDay:
      sqlite3_result_int64(ctx, t.day);
      break;
    case Part::kHour:
      sqlite3_result_int64(ctx, t.hour);
      break;
    case Part::kMinute:
      sqlite3_result_int64(ctx, t.minute);
      break;
    case Part::kSecond:
      sqlite3_result_int64(ctx, t.second);
      break;
  }
}

void UnixTimestamp(sqlite3_context* ctx, int, sqlite3_value** argv) {
  std::int64_t us = 0;
  bool null = false;
  if (!ReadTimestamp(ctx, argv[0], &us, &null, "unix_timestamp")) return;
  if (null) return sqlite3_result_null(ctx);
  sqlite3_result_int64(ctx, us >= 0 ? us / 1'000'000 : -((-us + 999'999) / 1'000'000));
}

void UnixMicros(sqlite3_context* ctx, int, sqlite3_value** argv) {
  std::int64_t us = 0;
  bool null = false;
  if (!ReadTimestamp(ctx, argv[0], &us, &null, "unix_micros")) return;
  if (null) return sqlite3_result_null(ctx);
  sqlite3_result_int64(ctx, us);
}

void ToTimestamp(sqlite3_context* ctx, int, sqlite3_value** argv) {
  std::int64_t us = 0;
  bool null = false;
  if (!ReadTimestamp(ctx, argv[0], &us, &null, "to_timestamp")) return;
  if (null) return sqlite3_result_null(ctx);
  std::string s = FormatTimestamp(us, TimestampStyle::kSql);
  sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

void ConcatWs(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return sqlite3_result_null(ctx);
  std::string sep(reinterpret_cast<const char*>(sqlite3_value_text(argv[0])),
                  static_cast<std::size_t>(sqlite3_value_bytes(argv[0])));
  std::string out;
  bool first = true;
  for (int i = 1; i < argc; ++i) {
    if (sqlite3_value_type(argv[i]) == SQLITE_NULL) continue;
    if (!first) out += sep;
    first = false;
    out.append(reinterpret_cast<const char*>(sqlite3_value_text(argv[i])),
               static_cast<std::size_t>(sqlite3_value_bytes(argv[i])));
  }
  sqlite3_result_text(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
}

}  // namespace

int RegisterSqlFunctions(sqlite3* db) {
  constexpr int kFlags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = SQLITE_OK;
  auto check = [&](int r) {
    if (rc == SQLITE_OK) rc = r;
  };
  check(sqlite3_create_window_function(db, "median", 1, kFlags, nullptr, MedianStep, AnyFinal,
                                       AnyValue, AnyInverse, nullptr));
  check(sqlite3_create_window_function(db, "percentile_approx", 2, kFlags, nullptr, PercentileStep,
                                       AnyFinal, AnyValue, AnyInverse, nullptr));
  check(sqlite3_create_window_function(db, "percentile_approx", 3, kFlags, nullptr, PercentileStep,
                                       AnyFinal, AnyValue, AnyInverse, nullptr));
  struct Scalar {
    const char* name;
    int args;
    void (*fn)(sqlite3_context*, int, sqlite3_value**);
  };
  const Scalar scalars[] = {
      {"year", 1, DatePart<Part::kYear>},     {"month", 1, DatePart<Part::kMonth>},
      {"day", 1, DatePart<Part::kDay>},       {"dayofmonth", 1, DatePart<Part::kDay>},
      {"hour", 1, DatePart<Part::kHour>},     {"minute", 1, DatePart<Part::kMinute>},
      {"second", 1, DatePart<Part::kSecond>}, {"unix_timestamp", 1, UnixTimestamp},
      {"unix_micros", 1, UnixMicros},         {"to_timestamp", 1, ToTimestamp},
      {"timestamp_micros", 1, ToTimestamp},   {"concat_ws", -1, ConcatWs},
  };
  for (const auto& s : scalars) {
    check(sqlite3_create_function_v2(db, s.name, s.args, kFlags, nullptr, s.fn, nullptr, nullptr,
                                     nullptr));
  }
  return rc;
}

}  // namespace pinstream::state::sql
