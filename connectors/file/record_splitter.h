// Record boundaries in text files: JSON Lines, CSV (RFC 4180, quoted fields may hold newlines),
// plain text lines, and JSON arrays (one record per element).
//
// A splitter works on a byte buffer that holds part of a file starting at `base` (the file
// offset of buffer[0]) and finds complete records; the caller refills the buffer when a record
// straddles its end. At end of file an unterminated last record still counts (a final line
// without '\n'), except a CSV record inside an open quote, which is reported as malformed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace pinstream::connectors {

enum class FileFormat { kJsonLines, kJson, kCsv, kText };

struct CsvOptions {
  bool header = true;
  char delimiter = ',';
  char quote = '"';
  bool empty_as_null = true;  // an unquoted empty field is null; "" is the empty string
};

struct RecordSpan {
  std::size_t begin = 0;  // in the buffer
  std::size_t end = 0;    // exclusive, without the line terminator
  std::size_t next = 0;   // where the next record starts
  bool blank = false;     // whitespace only: not a record
  bool unterminated_quote = false;
};

// Finds the record starting at `pos`. Returns false when the buffer holds no complete record
// from `pos` and `at_eof` is false (more bytes are needed).
bool NextRecord(FileFormat format, const CsvOptions& csv, std::string_view buf, std::size_t pos,
                bool at_eof, RecordSpan* span);

// Splits one CSV record into fields. `quoted[i]` tells whether field i was quoted.
// Returns false (with *error) on a stray quote.
bool SplitCsvRecord(std::string_view record, const CsvOptions& csv,
                    std::vector<std::string>* fields, std::vector<bool>* quoted,
                    std::string* error);

}  // namespace pinstream::connectors
