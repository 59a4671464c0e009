#include "engine/record_batch.h"

#include <gtest/gtest.h>

#include "engine/row_format.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::ColumnStrings;
using testing::kNull;
using testing::StringBatch;

TEST(RecordBatchTest, CompactKeepsRowIdsAndStringsAligned) {
  RecordBatch b = StringBatch({"a", "b"}, {{"x", "1"}, {"yy", kNull}, {"zzz", "3"}, {"", "4"}});
  std::vector<std::uint8_t> keep{1, 0, 1, 1};
  b.Compact(keep);
  ASSERT_TRUE(b.Validate().ok());
  EXPECT_EQ(ColumnStrings(b, "a"), (std::vector<std::string>{"x", "zzz", ""}));
  EXPECT_EQ(ColumnStrings(b, "b"), (std::vector<std::string>{"1", "3", "4"}));
  EXPECT_EQ(b.row_ids(), (std::vector<RowId>{0, 2, 3}));
}

TEST(RecordBatchTest, TakeGathersRowsInOrder) {
  RecordBatch b = StringBatch({"a"}, {{"p"}, {"q"}, {"r"}});
  std::vector<std::uint32_t> rows{2, 0};
  RecordBatch t = b.Take(rows);
  EXPECT_EQ(ColumnStrings(t, "a"), (std::vector<std::string>{"r", "p"}));
  EXPECT_EQ(t.row_ids(), (std::vector<RowId>{2, 0}));
}

// One column of every type, six rows (every third null); `seed` varies the values.
std::vector<Column> EveryTypeColumns(int seed = 0) {
  std::vector<Column> cols;
  for (TypeId t : {TypeId::kNull, TypeId::kBool, TypeId::kInt64, TypeId::kTimestamp,
                   TypeId::kDouble, TypeId::kString, TypeId::kRaw, TypeId::kDoubleArray}) {
    Column c(t);
    for (int j = 0; j < 6; ++j) {
      int i = j + seed;
      if (j % 3 == 1 || t == TypeId::kNull) {
        c.AppendNull();
        continue;
      }
      switch (t) {
        case TypeId::kBool:
          c.AppendBool(i % 2 == 0);
          break;
        case TypeId::kInt64:
        case TypeId::kTimestamp:
          c.AppendInt(i * 1000 - 7);
          break;
        case TypeId::kDouble:
          c.AppendDouble(i + 0.5);
          break;
        case TypeId::kString:
        case TypeId::kRaw:
          c.AppendString(std::string(static_cast<std::size_t>(i), static_cast<char>('a' + i)));
          break;
        case TypeId::kDoubleArray: {
          std::vector<double> a(static_cast<std::size_t>(i), i * 1.5);
          c.AppendArray(a);
          break;
        }
        case TypeId::kNull:
          break;
      }
    }
    cols.push_back(std::move(c));
  }
  return cols;
}

TEST(RecordBatchTest, TakeGathersEveryTypeWithNullsLikeRowByRowAppends) {
  std::vector<Column> cols = EveryTypeColumns();
  std::vector<std::uint32_t> rows{5, 1, 0, 0, 4, 3};
  for (const Column& c : cols) {
    Column expect(c.type());
    for (auto r : rows) expect.AppendFrom(c, r);
    Column got = c.Take(rows);
    ASSERT_EQ(got.size(), rows.size()) << TypeName(c.type());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(got.IsNull(i), expect.IsNull(i)) << TypeName(c.type()) << " row " << i;
      EXPECT_EQ(got.GetValue(i).ToString(), expect.GetValue(i).ToString())
          << TypeName(c.type()) << " row " << i;
    }
    // Appending after a Take keeps the buffers consistent.
    got.AppendFrom(c, 2);
    EXPECT_EQ(got.GetValue(rows.size()).ToString(), c.GetValue(2).ToString()) << TypeName(c.type());
  }
  EXPECT_EQ(cols[0].Take({}).size(), 0u);
}

RecordBatch EveryTypeBatch(int seed, RowId first_row_id) {
  RecordBatch b;
  for (int r = 0; r < 6; ++r) b.row_ids().push_back(first_row_id + static_cast<RowId>(r));
  std::vector<Column> cols = EveryTypeColumns(seed);
  for (std::size_t c = 0; c < cols.size(); ++c)
    b.AddColumn("c" + std::to_string(c), std::move(cols[c]));
  return b;
}

