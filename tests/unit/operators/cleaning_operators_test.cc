// Tests of the column-cleaning operators: null_if, parse_count, cast, strip_prefix,
// regex_extract.
#include <gtest/gtest.h>

#include "operators/parse_count.h"
#include "tests/testing/operator_harness.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::ColumnStrings;
using testing::kNull;
using testing::RunOperator;
using testing::StringBatch;

TEST(NullIfTest, ReplacesListedValuesAndEmptyStrings) {
  auto run = RunOperator(R"(kind: null_if
columns:
  description: ["No description available Story format", "No description available"]
  follower_count: "User Info Error"
empty_strings: true
)",
                         StringBatch({"description", "follower_count", "title"},
                                     {{"No description available", "User Info Error", ""},
                                      {"real", "2M", "t"},
                                      {"No description available Story format", kNull, "x"}}));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(ColumnStrings(run.out, "description"),
            (std::vector<std::string>{"null", "real", "null"}));
  EXPECT_EQ(ColumnStrings(run.out, "follower_count"),
            (std::vector<std::string>{"null", "2M", "null"}));
  EXPECT_EQ(ColumnStrings(run.out, "title"), (std::vector<std::string>{"null", "t", "x"}));
}

TEST(ParseCountTest, SuffixesAndDecimals) {
  std::int64_t v;
  ASSERT_TRUE(ops::ParseCount("305", &v));
  EXPECT_EQ(v, 305);
  ASSERT_TRUE(ops::ParseCount("228k", &v));
  EXPECT_EQ(v, 228000);
  ASSERT_TRUE(ops::ParseCount("1.5k", &v));
  EXPECT_EQ(v, 1500);
  ASSERT_TRUE(ops::ParseCount("2M", &v));
  EXPECT_EQ(v, 2000000);
  ASSERT_TRUE(ops::ParseCount("15M", &v));
  EXPECT_EQ(v, 15000000);
  ASSERT_TRUE(ops::ParseCount("3B", &v));
  EXPECT_EQ(v, 3000000000);
  ASSERT_TRUE(ops::ParseCount(" 1.2345k ", &v));
  EXPECT_EQ(v, 1235);  // rounded half away from zero
  ASSERT_TRUE(ops::ParseCount("0", &v));
  EXPECT_EQ(v, 0);
  ASSERT_TRUE(ops::ParseCount("1.000k", &v));  // zero decimals: no rounding step
  EXPECT_EQ(v, 1000);
  ASSERT_TRUE(ops::ParseCount("-2.05k", &v));
  EXPECT_EQ(v, -2050);
  ASSERT_TRUE(ops::ParseCount("0.5", &v));
  EXPECT_EQ(v, 1);
  ASSERT_TRUE(ops::ParseCount("0.49", &v));
  EXPECT_EQ(v, 0);
  for (const char* bad :
       {"User Info Error", "", "k", "1.2.3", "12x", "1e5", "99999999999999999999", "--3"}) {
    EXPECT_FALSE(ops::ParseCount(bad, &v)) << bad;
  }
}

TEST(ParseCountTest, BadValuesGoToTheDeadLetterTableNullsStay) {
  auto run = RunOperator(
      "kind: parse_count\ncolumns: [follower_count]\n",
      StringBatch({"follower_count"}, {{"2M"}, {"User Info Error"}, {kNull}, {"1.5k"}}));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(ColumnStrings(run.out, "follower_count"),
            (std::vector<std::string>{"2000000", "null", "1500"}));
  ASSERT_EQ(run.rejected.size(), 1u);
  EXPECT_EQ(run.rejected[0].row, 1u);
  EXPECT_NE(run.rejected[0].reason.find("'User Info Error' is not a count"), std::string::npos);
}

