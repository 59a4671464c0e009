#include "engine/row_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/time_util.h"

namespace pinstream {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when invalid.
std::size_t Utf8SeqLen(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

void AppendDouble(double d, std::string* out) {
  if (std::isnan(d) || std::isinf(d)) {
    out->append("null");
    return;
  }
  // Shortest representation that round-trips (fmt's default for doubles).
  fmt::format_to(std::back_inserter(*out), "{}", d);
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = Utf8SeqLen(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      out->push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        ++i;
        continue;
      case '\\':
        out->append("\\\\");
        ++i;
        continue;
      case '\n':
        out->append("\\n");
        ++i;
        continue;
      case '\r':
        out->append("\\r");
        ++i;
        continue;
      case '\t':
        out->append("\\t");
        ++i;
        continue;
      case '\b':
        out->append("\\b");
        ++i;
        continue;
      case '\f':
        out->append("\\f");
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
      ++i;
      continue;
    }
    std::size_t n = Utf8SeqLen(s, i);
    if (n == 0) {
      out->append("\xEF\xBF\xBD");
      ++i;
    } else {
      out->append(s.substr(i, n));
      i += n;
    }
  }
  out->push_back('"');
}

void AppendJsonValue(const Column& col, std::size_t row, std::string* out) {
  if (col.type() == TypeId::kNull || col.IsNull(row)) {
    out->append("null");
    return;
  }
  switch (col.type()) {
    case TypeId::kBool:
      out->append(col.Bool(row) ? "true" : "false");
      break;
    case TypeId::kInt64:
      fmt::format_to(std::back_inserter(*out), "{}", col.Int(row));
      break;
    case TypeId::kDouble:
      AppendDouble(col.Double(row), out);
      break;
    case TypeId::kString:
      AppendJsonString(col.Str(row), out);
      break;
    case TypeId::kTimestamp:
      out->push_back('"');
      out->append(FormatTimestamp(col.Int(row), TimestampStyle::kIso));
      out->push_back('"');
      break;
    case TypeId::kRaw:
      out->push_back('"');
      out->append(Base64Encode(col.Str(row)));
      out->push_back('"');
      break;
    case TypeId::kDoubleArray: {
      out->push_back('[');
      bool first = true;
      for (double d : col.Array(row)) {
        if (!first) out->push_back(',');
        first = false;
        AppendDouble(d, out);
      }
      out->push_back(']');
      break;
    }
    case TypeId::kNull:
      out->append("null");
      break;
  }
}

void AppendJsonRow(const RecordBatch& batch, std::size_t row, std::string* out) {
  out->push_back('{');
  for (std::size_t c = 0; c < batch.num_columns(); ++c) {
    if (c) out->push_back(',');
    AppendJsonString(batch.name(c), out);
    out->push_back(':');
    AppendJsonValue(batch.column(c), row, out);
  }
  out->push_back('}');
}

void AppendCsvField(std::string_view s, std::string* out) {
  bool quote = s.find_first_of(",\"\r\n") != std::string_view::npos ||
               (!s.empty() && (s.front() == ' ' || s.back() == ' '));
  if (!quote) {
    out->append(s);
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

void AppendCsvHeader(const RecordBatch& batch, std::string* out) {
  for (std::size_t c = 0; c < batch.num_columns(); ++c) {
    if (c) out->push_back(',');
    AppendCsvField(batch.name(c), out);
  }
  out->push_back('\n');
}

void AppendCsvRow(const RecordBatch& batch, std::size_t row, std::string* out) {
  for (std::size_t c = 0; c < batch.num_columns(); ++c) {
    if (c) out->push_back(',');
    const Column& col = batch.column(c);
    if (col.type() == TypeId::kNull || col.IsNull(row)) continue;  // null = empty field
    switch (col.type()) {
      case TypeId::kString:
        AppendCsvField(col.Str(row), out);
        break;
      case TypeId::kTimestamp:
        out->append(FormatTimestamp(col.Int(row), TimestampStyle::kIso));
        break;
      case TypeId::kRaw:
        out->append(Base64Encode(col.Str(row)));
        break;
      case TypeId::kDoubleArray: {
        std::string tmp;
        AppendJsonValue(col, row, &tmp);
        AppendCsvField(tmp, out);
        break;
      }
      default: {
        std::string tmp;
        AppendJsonValue(col, row, &tmp);
        out->append(tmp);
      }
    }
  }
  out->push_back('\n');
}

std::string DisplayValue(const Column& col, std::size_t row) {
  if (col.type() == TypeId::kNull || col.IsNull(row)) return "null";
  switch (col.type()) {
    case TypeId::kString:
      return std::string(col.Str(row));
    case TypeId::kRaw: {
      std::string_view s = col.Str(row);
      bool text = true;
      for (std::size_t i = 0; i < s.size();) {
        std::size_t n = Utf8SeqLen(s, i);
        if (n == 0 ||
            (n == 1 && static_cast<unsigned char>(s[i]) < 0x20 && s[i] != '\n' && s[i] != '\t')) {
          text = false;
          break;
        }
        i += n;
      }
      return text ? std::string(s)
                  : "0x" + fmt::format("{:02x}", fmt::join(s.begin(), s.end(), ""));
    }
    case TypeId::kTimestamp:
      return FormatTimestamp(col.Int(row), TimestampStyle::kSql);
    default: {
      std::string tmp;
      AppendJsonValue(col, row, &tmp);
      return tmp;
    }
  }
}

namespace {
// Display width in code points (a fair approximation for a terminal).
std::size_t Width(std::string_view s) {
  std::size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}
std::string Truncate(std::string s, std::size_t max_width) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (Width(s) <= max_width) return s;
  std::size_t w = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (w == max_width - 3) break;
      ++w;
    }
  }
  return s.substr(0, i) + "...";
}
}  // namespace

