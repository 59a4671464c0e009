// Determinism on replay, for every registered operator kind: a replayed batch (after a crash, the
// same offsets are read again) must produce the same rows, the same rejections with the same
// reasons, whether the operator instance is fresh or has processed other batches, and whether the
// rows arrive in one chunk or several. Each case mixes normal values, nulls and bad input.
// (dedup, aggregate and join are keyed: their replays after a restart are tested in dedup_test.cc,
// aggregate_test.cc and join_test.cc.)
#include <gtest/gtest.h>

#include <set>

#include "operators/registry.h"
#include "tests/testing/operator_harness.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::kNull;
using testing::RunOperator;
using testing::StringBatch;

struct Case {
  std::string kind;
  std::string yaml;
  RecordBatch input;
};

RecordBatch WithRowIds(RecordBatch b, std::uint64_t first) {
  for (std::size_t i = 0; i < b.num_rows(); ++i) b.row_ids()[i] = first + i;
  return b;
}

RecordBatch RawValues(const std::vector<std::string>& recs) {
  RecordBatch b;
  Column v(TypeId::kRaw);
  for (std::size_t i = 0; i < recs.size(); ++i) {
    b.row_ids().push_back(i);
    if (recs[i] == kNull)
      v.AppendNull();
    else
      v.AppendString(recs[i]);
  }
  b.AddColumn("value", std::move(v));
  return b;
}

RecordBatch Typed(const std::string& cast_yaml, RecordBatch b) {
  auto run = RunOperator(cast_yaml, std::move(b));
  EXPECT_TRUE(run.status.ok()) << run.status.ToString();
  return WithRowIds(std::move(run.out), 0);
}

std::vector<Case> Cases() {
  std::vector<Case> c;
  c.push_back(
      {"parse_json", "kind: parse_json\nschema: {index: int64, title: string, ts: timestamp}\n",
       RawValues({R"({"index": 1, "title": "a", "ts": "2021-01-01 00:00:00"})", R"({"index": "x"})",
                  "not json", kNull, R"({"title": null})",
                  R"({"index": 2, "ts": "2020-02-30T25:00:00Z"})",
                  R"({"index": 3, "title": "b\u00e9", "ts": "2021-03-04T05:06:07.5+02:00"})"})});
  c.push_back(
      {"null_if", "kind: null_if\nempty_strings: true\ncolumns: {a: ['User Info Error']}\n",
       StringBatch(
           {"a", "b"},
           {{"User Info Error", ""}, {"x", kNull}, {"", "y"}, {kNull, "User Info Error"}})});
  c.push_back(
      {"parse_count", "kind: parse_count\ncolumns: [n]\n",
       StringBatch(
           {"n"}, {{"10k"}, {"2.5M"}, {"1B"}, {kNull}, {"12x"}, {"-"}, {"999999999999B"}, {"7"}})});
  c.push_back(
      {"cast", "kind: cast\ncolumns: {i: int64, d: double, t: timestamp, b: bool}\n",
       StringBatch({"i", "d", "t", "b"}, {{"1", "1.5", "2021-01-01 00:00:00", "true"},
                                          {"x", "1.5", "2021-01-01T00:00:00Z", "false"},
                                          {"2", "nan?", "2021-13-01 00:00:00", "true"},
                                          {kNull, kNull, kNull, kNull},
                                          {"3", "2", "2021-01-01T01:00:00+01:00", "maybe"}})});
  c.push_back(
      {"strip_prefix", "kind: strip_prefix\ncolumn: s\nprefix: 'Local save in '\n",
       StringBatch({"s"},
                   {{"Local save in /data/art"}, {"/data/x"}, {kNull}, {"Local save in "}})});
  c.push_back(
      {"regex_extract", "kind: regex_extract\ncolumn: s\npattern: '/data/([a-z-]+)'\ninto: cat\n",
       StringBatch({"s"}, {{"/data/art"}, {"nothing"}, {kNull}, {"/data/mens-fashion/x"}})});
  c.push_back({"rename", "kind: rename\ncolumns: {index: ind}\n",
               StringBatch({"index", "x"}, {{"1", "a"}, {kNull, "b"}})});
  c.push_back(
      {"concat", "kind: concat\ncolumns: [f, l]\nseparator: ' '\ninto: n\n",
       StringBatch({"f", "l"}, {{"Ann", "Lee"}, {kNull, "Solo"}, {kNull, kNull}, {"", "x"}})});
  c.push_back({"make_array", "kind: make_array\ncolumns: [lat, lon]\ninto: xy\n",
               StringBatch({"lat", "lon"},
                           {{"-89.9", "12"}, {kNull, "1"}, {"north", "1"}, {"1e3", "-0"}})});
  c.push_back({"drop", "kind: drop\ncolumns: [b, missing]\n",
               StringBatch({"a", "b"}, {{"1", "2"}, {kNull, kNull}})});
  c.push_back({"select", "kind: select\ncolumns: [b, a]\n",
               StringBatch({"a", "b", "c"}, {{"1", "2", "3"}, {kNull, "x", kNull}})});
  c.push_back(
      {"filter",
       "kind: filter\nany:\n  - {column: age, op: '>=', value: 30}\n  - {column: country, op: "
       "'==', value: Aruba}\n",
       Typed("kind: cast\ncolumns: {age: int64}\n",
             StringBatch({"age", "country"},
                         {{"17", "Aruba"}, {"30", "Fiji"}, {kNull, kNull}, {"5", "Chad"}}))});
  return c;
}