TEST(CastTest, ConvertsStringsToTypesAndRejectsBadValues) {
  auto run = RunOperator(
      "kind: cast\ncolumns: {i: int64, d: double, b: bool, t: timestamp}\n",
      StringBatch({"i", "d", "b", "t"}, {{"7528", "-89.97", "true", "2020-08-28 03:52:47"},
                                         {" 12 ", "1e3", "0", "2020-08-28T03:52:47.5+01:00"},
                                         {kNull, kNull, kNull, kNull},
                                         {"x1", "1", "yes", "2020-01-01"},
                                         {"1", "nan?", "yes", "2020-01-01"},
                                         {"1", "1", "perhaps", "2020-01-01"},
                                         {"1", "1", "no", "2020:08:28 03:52:47"}}));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(ColumnStrings(run.out, "i"), (std::vector<std::string>{"7528", "12", "null"}));
  EXPECT_EQ(ColumnStrings(run.out, "d"), (std::vector<std::string>{"-89.97", "1000", "null"}));
  EXPECT_EQ(ColumnStrings(run.out, "b"), (std::vector<std::string>{"true", "false", "null"}));
  EXPECT_EQ(
      ColumnStrings(run.out, "t"),
      (std::vector<std::string>{"2020-08-28 03:52:47", "2020-08-28 02:52:47.500000", "null"}));
  auto reasons = run.reasons();
  ASSERT_EQ(reasons.size(), 4u);
  EXPECT_NE(reasons[0].find("cast i to int64: 'x1' is not an integer"), std::string::npos)
      << reasons[0];
  EXPECT_NE(reasons[1].find("'nan?' is not a number"), std::string::npos);
  EXPECT_NE(reasons[2].find("'perhaps' is not a boolean"), std::string::npos);
  EXPECT_NE(reasons[3].find("invalid timestamp '2020:08:28 03:52:47'"), std::string::npos);
}

TEST(CastTest, NumbersAndTimestampsBetweenEachOther) {
  auto run = RunOperator("kind: cast\ncolumns: {i: double}\n", StringBatch({"i"}, {{"3"}}));
  auto to_int = RunOperator("kind: cast\ncolumns: {i: int64}\n", run.out);
  EXPECT_EQ(ColumnStrings(to_int.out, "i"), std::vector<std::string>{"3"});
  auto ts = RunOperator("kind: cast\ncolumns: {i: timestamp}\n", to_int.out);
  EXPECT_EQ(ColumnStrings(ts.out, "i"), std::vector<std::string>{"1970-01-01 00:00:03"});
  auto back = RunOperator("kind: cast\ncolumns: {i: string}\n", ts.out);
  EXPECT_EQ(ColumnStrings(back.out, "i"), std::vector<std::string>{"1970-01-01 00:00:03"});
}

TEST(StripPrefixTest, StripsOnlyWhenPresent) {
  auto run = RunOperator(
      "kind: strip_prefix\ncolumn: save_location\nprefix: 'Local save in '\n",
      StringBatch({"save_location"}, {{"Local save in /data/mens-fashion"}, {"/data/x"}, {kNull}}));
  EXPECT_EQ(ColumnStrings(run.out, "save_location"),
            (std::vector<std::string>{"/data/mens-fashion", "/data/x", "null"}));
  auto strict = RunOperator("kind: strip_prefix\ncolumn: s\nprefix: 'L '\nrequired: true\n",
                            StringBatch({"s"}, {{"x"}}));
  EXPECT_EQ(strict.rejected.size(), 1u);
}

TEST(RegexExtractTest, ExtractsAGroupIntoANewColumn) {
  auto run =
      RunOperator("kind: regex_extract\ncolumn: s\npattern: '^Local save in (.*)$'\ninto: path\n",
                  StringBatch({"s"}, {{"Local save in /data/art"}, {"elsewhere"}}));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(ColumnStrings(run.out, "path"), (std::vector<std::string>{"/data/art", "null"}));
  EXPECT_NE(testing::OperatorConfigError("kind: regex_extract\ncolumn: s\npattern: '(unclosed'\n")
                .find("invalid regular expression"),
            std::string::npos);
  EXPECT_NE(testing::OperatorConfigError("kind: regex_extract\ncolumn: s\npattern: 'a'\ngroup: 2\n")
                .find("group 2 does not exist"),
            std::string::npos);
}

}  // namespace
}  // namespace pinstream
