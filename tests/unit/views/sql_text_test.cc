#include "views/sql_text.h"

#include <gtest/gtest.h>

#include "views/sql_parser.h"

namespace pinstream::views {
namespace {

SqlText Prepared(const std::string& text) {
  auto r = SqlText::Prepare("q.sql", text);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

TEST(SqlTextTest, QuotesReservedWordsUsedAsTableNamesAndQualifiers) {
  SqlText t = Prepared("SELECT user.age FROM pin p JOIN user ON p.ind = user.ind, user");
  EXPECT_EQ(t.rewritten(),
            "SELECT \"user\".age FROM pin p JOIN \"user\" ON p.ind = \"user\".ind, \"user\"");
  EXPECT_EQ(t.rewrites().size(), 4u);
  SqlText upper = Prepared("SELECT count(*) FROM USER");
  EXPECT_EQ(upper.rewritten(), "SELECT count(*) FROM \"user\"");
}

TEST(SqlTextTest, LeavesStringsCommentsAndOtherKeywordsAlone) {
  std::string text =
      "-- FROM user\nSELECT 'FROM user' AS s, /* JOIN user */ x FROM ONLY t, LATERAL (SELECT 1) a";
  SqlText t = Prepared(text);
  EXPECT_EQ(t.rewritten(), text);
  EXPECT_TRUE(t.rewrites().empty());
}

TEST(SqlTextTest, NamesSubqueriesInFromThatHaveNoAlias) {
  SqlText t = Prepared("SELECT * FROM (SELECT 1 AS x) WHERE x = 1");
  EXPECT_EQ(t.rewritten(), "SELECT * FROM (SELECT 1 AS x) AS \"subquery 1\" WHERE x = 1");
  SqlText aliased = Prepared("SELECT * FROM (SELECT 1 AS x) s, (SELECT 2 AS y) AS r");
  EXPECT_TRUE(aliased.rewrites().empty());
  SqlText two = Prepared("SELECT * FROM (SELECT 1 AS x) JOIN (SELECT 1 AS y) ON x = y");
  EXPECT_EQ(
      two.rewritten(),
      "SELECT * FROM (SELECT 1 AS x) AS \"subquery 1\" JOIN (SELECT 1 AS y) AS \"subquery 2\" "
      "ON x = y");
  // A scalar subquery in the select list is not a FROM item.
  SqlText scalar = Prepared("SELECT a, (SELECT max(b) FROM t) FROM u");
  EXPECT_TRUE(scalar.rewrites().empty());
}

TEST(SqlTextTest, ReadsDoubleEqualsAsEquals) {
  SqlText t = Prepared("SELECT * FROM t WHERE a == 1");
  EXPECT_EQ(t.rewritten(), "SELECT * FROM t WHERE a = 1");
  EXPECT_EQ(t.Location(static_cast<int>(t.rewritten().find('1'))), "q.sql:1:28");
}

TEST(SqlTextTest, MapsRewrittenPositionsBackToTheFile) {
  std::string text = "-- c\nSELECT u.age FROM user u WHERE u.x = 1";
  SqlText t = Prepared(text);
  std::size_t x_rewritten = t.rewritten().find("u.x");
  std::size_t x_original = text.find("u.x");
  EXPECT_EQ(t.OriginalOffset(static_cast<int>(x_rewritten)), static_cast<int>(x_original));
  EXPECT_EQ(t.Location(static_cast<int>(x_rewritten)), "q.sql:2:32");
  // Inserted text maps to where it was inserted.
  SqlText sub = Prepared("SELECT *\nFROM (SELECT 1 AS x)\nWHERE x = 1");
  std::size_t alias = sub.rewritten().find("\"subquery 1\"");
  EXPECT_EQ(sub.Location(static_cast<int>(alias)), "q.sql:2:21");
  std::size_t where = sub.rewritten().find("WHERE");
  EXPECT_EQ(sub.Location(static_cast<int>(where)), "q.sql:3:1");
  EXPECT_EQ(sub.Location(-1), "q.sql:3:12");  // unknown: the end of the file
}

TEST(SqlTextTest, ItemTextIsTheSelectItemAsWritten) {
  std::string text = "SELECT count(*), year(g.timestamp)  + 1 FROM \"t\"";
  SqlText t = Prepared(text);
  EXPECT_EQ(t.ItemText(7), "count(*)");
  EXPECT_EQ(t.ItemText(17), "year(g.timestamp)  + 1");
}

TEST(SqlTextTest, ScannerErrorsCarryThePosition) {
  auto r = SqlText::Prepare("bad.sql", "SELECT 1\nFROM t WHERE a = 'unterminated");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("bad.sql:2:", 0), 0u) << r.status().message();
  EXPECT_NE(r.status().message().find("unterminated"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace pinstream::views

namespace pinstream::views {
namespace {

TEST(SqlParserTest, StatementTextIsTheFilesText) {
  auto parsed = ParseSql("q.sql",
                         "-- first\nSELECT 1 AS a FROM user;\n-- second\nSELECT * FROM (SELECT 2 "
                         "AS b FROM pin) WHERE b = 2");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->statements.size(), 2u);
  EXPECT_EQ(StatementText(*parsed, 0), "-- first\nSELECT 1 AS a FROM user");
  EXPECT_EQ(StatementText(*parsed, 1),
            "\n-- second\nSELECT * FROM (SELECT 2 AS b FROM pin) WHERE b = 2");
}

}  // namespace
}  // namespace pinstream::views
