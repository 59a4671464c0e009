// Dead-letter rows: records that a query could not process, kept with the reason and their
// source position instead of being dropped (a row-level failure is never only logged: see
// Operator::Process in engine/operator.h).
//
// Schema of a dead-letter table (the same for every query):
//   query string, batch_id int64, operator string, reason string, source string,
//   partition string, offset int64, position string, raw string, failed_at timestamp
// `position` is the human form of (partition, offset), e.g. "user_data.csv:line 17";
// `raw` is the record as the source delivered it (JSON text for parsed-JSON sources; for
// sources that deliver columns, such as CSV, the row rendered as a JSON object).
#pragma once

#include <cstdint>
#include <string>

#include "engine/record_batch.h"

namespace pinstream {

struct DeadLetterRow {
  std::string operator_name;  // "source" for records the source itself could not decode
  std::string reason;
  std::string source;
  std::string partition;
  std::int64_t offset = 0;
  std::string position;
  std::string raw;
  bool raw_missing = false;  // the record could not be read back
};

class DeadLetterBuilder {
 public:
  DeadLetterBuilder(std::string query, std::int64_t batch_id, std::int64_t failed_at_us);
  void Add(const DeadLetterRow& row);
  std::size_t size() const { return rows_; }
  RecordBatch Build();

 private:
  std::string query_;
  std::int64_t batch_id_;
  std::int64_t failed_at_us_;
  std::size_t rows_ = 0;
  Column operator_{TypeId::kString}, reason_{TypeId::kString}, source_{TypeId::kString},
      partition_{TypeId::kString}, offset_{TypeId::kInt64}, position_{TypeId::kString},
      raw_{TypeId::kString};
};

// The raw text of row `row` of a chunk a source produced: its `value` column when the source
// delivers raw records, else the row as a JSON object.
std::string RawRecordText(const RecordBatch& chunk, std::size_t row);

}  // namespace pinstream
