#include "connectors/file/record_splitter.h"

#include <cstring>

namespace pinstream::connectors {

namespace {
bool IsBlank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}
}  // namespace

bool NextRecord(FileFormat format, const CsvOptions& csv, std::string_view buf, std::size_t pos,
                bool at_eof, RecordSpan* span) {
  if (pos >= buf.size()) return false;
  if (format == FileFormat::kCsv) {
    bool in_quote = false;
    std::size_t i = pos;
    for (; i < buf.size(); ++i) {
      char c = buf[i];
      if (c == csv.quote) {
        in_quote = !in_quote;  // a doubled quote toggles twice
      } else if (c == '\n' && !in_quote) {
        break;
      }
    }
    if (i == buf.size()) {
      if (!at_eof) return false;
      span->unterminated_quote = in_quote;
    } else {
      span->unterminated_quote = false;
    }
    span->begin = pos;
    span->end = i;
    if (span->end > pos && buf[span->end - 1] == '\r') --span->end;
    span->next = i < buf.size() ? i + 1 : buf.size();
    span->blank = IsBlank(buf.substr(pos, span->end - pos));
    return true;
  }
  // JSON Lines, text (and JSON files that are not arrays): one record per line.
  const void* nl = std::memchr(buf.data() + pos, '\n', buf.size() - pos);
  std::size_t i =
      nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data()) : buf.size();
  if (!nl && !at_eof) return false;
  span->begin = pos;
  span->end = i;
  if (span->end > pos && buf[span->end - 1] == '\r') --span->end;
  span->next = nl ? i + 1 : buf.size();
  span->unterminated_quote = false;
  span->blank = format != FileFormat::kText ? IsBlank(buf.substr(pos, span->end - pos)) : false;
  return true;
}

bool SplitCsvRecord(std::string_view rec, const CsvOptions& csv, std::vector<std::string>* fields,
                    std::vector<bool>* quoted, std::string* error) {
  fields->clear();
  quoted->clear();
  std::size_t i = 0;
  const std::size_t n = rec.size();
  while (true) {
    std::string field;
    bool was_quoted = false;
    if (i < n && rec[i] == csv.quote) {
      was_quoted = true;
      ++i;
      while (true) {
        if (i >= n) {
          *error = "unterminated quoted field";
          return false;
        }
        char c = rec[i];
        if (c == csv.quote) {
          if (i + 1 < n && rec[i + 1] == csv.quote) {
            field.push_back(csv.quote);
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field.push_back(c);
        ++i;
      }
      if (i < n && rec[i] != csv.delimiter) {
        *error = "unexpected character after a closing quote at column " + std::to_string(i + 1);
        return false;
      }
    } else {
      std::size_t start = i;
      while (i < n && rec[i] != csv.delimiter) {
        if (rec[i] == csv.quote) {
          *error = "quote inside an unquoted field at column " + std::to_string(i + 1);
          return false;
        }
        ++i;
      }
      field.assign(rec.data() + start, i - start);
    }
    fields->push_back(std::move(field));
    quoted->push_back(was_quoted);
    if (i >= n) break;
    ++i;  // delimiter
  }
  return true;
}

}  // namespace pinstream::connectors