// Gather's multi-piece copy: the parts' rows, part after part, as one Take per part appended.
TEST(RecordBatchTest, TakeFromGathersThePartsInOrderLikeTakesAppended) {
  RecordBatch a = EveryTypeBatch(0, 100), b = EveryTypeBatch(3, 200);
  std::vector<std::uint32_t> ra{5, 0, 2}, rb{1, 3, 4, 5}, ra2{1};
  std::vector<RecordBatch::Rows> parts{{&a, ra}, {&b, rb}, {&a, ra2}};
  RecordBatch got = RecordBatch::TakeFrom(parts);
  RecordBatch expect = a.Take(ra);
  ASSERT_TRUE(expect.Append(b.Take(rb)).ok());
  ASSERT_TRUE(expect.Append(a.Take(ra2)).ok());
  ASSERT_TRUE(got.Validate().ok());
  ASSERT_EQ(got.num_rows(), 8u);
  EXPECT_EQ(got.row_ids(), (std::vector<RowId>{105, 100, 102, 201, 203, 204, 205, 101}));
  EXPECT_EQ(got.names(), a.names());
  for (std::size_t c = 0; c < got.num_columns(); ++c) {
    ASSERT_EQ(got.column(c).type(), a.column(c).type());
    for (std::size_t r = 0; r < got.num_rows(); ++r) {
      EXPECT_EQ(got.column(c).IsNull(r), expect.column(c).IsNull(r)) << got.name(c) << " row " << r;
      EXPECT_EQ(got.column(c).GetValue(r).ToString(), expect.column(c).GetValue(r).ToString())
          << got.name(c) << " row " << r;
    }
  }
  EXPECT_EQ(RecordBatch::TakeFrom({}).num_rows(), 0u);
}

// Values of up to 32 bytes are copied as one 32-byte move when the source buffer has 32 bytes
// from the value on; longer values, and short ones at a buffer's end, by memcpy. Every length
// around the limit, at every position, must come out exact.
TEST(RecordBatchTest, TakeFromCopiesShortAndLongValuesExactly) {
  Column strings(TypeId::kString), arrays(TypeId::kDoubleArray);
  for (int i = 0; i < 300; ++i) {
    std::string v;
    for (int k = 0; k < i % 71; ++k) v.push_back(static_cast<char>('!' + (i + k) % 90));
    strings.AppendString(v);
    std::vector<double> a(static_cast<std::size_t>(i % 9), i + 0.25);
    arrays.AppendArray(a);
  }
  std::vector<std::uint32_t> rows;
  for (std::uint32_t r = 0; r < 300; r += 7) rows.push_back(299 - r);  // to the buffer's very end
  rows.push_back(299);
  for (const Column* c : {&strings, &arrays}) {
    Column expect(c->type());
    for (auto r : rows) expect.AppendFrom(*c, r);
    std::vector<Column::Rows> parts{{c, rows}, {c, std::span(rows).first(5)}};
    for (auto r : std::span(rows).first(5)) expect.AppendFrom(*c, r);
    Column got = Column::TakeFrom(c->type(), parts);
    ASSERT_EQ(got.size(), expect.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got.GetValue(i).ToString(), expect.GetValue(i).ToString())
          << TypeName(c->type()) << " row " << i;
    }
    if (c->type() == TypeId::kString) {
      EXPECT_EQ(got.bytes().size(), got.offsets().back());
    }
  }
}

TEST(RecordBatchTest, AppendStringFromPaddedKeepsExactlyEachValue) {
  // Every length around the short move (kShortCopy bytes), from several offsets of a padded
  // source, between nulls and regular appends (the move must not leave bytes behind a value).
  std::string source;
  for (int i = 0; i < 200; ++i) source.push_back(static_cast<char>('a' + i % 26));
  source.append(Column::kShortCopy, '#');  // the padding
  Column padded(TypeId::kString), plain(TypeId::kString);
  for (std::size_t len = 0; len <= 2 * Column::kShortCopy + 1; ++len) {
    for (std::size_t at = 0; at < 7; ++at) {
      std::string_view v(source.data() + at * 13, len);
      padded.AppendStringFromPadded(v);
      plain.AppendString(v);
      if ((len + at) % 5 == 0) {
        padded.AppendNull();
        plain.AppendNull();
        padded.AppendString("x");
        plain.AppendString("x");
      }
    }
  }
  ASSERT_EQ(padded.size(), plain.size());
  EXPECT_EQ(padded.offsets(), plain.offsets());
  EXPECT_EQ(padded.bytes(), plain.bytes());
  EXPECT_EQ(padded.bytes().size(), padded.offsets().back());
  for (std::size_t i = 0; i < padded.size(); ++i) {
    ASSERT_EQ(padded.IsNull(i), plain.IsNull(i)) << i;
    if (!padded.IsNull(i)) {
      ASSERT_EQ(padded.Str(i), plain.Str(i)) << i;
    }
  }
  EXPECT_TRUE(padded.Validate().ok());
}

