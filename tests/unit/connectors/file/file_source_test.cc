#include "connectors/file/file_source.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/dead_letter.h"
#include "tests/testing/test_util.h"

namespace pinstream::connectors {
namespace {

using pinstream::testing::ColumnStrings;
using pinstream::testing::TempDir;

struct ReadResult {
  RecordBatch rows;
  std::vector<std::int64_t> offsets;
  std::vector<SourceRecordError> errors;
  int chunks = 0;
};

ReadResult ReadAll(Source& src, const std::string& partition, std::int64_t start, std::int64_t end,
                   std::size_t chunk = 1000) {
  ReadResult r;
  Status st = src.Read(ReadRange{partition, start, end}, chunk, [&](SourceChunk&& c) -> Status {
    ++r.chunks;
    r.offsets.insert(r.offsets.end(), c.offsets.begin(), c.offsets.end());
    for (auto& e : c.errors) r.errors.push_back(e);
    if (c.batch.num_rows() == 0 && c.batch.num_columns() == 0) return Status::Ok();
    return r.rows.Append(c.batch);
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return r;
}

std::unique_ptr<Source> Make(const std::string& dir, const std::string& pattern = "",
                             std::int64_t max_files = 0) {
  FileSourceConfig c;
  c.path = dir;
  c.pattern = pattern;
  c.max_files_per_trigger = max_files;
  auto s = MakeFileSource(c);
  EXPECT_TRUE(s->Open().ok());
  return s;
}

TEST(FileSourceTest, JsonLinesRecordsWithByteOffsets) {
  TempDir d;
  d.Write("a.jsonl",
          "{\"x\":1}\n\n{\"x\":2}\r\n{\"x\":3}");  // blank line skipped, CRLF, no final newline
  auto src = Make(d.path());
  auto latest = src->LatestOffsets({}, true);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->at("a.jsonl"), 25);
  auto r = ReadAll(*src, "a.jsonl", 0, 25, 2);
  EXPECT_EQ(ColumnStrings(r.rows, "value"),
            (std::vector<std::string>{"{\"x\":1}", "{\"x\":2}", "{\"x\":3}"}));
  EXPECT_EQ(r.offsets, (std::vector<std::int64_t>{0, 9, 18}));
  EXPECT_EQ(r.chunks, 2);
  // A range starting at a record offset reads from there.
  auto tail = ReadAll(*src, "a.jsonl", 9, 25);
  EXPECT_EQ(tail.offsets, (std::vector<std::int64_t>{9, 18}));
}

TEST(FileSourceTest, CsvWithUnnamedIndexColumnQuotedNewlinesAndNulls) {
  TempDir d;
  d.Write(
      "u.csv",
      ",ind,name,bio\n0,0,Adam,\"line one\nline two\"\n1,1,,\"\"\n2,2,\"Q \"\"quoted\"\"\",x\n");
  auto src = Make(d.path());
  auto r = ReadAll(*src, "u.csv", 0, 1000);
  EXPECT_EQ(r.rows.names(), (std::vector<std::string>{"_c0", "ind", "name", "bio"}));
  EXPECT_EQ(ColumnStrings(r.rows, "bio"),
            (std::vector<std::string>{"line one\nline two", "", "x"}));
  EXPECT_EQ(ColumnStrings(r.rows, "name"),
            (std::vector<std::string>{"Adam", "null", "Q \"quoted\""}));
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(src->DescribePosition("u.csv", r.offsets[1]), "u.csv:line 4");
}

TEST(FileSourceTest, MalformedCsvRowsBecomeDeadLetterRecordsWithTheirLine) {
  TempDir d;
  d.Write("bad.csv", "a,b\n1,2\n3\n4,\"open\n5,6\n");
  auto src = Make(d.path());
  auto r = ReadAll(*src, "bad.csv", 0, 1000);
  EXPECT_EQ(ColumnStrings(r.rows, "a"), std::vector<std::string>{"1"});
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_NE(r.errors[0].reason.find("expected 2 fields, found 1"), std::string::npos);
  EXPECT_EQ(r.errors[0].raw, "3");
  EXPECT_EQ(src->DescribePosition("bad.csv", r.errors[0].offset), "bad.csv:line 3");
  EXPECT_NE(r.errors[1].reason.find("unterminated quoted field"), std::string::npos);
}

TEST(FileSourceTest, JsonArrayFilesYieldOneRecordPerElement) {
  TempDir d;
  d.Write("arr.json", "[ {\"a\": 1}, {\"a\": [2, 3]} ,\n 4 ]");
  auto src = Make(d.path());
  auto r = ReadAll(*src, "arr.json", 0, 1000);
  EXPECT_EQ(ColumnStrings(r.rows, "value"),
            (std::vector<std::string>{"{\"a\": 1}", "{\"a\": [2, 3]}", "4"}));
  auto lim = src->LimitRange("arr.json", 0, 33, 2);
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(lim->records, 2);
  auto first_two = ReadAll(*src, "arr.json", 0, lim->end);
  EXPECT_EQ(first_two.rows.num_rows(), 2u);
}

TEST(FileSourceTest, NewFilesArePickedUpLaterHiddenOnesIgnoredAndMaxFilesApplies) {
  TempDir d;
  d.Write("1.jsonl", "{}\n");
  d.Write(".hidden.jsonl", "{}\n");
  d.Write("_tmp.jsonl", "{}\n");
  d.Write("notes.md", "x\n");
  auto src = Make(d.path(), "", 1);
  auto l1 = *src->LatestOffsets({}, true);
  EXPECT_EQ(l1.size(), 1u);
  d.Write("2.jsonl", "{}\n{}\n");
  d.Write("3.jsonl", "{}\n");
  PartitionOffsets committed{{"1.jsonl", 3}};
  auto l2 = *src->LatestOffsets(committed, true);
  EXPECT_EQ(l2.size(), 2u);  // the known file + one new one (max_files_per_trigger: 1)
  auto all = *src->LatestOffsets(committed, false);
  EXPECT_EQ(all.size(), 3u);
}

TEST(FileSourceTest, LimitRangeCountsRecordsAndSkipsTheCsvHeader) {
  TempDir d;
  d.Write("x.csv", "h\n1\n2\n3\n");
  auto src = Make(d.path());
  auto lim = src->LimitRange("x.csv", 0, 8, 2);
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(lim->records, 2);
  EXPECT_EQ(lim->end, 6);
  auto r = ReadAll(*src, "x.csv", 0, lim->end);
  EXPECT_EQ(ColumnStrings(r.rows, "h"), (std::vector<std::string>{"1", "2"}));
  auto rest = ReadAll(*src, "x.csv", lim->end, 8);
  EXPECT_EQ(ColumnStrings(rest.rows, "h"), (std::vector<std::string>{"3"}));
}

TEST(FileSourceTest, MissingDirectoryIsAClearStartError) {
  FileSourceConfig c;
  c.path = "/nonexistent/pinstream/in";
  auto s = MakeFileSource(c);
  Status st = s->Open();
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find("/nonexistent/pinstream/in"), std::string::npos);
}

TEST(FileSourceTest, ReadsTheBundledDataSet) {
  auto src = Make(pinstream::testing::PinterestDataDir(), "*_data.csv");
  auto latest = *src->LatestOffsets({}, true);
  ASSERT_EQ(latest.size(), 2u);
  auto geo = ReadAll(*src, "geolocation_data.csv", 0, latest.at("geolocation_data.csv"));
  EXPECT_EQ(geo.rows.num_rows(), 11154u);
  EXPECT_TRUE(geo.errors.empty());
  auto pins = Make(pinstream::testing::PinterestDataDir(), "pinterest_data_partial.csv");
  auto pl = *pins->LatestOffsets({}, true);
  auto p = ReadAll(*pins, "pinterest_data_partial.csv", 0, pl.begin()->second);
  EXPECT_EQ(p.rows.num_rows(), 5252u);  // 5,273 physical lines: quoted newlines are inside records
  EXPECT_TRUE(p.errors.empty());
}

}  // namespace
}  // namespace pinstream::connectors
