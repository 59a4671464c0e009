// The `views:` config section and the views' plans.
//
//   views:
//     - {name: q5_live, sql: queries/q5.sql}      # path relative to the config's folder
//
// Each view's SQL file is read and parsed when the config loads (ParseViewsSection, registered as
// a section by registry.h's RegisterViewSections): a missing file, a bad name, a name used twice or
// a SQL syntax error fails the load with file:line:column. A file with several statements makes one
// view per statement, named <name>_a, <name>_b, … (as the daily job names its result tables).
//
// PlanViews plans every view against the tables the config's queries write (CatalogOf: each
// query's delta sink, with the schema its operators derive) and the views before it; column,
// type and unsupported-construct errors carry the SQL file's file:line:column.
//
// The daemon runs each view table as a query (view_query.h's AddViewQueries); `pinstream
// validate` plans and lowers them, `pinstream views list|explain` shows them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/registry.h"
#include "views/logical_plan.h"
#include "views/planner.h"
#include "views/sql_parser.h"

namespace pinstream::views {

inline constexpr char kViewsSection[] = "views";

struct ViewConfig {
  std::string name;      // as configured
  std::string sql_file;  // resolved against the config's folder
  std::string where;     // "file:line:col: views[i]" of the entry
  std::shared_ptr<const ParsedSql> sql;
  std::vector<std::string> tables;  // the result table of each statement
};

struct ViewsConfig : ConfigSection {
  std::vector<ViewConfig> views;
};

// Throws ConfigError (file:line:col) as every section parser does.
std::shared_ptr<const ConfigSection> ParseViewsSection(const ConfigNode& node);
extern const ConfigKeys kViewKeys;

// A table's stored schema (a delta source's DeclaredSchema: complete once the store is open and
// the table has a version; StreamSchema::Unknown() otherwise).
using StoredSchemaOf = std::function<StreamSchema(const std::string& table)>;

// The tables views may read: every query's delta sink with the schema its query derives. A
// column the config leaves untyped (a CSV column kept as read is a string: the file source says
// so) takes its type from the table's stored schema when `stored` knows the table.
SchemaCatalog CatalogOf(const DaemonConfig& cfg, const StoredSchemaOf& stored = {});

struct PlannedView {
  std::string table;  // the view's result table (its name, or name_a, … per statement)
  const ViewConfig* config = nullptr;
  std::size_t statement = 0;
  PlanPtr plan;
};

// Plans every view of `cfg` (none without a views: section). A view's result table must not be
// a table a query writes. Errors: InvalidArgument "sql-file:line:col: …" or "config:line:col: …".
Result<std::vector<PlannedView>> PlanViews(const DaemonConfig& cfg,
                                           const StoredSchemaOf& stored = {});

}  // namespace pinstream::views
