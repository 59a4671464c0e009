#include "operators/parse_json.h"

#include <gtest/gtest.h>

#include "tests/testing/operator_harness.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::ColumnStrings;
using testing::RunOperator;

RecordBatch Raw(const std::vector<std::string>& recs) {
  RecordBatch b;
  Column v(TypeId::kRaw), k(TypeId::kString);
  for (std::size_t i = 0; i < recs.size(); ++i) {
    b.row_ids().push_back(i);
    v.AppendString(recs[i]);
    k.AppendString("key" + std::to_string(i));
  }
  b.AddColumn("key", std::move(k));
  b.AddColumn("value", std::move(v));
  return b;
}

const char* kOp = R"(kind: parse_json
schema: {index: int64, title: string, lat: double, ok: bool, ts: timestamp, xy: array<double>}
keep: [key]
)";

TEST(ParseJsonTest, ParsesTypedFieldsAndMissingFieldsBecomeNull) {
  auto run =
      RunOperator(kOp, Raw({R"({"index": 7528, "title": "Hi \u00e9", "lat": -89.9787, "ok": true,
                                      "ts": "2020-08-28 03:52:47", "xy": [1, 2.5], "extra": {"a": 1}})",
                            R"({"index": "12", "lat": "1.5", "title": null})"}));
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  EXPECT_TRUE(run.rejected.empty());
  EXPECT_EQ(run.out.names(),
            (std::vector<std::string>{"key", "index", "title", "lat", "ok", "ts", "xy"}));
  EXPECT_EQ(ColumnStrings(run.out, "index"), (std::vector<std::string>{"7528", "12"}));
  EXPECT_EQ(ColumnStrings(run.out, "title"), (std::vector<std::string>{"Hi é", "null"}));
  EXPECT_EQ(ColumnStrings(run.out, "lat"), (std::vector<std::string>{"-89.9787", "1.5"}));
  EXPECT_EQ(ColumnStrings(run.out, "ok"), (std::vector<std::string>{"true", "null"}));
  EXPECT_EQ(ColumnStrings(run.out, "ts"),
            (std::vector<std::string>{"2020-08-28 03:52:47", "null"}));
  EXPECT_EQ(ColumnStrings(run.out, "xy"), (std::vector<std::string>{"[1,2.5]", "null"}));
  EXPECT_EQ(ColumnStrings(run.out, "key"), (std::vector<std::string>{"key0", "key1"}));
}

// Strings without escapes are copied straight from the input, others are unescaped: both give
// the string's characters, whatever whitespace surrounds the value.
TEST(ParseJsonTest, StringsWithAndWithoutEscapesAndSurroundingWhitespace) {
  auto run = RunOperator(
      "kind: parse_json\nschema: {a: string, b: string, c: string, d: string}\n",
      Raw({"{\"a\": \"plain\" , \"b\":\"q\\\"uote\\\\ \\n\"\t,\"c\" : \"\" \n, \"d\":\"end\"\r\n}",
           R"({"d": "tab\tand \u00e9", "c": "  spaced  ", "a": "\/", "b": "x"})"}));
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  ASSERT_TRUE(run.rejected.empty());
  EXPECT_EQ(ColumnStrings(run.out, "a"), (std::vector<std::string>{"plain", "/"}));
  EXPECT_EQ(ColumnStrings(run.out, "b"), (std::vector<std::string>{"q\"uote\\ \n", "x"}));
  EXPECT_EQ(ColumnStrings(run.out, "c"), (std::vector<std::string>{"", "  spaced  "}));
  EXPECT_EQ(ColumnStrings(run.out, "d"), (std::vector<std::string>{"end", "tab\tand é"}));
  // Invalid UTF-8 inside a string without escapes is refused like any malformed JSON.
  auto bad =
      RunOperator("kind: parse_json\nschema: {a: string}\n", Raw({"{\"a\": \"ab\xff\xfe\"}"}));
  ASSERT_TRUE(bad.status.ok());
  ASSERT_EQ(bad.reasons().size(), 1u);
  EXPECT_NE(bad.reasons()[0].find("malformed JSON"), std::string::npos) << bad.reasons()[0];
}

// Keys are compared raw against the schema's names (one 32-byte compare, name + closing quote);
// prefixes, extensions, escaped spellings, any order and names of 31 and 32 characters all
// resolve to the right field or to none.
TEST(ParseJsonTest, KeysMatchExactlyWhateverTheirOrderLengthOrSpelling) {
  std::string n31(31, 'c'), n32(32, 'd');
  std::string op =
      "kind: parse_json\nschema: {a: int64, ab: int64, " + n31 + ": int64, " + n32 + ": int64}\n";
  auto run = RunOperator(
      op, Raw({R"({"a": 1, "ab": 2, ")" + n31 + R"(": 3, ")" + n32 + R"(": 4})",
               R"({")" + n32 + R"(": 40, ")" + n31 + R"(": 30, "ab": 20, "a": 10})",
               R"({"abx": 5, "a": 6, ")" + n31 + R"(c": 7, ")" + n32.substr(1) + R"(": 8})",
               R"({"\u0061": 9, "a\u0062": 11, "A": 12, "": 13})"}));
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  ASSERT_TRUE(run.rejected.empty());
  EXPECT_EQ(ColumnStrings(run.out, "a"), (std::vector<std::string>{"1", "10", "6", "9"}));
  EXPECT_EQ(ColumnStrings(run.out, "ab"), (std::vector<std::string>{"2", "20", "null", "11"}));
  EXPECT_EQ(ColumnStrings(run.out, n31), (std::vector<std::string>{"3", "30", "null", "null"}));
  EXPECT_EQ(ColumnStrings(run.out, n32), (std::vector<std::string>{"4", "40", "null", "null"}));
}

