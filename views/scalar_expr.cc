#include "views/scalar_expr.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "engine/time_util.h"

namespace pinstream::views {
namespace {

using Column = ::pinstream::Column;  // not views::Column (a plan's column)

constexpr std::int64_t kMinInt = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();

bool IsText(TypeId t) { return t == TypeId::kString || t == TypeId::kRaw; }

// An evaluated argument: a column of the batch (by reference), a computed column, or a constant
// (one row standing for every row).
struct Vec {
  Column owned;
  const Column* ref = nullptr;
  bool constant = false;

  const Column& col() const { return ref != nullptr ? *ref : owned; }
  std::size_t at(std::size_t i) const { return constant ? 0 : i; }
  TypeId type() const { return col().type(); }
  bool null(std::size_t i) const {
    const Column& c = col();
    return c.type() == TypeId::kNull || c.IsNull(at(i));
  }
  std::int64_t Int(std::size_t i) const { return col().Int(at(i)); }
  double Dbl(std::size_t i) const {
    const Column& c = col();
    return c.type() == TypeId::kDouble ? c.Double(at(i)) : static_cast<double>(c.Int(at(i)));
  }
  std::string_view Str(std::size_t i) const { return col().Str(at(i)); }
};

Vec Owned(Column c, bool constant = false) {
  Vec v;
  v.owned = std::move(c);
  v.constant = constant;
  return v;
}

// SQLite's double → int64 (doubleToInt64): truncation, clamped to the int64 range.
std::int64_t DoubleToInt(double d) {
  if (std::isnan(d)) return 0;
  if (d <= -9223372036854775808.0) return kMinInt;
  if (d >= 9223372036854775808.0) return kMaxInt;
  return static_cast<std::int64_t>(d);
}

// A number argument as an int64 (a double truncated, as SQLite's sqlite3_value_int64).
std::int64_t IntOf(const Vec& v, std::size_t i) {
  return v.type() == TypeId::kDouble ? DoubleToInt(v.Dbl(i)) : v.Int(i);
}

int Sign(auto a, auto b) { return a < b ? -1 : (a > b ? 1 : 0); }

// int64 against double, exactly (SQLite's sqlite3IntFloatCompare).
int CompareIntDouble(std::int64_t x, double y) {
  if (y < -9223372036854775808.0) return 1;
  if (y >= 9223372036854775808.0) return -1;
  auto xd = static_cast<double>(x);
  if (xd != y) return xd < y ? -1 : 1;
  return Sign(x, static_cast<std::int64_t>(y));
}

// Both values non-null and of comparable types (checked before).
int CompareAt(const Vec& a, std::size_t i, const Vec& b, std::size_t j) {
  TypeId ta = a.type(), tb = b.type();
  if (IsText(ta)) {
    int c = a.Str(i).compare(b.Str(j));
    return Sign(c, 0);
  }
  if (ta == TypeId::kDouble && tb == TypeId::kDouble) return Sign(a.Dbl(i), b.Dbl(j));
  if (ta == TypeId::kDouble) return -CompareIntDouble(b.Int(j), a.Dbl(i));
  if (tb == TypeId::kDouble) return CompareIntDouble(a.Int(i), b.Dbl(j));
  return Sign(a.Int(i), b.Int(j));
}

bool Comparable(TypeId a, TypeId b) {
  if (a == TypeId::kNull || b == TypeId::kNull) return true;
  if (IsText(a) || IsText(b)) return IsText(a) && IsText(b);
  if (a == TypeId::kTimestamp || b == TypeId::kTimestamp) return a == b;
  return a != TypeId::kDoubleArray && b != TypeId::kDoubleArray;
}

// -1 null, 0 false, 1 true (a number is true when it is not 0).
int Truth(const Vec& v, std::size_t i) {
  if (v.null(i)) return -1;
  if (v.type() == TypeId::kDouble) return v.Dbl(i) != 0 ? 1 : 0;
  return v.Int(i) != 0 ? 1 : 0;
}

void AppendTruth(Column& out, int t) {
  if (t < 0) {
    out.AppendNull();
  } else {
    out.AppendBool(t != 0);
  }
}

// A value as text, as SQLite turns it into text.
void AppendText(const Vec& v, std::size_t i, std::string* out) {
  switch (v.type()) {
    case TypeId::kString:
    case TypeId::kRaw:
      out->append(v.Str(i));
      return;
    case TypeId::kBool:
    case TypeId::kInt64:
      out->append(std::to_string(v.Int(i)));
      return;
    case TypeId::kDouble:
      out->append(SqliteDoubleText(v.Dbl(i)));
      return;
    case TypeId::kTimestamp:
      out->append(FormatTimestamp(v.Int(i), TimestampStyle::kSql));
      return;
    case TypeId::kDoubleArray: {
      // The batch SQL shows arrays as JSON text.
      out->push_back('[');
      auto a = v.col().Array(v.at(i));
      for (std::size_t k = 0; k < a.size(); ++k) {
        if (k > 0) out->push_back(',');
        out->append(SqliteDoubleText(a[k]));
      }
      out->push_back(']');
      return;
    }
    case TypeId::kNull:
      return;
  }
}

// Appends row i of `v` to `out`, converted to out's type (numbers between int64 and double).
void Put(Column& out, const Vec& v, std::size_t i) {
  if (out.type() == TypeId::kNull || v.null(i)) {
    out.AppendNull();
    return;
  }
  switch (out.type()) {
    case TypeId::kDouble:
      out.AppendDouble(v.Dbl(i));
      return;
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      out.AppendInt(IntOf(v, i));
      return;
    case TypeId::kString:
    case TypeId::kRaw: {
      if (IsText(v.type())) {
        out.AppendString(v.Str(i));
      } else {
        std::string s;
        AppendText(v, i, &s);
        out.AppendString(s);
      }
      return;
    }
    case TypeId::kDoubleArray:
      out.AppendArray(v.col().Array(v.at(i)));
      return;
    case TypeId::kNull:
      return;
  }
}

std::size_t Utf8Len(unsigned char c) {
  if (c < 0xC0) return 1;
  if (c < 0xE0) return 2;
  if (c < 0xF0) return 3;
  return 4;
}

std::size_t CharCount(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

char FoldAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// SQLite's LIKE: % any sequence, _ one character, ASCII letters case-insensitive, no escape.
bool Like(std::string_view s, std::string_view p) {
  std::size_t si = 0, pi = 0;
  std::size_t star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '%') {
      star_p = ++pi;
      star_s = si;
      continue;
    }
    if (pi < p.size() && p[pi] == '_') {
      si += Utf8Len(static_cast<unsigned char>(s[si]));
      ++pi;
      continue;
    }
    if (pi < p.size() && FoldAscii(p[pi]) == FoldAscii(s[si])) {
      ++si;
      ++pi;
      continue;
    }
    if (star_p != std::string_view::npos) {
      star_s += Utf8Len(static_cast<unsigned char>(s[star_s]));
      si = star_s;
      pi = star_p;
      continue;
    }
    return false;
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

// The leading number of a text, as SQLite's CAST reads it: whitespace, a sign, digits, and for
// a real a fraction and an exponent. Empty when there is none.
std::string_view NumberPrefix(std::string_view s, bool real) {
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) ++i;
  std::size_t start = i;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (real) {
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
    }
    if (digits > 0 && i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      std::size_t j = i + 1;
      if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
      if (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) {
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        i = j;
      }
    }
  }
  if (digits == 0) return {};
  return s.substr(start, i - start);
}

std::int64_t TextToInt(std::string_view s) {
  std::string_view p = NumberPrefix(s, false);
  if (p.empty()) return 0;
  bool neg = p[0] == '-';
  if (p[0] == '+' || p[0] == '-') p.remove_prefix(1);
  // Accumulate as unsigned; beyond the int64 range SQLite clamps.
  unsigned __int128 v = 0;
  for (char c : p) {
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > static_cast<unsigned __int128>(kMaxInt) + 1) break;
  }
  if (neg) {
    if (v > static_cast<unsigned __int128>(kMaxInt)) return kMinInt;
    return -static_cast<std::int64_t>(v);
  }
  if (v > static_cast<unsigned __int128>(kMaxInt)) return kMaxInt;
  return static_cast<std::int64_t>(v);
}

