#include "views/views_config.h"

#include <set>

namespace pinstream::views {

namespace {
constexpr KeyDoc kViewDocs[] = {
    {"name", KeyType::kString, "",
     "Required. The view's name; its table is named after it (a file of several statements: "
     "<name>_a, <name>_b, ...)."},
    {"sql", KeyType::kPath, "",
     "Required. A file of SELECT statements over the tables. A reload or start with a changed "
     "statement resets the view: its state and table rows are dropped and the answer recomputed "
     "from its inputs' first versions (a statement giving other columns is refused: the table "
     "keeps its columns)."},
};
}  // namespace
constexpr ConfigKeys kViewKeys{
    "views[]",
    "A live SQL view (a list under `views:`): parsed when the config loads; the daemon plans it "
    "and runs it as a query that keeps the view's table up to date.",
    kViewDocs};

std::shared_ptr<const ConfigSection> ParseViewsSection(const ConfigNode& node) {
  auto out = std::make_shared<ViewsConfig>();
  if (!node.IsSequence()) node.Fail("expected a list of views: - {name: NAME, sql: FILE}");
  std::set<std::string> tables;
  for (const auto& e : node.Elements()) {
    e.ExpectKeys(kViewKeys);
    ViewConfig v;
    v.name = e.GetString("name");
    RequireValidName(e.Get("name"), v.name, "view");
    v.sql_file = e.GetPath("sql");
    v.where = e.Where();
    Result<ParsedSql> parsed = ParseSqlFile(v.sql_file);
    if (!parsed.ok()) {
      if (parsed.status().code() == StatusCode::kNotFound)
        e.Get("sql").Fail(parsed.status().message());
      throw ConfigError(parsed.status().message() + " (view " + v.name + ", " +
                        e.Get("sql").Location() + ")");
    }
    v.sql = std::make_shared<const ParsedSql>(std::move(parsed).value());
    std::size_t n = v.sql->statements.size();
    if (n > 26) e.Get("sql").Fail("a view's SQL file may hold at most 26 statements");
    for (std::size_t i = 0; i < n; ++i) {
      v.tables.push_back(n == 1 ? v.name
                                : v.name + "_" + std::string(1, static_cast<char>('a' + i)));
    }
    for (const auto& t : v.tables) {
      if (!tables.insert(t).second) e.Get("name").Fail("view table '" + t + "' is defined twice");
    }
    out->views.push_back(std::move(v));
  }
  return out;
}

SchemaCatalog CatalogOf(const DaemonConfig& cfg, const StoredSchemaOf& stored) {
  SchemaCatalog catalog;
  for (const auto& q : cfg.queries) {
    if (!q.view.empty()) continue;  // a view's query (view_query.h): PlanViews adds its table
    std::string table = q.sink.spec ? q.sink.spec->TableName() : "";
    if (table.empty()) continue;
    std::vector<StreamSchema> in_schemas;
    for (const auto& in : q.inputs) {
      std::vector<StreamSchema> parts;
      for (const auto& s : in.sources) parts.push_back(cfg.sources.at(s).spec->DeclaredSchema());
      in_schemas.push_back(MergeSourceSchemas(parts));
    }
    TableInfo info;
    info.name = table;
    info.origin = "query " + q.name + "'s sink";
    info.complete = false;
    Result<QuerySchemas> derived = DeriveQuerySchemas(q, in_schemas);
    if (derived.ok() && derived->sink_inputs.size() == 1) {
      const StreamSchema& s = derived->sink_inputs[0];
      info.complete = s.complete;
      for (const auto& f : s.schema.fields()) info.columns.push_back(Column{f.name, f.type});
    }
    if (stored) {
      // What the config cannot tell before data, the table's stored schema does.
      StreamSchema have = stored(table);
      if (have.complete) {
        // Types only: the columns a view may name stay those the config tells (so `validate`,
        // planning without the store, accepts what `run` accepts).
        for (auto& c : info.columns) {
          if (c.type == TypeId::kNull) c.type = have.TypeOf(c.name);
        }
      }
    }
    catalog.Add(std::move(info));
  }
  return catalog;
}

Result<std::vector<PlannedView>> PlanViews(const DaemonConfig& cfg,
                                           const StoredSchemaOf& stored) {
  std::vector<PlannedView> out;
  const auto* section = cfg.Section<ViewsConfig>(kViewsSection);
  if (section == nullptr) return out;
  SchemaCatalog catalog = CatalogOf(cfg, stored);
  for (const auto& v : section->views) {
    for (std::size_t i = 0; i < v.tables.size(); ++i) {
      if (const TableInfo* t = catalog.Find(v.tables[i])) {
        return InvalidArgument(v.where + ": view table '" + v.tables[i] +
                               "' is already written by " + t->origin);
      }
      PS_ASSIGN_OR_RETURN(PlanPtr plan, PlanStatement(*v.sql, i, catalog));
      PlannedView pv{v.tables[i], &v, i, plan};
      // Later views may read this one's result.
      TableInfo info{v.tables[i], plan->columns, true, "view " + v.name};
      catalog.Add(std::move(info));
      out.push_back(std::move(pv));
    }
  }
  return out;
}

}  // namespace pinstream::views
