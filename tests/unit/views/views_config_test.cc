#include "views/views_config.h"

#include "views/view_query.h"

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

// conf/pinterest.yaml without the views: section it ships (the eight analysis queries): from the
// `views:` line to the next top-level key (YAML keeps the first of two `views:` keys).
std::string ShippedWithoutViews() {
  std::string text = ReadFile(kConf + "/pinterest.yaml");
  std::size_t start = text.find("\nviews:");
  if (start == std::string::npos) return text;
  std::size_t end = start + 1;
  while ((end = text.find('\n', end)) != std::string::npos && end + 1 < text.size() &&
         (text[end + 1] == ' ' || text[end + 1] == '#' || text[end + 1] == '\n')) {
    ++end;
  }
  return text.substr(0, start + 1) + (end == std::string::npos ? "" : text.substr(end + 1));
}

// conf/pinterest.yaml with the test's views: section instead of its own, loaded as if it were in
// conf/.
class ViewsConfigTest : public ::testing::Test {
 protected:
  ViewsConfigTest() {
    ops::RegisterOperators(reg_.operators);
    connectors::RegisterConnectors(reg_, &env_);
    RegisterViewSections(reg_.sections);
  }
  DaemonConfig Load(const std::string& views, const std::string& dir = kConf) {
    return LoadConfigFromString(ShippedWithoutViews() + views, "test.yaml", dir, reg_);
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

// A column the config leaves untyped: a CSV column kept as read is a string (the file source
// says so); a column no source can tell takes the type of the table's stored schema.
TEST_F(ViewsConfigTest, UntypedColumnsTakeTheSourcesOrTheStoredType) {
  DaemonConfig cfg = LoadConfigFromString(ReadFile(kConf + "/pinterest-files.yaml"),
                                          "pinterest-files.yaml", kConf, reg_);
  auto type_of = [](const SchemaCatalog& c, const std::string& t, const std::string& col) {
    const TableInfo* info = c.Find(t);
    if (info == nullptr) return std::string("no table");
    for (const auto& x : info->columns) {
      if (x.name == col) return std::string(TypeName(x.type));
    }
    return std::string("no column");
  };
  SchemaCatalog c = CatalogOf(cfg);
  EXPECT_EQ(type_of(c, "geo", "country"), "string");
  EXPECT_EQ(type_of(c, "geo", "ind"), "int64");
  EXPECT_EQ(type_of(c, "user", "user_name"), "string");
  // A query reading a table (a delta source) with no version yet: nothing tells the type...
  DaemonConfig chain = LoadConfigFromString(
      "data_dir: /tmp/x\nsources:\n  t: {kind: delta, table: t}\nqueries:\n"
      "  - {name: q, source: t, operators: [{kind: select, columns: [a, b]}],\n"
      "     sink: {kind: delta, table: u}}\n",
      "chain.yaml", kConf, reg_);
  EXPECT_EQ(type_of(CatalogOf(chain), "u", "a"), "null");
  // ... until the table has a stored schema; a column it lacks stays untyped, a typed one keeps
  // the config's type.
  StoredSchemaOf stored = [](const std::string& table) {
    StreamSchema s;
    if (table != "u") return s;
    s.schema = Schema({Field{"a", TypeId::kDouble, true}});
    s.complete = true;
    return s;
  };
  SchemaCatalog typed = CatalogOf(chain, stored);
  EXPECT_EQ(type_of(typed, "u", "a"), "double");
  EXPECT_EQ(type_of(typed, "u", "b"), "null");
  EXPECT_EQ(type_of(CatalogOf(cfg, stored), "geo", "ind"), "int64");
}

TEST_F(ViewsConfigTest, TheEightShippedQueriesPlanAsViews) {
  // conf/pinterest.yaml as shipped: its views: section names q1.sql … q8.sql.
  DaemonConfig cfg = LoadConfigFromString(ReadFile(kConf + "/pinterest.yaml"), "pinterest.yaml",
                                          kConf, reg_);
  auto planned = PlanViews(cfg);
  ASSERT_TRUE(planned.ok()) << planned.status().ToString();
  std::string tables;
  for (const auto& v : *planned) tables += v.table + " ";
  EXPECT_EQ(tables, "q1_live q2_live q3_live_a q3_live_b q4_live q5_live q6_live q7_live q8_live ");
  // The daemon runs each view table as a query named as the table; q1 reads pin and geo.
  std::size_t before = cfg.queries.size();
  Status st = AddViewQueries(cfg, reg_);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(cfg.queries.size(), before + 9);
  const QueryConfig& q1 = cfg.queries[before];
  EXPECT_EQ(q1.name, "q1_live");
  EXPECT_EQ(q1.sources, (std::vector<std::string>{"view.q1_live.pin", "view.q1_live.geo"}));
  DaemonConfig none = Load("");
  std::size_t queries = none.queries.size();
  EXPECT_TRUE(AddViewQueries(none, reg_).ok());
  EXPECT_EQ(none.queries.size(), queries);
}

TEST_F(ViewsConfigTest, AViewRunsAsAQueryFromItsTablesToItsTable) {
  DaemonConfig cfg = Load("views:\n  - {name: q6_live, sql: queries/q6.sql}\n");
  std::size_t queries = cfg.queries.size();
  ASSERT_TRUE(AddViewQueries(cfg, reg_).ok());
  ASSERT_EQ(cfg.queries.size(), queries + 1);
  const QueryConfig& q = cfg.queries.back();
  EXPECT_EQ(q.name, "q6_live");
  EXPECT_EQ(q.view, "q6_live");
  EXPECT_NE(q.view_sql.find("SELECT"), std::string::npos);
  EXPECT_EQ(q.shards, 1);
  ASSERT_EQ(q.sources.size(), 1u);
  EXPECT_EQ(q.sources[0], "view.q6_live.user");
  EXPECT_EQ(cfg.sources.at("view.q6_live.user").spec->TableName(), "user");
  EXPECT_EQ(q.sink.spec->TableName(), "q6_live");
  EXPECT_NE(cfg.sources.at("view.q6_live.user").fingerprint.find("whole_versions: true"),
            std::string::npos);
  EXPECT_FALSE(q.operators.empty());
  // The first operator (the table's columns) points at the table in FROM.
  EXPECT_EQ(q.operators.front().where.rfind(kConf + "/queries/q6.sql:", 0), 0u)
      << q.operators.front().where;
  // Adding twice adds nothing; planning again ignores the view's own query.
  ASSERT_TRUE(AddViewQueries(cfg, reg_).ok());
  EXPECT_EQ(cfg.queries.size(), queries + 1);
  auto planned = PlanViews(cfg);
  ASSERT_TRUE(planned.ok()) << planned.status().ToString();
  // A view named as a query is refused.
  DaemonConfig clash = Load("views:\n  - {name: " + cfg.queries.front().name +
                            "_v, sql: queries/q6.sql}\n");
  clash.queries.front().name += "_v";
  Status st = AddViewQueries(clash, reg_);
  EXPECT_NE(st.message().find("is also the name of a query"), std::string::npos) << st.message();
}

TEST_F(ViewsConfigTest, AStoredSchemaThatDisagreesWithThePlanIsRefusedAtTheTableInFrom) {
  DaemonConfig cfg = Load("views:\n  - {name: q6_live, sql: queries/q6.sql}\n");
  ASSERT_TRUE(AddViewQueries(cfg, reg_).ok());
  const QueryConfig& q = cfg.queries.back();
  // What the daemon derives at start from the table's stored schema: date_joined stored as a
  // string where the view was planned with a timestamp.
  StreamSchema stored;
  stored.complete = true;
  stored.schema = Schema({{"ind", TypeId::kInt64},
                          {"user_name", TypeId::kString},
                          {"age", TypeId::kInt64},
                          {"date_joined", TypeId::kString}});
  auto derived = DeriveQuerySchemas(q, {stored});
  ASSERT_FALSE(derived.ok());
  const std::string& m = derived.status().message();
  EXPECT_EQ(m.rfind(kConf + "/queries/q6.sql:3:6: ", 0), 0u) << m;
  EXPECT_NE(m.find("column date_joined is string in the table's stored schema but timestamp"),
            std::string::npos)
      << m;
  // The stored schema as planned derives the view's columns.
  stored.schema = Schema({{"ind", TypeId::kInt64},
                          {"user_name", TypeId::kString},
                          {"age", TypeId::kInt64},
                          {"date_joined", TypeId::kTimestamp}});
  derived = DeriveQuerySchemas(q, {stored});
  ASSERT_TRUE(derived.ok()) << derived.status().ToString();
  ASSERT_EQ(derived->sink_inputs.size(), 1u);
  EXPECT_EQ(derived->sink_inputs[0].schema.fields().size(), 2u);
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
  std::string base = ShippedWithoutViews();
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