double TextToDouble(std::string_view s) {
  std::string p(NumberPrefix(s, true));
  if (p.empty()) return 0.0;
  return std::strtod(p.c_str(), nullptr);
}

// SQLite's round(r, n): n = 0 rounds half away from zero through an integer; otherwise SQLite
// prints r with "%.*f" by its own printf (0.5·10^-n added to |r| in long double, at most 16
// significant digits) and reads the text back — 2.675 rounds to 2.68, which a plain printf
// would not.
double SqliteRound(double r, std::int64_t n) {
  n = std::clamp<std::int64_t>(n, 0, 30);
  if (n == 0 && r >= 0 && r < 9223372036854775806.0) {
    return static_cast<double>(static_cast<std::int64_t>(r + 0.5));
  }
  if (n == 0 && r < 0 && -r < 9223372036854775806.0) {
    return -static_cast<double>(static_cast<std::int64_t>(-r + 0.5));
  }
  bool negative = r < 0;
  long double v = negative ? -static_cast<long double>(r) : static_cast<long double>(r);
  static const double kRound[] = {5.0e-01, 5.0e-02, 5.0e-03, 5.0e-04, 5.0e-05,
                                  5.0e-06, 5.0e-07, 5.0e-08, 5.0e-09, 5.0e-10};
  int idx = static_cast<int>(n);
  long double rounder = kRound[idx % 10];
  while (idx >= 10) {
    rounder *= 1.0e-10;
    idx -= 10;
  }
  {
    auto rx = static_cast<double>(v);
    std::uint64_t u;
    std::memcpy(&u, &rx, sizeof(u));
    int ex = -1023 + static_cast<int>((u >> 52) & 0x7ff);
    if (n + ex / 3 < 15) rounder += v * 3e-16;
  }
  v += rounder;
  // Normalise to [1, 10) and print digit by digit, 16 significant digits at most.
  int exp = 0;
  if (v > 0) {
    long double scale = 1.0;
    while (v >= 1e100 * scale && exp <= 350) scale *= 1e100, exp += 100;
    while (v >= 1e10 * scale && exp <= 350) scale *= 1e10, exp += 10;
    while (v >= 10.0 * scale && exp <= 350) scale *= 10.0, exp++;
    v /= scale;
    while (v < 1e-8) v *= 1e8, exp -= 8;
    while (v < 1.0) v *= 10.0, exp--;
  }
  if (exp > 350) return r;  // infinity
  int significant = 16;
  auto digit = [&]() -> char {
    if (significant <= 0) return '0';
    --significant;
    int d = static_cast<int>(v);
    v = (v - d) * 10.0;
    return static_cast<char>('0' + d);
  };
  std::string text = negative ? "-" : "";
  if (v == 0) {
    text += "0";
  } else if (exp < 0) {
    text += '0';
  } else {
    for (int e = exp; e >= 0; --e) text += digit();
  }
  text += '.';
  int e2 = v == 0 ? 0 : exp;
  std::int64_t precision = n;
  for (e2++; e2 < 0 && precision > 0; precision--, e2++) text += '0';
  while (precision-- > 0) text += v == 0 ? '0' : digit();
  return std::strtod(text.c_str(), nullptr);
}