TEST(RecordBatchTest, InsertOnlyBatchesCarryNoWeightVector) {
  RecordBatch b = testing::IdNameRows(0, 4);
  EXPECT_FALSE(b.has_weights());
  EXPECT_EQ(b.weight(2), 1);
  std::vector<std::uint32_t> rows{3, 1};
  EXPECT_FALSE(b.Take(rows).has_weights());
  std::vector<std::uint8_t> keep{1, 0, 1, 0};
  b.Compact(keep);
  EXPECT_FALSE(b.has_weights());
  EXPECT_FALSE(b.HasRetractionsOrMultiples());
}

TEST(RecordBatchTest, WeightsAndInputTagFollowTheirRowsThroughTakeCompactAndAppend) {
  RecordBatch a = testing::IdNameRows(0, 4);
  a.SetWeights({1, -1, 2, -1});
  a.set_input_tag(3);
  std::vector<std::uint32_t> rows{3, 0, 1};
  RecordBatch t = a.Take(rows);
  EXPECT_EQ(t.weights(), (std::vector<std::int64_t>{-1, 1, -1}));
  EXPECT_EQ(t.input_tag(), 3);
  EXPECT_EQ(testing::ColumnStrings(t, "id"), (std::vector<std::string>{"3", "0", "1"}));

  // A part without weights contributes +1 rows once another part has weights.
  RecordBatch b = testing::IdNameRows(10, 12);
  b.set_input_tag(3);
  std::vector<std::uint32_t> all_b{0, 1};
  std::vector<std::uint32_t> some_a{1, 2};
  RecordBatch::Rows parts[] = {{&b, all_b}, {&a, some_a}};
  RecordBatch g = RecordBatch::TakeFrom(parts);
  EXPECT_EQ(g.weights(), (std::vector<std::int64_t>{1, 1, -1, 2}));
  EXPECT_EQ(g.input_tag(), 3);

  std::vector<std::uint8_t> keep{0, 1, 1, 0};
  a.Compact(keep);
  EXPECT_EQ(a.weights(), (std::vector<std::int64_t>{-1, 2}));
  EXPECT_TRUE(a.HasRetractionsOrMultiples());

  RecordBatch c = testing::IdNameRows(20, 22);
  ASSERT_TRUE(c.Append(a).ok());
  EXPECT_EQ(c.weights(), (std::vector<std::int64_t>{1, 1, -1, 2}));
  ASSERT_TRUE(c.Validate().ok());
  RecordBatch empty;
  ASSERT_TRUE(empty.Append(a).ok());
  EXPECT_EQ(empty.input_tag(), 3);
  EXPECT_EQ(empty.weights(), (std::vector<std::int64_t>{-1, 2}));
}

TEST(RecordBatchTest, SameColumnsComparesNamesTypesAndOrder) {
  RecordBatch a = StringBatch({"x", "y"}, {{"1", "2"}});
  EXPECT_TRUE(a.SameColumns(StringBatch({"x", "y"}, {{"3", "4"}, {"5", "6"}})));
  EXPECT_FALSE(a.SameColumns(StringBatch({"y", "x"}, {{"1", "2"}})));
  EXPECT_FALSE(a.SameColumns(StringBatch({"x"}, {{"1"}})));
  RecordBatch typed = StringBatch({"x"}, {{"1"}});
  Column ints(TypeId::kInt64);
  ints.AppendInt(2);
  typed.AddColumn("y", std::move(ints));
  EXPECT_FALSE(a.SameColumns(typed));
}

TEST(RecordBatchTest, AppendFillsMissingColumnsWithNullsAndRejectsTypeMismatch) {
  RecordBatch a = StringBatch({"x"}, {{"1"}});
  RecordBatch b = StringBatch({"y"}, {{"2"}});
  ASSERT_TRUE(a.Append(b).ok());
  EXPECT_EQ(ColumnStrings(a, "x"), (std::vector<std::string>{"1", "null"}));
  EXPECT_EQ(ColumnStrings(a, "y"), (std::vector<std::string>{"null", "2"}));
  RecordBatch c;
  c.row_ids().push_back(9);
  Column ints(TypeId::kInt64);
  ints.AppendInt(5);
  c.AddColumn("x", std::move(ints));
  Status st = a.Append(c);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'x'"), std::string::npos);
}

TEST(RecordBatchTest, EncodeKeyDistinguishesTypesNullsAndBoundaries) {
  RecordBatch b = StringBatch({"a", "b"}, {{"ab", "c"}, {"a", "bc"}, {kNull, "c"}, {"", "c"}});
  std::vector<int> cols{0, 1};
  std::vector<std::string> keys;
  for (std::size_t r = 0; r < b.num_rows(); ++r) {
    std::string k;
    EncodeKey(b, cols, r, &k);
    keys.push_back(k);
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (std::size_t j = i + 1; j < keys.size(); ++j)
      EXPECT_NE(keys[i], keys[j]) << i << " vs " << j;
  }
  EXPECT_EQ(HashRow(b, cols, 0), HashBytes(keys[0]));
}