// Every column of a batch as text, plus the row ids: two outputs are equal when these are.
std::vector<std::string> Render(const testing::OpRun& run) {
  std::vector<std::string> out;
  for (const auto& name : run.out.names()) {
    auto col = testing::ColumnStrings(run.out, name);
    std::string s = name + ":";
    for (const auto& v : col) s += v + "|";
    out.push_back(s);
  }
  std::string ids = "row_ids:";
  for (auto id : run.out.row_ids()) ids += std::to_string(id) + ",";
  out.push_back(ids);
  for (const auto& r : run.rejected)
    out.push_back("rejected " + std::to_string(r.row) + ": " + r.reason);
  return out;
}

// The rows [from, to) of `b`, keeping their row ids.
RecordBatch Rows(const RecordBatch& b, std::uint32_t from, std::uint32_t to) {
  std::vector<std::uint32_t> idx;
  for (std::uint32_t i = from; i < to; ++i) idx.push_back(i);
  return b.Take(idx);
}

TEST(OperatorDeterminismTest, EveryKindHasACase) {
  OperatorRegistry reg;
  ops::RegisterOperators(reg);
  std::set<std::string> covered;
  for (const auto& c : Cases()) covered.insert(c.kind);
  covered.insert("dedup");      // dedup_test.cc: replay after restart
  covered.insert("aggregate");  // aggregate_test.cc: a replayed batch across shards
  covered.insert("join");       // join_test.cc: a replayed batch across shards, a restart
  for (const auto& kind : reg.Kinds())
    EXPECT_TRUE(covered.count(kind)) << "no determinism case for operator '" << kind << "'";
}

TEST(OperatorDeterminismTest, ReplayGivesTheSameRowsAndRejections) {
  for (const auto& c : Cases()) {
    SCOPED_TRACE(c.kind);
    auto first = RunOperator(c.yaml, c.input);
    ASSERT_TRUE(first.status.ok()) << first.status.ToString();
    auto replay = RunOperator(c.yaml, c.input);
    ASSERT_TRUE(replay.status.ok());
    EXPECT_EQ(Render(first), Render(replay));

    // The same rows split into two chunks (as a replay with another max_chunk_rows may read
    // them): the union of the outputs equals the one-chunk output.
    auto n = static_cast<std::uint32_t>(c.input.num_rows());
    auto a = RunOperator(c.yaml, Rows(c.input, 0, n / 2));
    auto b = RunOperator(c.yaml, Rows(c.input, n / 2, n));
    ASSERT_TRUE(a.status.ok() && b.status.ok());
    ASSERT_TRUE(a.out.Append(b.out).ok());
    a.rejected.insert(a.rejected.end(), b.rejected.begin(), b.rejected.end());
    EXPECT_EQ(Render(first), Render(a));
  }
}

TEST(OperatorDeterminismTest, CasesExerciseNullsAndBadInput) {
  // Guards the table above against losing its bad-input rows: the kinds that validate values
  // must reject some rows of their case, and every case must carry a null.
  std::set<std::string> validating = {"parse_json", "parse_count", "cast", "make_array"};
  for (const auto& c : Cases()) {
    SCOPED_TRACE(c.kind);
    auto run = RunOperator(c.yaml, c.input);
    if (validating.count(c.kind)) {
      EXPECT_FALSE(run.rejected.empty());
    }
    bool has_null = false;
    for (std::size_t i = 0; i < c.input.num_columns(); ++i) {
      for (std::size_t r = 0; r < c.input.num_rows(); ++r) has_null |= c.input.column(i).IsNull(r);
    }
    EXPECT_TRUE(has_null);
  }
}

}  // namespace
}  // namespace pinstream
