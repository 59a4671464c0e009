#include "views/views_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "connectors/connector_env.h"
#include "connectors/registry.h"
#include "operators/registry.h"
#include "tests/testing/test_util.h"
#include "views/registry.h"

namespace pinstream::views {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string kConf = std::string(PINSTREAM_SOURCE_DIR) + "/conf";

// conf/pinterest.yaml with a views: section, loaded as if it were in conf/.
class ViewsConfigTest : public ::testing::Test {
 protected:
  ViewsConfigTest() {
    ops::RegisterOperators(reg_.operators);
    connectors::RegisterConnectors(reg_, &env_);
    RegisterViewSections(reg_.sections);
  }
  DaemonConfig Load(const std::string& views, const std::string& dir = kConf) {
    return LoadConfigFromString(ReadFile(kConf + "/pinterest.yaml") + views, "test.yaml", dir,
                                reg_);
  }
  std::string LoadError(const std::string& views, const std::string& dir = kConf) {
    try {
      Load(views, dir);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  }

  connectors::ConnectorEnv env_;
  Registries reg_;
};

TEST_F(ViewsConfigTest, CatalogHasTheTablesTheQueriesWrite) {
  DaemonConfig cfg = Load("");
  SchemaCatalog c = CatalogOf(cfg);
  const TableInfo* user = c.Find("user");
  ASSERT_NE(user, nullptr);
  EXPECT_TRUE(user->complete);
  std::string cols;
  for (const auto& col : user->columns)
    cols += col.name + ":" + std::string(TypeName(col.type)) + " ";
  EXPECT_EQ(cols, "ind:int64 user_name:string age:int64 date_joined:timestamp ");
  ASSERT_NE(c.Find("pin"), nullptr);
  EXPECT_EQ(c.Find("pin")->columns[4].name, "follower_count");
  EXPECT_EQ(c.Find("pin")->columns[4].type, TypeId::kInt64);
  ASSERT_NE(c.Find("geo"), nullptr);
}

TEST_F(ViewsConfigTest, TheEightShippedQueriesPlanAsViews) {
  std::string views = "views:\n";
  for (int i = 1; i <= 8; ++i) {
    views += "  - {name: q" + std::to_string(i) + "_live, sql: queries/q" + std::to_string(i) +
             ".sql}\n";
  }
  DaemonConfig cfg = Load(views);
  auto planned = PlanViews(cfg);
  ASSERT_TRUE(planned.ok()) << planned.status().ToString();
  std::string tables;
  for (const auto& v : *planned) tables += v.table + " ";
  EXPECT_EQ(tables, "q1_live q2_live q3_live_a q3_live_b q4_live q5_live q6_live q7_live q8_live ");
  // The daemon refuses them, naming what they need.
  Status st = RequireNoViews(cfg);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("live views need the streaming operators"), std::string::npos);
  EXPECT_EQ(st.message().rfind("test.yaml:", 0), 0u) << st.message();
  EXPECT_TRUE(RequireNoViews(Load("")).ok());
}

TEST_F(ViewsConfigTest, AViewReadsAnEarlierView) {
  testing::TempDir dir;
  dir.Write("a.sql", "SELECT category, count(*) AS n FROM pin GROUP BY category");
  dir.Write("b.sql", "SELECT category FROM a_live WHERE n > 10");
  DaemonConfig cfg = Load("views:\n  - {name: a_live, sql: " + dir.File("a.sql") +
                          "}\n  - {name: b_live, sql: " + dir.File("b.sql") + "}\n");
  auto planned = PlanViews(cfg);
  ASSERT_TRUE(planned.ok()) << planned.status().ToString();
  EXPECT_EQ(planned->size(), 2u);
}

TEST_F(ViewsConfigTest, LoadErrorsPointAtTheConfigOrTheSql) {
  testing::TempDir dir;
  dir.Write("bad.sql", "SELECT category\nFROM pin\nWHERE AND");
  dir.Write("ok.sql", "SELECT category FROM pin");
  std::string base = ReadFile(kConf + "/pinterest.yaml");
  auto views_line = std::count(base.begin(), base.end(), '\n') + 2;  // the first entry's line
  std::string at = "test.yaml:" + std::to_string(views_line);
  EXPECT_EQ(
      LoadError("views:\n  - {name: v, sql: " + dir.File("missing.sql") + "}\n").rfind(at + ":", 0),
      0u);
  EXPECT_NE(LoadError("views:\n  - {name: v, sql: " + dir.File("missing.sql") + "}\n")
                .find("cannot read SQL file"),
            std::string::npos);
  std::string syntax = LoadError("views:\n  - {name: v, sql: " + dir.File("bad.sql") + "}\n");
  EXPECT_EQ(syntax.rfind(dir.path() + "/bad.sql:3:7: syntax error at or near \"AND\"", 0), 0u)
      << syntax;
  EXPECT_NE(LoadError("views:\n  - {name: v, sqll: " + dir.File("ok.sql") + "}\n")
                .find("did you mean 'sql'"),
            std::string::npos);
  EXPECT_NE(LoadError("views:\n  - {name: 'a b', sql: " + dir.File("ok.sql") + "}\n").find("view"),
            std::string::npos);
  EXPECT_NE(LoadError("views:\n  - {name: v, sql: " + dir.File("ok.sql") +
                      "}\n  - {name: v, sql: " + dir.File("ok.sql") + "}\n")
                .find("view table 'v' is defined twice"),
            std::string::npos);
}

TEST_F(ViewsConfigTest, PlanErrorsPointAtTheSql) {
  testing::TempDir dir;
  dir.Write("typo.sql", "-- a view\nSELECT categry FROM pin");
  auto planned = PlanViews(Load("views:\n  - {name: v, sql: " + dir.File("typo.sql") + "}\n"));
  ASSERT_FALSE(planned.ok());
  EXPECT_EQ(planned.status().message(),
            dir.path() + "/typo.sql:2:8: column categry does not exist (did you mean category?)");
  dir.Write("ok.sql", "SELECT category FROM pin");
  auto clash = PlanViews(Load("views:\n  - {name: pin, sql: " + dir.File("ok.sql") + "}\n"));
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(
      clash.status().message().find("view table 'pin' is already written by query pin's sink"),
      std::string::npos);
}

}  // namespace
}  // namespace pinstream::views