// Parts of a timestamp argument: a timestamp, or text in a form ParseTimestamp accepts.
enum class Part { kYear, kMonth, kDay, kHour, kMinute, kSecond };

class Evaluator {
 public:
  Evaluator(const RecordBatch& batch, const std::vector<std::uint8_t>* active)
      : batch_(batch), n_(batch.num_rows()), active_(active) {}

  Result<Vec> Eval(const Expr& e) { return Eval(e, active_); }

 private:
  // `active`: the rows whose value is used (null: all). A row outside it may get any value, and
  // never fails the evaluation (CASE and AND/OR evaluate a branch only where it is taken, as
  // SQLite does).
  Result<Vec> Eval(const Expr& e, const std::vector<std::uint8_t>* active) {
    switch (e.kind) {
      case ExprKind::kColumn:
        return ColumnVec(e);
      case ExprKind::kLiteral: {
        Column c(e.value.is_null() ? e.type : e.value.type());
        if (e.value.is_null()) {
          c.AppendNull();
        } else {
          PS_RETURN_IF_ERROR(c.AppendValue(e.value));
        }
        return Owned(std::move(c), true);
      }
      case ExprKind::kCase:
        return Case(e, active);
      case ExprKind::kCall:
        return Call(e, active);
      default:
        return Internal("ScalarExpr: " + e.ToString() + " was not lowered");
    }
  }

  Result<Vec> ColumnVec(const Expr& e) {
    if (e.column < 0 || static_cast<std::size_t>(e.column) >= batch_.num_columns()) {
      return Internal("ScalarExpr: column " + e.name + " (#" + std::to_string(e.column) +
                      ") is not in a batch of " + std::to_string(batch_.num_columns()) +
                      " columns");
    }
    const Column& c = batch_.column(static_cast<std::size_t>(e.column));
    if (c.type() != e.type && c.type() != TypeId::kNull && e.type != TypeId::kNull) {
      return InvalidArgument("column " + e.name + " is " + std::string(TypeName(c.type())) +
                             " in the data but " + std::string(TypeName(e.type)) +
                             " in the view's plan");
    }
    Vec v;
    v.ref = &c;
    return v;
  }

  static bool Active(const std::vector<std::uint8_t>* active, std::size_t i) {
    return active == nullptr || (*active)[i] != 0;
  }