std::string FormatTable(const RecordBatch& batch, std::size_t max_rows, std::size_t max_width) {
  std::size_t rows = std::min(max_rows, batch.num_rows());
  std::size_t ncol = batch.num_columns();
  std::vector<std::vector<std::string>> cells(rows, std::vector<std::string>(ncol));
  std::vector<std::size_t> widths(ncol);
  for (std::size_t c = 0; c < ncol; ++c) widths[c] = Width(batch.name(c));
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < ncol; ++c) {
      cells[r][c] = Truncate(DisplayValue(batch.column(c), r), max_width);
      widths[c] = std::max(widths[c], Width(cells[r][c]));
    }
  }
  std::string sep = "+";
  for (auto w : widths) sep += std::string(w + 2, '-') + "+";
  sep += "\n";
  auto line = [&](const std::vector<std::string>& vals, bool right_numbers) {
    std::string s = "|";
    for (std::size_t c = 0; c < ncol; ++c) {
      std::size_t pad = widths[c] - Width(vals[c]);
      TypeId t = batch.column(c).type();
      bool right = right_numbers && (t == TypeId::kInt64 || t == TypeId::kDouble);
      s += " " + (right ? std::string(pad, ' ') + vals[c] : vals[c] + std::string(pad, ' ')) + " |";
    }
    return s + "\n";
  };
  std::string out = sep + line(batch.names(), false) + sep;
  for (const auto& r : cells) out += line(r, true);
  out += sep;
  if (rows < batch.num_rows())
    out += fmt::format("only showing top {} of {} rows\n", rows, batch.num_rows());
  return out;
}

std::string FormatMarkdown(const RecordBatch& batch) {
  std::string out = "|";
  for (const auto& n : batch.names()) out += " " + n + " |";
  out += "\n|";
  for (std::size_t c = 0; c < batch.num_columns(); ++c) {
    TypeId t = batch.column(c).type();
    out += (t == TypeId::kInt64 || t == TypeId::kDouble) ? " ---: |" : " --- |";
  }
  out += "\n";
  for (std::size_t r = 0; r < batch.num_rows(); ++r) {
    out += "|";
    for (std::size_t c = 0; c < batch.num_columns(); ++c) {
      std::string v = DisplayValue(batch.column(c), r);
      std::string esc;
      for (char ch : v) {
        if (ch == '|')
          esc += "\\|";
        else if (ch == '\n')
          esc += " ";
        else
          esc += ch;
      }
      out += " " + esc + " |";
    }
    out += "\n";
  }
  return out;
}

std::string Base64Encode(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                      (static_cast<unsigned char>(in[i + 1]) << 8) |
                      static_cast<unsigned char>(in[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool Base64Decode(std::string_view in, std::string* out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  out->clear();
  out->reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero for a canonical encoding.
  return (acc & ((1u << bits) - 1)) == 0;
}

}  // namespace pinstream
