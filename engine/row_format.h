// Rendering rows as text: JSON (JSON Lines sinks, `scan --format jsonl`, dead-letter raw
// records), CSV (RFC 4180) and aligned tables for terminals.
//
// JSON conventions follow Spark's JSON writer, which data engineers already read:
// timestamps as "2020-08-28T03:52:47.000Z", raw bytes base64-encoded, null fields written as
// null (not omitted), arrays as JSON arrays. Strings are escaped; invalid UTF-8 becomes U+FFFD.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "engine/record_batch.h"

namespace pinstream {

// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view s);

void AppendJsonString(std::string_view s, std::string* out);
void AppendJsonValue(const Column& col, std::size_t row, std::string* out);
// {"col": value, ...} for one row.
void AppendJsonRow(const RecordBatch& batch, std::size_t row, std::string* out);

void AppendCsvField(std::string_view s, std::string* out);
void AppendCsvHeader(const RecordBatch& batch, std::string* out);
void AppendCsvRow(const RecordBatch& batch, std::size_t row, std::string* out);

// Display text of one value: timestamps "2020-08-28 03:52:47", null as "null".
std::string DisplayValue(const Column& col, std::size_t row);
// An aligned, boxed table of up to `max_rows` rows (Spark's show()), with a row-count footer
// when rows were left out.
std::string FormatTable(const RecordBatch& batch, std::size_t max_rows, std::size_t max_width = 40);
// Markdown table.
std::string FormatMarkdown(const RecordBatch& batch);

std::string Base64Encode(std::string_view in);
// Standard or URL-safe alphabet, padding optional; whitespace rejected. False on bad input.
bool Base64Decode(std::string_view in, std::string* out);

}  // namespace pinstream