TEST(ParseJsonTest, StringFieldsKeepTheJsonTextOfOtherValues) {
  auto run = RunOperator("kind: parse_json\nschema: {a: string, b: string, c: string}\n",
                         Raw({R"({"a": 5, "b": {"x": [1, 2]}, "c": true})"}));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(ColumnStrings(run.out, "a")[0], "5");
  EXPECT_EQ(ColumnStrings(run.out, "b")[0], R"({"x": [1, 2]})");
  EXPECT_EQ(ColumnStrings(run.out, "c")[0], "true");
}

TEST(ParseJsonTest, EveryBadInputRejectsOnlyItsRowWithAReason) {
  auto run = RunOperator(kOp, Raw({
                                  R"({"index": 1})",
                                  R"({not json)",
                                  R"([1, 2])",
                                  R"({"index": "seven"})",
                                  R"({"index": 1.5})",
                                  R"({"index": 99999999999999999999})",
                                  R"({"ts": "2020:08:28 03:52:47"})",
                                  R"({"xy": [1, "a"]})",
                                  R"({"ok": "maybe"})",
                                  "",
                                  R"({"index": 2})",
                              }));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(ColumnStrings(run.out, "index"), (std::vector<std::string>{"1", "2"}));
  auto reasons = run.reasons();
  ASSERT_EQ(reasons.size(), 9u);
  EXPECT_NE(reasons[0].find("malformed JSON"), std::string::npos) << reasons[0];
  EXPECT_EQ(reasons[1], "record is not a JSON object");
  EXPECT_EQ(reasons[2], "field 'index': expected an integer, got \"seven\"");
  EXPECT_NE(reasons[3].find("expected an integer, got 1.5"), std::string::npos) << reasons[3];
  EXPECT_NE(reasons[4].find("field 'index'"), std::string::npos) << reasons[4];
  EXPECT_NE(reasons[5].find("invalid timestamp '2020:08:28 03:52:47'"), std::string::npos)
      << reasons[5];
  EXPECT_NE(reasons[6].find("field 'xy'"), std::string::npos);
  EXPECT_NE(reasons[7].find("field 'ok'"), std::string::npos);
  EXPECT_NE(reasons[8].find("malformed JSON"), std::string::npos) << reasons[8];
  EXPECT_EQ(run.rejected[0].row, 1u);
}

// Integers are read in one call; everything else an int64 field accepts (integral doubles,
// numeric strings, null) takes the general path after that call fails, from the same value.
// Strings of every length around the 64-byte move, last in the record, keep exactly their bytes.
TEST(ParseJsonTest, IntegerFastPathAndItsFallbacksAndStringsAroundTheShortCopy) {
  auto run = RunOperator(
      "kind: parse_json\nschema: {index: int64, s: string}\n",
      Raw({R"({"index": 9223372036854775807, "s": "a"})", R"({"index": -9223372036854775808})",
           R"({"index": 3.0})", R"({"index": 1e3})", R"({"index": "-42"})", R"({"index": null})",
           R"({"index": -0, "s": ""})"}));
  ASSERT_TRUE(run.status.ok()) << run.status.ToString();
  ASSERT_TRUE(run.rejected.empty()) << run.reasons()[0];
  EXPECT_EQ(ColumnStrings(run.out, "index"),
            (std::vector<std::string>{"9223372036854775807", "-9223372036854775808", "3", "1000",
                                      "-42", "null", "0"}));
  std::vector<std::string> recs, expect;
  for (std::size_t len = 58; len <= 70; ++len) {
    std::string s;
    for (std::size_t k = 0; k < len; ++k) s.push_back(static_cast<char>('A' + (len + k) % 26));
    recs.push_back(R"({"index": 1, "s": ")" + s + "\"}");
    expect.push_back(s);
  }
  auto strings = RunOperator("kind: parse_json\nschema: {index: int64, s: string}\n", Raw(recs));
  ASSERT_TRUE(strings.status.ok());
  EXPECT_EQ(ColumnStrings(strings.out, "s"), expect);
}

TEST(ParseJsonTest, IsDeterministicAcrossRuns) {
  std::vector<std::string> recs;
  for (int i = 0; i < 500; ++i)
    recs.push_back("{\"index\": " + std::to_string(i * 31 % 97) + ", \"title\": \"t" +
                   std::to_string(i) + "\"}");
  auto a = RunOperator(kOp, Raw(recs));
  auto b = RunOperator(kOp, Raw(recs));
  EXPECT_EQ(ColumnStrings(a.out, "index"), ColumnStrings(b.out, "index"));
  EXPECT_EQ(ColumnStrings(a.out, "title"), ColumnStrings(b.out, "title"));
}

TEST(ParseJsonTest, MissingInputColumnFailsTheBatchClearly) {
  RecordBatch b = testing::StringBatch({"other"}, {{"x"}});
  auto run = RunOperator(kOp, b);
  EXPECT_FALSE(run.status.ok());
  EXPECT_NE(run.status.message().find("column 'value' does not exist"), std::string::npos);
}

TEST(ParseJsonTest, ConfigErrors) {
  EXPECT_NE(testing::OperatorConfigError("kind: parse_json\nschema: {a: integer, b: nope}\n")
                .find("unknown type 'nope'"),
            std::string::npos);
  EXPECT_NE(
      testing::OperatorConfigError("kind: parse_json\n").find("missing required key 'schema'"),
      std::string::npos);
}

}  // namespace
}  // namespace pinstream
