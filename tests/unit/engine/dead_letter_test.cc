#include "engine/dead_letter.h"

#include <gtest/gtest.h>

#include "engine/row_format.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::ColumnStrings;
using testing::kNull;
using testing::StringBatch;

TEST(DeadLetterTest, RowsKeepTheirReasonPositionAndRawRecordUnderTheFixedSchema) {
  DeadLetterBuilder b("pins", 7, 1'600'000'000'000'000);
  DeadLetterRow bad;
  bad.operator_name = "0:parse_json";
  bad.reason = "malformed JSON";
  bad.source = "files";
  bad.partition = "pins.jsonl";
  bad.offset = 120;
  bad.position = "pins.jsonl:line 3";
  bad.raw = "{not json";
  b.Add(bad);
  DeadLetterRow gone = bad;
  gone.raw_missing = true;  // the record could not be read back
  b.Add(gone);
  EXPECT_EQ(b.size(), 2u);
  RecordBatch out = b.Build();
  ASSERT_TRUE(out.Validate().ok());
  EXPECT_EQ(out.names(),
            (std::vector<std::string>{"query", "batch_id", "operator", "reason", "source",
                                      "partition", "offset", "position", "raw", "failed_at"}));
  EXPECT_EQ(out.column(static_cast<std::size_t>(out.FindColumn("failed_at"))).type(),
            TypeId::kTimestamp);
  EXPECT_EQ(ColumnStrings(out, "query"), (std::vector<std::string>{"pins", "pins"}));
  EXPECT_EQ(ColumnStrings(out, "batch_id"), (std::vector<std::string>{"7", "7"}));
  EXPECT_EQ(ColumnStrings(out, "offset"), (std::vector<std::string>{"120", "120"}));
  EXPECT_EQ(ColumnStrings(out, "position")[0], "pins.jsonl:line 3");
  const Column& raw = out.column(static_cast<std::size_t>(out.FindColumn("raw")));
  EXPECT_EQ(raw.Str(0), "{not json");
  EXPECT_TRUE(raw.IsNull(1));
  // Built once: the builder starts over for the next batch.
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.Build().num_rows(), 0u);
}

TEST(DeadLetterTest, TheRawRecordIsTheValueColumnOrElseTheRowAsJson) {
  RecordBatch raw_source = StringBatch({"key", "value"}, {{"k", "{\"a\":1}"}, {"k2", kNull}});
  EXPECT_EQ(RawRecordText(raw_source, 0), "{\"a\":1}");
  std::string null_value = RawRecordText(raw_source, 1);  // no value: the whole row
  EXPECT_NE(null_value.find("\"key\":\"k2\""), std::string::npos) << null_value;
  RecordBatch csv_row = StringBatch({"ind", "country"}, {{"3", "Fiji"}});
  EXPECT_EQ(RawRecordText(csv_row, 0), "{\"ind\":\"3\",\"country\":\"Fiji\"}");
}

}  // namespace
}  // namespace pinstream
