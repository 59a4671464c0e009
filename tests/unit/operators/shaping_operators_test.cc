// Tests of the operators that shape rows: rename, concat, make_array, drop, select, filter.
#include <gtest/gtest.h>

#include "tests/testing/operator_harness.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::ColumnStrings;
using testing::kNull;
using testing::RunOperator;
using testing::StringBatch;

TEST(RenameTest, RenamesAndRefusesCollisions) {
  auto run = RunOperator("kind: rename\ncolumns: {index: ind}\n",
                         StringBatch({"index", "x"}, {{"1", "a"}}));
  EXPECT_EQ(run.out.names(), (std::vector<std::string>{"ind", "x"}));
  auto clash =
      RunOperator("kind: rename\ncolumns: {index: x}\n", StringBatch({"index", "x"}, {{"1", "a"}}));
  EXPECT_FALSE(clash.status.ok());
  auto missing = RunOperator("kind: rename\ncolumns: {nope: y}\n", StringBatch({"index"}, {{"1"}}));
  EXPECT_NE(missing.status.message().find("column 'nope' does not exist"), std::string::npos);
}

TEST(ConcatTest, JoinsWithSeparatorAndHandlesNulls) {
  auto run = RunOperator(
      "kind: concat\ncolumns: [first_name, last_name]\nseparator: ' '\ninto: user_name\n",
      StringBatch({"first_name", "last_name"},
                  {{"Adam", "Acosta"}, {kNull, "Solo"}, {kNull, kNull}}));
  EXPECT_EQ(ColumnStrings(run.out, "user_name"),
            (std::vector<std::string>{"Adam Acosta", "Solo", "null"}));
  auto strict = RunOperator("kind: concat\ncolumns: [a, b]\ninto: c\nskip_nulls: false\n",
                            StringBatch({"a", "b"}, {{"x", kNull}}));
  EXPECT_EQ(ColumnStrings(strict.out, "c"), std::vector<std::string>{"null"});
}

TEST(MakeArrayTest, BuildsCoordinates) {
  auto run = RunOperator("kind: make_array\ncolumns: [latitude, longitude]\ninto: coordinates\n",
                         StringBatch({"latitude", "longitude"},
                                     {{"-89.9787", "-173.293"}, {kNull, "1"}, {"north", "1"}}));
  ASSERT_TRUE(run.status.ok());
  EXPECT_EQ(ColumnStrings(run.out, "coordinates"),
            (std::vector<std::string>{"[-89.9787,-173.293]", "null"}));
  ASSERT_EQ(run.rejected.size(), 1u);
  EXPECT_NE(run.rejected[0].reason.find("'north' is not a number"), std::string::npos);
}

TEST(DropAndSelectTest, DropIgnoresMissingSelectRequiresAndOrders) {
  RecordBatch b = StringBatch({"a", "b", "c"}, {{"1", "2", "3"}});
  auto dropped = RunOperator("kind: drop\ncolumns: [b, zz]\n", b);
  EXPECT_EQ(dropped.out.names(), (std::vector<std::string>{"a", "c"}));
  auto sel = RunOperator("kind: select\ncolumns: [c, a]\n", b);
  EXPECT_EQ(sel.out.names(), (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(ColumnStrings(sel.out, "c"), std::vector<std::string>{"3"});
  auto bad = RunOperator("kind: select\ncolumns: [a, q]\n", b);
  EXPECT_NE(bad.status.message().find("column 'q' does not exist"), std::string::npos);
  EXPECT_NE(testing::OperatorConfigError("kind: select\ncolumns: [a, a]\n").find("selected twice"),
            std::string::npos);
}

TEST(FilterTest, ComparisonsCombineWithAllAnyNot) {
  RecordBatch b = StringBatch(
      {"age", "country"}, {{"17", "Albania"}, {"30", "Aruba"}, {"51", kNull}, {"25", "Gambia"}});
  auto typed = RunOperator("kind: cast\ncolumns: {age: int64}\n", b).out;
  auto ge = RunOperator("kind: filter\nwhere: {column: age, op: '>=', value: 25}\n", typed);
  EXPECT_EQ(ColumnStrings(ge.out, "age"), (std::vector<std::string>{"30", "51", "25"}));
  auto combo = RunOperator(R"(kind: filter
all:
  - {column: country, op: not_null}
  - any:
      - {column: country, op: in, values: [Aruba, Albania]}
      - {column: age, op: '<', value: 26}
  - not: {column: age, op: '==', value: 17}
)",
                           typed);
  EXPECT_EQ(ColumnStrings(combo.out, "age"), (std::vector<std::string>{"30", "25"}));
  // Comparisons with null are false, as in SQL.
  auto ne = RunOperator("kind: filter\nwhere: {column: country, op: '!=', value: Aruba}\n", typed);
  EXPECT_EQ(ColumnStrings(ne.out, "age"), (std::vector<std::string>{"17", "25"}));
  auto bad = RunOperator("kind: filter\nwhere: {column: age, op: '>', value: old}\n", typed);
  EXPECT_NE(bad.status.message().find("'old' is not a number"), std::string::npos);
  EXPECT_NE(testing::OperatorConfigError("kind: filter\nwhere: {column: a, op: '=~', value: 1}\n")
                .find("'=~' is not one of"),
            std::string::npos);
}

}  // namespace
}  // namespace pinstream