  // The rows of `base` (null: all) that also satisfy `pred`.
  std::vector<std::uint8_t> Mask(const std::vector<std::uint8_t>* base, auto pred) const {
    std::vector<std::uint8_t> m(n_);
    for (std::size_t i = 0; i < n_; ++i) m[i] = Active(base, i) && pred(i) ? 1 : 0;
    return m;
  }

  Status RowError(const Expr& e, const std::string& msg) const {
    return InvalidArgument(e.ToString() + ": " + msg);
  }

  Result<Vec> Case(const Expr& e, const std::vector<std::uint8_t>* active) {
    std::size_t pairs = (e.args.size() - 1) / 2;
    std::vector<int> chosen(n_, -1);  // branch per row; pairs = ELSE
    for (std::size_t k = 0; k < pairs; ++k) {
      std::vector<std::uint8_t> open = Mask(active, [&](std::size_t i) { return chosen[i] < 0; });
      PS_ASSIGN_OR_RETURN(Vec cond, Eval(*e.args[2 * k], &open));
      for (std::size_t i = 0; i < n_; ++i) {
        if (open[i] && Truth(cond, i) == 1) chosen[i] = static_cast<int>(k);
      }
    }
    std::vector<Vec> results(pairs + 1);
    for (std::size_t k = 0; k <= pairs; ++k) {
      int want = k == pairs ? -1 : static_cast<int>(k);
      std::vector<std::uint8_t> rows = Mask(active, [&](std::size_t i) { return chosen[i] == want; });
      if (std::none_of(rows.begin(), rows.end(), [](std::uint8_t r) { return r != 0; })) continue;
      PS_ASSIGN_OR_RETURN(results[k], Eval(*e.args[k == pairs ? e.args.size() - 1 : 2 * k + 1], &rows));
    }
    Column out(e.type);
    out.Reserve(n_);
    for (std::size_t i = 0; i < n_; ++i) {
      std::size_t k = chosen[i] < 0 ? pairs : static_cast<std::size_t>(chosen[i]);
      const Vec& r = results[k];
      if (r.ref == nullptr && r.owned.type() == TypeId::kNull && r.owned.empty()) {
        out.AppendNull();  // a branch no active row takes
      } else {
        Put(out, r, i);
      }
    }
    return Owned(std::move(out));
  }

  Result<std::vector<Vec>> Args(const Expr& e, const std::vector<std::uint8_t>* active) {
    std::vector<Vec> args;
    args.reserve(e.args.size());
    for (const auto& a : e.args) {
      PS_ASSIGN_OR_RETURN(Vec v, Eval(*a, active));
      args.push_back(std::move(v));
    }
    return args;
  }

