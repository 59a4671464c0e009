#include "views/view_query.h"

#include <fmt/format.h>

#include <map>
#include <set>

#include "engine/config_node.h"

namespace pinstream::views {

namespace {

// The plan's scans in the order lowering makes them inputs (in1, in2, …: inputs first to last).
void FindScans(const PlanNode& n, std::vector<const PlanNode*>* out) {
  if (n.kind == NodeKind::kScan) out->push_back(&n);
  for (const auto& in : n.inputs) FindScans(*in, out);
}

std::string Quoted(const std::string& s) {
  // Names are valid names ([A-Za-z0-9_.-]), so single quotes never need escaping.
  return "'" + s + "'";
}

}  // namespace

Result<QueryConfig> MakeViewQuery(const PlannedView& planned, const LoweredView& lowered,
                                  DaemonConfig& cfg, const Registries& registries) {
  const ViewConfig& v = *planned.config;
  const ParsedSql& sql = *v.sql;
  const std::string statement_at = sql.text.Location(sql.statements.at(planned.statement).location);
  std::vector<const PlanNode*> scans;
  FindScans(*planned.plan, &scans);
  QueryConfig q;
  q.name = planned.table;
  q.location = v.where;
  q.view = v.name;
  q.view_sql = StatementText(sql, planned.statement);
  // The view's state is one StateTable per stateful operator: one shard keeps a global
  // aggregate's one row in one place.
  q.shards = 1;
  q.fingerprint = fmt::format("view {}\nsql {}\nstatement {}\n{}", v.name, v.sql_file,
                              planned.statement, q.view_sql);
  AddToQuery(lowered, &q);
  std::map<std::string, int> scans_of;
  for (const auto& in : lowered.inputs) ++scans_of[in.table];
  try {
    for (std::size_t i = 0; i < lowered.inputs.size(); ++i) {
      const LoweredInput& in = lowered.inputs[i];
      InputConfig& ic = q.inputs.at(i);
      // A table scanned once is read by source view.<view table>.<table>; one scanned again (a
      // self-join) by one source per scan.
      std::string source = scans_of[in.table] == 1
                               ? fmt::format("view.{}.{}", q.name, in.table)
                               : fmt::format("view.{}.{}.{}", q.name, in.table, in.name);
      if (cfg.sources.count(source)) {
        return InvalidArgument(fmt::format(
            "{}: view table '{}': its source '{}' is also a configured source's name", v.where,
            q.name, source));
      }
      // The select's errors (a stored column of another type) point at the table in FROM.
      std::string where = statement_at;
      if (scans.size() == lowered.inputs.size() && scans[i]->table == in.table &&
          scans[i]->location >= 0) {
        where = sql.text.Location(scans[i]->location);
      }
      ConfigNode node = ConfigNode::LoadString(
          fmt::format("kind: delta\ntable: {}\nwhole_versions: true\n", Quoted(in.table)), where,
          cfg.config_dir);
      SourceConfig sc;
      sc.name = source;
      sc.location = where;
      sc.fingerprint = node.Canonical();
      sc.spec = registries.sources.Parse(node, "source");
      q.fingerprint += fmt::format("\nsource {}: {}", source, sc.fingerprint);
      cfg.sources[source] = std::move(sc);
      ic.where = where;
      ic.sources = {source};
      for (auto& oc : ic.operators) oc.where = where;
    }
    for (auto& oc : q.operators) oc.where = statement_at;
    BuildQuerySlots(q);
    ConfigNode sink = ConfigNode::LoadString(
        fmt::format("kind: delta\ntable: {}\nconsolidate: true\nrecord_input_versions: true\n",
                    Quoted(q.name)),
        v.where, cfg.config_dir);
    q.sink.kind = "delta";
    q.sink.spec = registries.sinks.Parse(sink, "sink");
  } catch (const ConfigError& e) {
    return InvalidArgument(e.what());
  }
  return q;
}

Status AddViewQueries(DaemonConfig& cfg, const Registries& registries) {
  for (const auto& q : cfg.queries) {
    if (!q.view.empty()) return Status::Ok();  // added already
  }
  // A table's stored schema, as a delta source reading it declares it (known once the store is
  // open and the table has a version): the types of the columns the config leaves untyped.
  StoredSchemaOf stored = [&](const std::string& table) {
    try {
      ConfigNode node = ConfigNode::LoadString(
          fmt::format("kind: delta\ntable: {}\n", Quoted(table)), "", cfg.config_dir);
      return registries.sources.Parse(node, "source")->DeclaredSchema();
    } catch (const ConfigError&) {
      return StreamSchema::Unknown();  // not a valid table name: no stored schema
    }
  };
  PS_ASSIGN_OR_RETURN(std::vector<PlannedView> planned, PlanViews(cfg, stored));
  std::set<std::string> names;
  for (const auto& q : cfg.queries) names.insert(q.name);
  std::vector<QueryConfig> added;
  for (const auto& pv : planned) {
    if (names.count(pv.table)) {
      return InvalidArgument(fmt::format(
          "{}: view table '{}' is also the name of a query: a view runs as a query named as its "
          "table",
          pv.config->where, pv.table));
    }
    PS_ASSIGN_OR_RETURN(LoweredView lowered,
                        LowerPlan(*pv.config->sql, pv.statement, *pv.plan));
    PS_ASSIGN_OR_RETURN(QueryConfig q, MakeViewQuery(pv, lowered, cfg, registries));
    added.push_back(std::move(q));
  }
  for (auto& q : added) cfg.queries.push_back(std::move(q));
  return Status::Ok();
}

}  // namespace pinstream::views
