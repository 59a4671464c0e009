// FileSource: a directory of .jsonl, .json and .csv (and .txt) files as a streaming source.
//
// Partitions are files (named by their path relative to the directory); offsets are byte offsets
// of records within them. Each file is read once, in (modification time, name) order; files
// that appear later are picked up by later triggers. Hidden files (".x", "_x") are ignored, so
// writers should create files under such a name and rename them into place when complete —
// as with Spark's file source. Bytes appended to a file after it was read are read as new
// records by a later batch.
//
// Records:
//   .jsonl / .ndjson  one JSON value per line      → column `value` (raw bytes)
//   .json             a JSON array of values, or one value per line → `value` (raw)
//   .csv              RFC 4180 with a header row   → one string column per header field
//                     (an empty header name becomes _c<i>, as in Spark); unquoted empty
//                     fields are null; rows with the wrong number of fields or broken quotes
//                     are dead-letter records, reported with file and line
//   .txt / text       one line per record          → column `value` (string)
//
// Config (kind: file):
//   path: data/in              directory (required; must exist at start)
//   pattern: "*.csv"           glob on file names (default: every supported file)
//   format: auto               auto (by extension) | jsonl | json | csv | text
//   max_files_per_trigger: 0   0 = unlimited
//   csv: {header: true, delimiter: ",", quote: "\"", empty_as_null: true}
#pragma once

#include <memory>
#include <string>

#include "connectors/file/record_splitter.h"
#include "engine/registry.h"

namespace pinstream::connectors {

struct FileSourceConfig {
  std::string path;
  std::string pattern;
  std::string format = "auto";
  std::int64_t max_files_per_trigger = 0;
  CsvOptions csv;
};

std::shared_ptr<const SourceSpec> ParseFileSource(const ConfigNode& node);
extern const ConfigKeys kFileSourceKeys;
extern const ConfigKeys kFileCsvKeys;
std::unique_ptr<Source> MakeFileSource(FileSourceConfig config);

}  // namespace pinstream::connectors