TEST(RecordBatchTest, ReadKeyValueReadsBackEveryTypeEncodeKeyWritesAndRefusesCutBytes) {
  RecordBatch b;
  b.row_ids() = {0};
  Column bo(TypeId::kBool), i(TypeId::kInt64), d(TypeId::kDouble), s(TypeId::kString),
      ts(TypeId::kTimestamp), arr(TypeId::kDoubleArray), raw(TypeId::kRaw), n(TypeId::kString);
  bo.AppendBool(true);
  i.AppendInt(-7);
  d.AppendDouble(2.5);
  s.AppendString("ab");
  ts.AppendInt(1598586767LL * 1000000);
  std::vector<double> xy{-89.9787, -173.293};
  arr.AppendArray(xy);
  raw.AppendString("r");
  n.AppendNull();
  for (auto* c : {&bo, &i, &d, &s, &ts, &arr, &raw, &n}) {
    std::string name = "c" + std::to_string(b.num_columns());
    b.AddColumn(name, std::move(*c));
  }
  std::vector<int> cols{0, 1, 2, 3, 4, 5, 6, 7};
  std::string key;
  EncodeKey(b, cols, 0, &key);
  ByteReader r(key);
  RecordBatch back;
  for (std::size_t c = 0; c < b.num_columns(); ++c)
    back.AddColumn(b.name(c), Column(b.column(c).type()));
  std::string reencoded;
  for (std::size_t c = 0; c < cols.size(); ++c) {
    EncodedValue v;
    ASSERT_TRUE(ReadKeyValue(r, &v)) << c;
    EXPECT_EQ(v.type, c == 7 ? TypeId::kNull : b.column(c).type()) << c;
    reencoded += v.encoded;
    AppendKeyValue(v, back.column(c));
  }
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(reencoded, key);  // each value's `encoded` is its exact slice
  back.row_ids() = {0};
  std::string again;
  EncodeKey(back, cols, 0, &again);
  EXPECT_EQ(again, key);
  // Bytes cut anywhere inside a value are refused, never read as a value.
  for (std::size_t cut = 1; cut < key.size(); ++cut) {
    ByteReader cr(std::string_view(key).substr(0, cut));
    EncodedValue v;
    std::size_t read = 0;
    while (ReadKeyValue(cr, &v)) read += v.encoded.size();
    EXPECT_LE(read, cut);
    EXPECT_LT(read, key.size());
  }
}

TEST(RowFormatTest, JsonEscapesAndRendersTypesLikeSpark) {
  RecordBatch b;
  b.row_ids() = {0};
  Column s(TypeId::kString), ts(TypeId::kTimestamp), arr(TypeId::kDoubleArray), raw(TypeId::kRaw),
      n(TypeId::kInt64);
  s.AppendString("q\"uote\\\n\x01 \xff ok");
  ts.AppendInt(1598586767LL * 1000000);
  std::vector<double> xy{-89.9787, -173.293};
  arr.AppendArray(xy);
  raw.AppendString("hi");
  n.AppendNull();
  b.AddColumn("s", std::move(s));
  b.AddColumn("ts", std::move(ts));
  b.AddColumn("arr", std::move(arr));
  b.AddColumn("raw", std::move(raw));
  b.AddColumn("n", std::move(n));
  std::string out;
  AppendJsonRow(b, 0, &out);
  EXPECT_EQ(
      out,
      "{\"s\":\"q\\\"uote\\\\\\n\\u0001 \xEF\xBF\xBD ok\",\"ts\":\"2020-08-28T03:52:47.000Z\","
      "\"arr\":[-89.9787,-173.293],\"raw\":\"aGk=\",\"n\":null}");
}

TEST(RowFormatTest, CsvQuotesOnlyWhenNeeded) {
  std::string out;
  AppendCsvField("plain", &out);
  out += "|";
  AppendCsvField("a,b", &out);
  out += "|";
  AppendCsvField("say \"hi\"\nthere", &out);
  EXPECT_EQ(out, "plain|\"a,b\"|\"say \"\"hi\"\"\nthere\"");
}

TEST(RowFormatTest, Base64RoundTripsAndRejectsGarbage) {
  for (std::string s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    std::string back;
    ASSERT_TRUE(Base64Decode(Base64Encode(s), &back));
    EXPECT_EQ(back, s);
  }
  std::string out;
  EXPECT_FALSE(Base64Decode("not base64!", &out));
  EXPECT_FALSE(Base64Decode("a", &out));
}

}  // namespace
}  // namespace pinstream