  Result<Vec> Call(const Expr& e, const std::vector<std::uint8_t>* active) {
    const std::string& f = e.name;
    if (f == "and" || f == "or") {
      PS_ASSIGN_OR_RETURN(Vec a, Eval(*e.args[0], active));
      bool is_and = f == "and";
      // The right side only where the left does not decide (SQLite short-circuits).
      std::vector<std::uint8_t> open =
          Mask(active, [&](std::size_t i) { return Truth(a, i) != (is_and ? 0 : 1); });
      PS_ASSIGN_OR_RETURN(Vec b, Eval(*e.args[1], &open));
      Column out(TypeId::kBool);
      out.Reserve(n_);
      for (std::size_t i = 0; i < n_; ++i) {
        int x = Truth(a, i);
        int y = open[i] ? Truth(b, i) : (is_and ? 0 : 1);
        if (is_and) {
          AppendTruth(out, x == 0 || y == 0 ? 0 : (x < 0 || y < 0 ? -1 : 1));
        } else {
          AppendTruth(out, x == 1 || y == 1 ? 1 : (x < 0 || y < 0 ? -1 : 0));
        }
      }
      return Owned(std::move(out));
    }
    PS_ASSIGN_OR_RETURN(std::vector<Vec> args, Args(e, active));
    Column out(e.type);
    out.Reserve(n_);
    auto any_null = [&](std::size_t i) {
      return std::any_of(args.begin(), args.end(), [i](const Vec& v) { return v.null(i); });
    };
    if (f == "+" || f == "-" || f == "*" || f == "/" || f == "%") {
      char op = f[0];
      for (std::size_t i = 0; i < n_; ++i) {
        if (any_null(i)) {
          out.AppendNull();
          continue;
        }
        if (e.type == TypeId::kDouble) {
          double x = args[0].Dbl(i), y = args[1].Dbl(i), r = 0;
          if (op == '/' && y == 0) {
            out.AppendNull();
            continue;
          }
          r = op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y : x / y;
          if (std::isnan(r)) {
            out.AppendNull();
          } else {
            out.AppendDouble(r);
          }
          continue;
        }
        std::int64_t x = IntOf(args[0], i), y = IntOf(args[1], i), r = 0;
        bool overflow = false;
        switch (op) {
          case '+':
            overflow = __builtin_add_overflow(x, y, &r);
            break;
          case '-':
            overflow = __builtin_sub_overflow(x, y, &r);
            break;
          case '*':
            overflow = __builtin_mul_overflow(x, y, &r);
            break;
          case '/':
            if (y == 0) {
              out.AppendNull();
              continue;
            }
            overflow = x == kMinInt && y == -1;
            r = overflow ? 0 : x / y;
            break;
          default:  // %
            if (y == 0) {
              out.AppendNull();
              continue;
            }
            r = y == -1 ? 0 : x % y;
        }
        if (overflow) {
          if (Active(active, i)) {
            return RowError(e, "integer overflow (" + std::to_string(x) + " " + f + " " +
                                   std::to_string(y) + ")");
          }
          out.AppendNull();
          continue;
        }
        out.AppendInt(r);
      }
      return Owned(std::move(out));
    }
    if (f == "add_interval") {  // timestamp ± a constant INTERVAL (µs, signed)
      for (std::size_t i = 0; i < n_; ++i) {
        std::int64_t r = 0;
        if (any_null(i)) {
          out.AppendNull();
        } else if (__builtin_add_overflow(args[0].Int(i), args[1].Int(i), &r)) {
          if (Active(active, i)) return RowError(e, "timestamp overflow");
          out.AppendNull();
        } else {
          out.AppendInt(r);
        }
      }
      return Owned(std::move(out));
    }
    if (f == "neg") {
      for (std::size_t i = 0; i < n_; ++i) {
        if (any_null(i)) {
          out.AppendNull();
        } else if (e.type == TypeId::kDouble) {
          out.AppendDouble(-args[0].Dbl(i));
        } else if (args[0].Int(i) == kMinInt) {
          if (Active(active, i)) return RowError(e, "integer overflow");
          out.AppendNull();
        } else {
          out.AppendInt(-args[0].Int(i));
        }
      }
      return Owned(std::move(out));
    }
    if (f == "=" || f == "<>" || f == "<" || f == "<=" || f == ">" || f == ">=") {
      PS_RETURN_IF_ERROR(CheckComparable(e, args));
      for (std::size_t i = 0; i < n_; ++i) {
        if (any_null(i)) {
          out.AppendNull();
          continue;
        }
        int c = CompareAt(args[0], i, args[1], i);
        bool r = f == "="    ? c == 0
                 : f == "<>" ? c != 0
                 : f == "<"  ? c < 0
                 : f == "<=" ? c <= 0
                 : f == ">"  ? c > 0
                             : c >= 0;
        out.AppendBool(r);
      }
      return Owned(std::move(out));
    }
    if (f == "between" || f == "not between") {
      PS_RETURN_IF_ERROR(CheckComparable(e, args));
      for (std::size_t i = 0; i < n_; ++i) {
        if (args[0].null(i)) {
          out.AppendNull();
          continue;
        }
        int ge = args[1].null(i) ? -1 : (CompareAt(args[0], i, args[1], i) >= 0 ? 1 : 0);
        int le = args[2].null(i) ? -1 : (CompareAt(args[0], i, args[2], i) <= 0 ? 1 : 0);
        int t = ge == 0 || le == 0 ? 0 : (ge < 0 || le < 0 ? -1 : 1);
        if (f == "not between" && t >= 0) t = 1 - t;
        AppendTruth(out, t);
      }
      return Owned(std::move(out));
    }
    if (f == "in" || f == "not in") {
      PS_RETURN_IF_ERROR(CheckComparable(e, args));
      for (std::size_t i = 0; i < n_; ++i) {
        if (args[0].null(i)) {
          out.AppendNull();
          continue;
        }
        bool found = false, saw_null = false;
        for (std::size_t k = 1; k < args.size() && !found; ++k) {
          if (args[k].null(i)) {
            saw_null = true;
          } else if (CompareAt(args[0], i, args[k], i) == 0) {
            found = true;
          }
        }
        int t = found ? 1 : (saw_null ? -1 : 0);
        if (f == "not in" && t >= 0) t = 1 - t;
        AppendTruth(out, t);
      }
      return Owned(std::move(out));
    }
    if (f == "not") {
      for (std::size_t i = 0; i < n_; ++i) {
        int t = Truth(args[0], i);
        AppendTruth(out, t < 0 ? -1 : 1 - t);
      }
      return Owned(std::move(out));
    }
    if (f == "is null" || f == "is not null") {
      for (std::size_t i = 0; i < n_; ++i) out.AppendBool(args[0].null(i) == (f == "is null"));
      return Owned(std::move(out));
    }
    if (f == "like" || f == "not like") {
      for (std::size_t i = 0; i < n_; ++i) {
        if (any_null(i)) {
          out.AppendNull();
          continue;
        }
        std::string s, p;
        AppendText(args[0], i, &s);
        AppendText(args[1], i, &p);
        out.AppendBool(Like(s, p) == (f == "like"));
      }
      return Owned(std::move(out));
    }
    if (f == "||") {
      std::string s;
      for (std::size_t i = 0; i < n_; ++i) {
        if (any_null(i)) {
          out.AppendNull();
          continue;
        }
        s.clear();
        for (const Vec& a : args) AppendText(a, i, &s);
        out.AppendString(s);
      }
      return Owned(std::move(out));
    }
    if (f == "year" || f == "month" || f == "day" || f == "hour" || f == "minute" ||
        f == "second" || f == "unix_timestamp" || f == "unix_micros" || f == "to_timestamp") {
      for (std::size_t i = 0; i < n_; ++i) {
        if (args[0].null(i)) {
          out.AppendNull();
          continue;
        }
        std::int64_t us = 0;
        if (args[0].type() == TypeId::kTimestamp) {
          us = args[0].Int(i);
        } else {
          Result<std::int64_t> t = ParseTimestamp(args[0].Str(i));
          if (!t.ok()) {
            if (Active(active, i)) return RowError(e, t.status().message());
            out.AppendNull();
            continue;
          }
          us = *t;
        }
        if (f == "unix_micros" || f == "to_timestamp") {
          out.AppendInt(us);
        } else if (f == "unix_timestamp") {
          out.AppendInt(us >= 0 ? us / 1'000'000 : -((-us + 999'999) / 1'000'000));
        } else {
          CivilTime t = SplitMicros(us);
          std::int64_t v = f == "year"    ? t.year
                           : f == "month" ? t.month
                           : f == "day"   ? t.day
                           : f == "hour"  ? t.hour
                           : f == "minute"
                               ? t.minute
                               : t.second;
          out.AppendInt(v);
        }
      }
      return Owned(std::move(out));
    }
    if (f == "concat_ws") {
      std::string s;
      for (std::size_t i = 0; i < n_; ++i) {
        if (args[0].null(i)) {
          out.AppendNull();
          continue;
        }
        std::string sep;
        AppendText(args[0], i, &sep);
        s.clear();
        bool first = true;
        for (std::size_t k = 1; k < args.size(); ++k) {
          if (args[k].null(i)) continue;
          if (!first) s += sep;
          first = false;
          AppendText(args[k], i, &s);
        }
        out.AppendString(s);
      }
      return Owned(std::move(out));
    }
    if (f == "lower" || f == "upper" || f == "trim") {
      std::string s;
      for (std::size_t i = 0; i < n_; ++i) {
        if (args[0].null(i)) {
          out.AppendNull();
          continue;
        }
        s.clear();
        AppendText(args[0], i, &s);
        if (f == "lower") {
          for (char& c : s) c = FoldAscii(c);
        } else if (f == "upper") {
          for (char& c : s) {
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
          }
        } else {
          std::size_t b = s.find_first_not_of(' ');
          if (b == std::string::npos) {
            s.clear();
          } else {
            s = s.substr(b, s.find_last_not_of(' ') - b + 1);
          }
        }
        out.AppendString(s);
      }
      return Owned(std::move(out));
    }
    if (f == "length") {
      std::string s;
      for (std::size_t i = 0; i < n_; ++i) {
        if (args[0].null(i)) {
          out.AppendNull();
        } else if (IsText(args[0].type())) {
          out.AppendInt(static_cast<std::int64_t>(CharCount(args[0].Str(i))));
        } else {
          s.clear();
          AppendText(args[0], i, &s);
          out.AppendInt(static_cast<std::int64_t>(CharCount(s)));
        }
      }
      return Owned(std::move(out));
    }
    if (f == "substr") {
      std::string text;
      for (std::size_t i = 0; i < n_; ++i) {
        if (any_null(i)) {
          out.AppendNull();
          continue;
        }
        text.clear();
        AppendText(args[0], i, &text);
        std::string_view z = text;
        auto len = static_cast<std::int64_t>(CharCount(z));
        auto clamp32 = [](std::int64_t v) {
          return std::clamp<std::int64_t>(v, std::numeric_limits<std::int32_t>::min(),
                                          std::numeric_limits<std::int32_t>::max());
        };
        std::int64_t p1 = clamp32(IntOf(args[1], i));
        std::int64_t p2 = std::numeric_limits<std::int32_t>::max();
        bool neg_p2 = false;
        if (args.size() == 3) {
          p2 = clamp32(IntOf(args[2], i));
          if (p2 < 0) {
            p2 = -p2;
            neg_p2 = true;
          }
        }
        if (p1 < 0) {
          p1 += len;
          if (p1 < 0) {
            p2 += p1;
            if (p2 < 0) p2 = 0;
            p1 = 0;
          }
        } else if (p1 > 0) {
          --p1;
        } else if (p2 > 0) {
          --p2;
        }
        if (neg_p2) {
          p1 -= p2;
          if (p1 < 0) {
            p2 += p1;
            p1 = 0;
          }
        }
        std::size_t b = 0;
        while (b < z.size() && p1 > 0) b += Utf8Len(static_cast<unsigned char>(z[b])), --p1;
        std::size_t end = b;
        while (end < z.size() && p2 > 0) end += Utf8Len(static_cast<unsigned char>(z[end])), --p2;
        out.AppendString(z.substr(b, std::min(end, z.size()) - b));
      }
      return Owned(std::move(out));
    }
    if (f == "abs") {
      for (std::size_t i = 0; i < n_; ++i) {
        if (args[0].null(i)) {
          out.AppendNull();
        } else if (e.type == TypeId::kDouble) {
          out.AppendDouble(std::fabs(args[0].Dbl(i)));
        } else if (args[0].Int(i) == kMinInt) {
          if (Active(active, i)) return RowError(e, "integer overflow");
          out.AppendNull();
        } else {
          out.AppendInt(std::abs(args[0].Int(i)));
        }
      }
      return Owned(std::move(out));
    }
    if (f == "round") {
      for (std::size_t i = 0; i < n_; ++i) {
        if (any_null(i)) {
          out.AppendNull();
          continue;
        }
        std::int64_t digits = args.size() == 2 ? IntOf(args[1], i) : 0;
        out.AppendDouble(SqliteRound(args[0].Dbl(i), digits));
      }
      return Owned(std::move(out));
    }
    if (f == "coalesce" || f == "ifnull") {
      for (std::size_t i = 0; i < n_; ++i) {
        auto it = std::find_if(args.begin(), args.end(), [i](const Vec& v) { return !v.null(i); });
        if (it == args.end()) {
          out.AppendNull();
        } else {
          Put(out, *it, i);
        }
      }
      return Owned(std::move(out));
    }
    if (f == "nullif") {
      PS_RETURN_IF_ERROR(CheckComparable(e, args));
      for (std::size_t i = 0; i < n_; ++i) {
        if (args[0].null(i) || (!args[1].null(i) && CompareAt(args[0], i, args[1], i) == 0)) {
          out.AppendNull();
        } else {
          Put(out, args[0], i);
        }
      }
      return Owned(std::move(out));
    }
    if (f == "cast") {
      const Vec& a = args[0];
      for (std::size_t i = 0; i < n_; ++i) {
        if (a.null(i)) {
          out.AppendNull();
        } else if (e.type == TypeId::kInt64) {
          out.AppendInt(IsText(a.type()) ? TextToInt(a.Str(i)) : IntOf(a, i));
        } else if (e.type == TypeId::kDouble) {
          out.AppendDouble(IsText(a.type()) ? TextToDouble(a.Str(i)) : a.Dbl(i));
        } else {
          Put(out, a, i);  // to string
        }
      }
      return Owned(std::move(out));
    }
    return Internal("ScalarExpr: no evaluation for " + f);
  }

  Status CheckComparable(const Expr& e, const std::vector<Vec>& args) const {
    for (std::size_t k = 1; k < args.size(); ++k) {
      if (!Comparable(args[0].type(), args[k].type())) {
        return InvalidArgument("cannot compare " + std::string(TypeName(args[0].type())) +
                               " with " + std::string(TypeName(args[k].type())) + " in " +
                               e.ToString());
      }
    }
    return Status::Ok();
  }

  const RecordBatch& batch_;
  std::size_t n_;
  const std::vector<std::uint8_t>* active_;
};

Status Unsupported(const Expr& e, const std::string& what) {
  return InvalidArgument(what + " is not supported in live views yet (" + e.ToString() + ")");
}

Status Check(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kColumn:
    case ExprKind::kLiteral:
      return Status::Ok();
    case ExprKind::kSubquery:
      return Unsupported(e, "a scalar subquery");
    case ExprKind::kAggregate:
    case ExprKind::kWindow:
      return Internal("ScalarExpr: " + e.ToString() + " was not lowered to a column");
    case ExprKind::kCase:
      if (e.args.size() < 3 || e.args.size() % 2 == 0) {
        return Internal("ScalarExpr: a CASE without its branches");
      }
      break;
    case ExprKind::kCall: {
      static const char* kKnown[] = {
          "+",           "-",           "*",          "/",          "%",
          "neg",         "=",           "<>",         "<",          "<=",
          ">",           ">=",          "between",    "not between", "in",
          "not in",      "and",         "or",         "not",        "is null",
          "is not null", "like",        "not like",   "||",         "year",
          "month",       "day",         "hour",       "minute",     "second",
          "unix_timestamp", "unix_micros", "to_timestamp", "concat_ws", "lower",
          "upper",       "trim",        "length",     "substr",     "abs",
          "round",       "coalesce",    "ifnull",     "nullif",     "cast",
          "add_interval"};
      if (std::find(std::begin(kKnown), std::end(kKnown), e.name) == std::end(kKnown)) {
        return Unsupported(e, "the function " + e.name);
      }
      if ((e.name == "unix_timestamp" || e.name == "to_timestamp") && e.args.size() != 1) {
        return Unsupported(e, e.name + " with a format");
      }
      if (e.name == "add_interval" &&
          (e.args.size() != 2 || e.args[1]->kind != ExprKind::kLiteral ||
           e.args[1]->type != TypeId::kInt64 || e.type != TypeId::kTimestamp)) {
        return Internal("ScalarExpr: add_interval takes a timestamp and a constant of µs");
      }
      if (e.name == "cast") {
        TypeId from = e.args.at(0)->type;
        if (e.type == TypeId::kTimestamp || e.type == TypeId::kBool) {
          return Unsupported(e, "CAST to " + std::string(TypeName(e.type)) +
                                    " (the batch SQL reads it as a number)");
        }
        if (from == TypeId::kTimestamp && e.type != TypeId::kString) {
          return Unsupported(e, "CAST of a timestamp to " + std::string(TypeName(e.type)) +
                                    " (the batch SQL casts its text)");
        }
        if (from == TypeId::kDoubleArray || from == TypeId::kRaw ||
            e.type == TypeId::kDoubleArray) {
          return Unsupported(e, "CAST of " + std::string(TypeName(from)));
        }
      }
      break;
    }
  }
  for (const auto& a : e.args) PS_RETURN_IF_ERROR(Check(*a));
  return Status::Ok();
}

}  // namespace

std::string SqliteDoubleText(double v) {
  if (v == 0) return "0.0";
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  std::string s = buf;
  std::size_t e = s.find('e');
  if (s.find('.') == std::string::npos) {
    s.insert(e == std::string::npos ? s.size() : e, ".0");
  }
  return s;
}

Result<ScalarExpr> ScalarExpr::Compile(ExprPtr expr) {
  if (expr == nullptr) return Internal("ScalarExpr: no expression");
  PS_RETURN_IF_ERROR(Check(*expr));
  return ScalarExpr(std::move(expr));
}

Result<pinstream::Column> ScalarExpr::Evaluate(const RecordBatch& batch) const {
  Evaluator ev(batch, nullptr);
  PS_ASSIGN_OR_RETURN(Vec v, ev.Eval(*expr_));
  std::size_t n = batch.num_rows();
  if (v.ref != nullptr) {
    if (v.ref->type() == expr_->type) return *v.ref;
    pinstream::Column out(expr_->type);
    out.Reserve(n);
    for (std::size_t i = 0; i < n; ++i) Put(out, v, i);
    return out;
  }
  if (!v.constant && v.owned.type() == expr_->type) return std::move(v.owned);
  pinstream::Column out(expr_->type);
  out.Reserve(n);
  for (std::size_t i = 0; i < n; ++i) Put(out, v, i);
  return out;
}

Result<std::vector<std::uint8_t>> ScalarExpr::EvaluateTrue(const RecordBatch& batch) const {
  Evaluator ev(batch, nullptr);
  PS_ASSIGN_OR_RETURN(Vec v, ev.Eval(*expr_));
  std::vector<std::uint8_t> keep(batch.num_rows());
  for (std::size_t i = 0; i < keep.size(); ++i) keep[i] = Truth(v, i) == 1 ? 1 : 0;
  return keep;
}

}  // namespace pinstream::views
