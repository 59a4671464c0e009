#include "views/planner.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <set>

#include "engine/config_node.h"
#include "engine/time_util.h"
#include "views/function_catalog.h"

namespace pinstream::views {
namespace {

using nlohmann::json;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool SameName(std::string_view a, std::string_view b) { return Lower(a) == Lower(b); }

// A planning error: the construct's position in the rewritten text and what is wrong. Thrown
// inside this file only; PlanStatement turns it into a Status.
struct SqlError {
  int location;
  std::string message;
};

[[noreturn]] void Fail(int location, std::string message) {
  throw SqlError{location, std::move(message)};
}
[[noreturn]] void Refuse(int location, const std::string& construct) {
  Fail(location, construct + " is not supported in live views");
}

// --- reading libpg_query's JSON tree -------------------------------------------------------------

const json kEmptyList = json::array();

// {"Type": {...}} → "Type".
std::string TypeOf(const json& node) {
  return node.is_object() && !node.empty() ? node.begin().key() : std::string();
}
const json& Body(const json& node) { return node.begin().value(); }
const json& ListOf(const json& body, const char* key) {
  auto it = body.find(key);
  return it == body.end() ? kEmptyList : *it;
}
int LocOf(const json& body) { return body.is_object() ? body.value("location", -1) : -1; }
// A field whose C type is a specific node (WithClause*, Alias*, TypeName*, WindowDef*, SelectStmt*)
// is written without the {"Type": …} wrapper; accept both forms.
const json& Unwrap(const json& v, const char* type) {
  if (v.is_object() && v.size() == 1 && v.begin().key() == type) return v.begin().value();
  return v;
}
// A String node's text.
std::string StringOf(const json& node) {
  const json& b = Body(node);
  return b.value("sval", std::string());
}
// The location of any node, looking one level into its body.
int NodeLoc(const json& node) { return node.is_object() && !node.empty() ? LocOf(Body(node)) : -1; }

// --- scopes --------------------------------------------------------------------------------------

struct ScopeColumn {
  std::string qualifier;  // the table's alias (or name) in this FROM clause
  std::string name;
  TypeId type = TypeId::kNull;
  bool hidden = false;  // the right side's column of JOIN … USING: qualified references only
};

struct Relation {
  PlanPtr node;
  std::vector<ScopeColumn> scope;  // one per node column
};

std::string DisplayName(const ScopeColumn& c) {
  return c.qualifier.empty() ? c.name : c.qualifier + "." + c.name;
}

std::shared_ptr<PlanNode> NewNode(NodeKind kind, int location) {
  auto n = std::make_shared<PlanNode>();
  n->kind = kind;
  n->location = location;
  return n;
}

std::shared_ptr<Expr> CopyOf(const Expr& e) { return std::make_shared<Expr>(e); }

ExprPtr Call(std::string name, std::vector<ExprPtr> args, TypeId type, int location) {
  auto e = std::make_shared<Expr>();
  e->kind = ExprKind::kCall;
  e->name = std::move(name);
  e->args = std::move(args);
  e->type = type;
  e->location = location;
  return e;
}

// Calls `fn` on `e` and every expression under it (not into subqueries).
template <typename Fn>
void Visit(const ExprPtr& e, const Fn& fn) {
  if (e == nullptr) return;
  fn(e);
  for (const auto& a : e->args) Visit(a, fn);
  for (const auto& k : e->order) Visit(k.expr, fn);
  Visit(e->filter, fn);
}

bool Contains(const ExprPtr& e, ExprKind kind) {
  bool found = false;
  Visit(e, [&](const ExprPtr& x) { found = found || x->kind == kind; });
  return found;
}

// Returns a copy of `e` with every node replaced by `fn(node)` when fn returns non-null,
// children first otherwise.
template <typename Fn>
ExprPtr Rewrite(const ExprPtr& e, const Fn& fn) {
  if (e == nullptr) return nullptr;
  if (ExprPtr r = fn(e)) return r;
  if (e->args.empty() && e->order.empty() && e->filter == nullptr) return e;
  auto copy = CopyOf(*e);
  for (auto& a : copy->args) a = Rewrite(a, fn);
  for (auto& k : copy->order) k.expr = Rewrite(k.expr, fn);
  copy->filter = Rewrite(copy->filter, fn);
  return copy;
}

// The column range [lo, hi) an expression reads (lo > hi when it reads none).
std::pair<int, int> ColumnRange(const ExprPtr& e) {
  int lo = std::numeric_limits<int>::max();
  int hi = -1;
  Visit(e, [&](const ExprPtr& x) {
    if (x->kind == ExprKind::kColumn) {
      lo = std::min(lo, x->column);
      hi = std::max(hi, x->column + 1);
    }
  });
  return {lo, hi};
}

ExprPtr Shift(const ExprPtr& e, int by) {
  return Rewrite(e, [&](const ExprPtr& x) -> ExprPtr {
    if (x->kind != ExprKind::kColumn) return nullptr;
    auto c = CopyOf(*x);
    c->column += by;
    return c;
  });
}

void SplitConjuncts(const ExprPtr& e, std::vector<ExprPtr>& out) {
  if (e->kind == ExprKind::kCall && e->name == "and") {
    for (const auto& a : e->args) SplitConjuncts(a, out);
  } else {
    out.push_back(e);
  }
}

ExprPtr AndOf(const std::vector<ExprPtr>& conjuncts) {
  ExprPtr out;
  for (const auto& c : conjuncts) {
    out = out == nullptr ? c : Call("and", {out, c}, TypeId::kBool, c->location);
  }
  return out;
}

std::optional<std::int64_t> IntLiteral(const ExprPtr& e) {
  if (e->kind == ExprKind::kLiteral && e->value.type() == TypeId::kInt64)
    return e->value.int_value();
  return std::nullopt;
}

// --- the planner ---------------------------------------------------------------------------------

constexpr const char* kIntervalUsage =
    "an INTERVAL constant ('10' SECOND, '10 seconds', '1 minute 30 seconds')";

struct Cte {
  std::string name;
  const json* query = nullptr;  // the CTE's SelectStmt body
  std::vector<std::string> column_names;
  std::size_t visible = 0;  // how many CTEs (of env_) its body may read: those defined before it
  int location = -1;
};

// Where an expression is resolved: what it may contain.
struct ExprContext {
  const char* clause = "WHERE";
  bool aggregates = false;
  bool windows = false;
};

class Planner {
 public:
  Planner(const ParsedSql& sql, const SchemaCatalog& catalog) : sql_(sql), catalog_(catalog) {}

  PlanPtr PlanTop(const SqlStatement& st) {
    stmt_location_ = st.location;
    Relation r = PlanSelect(st.select, /*top=*/true);
    // The result becomes a table: its columns need distinct names.
    for (std::size_t i = 0; i < r.node->columns.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (SameName(r.node->columns[i].name, r.node->columns[j].name)) {
          Fail(st.location, "the result has two columns named " + r.node->columns[i].name +
                                " (columns " + std::to_string(j + 1) + " and " +
                                std::to_string(i + 1) + "): name them apart with AS");
        }
      }
    }
    return Finalize(r.node);
  }

 private:
  // SELECT (with WITH, set operations, ORDER BY, LIMIT). `top`: the statement's own result, where
  // ORDER BY / LIMIT present the result rather than select rows.
  Relation PlanSelect(const json& s, bool top) {
    std::size_t env_size = env_.size();
    if (auto w = s.find("withClause"); w != s.end()) {
      const json& with = Unwrap(*w, "WithClause");
      if (with.value("recursive", false)) Refuse(LocOf(with), "WITH RECURSIVE");
      for (const auto& c : ListOf(with, "ctes")) {
        const json& cte = Body(c);
        Cte entry;
        entry.name = cte.value("ctename", std::string());
        entry.query = &Body(cte.at("ctequery"));
        entry.location = LocOf(cte);
        entry.visible = env_.size();
        for (const auto& n : ListOf(cte, "aliascolnames"))
          entry.column_names.push_back(StringOf(n));
        if (TypeOf(cte.at("ctequery")) != "SelectStmt")
          Refuse(entry.location, "a WITH query that is not a SELECT");
        env_.push_back(std::move(entry));
      }
    }
    Relation r;
    std::string op = s.value("op", std::string("SETOP_NONE"));
    if (op != "SETOP_NONE") {
      r = PlanSetOperation(s, op);
    } else if (s.contains("valuesLists")) {
      Refuse(stmt_location_, "VALUES");
    } else {
      r = PlanSimpleSelect(s, top);
    }
    if (op != "SETOP_NONE") r = PlanSetOrderLimit(s, std::move(r), top);
    env_.resize(env_size);
    return r;
  }

  Relation PlanSetOperation(const json& s, const std::string& op) {
    int loc = stmt_location_;
    if (op != "SETOP_UNION") Refuse(loc, op == "SETOP_INTERSECT" ? "INTERSECT" : "EXCEPT");
    Relation left = PlanSelect(Unwrap(s.at("larg"), "SelectStmt"), false);
    Relation right = PlanSelect(Unwrap(s.at("rarg"), "SelectStmt"), false);
    if (left.node->columns.size() != right.node->columns.size()) {
      Fail(loc, "the two sides of UNION have " + std::to_string(left.node->columns.size()) +
                    " and " + std::to_string(right.node->columns.size()) + " columns");
    }
    auto n = NewNode(NodeKind::kUnionAll, loc);
    for (std::size_t i = 0; i < left.node->columns.size(); ++i) {
      bool ok = true;
      TypeId t = CommonType(left.node->columns[i].type, right.node->columns[i].type, &ok);
      if (!ok) {
        Fail(loc, "column " + std::to_string(i + 1) + " of UNION is " +
                      std::string(TypeName(left.node->columns[i].type)) + " on one side and " +
                      std::string(TypeName(right.node->columns[i].type)) + " on the other");
      }
      n->columns.push_back(Column{left.node->columns[i].name, t});
    }
    n->inputs = {left.node, right.node};
    PlanPtr node = n;
    if (!s.value("all", false)) node = DistinctOf(node);
    return Relation{node, OutputScope(*node, "")};
  }

  Relation PlanSetOrderLimit(const json& s, Relation r, bool top) {
    std::vector<SortKey> keys;
    for (const auto& item : ListOf(s, "sortClause")) {
      const json& sb = Body(item);
      int index = OutputColumnOf(sb.at("node"), *r.node);
      if (index < 0)
        Fail(NodeLoc(sb.at("node")),
             "ORDER BY of a UNION must name an output column or its position");
      keys.push_back(MakeSortKey(
          sb, ColumnRef(index, r.node->columns[index].name, r.node->columns[index].type)));
    }
    return OrderAndLimit(s, std::move(r), std::move(keys), top);
  }

  // The output column an ORDER BY item names (an output name or a position), or -1.
  int OutputColumnOf(const json& node, const PlanNode& out) {
    std::string type = TypeOf(node);
    const json& b = Body(node);
    if (type == "ColumnRef") {
      const json& fields = ListOf(b, "fields");
      if (fields.size() == 1 && TypeOf(fields[0]) == "String") {
        std::string name = StringOf(fields[0]);
        for (std::size_t i = 0; i < out.columns.size(); ++i) {
          if (SameName(out.columns[i].name, name)) return static_cast<int>(i);
        }
      }
      return -1;
    }
    if (type == "A_Const" && b.contains("ival")) {
      std::int64_t pos = ConstValue(b).int_value();
      if (pos < 1 || pos > static_cast<std::int64_t>(out.columns.size())) {
        Fail(LocOf(b), "position " + std::to_string(pos) + " is not in the select list (1.." +
                           std::to_string(out.columns.size()) + ")");
      }
      return static_cast<int>(pos - 1);
    }
    return -1;
  }

  static SortKey MakeSortKey(const json& sortby, ExprPtr expr) {
    SortKey k;
    k.expr = std::move(expr);
    std::string dir = sortby.value("sortby_dir", std::string("SORTBY_DEFAULT"));
    if (dir == "SORTBY_USING") Refuse(LocOf(sortby), "ORDER BY … USING");
    k.descending = dir == "SORTBY_DESC";
    std::string nulls = sortby.value("sortby_nulls", std::string("SORTBY_NULLS_DEFAULT"));
    k.nulls_first = nulls == "SORTBY_NULLS_DEFAULT" ? !k.descending : nulls == "SORTBY_NULLS_FIRST";
    return k;
  }

  // ORDER BY / LIMIT / OFFSET over `r` (keys over r's columns).
  Relation OrderAndLimit(const json& s, Relation r, std::vector<SortKey> keys, bool top) {
    std::optional<std::int64_t> limit;
    std::int64_t offset = 0;
    if (auto it = s.find("limitCount"); it != s.end()) {
      if (s.value("limitOption", std::string()) == "LIMIT_OPTION_WITH_TIES")
        Refuse(NodeLoc(*it), "FETCH … WITH TIES");
      limit = ConstantInt(*it, "LIMIT");
    }
    if (auto it = s.find("limitOffset"); it != s.end()) offset = ConstantInt(*it, "OFFSET");
    if (!top) {
      // Inside a subquery or WITH query: ORDER BY alone does not change the rows; with LIMIT it
      // keeps the first rows: a top-N over the whole input.
      if (!limit) {
        if (offset != 0) Refuse(NodeLoc(s.at("limitOffset")), "OFFSET inside a subquery");
        return r;
      }
      if (keys.empty()) {
        Fail(NodeLoc(s.at("limitCount")),
             "LIMIT inside a subquery needs an ORDER BY (which rows it keeps would be arbitrary)");
      }
      if (offset != 0) Refuse(NodeLoc(s.at("limitOffset")), "OFFSET inside a subquery");
      auto n = NewNode(NodeKind::kTopN, NodeLoc(s.at("limitCount")));
      n->rank_function = "row_number";
      n->order = std::move(keys);
      n->limit = *limit;
      n->columns = r.node->columns;
      n->columns.push_back(Column{"row_number", TypeId::kInt64});
      n->inputs = {r.node};
      bounds_[n.get()] = *limit;
      // Drop the row number again.
      auto p = NewNode(NodeKind::kProject, n->location);
      for (std::size_t i = 0; i < r.node->columns.size(); ++i) {
        p->exprs.push_back(
            ColumnRef(static_cast<int>(i), r.node->columns[i].name, r.node->columns[i].type));
      }
      p->columns = r.node->columns;
      p->inputs = {n};
      return Relation{p, r.scope};
    }
    PlanPtr node = r.node;
    if (!keys.empty()) {
      auto n = NewNode(NodeKind::kSort, stmt_location_);
      n->order = std::move(keys);
      n->columns = node->columns;
      n->inputs = {node};
      node = n;
    }
    if (limit || offset != 0) {
      auto n = NewNode(NodeKind::kLimit, stmt_location_);
      n->limit = limit.value_or(-1);
      n->offset = offset;
      n->columns = node->columns;
      n->inputs = {node};
      node = n;
    }
    return Relation{node, r.scope};
  }

  std::int64_t ConstantInt(const json& node, const char* what) {
    if (TypeOf(node) == "A_Const") {
      const json& b = Body(node);
      if (b.contains("ival")) {
        std::int64_t v = ConstValue(b).int_value();
        if (v < 0) Fail(LocOf(b), std::string(what) + " must not be negative");
        return v;
      }
      if (b.value("isnull", false)) return std::numeric_limits<std::int64_t>::max();  // LIMIT ALL
    }
    Fail(NodeLoc(node), std::string(what) + " must be an integer constant");
  }

  // SELECT … FROM … WHERE … GROUP BY … HAVING … [window] … DISTINCT … ORDER BY … LIMIT.
  Relation PlanSimpleSelect(const json& s, bool top) {
    const json& from = ListOf(s, "fromClause");
    if (from.empty()) Refuse(stmt_location_, "SELECT without FROM");
    if (s.contains("intoClause")) Refuse(stmt_location_, "SELECT INTO");
    if (s.contains("windowClause")) Refuse(stmt_location_, "a WINDOW clause");
    if (auto it = s.find("lockingClause"); it != s.end())
      Refuse(stmt_location_, "FOR UPDATE / FOR SHARE");

    std::vector<Relation> items;
    for (const auto& item : from) items.push_back(PlanFromItem(item));
    std::vector<ExprPtr> where;
    Relation rel = items[0];
    if (items.size() > 1) {
      // Comma joins: the combined scope first, to resolve WHERE, then join left-deep on the
      // equalities WHERE states between each item and the ones before it.
      std::vector<ScopeColumn> all;
      for (const auto& it : items) all.insert(all.end(), it.scope.begin(), it.scope.end());
      if (auto w = s.find("whereClause"); w != s.end()) {
        SplitConjuncts(ResolveExpr(*w, all, ExprContext{"WHERE"}), where);
      }
      int width = static_cast<int>(items[0].node->columns.size());
      for (std::size_t k = 1; k < items.size(); ++k) {
        int item_width = static_cast<int>(items[k].node->columns.size());
        std::vector<ExprPtr> lkeys, rkeys, rest;
        for (const auto& c : where) {
          if (auto key = EqualityKey(c, width, width + item_width)) {
            lkeys.push_back(key->first);
            rkeys.push_back(Shift(key->second, -width));
          } else {
            rest.push_back(c);
          }
        }
        if (lkeys.empty()) {
          Refuse(
              NodeLoc(from[k]),
              "a FROM item without an equality in WHERE with the tables before it (a cross join)");
        }
        where = std::move(rest);
        width += item_width;
        rel = JoinOf(rel, items[k], JoinKind::kInner, std::move(lkeys), std::move(rkeys),
                     NodeLoc(from[k]));
      }
    } else if (auto w = s.find("whereClause"); w != s.end()) {
      SplitConjuncts(ResolveExpr(*w, rel.scope, ExprContext{"WHERE"}), where);
    }
    if (!where.empty()) rel.node = FilterOf(rel.node, AndOf(where));

    // The select list, over the FROM scope (aggregates and windows still inside).
    struct Item {
      ExprPtr expr;
      std::string name;
    };
    std::vector<Item> select;
    ExprContext select_ctx{"the select list", true, true};
    for (const auto& t : ListOf(s, "targetList")) {
      const json& rt = Body(t);
      const json& val = rt.at("val");
      if (TypeOf(val) == "ColumnRef" && TypeOf(ListOf(Body(val), "fields").back()) == "A_Star") {
        for (auto& [e, name] : ExpandStar(Body(val), rel.scope)) select.push_back(Item{e, name});
        continue;
      }
      ExprPtr e = ResolveExpr(val, rel.scope, select_ctx);
      std::string name = rt.value("name", std::string());
      if (name.empty()) {
        name = e->kind == ExprKind::kColumn ? rel.scope[e->column].name
                                            : sql_.text.ItemText(LocOf(rt));
      }
      select.push_back(Item{e, name});
    }
    ExprPtr having;
    if (auto h = s.find("havingClause"); h != s.end()) {
      having = ResolveExpr(*h, rel.scope, ExprContext{"HAVING", true, false});
    }
    // GROUP BY: expressions, output names (when no input column has the name) and positions.
    std::vector<ExprPtr> group;
    for (const auto& g : ListOf(s, "groupClause")) {
      std::string type = TypeOf(g);
      if (type == "GroupingSet") Refuse(NodeLoc(g), "GROUPING SETS / ROLLUP / CUBE");
      ExprPtr e;
      if (type == "A_Const" && Body(g).contains("ival")) {
        std::int64_t pos = ConstValue(Body(g)).int_value();
        if (pos < 1 || pos > static_cast<std::int64_t>(select.size())) {
          Fail(NodeLoc(g),
               "GROUP BY position " + std::to_string(pos) + " is not in the select list");
        }
        e = select[pos - 1].expr;
      } else if (type == "ColumnRef" && ListOf(Body(g), "fields").size() == 1 &&
                 FindColumns(rel.scope, "", StringOf(ListOf(Body(g), "fields")[0])).empty()) {
        std::string name = StringOf(ListOf(Body(g), "fields")[0]);
        for (const auto& item : select) {
          if (SameName(item.name, name)) {
            e = item.expr;
            break;
          }
        }
        if (e == nullptr) e = ResolveExpr(g, rel.scope, ExprContext{"GROUP BY"});
      } else {
        e = ResolveExpr(g, rel.scope, ExprContext{"GROUP BY"});
      }
      if (Contains(e, ExprKind::kAggregate))
        Fail(NodeLoc(g), "GROUP BY cannot use an aggregate function");
      if (Contains(e, ExprKind::kWindow)) Fail(NodeLoc(g), "GROUP BY cannot use a window function");
      if (std::none_of(group.begin(), group.end(),
                       [&](const ExprPtr& x) { return x->SameAs(*e); })) {
        group.push_back(e);
      }
    }
    // ORDER BY items, resolved now over the same scope unless they name an output column.
    struct Order {
      const json* sortby;
      int output = -1;  // an output column named or numbered
      ExprPtr expr;     // otherwise
    };
    std::vector<Order> order;
    {
      PlanNode names;  // the output names, for OutputColumnOf
      for (const auto& item : select) names.columns.push_back(Column{item.name, item.expr->type});
      for (const auto& o : ListOf(s, "sortClause")) {
        const json& sb = Body(o);
        Order entry{&sb, -1, nullptr};
        entry.output = OutputColumnOf(sb.at("node"), names);
        if (entry.output < 0)
          entry.expr = ResolveExpr(sb.at("node"), rel.scope, ExprContext{"ORDER BY", true, true});
        order.push_back(entry);
      }
    }

    // Aggregation.
    bool aggregated =
        !group.empty() || having != nullptr ||
        std::any_of(select.begin(), select.end(),
                    [](const Item& i) { return Contains(i.expr, ExprKind::kAggregate); }) ||
        std::any_of(order.begin(), order.end(), [](const Order& o) {
          return o.expr && Contains(o.expr, ExprKind::kAggregate);
        });
    if (aggregated) {
      auto agg = NewNode(NodeKind::kAggregate, stmt_location_);
      agg->group = group;
      for (std::size_t i = 0; i < group.size(); ++i) {
        std::string name =
            group[i]->kind == ExprKind::kColumn ? rel.scope[group[i]->column].name : "";
        for (const auto& item : select) {
          if (name.empty() && item.expr->SameAs(*group[i])) name = item.name;
        }
        agg->columns.push_back(
            Column{name.empty() ? "group_" + std::to_string(i + 1) : name, group[i]->type});
      }
      std::vector<ExprPtr> calls;
      auto rebase = [&](const ExprPtr& e) {
        return OverAggregate(e, group, calls, *agg, rel.scope);
      };
      for (auto& item : select) item.expr = rebase(item.expr);
      if (having) having = rebase(having);
      for (auto& o : order) {
        if (o.expr) o.expr = rebase(o.expr);
      }
      for (std::size_t j = 0; j < calls.size(); ++j) {
        const Expr& c = *calls[j];
        AggregateCall a;
        a.function = c.name;
        a.arg = c.args.empty() ? nullptr : c.args[0];
        a.distinct = c.distinct;
        a.filter = c.filter;
        a.fraction = c.fraction;
        a.type = c.type;
        std::string name = c.name;
        for (const auto& item : select) {
          if (item.expr->kind == ExprKind::kColumn &&
              item.expr->column == static_cast<int>(group.size() + j)) {
            name = item.name;
          }
        }
        agg->aggregates.push_back(a);
        agg->columns.push_back(Column{name, c.type});
      }
      agg->inputs = {rel.node};
      rel.node = agg;
      rel.scope = OutputScope(*agg, "");
      if (having) rel.node = FilterOf(rel.node, having);
    }

    // Rank functions: one TopN per distinct window, its rank appended as a column.
    {
      std::vector<ExprPtr> windows;
      auto collect = [&](const ExprPtr& e) {
        Visit(e, [&](const ExprPtr& x) {
          if (x->kind == ExprKind::kWindow &&
              std::none_of(windows.begin(), windows.end(),
                           [&](const ExprPtr& w) { return w->SameAs(*x); })) {
            windows.push_back(x);
          }
        });
      };
      for (const auto& item : select) collect(item.expr);
      for (const auto& o : order) collect(o.expr);
      for (const auto& w : windows) {
        auto n = NewNode(NodeKind::kTopN, w->location);
        n->rank_function = w->name;
        n->partition = w->args;
        n->order = w->order;
        n->columns = rel.node->columns;
        std::string name = w->name;
        for (const auto& item : select) {
          if (item.expr->SameAs(*w)) name = item.name;
        }
        n->columns.push_back(Column{name, TypeId::kInt64});
        n->inputs = {rel.node};
        int rank_column = static_cast<int>(n->columns.size()) - 1;
        auto replace = [&](const ExprPtr& e) {
          return Rewrite(e, [&](const ExprPtr& x) -> ExprPtr {
            return x->SameAs(*w) ? ColumnRef(rank_column, name, TypeId::kInt64, x->location)
                                 : nullptr;
          });
        };
        for (auto& item : select) item.expr = replace(item.expr);
        for (auto& o : order) o.expr = replace(o.expr);
        rel.node = n;
      }
    }

    // The select list; ORDER BY expressions not in it ride along as hidden columns.
    auto project = NewNode(NodeKind::kProject, stmt_location_);
    for (const auto& item : select) {
      project->exprs.push_back(item.expr);
      project->columns.push_back(Column{item.name, item.expr->type});
    }
    std::size_t visible = select.size();
    bool distinct = s.contains("distinctClause");
    if (distinct &&
        !(ListOf(s, "distinctClause").size() == 1 && ListOf(s, "distinctClause")[0].empty())) {
      Refuse(stmt_location_, "DISTINCT ON");
    }
    std::vector<SortKey> keys;
    for (const auto& o : order) {
      int index = o.output;
      if (index < 0) {
        for (std::size_t i = 0; i < project->exprs.size(); ++i) {
          if (project->exprs[i]->SameAs(*o.expr)) index = static_cast<int>(i);
        }
      }
      if (index < 0) {
        if (distinct)
          Fail(NodeLoc(o.sortby->at("node")),
               "with SELECT DISTINCT, ORDER BY expressions must appear in the select list");
        index = static_cast<int>(project->exprs.size());
        project->exprs.push_back(o.expr);
        project->columns.push_back(
            Column{"order_" + std::to_string(index - visible + 1), o.expr->type});
      }
      keys.push_back(MakeSortKey(
          *o.sortby, ColumnRef(index, project->columns[index].name, project->columns[index].type)));
    }
    project->inputs = {rel.node};
    Relation out{project, OutputScope(*project, "")};
    if (distinct) out.node = DistinctOf(out.node);
    out = OrderAndLimit(s, std::move(out), std::move(keys), top);
    if (out.node->columns.size() > visible) {
      auto p = NewNode(NodeKind::kProject, stmt_location_);
      for (std::size_t i = 0; i < visible; ++i) {
        p->exprs.push_back(
            ColumnRef(static_cast<int>(i), out.node->columns[i].name, out.node->columns[i].type));
        p->columns.push_back(out.node->columns[i]);
      }
      p->inputs = {out.node};
      out.node = p;
      out.scope.resize(visible);
    }
    CheckLeftovers(out.node);
    return out;
  }

  // An expression over the FROM scope → the same over the Aggregate's output: group expressions
  // and aggregate calls become its columns; any other column reference is an error.
  ExprPtr OverAggregate(const ExprPtr& e, const std::vector<ExprPtr>& group,
                        std::vector<ExprPtr>& calls, const PlanNode& agg,
                        const std::vector<ScopeColumn>& scope) {
    return Rewrite(e, [&](const ExprPtr& x) -> ExprPtr {
      for (std::size_t i = 0; i < group.size(); ++i) {
        if (x->SameAs(*group[i]))
          return ColumnRef(static_cast<int>(i), agg.columns[i].name, x->type, x->location);
      }
      if (x->kind == ExprKind::kAggregate) {
        std::size_t j = 0;
        while (j < calls.size() && !calls[j]->SameAs(*x)) ++j;
        if (j == calls.size()) calls.push_back(x);
        return ColumnRef(static_cast<int>(group.size() + j), x->ToString(), x->type, x->location);
      }
      if (x->kind == ExprKind::kColumn) {
        Fail(x->location, "column " + DisplayName(scope[x->column]) +
                              " must appear in GROUP BY or be used in an aggregate function");
      }
      return nullptr;
    });
  }

  void CheckLeftovers(const PlanPtr& node) {
    for (const auto& e : node->exprs) {
      Visit(e, [&](const ExprPtr& x) {
        if (x->kind == ExprKind::kAggregate || x->kind == ExprKind::kWindow) {
          Fail(x->location, "internal: " + x->ToString() + " left unplanned");
        }
      });
    }
  }

  std::vector<std::pair<ExprPtr, std::string>> ExpandStar(const json& colref,
                                                          const std::vector<ScopeColumn>& scope) {
    const json& fields = ListOf(colref, "fields");
    std::string qualifier = fields.size() == 2 ? StringOf(fields[0]) : "";
    std::vector<std::pair<ExprPtr, std::string>> out;
    for (std::size_t i = 0; i < scope.size(); ++i) {
      const ScopeColumn& c = scope[i];
      if (qualifier.empty() ? c.hidden : !SameName(c.qualifier, qualifier)) continue;
      out.emplace_back(ColumnRef(static_cast<int>(i), DisplayName(c), c.type, LocOf(colref)),
                       c.name);
    }
    if (out.empty() && !qualifier.empty())
      Fail(LocOf(colref), "no table " + qualifier + " in FROM");
    return out;
  }

  // --- FROM
  // ---------------------------------------------------------------------------------------

  Relation PlanFromItem(const json& item) {
    std::string type = TypeOf(item);
    const json& b = Body(item);
    if (type == "RangeVar") return PlanRangeVar(b);
    if (type == "RangeSubselect") {
      if (b.value("lateral", false)) Refuse(NodeLoc(b.at("subquery")), "LATERAL");
      Relation r = PlanSelect(Body(b.at("subquery")), false);
      return Aliased(std::move(r), b.contains("alias") ? &Unwrap(b["alias"], "Alias") : nullptr,
                     "");
    }
    if (type == "JoinExpr") return PlanJoin(b);
    if (type == "RangeFunction") return PlanWindowFunction(b, NodeLoc(item));
    Refuse(NodeLoc(item), type + " in FROM");
  }

  // TUMBLE(t, time, size) / HOP(t, time, slide, size) in FROM (RisingWave's and Materialize's
  // window table functions): t's columns and window_start, window_end, a row once per window of
  // its time column. `t` names a table or a WITH query; the columns are qualified by the
  // function's alias, or t's name.
  Relation PlanWindowFunction(const json& rf, int loc) {
    if (loc < 0) loc = LocOf(rf);
    if (rf.value("lateral", false)) Refuse(loc, "LATERAL");
    if (rf.value("ordinality", false)) Refuse(loc, "WITH ORDINALITY");
    if (rf.value("is_rowsfrom", false)) Refuse(loc, "ROWS FROM");
    const json* call = nullptr;
    const json& functions = ListOf(rf, "functions");
    if (functions.size() == 1) {
      const json& pair = functions[0];
      const json& items = TypeOf(pair) == "List" ? ListOf(Body(pair), "items") : kEmptyList;
      if (!items.empty() && TypeOf(items[0]) == "FuncCall") call = &Body(items[0]);
    }
    if (call == nullptr) Refuse(loc, "a function in FROM");
    const json& names = ListOf(*call, "funcname");
    std::string fn = names.empty() ? std::string() : Lower(StringOf(names.back()));
    int at = LocOf(*call);
    if (fn != "tumble" && fn != "hop") {
      Refuse(at, "the function " + fn + " in FROM (the window functions TUMBLE and HOP are)");
    }
    const json& args = ListOf(*call, "args");
    std::size_t want = fn == "tumble" ? 3 : 4;
    if (args.size() != want || call->contains("agg_order") || call->contains("agg_filter") ||
        call->value("agg_star", false) || call->value("agg_distinct", false) ||
        call->contains("over")) {
      Fail(at, fn == "tumble" ? "TUMBLE takes (table, time column, INTERVAL size)"
                              : "HOP takes (table, time column, INTERVAL slide, INTERVAL size)");
    }
    // The table: a bare name.
    const json& t = args[0];
    const json& tf = TypeOf(t) == "ColumnRef" ? ListOf(Body(t), "fields") : kEmptyList;
    if (tf.size() != 1 || TypeOf(tf[0]) != "String") {
      Fail(NodeLoc(t), Upper(fn) + "'s first argument names a table or a WITH query");
    }
    json rv = {{"relname", StringOf(tf[0])}, {"location", NodeLoc(t)}};
    Relation in = PlanRangeVar(rv);
    std::int64_t slide = IntervalMicros(args[2], fn);
    std::int64_t size = fn == "tumble" ? slide : IntervalMicros(args[3], fn);
    if (slide > size) {
      Fail(ArgLoc(args[2]), "HOP's slide (" + FormatDurationMicros(slide) +
                                 ") is longer than its size (" + FormatDurationMicros(size) +
                                 "): rows between windows would be in none");
    }
    // The time column: one of the table's, a timestamp.
    const json& c = args[1];
    const json& cf = TypeOf(c) == "ColumnRef" ? ListOf(Body(c), "fields") : kEmptyList;
    if (cf.size() != 1 || TypeOf(cf[0]) != "String") {
      Fail(NodeLoc(c), Upper(fn) + "'s second argument names a column of its table");
    }
    std::string where = Upper(fn) + "'s table";
    int col = UniqueColumn(in.scope, StringOf(cf[0]), NodeLoc(c), where.c_str());
    TypeId ct = in.node->columns[static_cast<std::size_t>(col)].type;
    if (ct != TypeId::kTimestamp) {
      Fail(NodeLoc(c), "the window's time column " + StringOf(cf[0]) + " is " +
                           std::string(TypeName(ct)) + ", not a timestamp");
    }
    auto n = NewNode(NodeKind::kWindow, at);
    n->inputs = {in.node};
    n->columns = in.node->columns;
    for (const char* w : {"window_start", "window_end"}) {
      for (const auto& existing : n->columns) {
        if (SameName(existing.name, w)) {
          Fail(NodeLoc(t), "the table already has a column " + std::string(w) + ", which " +
                               Upper(fn) + " adds");
        }
      }
      n->columns.push_back(Column{w, TypeId::kTimestamp});
    }
    n->time_column = col;
    n->window_size_us = size;
    n->window_slide_us = slide;
    const json* alias = rf.contains("alias") ? &Unwrap(rf["alias"], "Alias") : nullptr;
    if (alias != nullptr && !ListOf(*alias, "colnames").empty()) {
      Refuse(at, "column names for a window function's result (" + Upper(fn) + " AS t(a, …))");
    }
    std::string qualifier =
        alias != nullptr ? (*alias).value("aliasname", StringOf(tf[0])) : StringOf(tf[0]);
    return Relation{n, OutputScope(*n, qualifier)};
  }

  static std::string Upper(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
  }

  // A window argument's position: an INTERVAL's TypeCast has none of its own in the tree.
  static int ArgLoc(const json& arg) {
    int loc = NodeLoc(arg);
    if (loc >= 0 || TypeOf(arg) != "TypeCast") return loc;
    const json& tc = Body(arg);
    if (tc.contains("typeName")) loc = LocOf(Unwrap(tc["typeName"], "TypeName"));
    if (loc < 0 && tc.contains("arg")) loc = NodeLoc(tc["arg"]);
    return loc;
  }

  // A cast to INTERVAL: INTERVAL '10' SECOND, INTERVAL '10 seconds', '10 seconds'::interval,
  // CAST('10 seconds' AS INTERVAL) (the grammar makes each a TypeCast).
  static bool IsInterval(const json& node) {
    if (TypeOf(node) != "TypeCast") return false;
    const json& tc = Body(node);
    if (!tc.contains("typeName")) return false;
    const json& tnames = ListOf(Unwrap(tc["typeName"], "TypeName"), "names");
    return !tnames.empty() && Lower(StringOf(tnames.back())) == "interval";
  }

  // An INTERVAL constant in µs (any sign): '10' SECOND (DAY, HOUR, MINUTE, SECOND), '10 seconds',
  // '1 minute 30 seconds', '-5 ms', '00:01:30' — a fixed duration (MONTH / YEAR are not).
  // `usage`: what the caller accepts, for errors.
  std::int64_t IntervalValue(const json& arg, const std::string& usage) {
    int loc = ArgLoc(arg);
    if (!IsInterval(arg)) Fail(loc, usage);
    const json& tc = Body(arg);
    const json& tn = Unwrap(tc.at("typeName"), "TypeName");
    if (TypeOf(tc.at("arg")) != "A_Const") Fail(loc, usage);
    Value v = ConstValue(Body(tc.at("arg")));
    if (v.type() != TypeId::kString) Fail(loc, usage);
    std::string text = Lower(v.string_value());
    // The unit written after the string (PostgreSQL's typmod: a bit per field).
    std::string unit;
    const json& mods = ListOf(tn, "typmods");
    if (!mods.empty()) {
      Value m = TypeOf(mods[0]) == "A_Const" ? ConstValue(Body(mods[0])) : Value();
      std::int64_t mask = m.type() == TypeId::kInt64 ? m.int_value() : -1;
      static const std::pair<std::int64_t, const char*> kUnits[] = {
          {1 << 3, "day"}, {1 << 10, "hour"}, {1 << 11, "minute"}, {1 << 12, "second"}};
      for (const auto& [bit, name] : kUnits) {
        if (mask == bit) unit = name;
      }
      if (unit.empty() || mods.size() > 1) {
        Refuse(loc, "this INTERVAL's unit (DAY, HOUR, MINUTE or SECOND are)");
      }
    }
    static const std::pair<const char*, std::int64_t> kScale[] = {
        {"microsecond", 1},    {"microseconds", 1},    {"us", 1},
        {"millisecond", 1000}, {"milliseconds", 1000}, {"ms", 1000},
        {"second", 1000000},   {"seconds", 1000000},   {"sec", 1000000},
        {"secs", 1000000},     {"s", 1000000},         {"minute", 60000000},
        {"minutes", 60000000}, {"min", 60000000},      {"mins", 60000000},
        {"hour", 3600000000},  {"hours", 3600000000},  {"h", 3600000000},
        {"day", 86400000000},  {"days", 86400000000},  {"d", 86400000000},
        {"week", 604800000000}, {"weeks", 604800000000}};
    auto scale_of = [&](const std::string& u) -> std::int64_t {
      for (const auto& [name, us] : kScale) {
        if (u == name) return us;
      }
      return 0;
    };
    auto unreadable = [&]() {
      Fail(loc, "cannot read INTERVAL '" + v.string_value() + "'" +
                    (mods.empty() ? "" : " " + Upper(unit)) + " as a duration (" + usage + ")");
    };
    // Terms "<number>[ <unit>]" (a unit after the string: one bare number) or "[-]hh:mm:ss[.f]".
    double total = 0;
    std::size_t i = 0;
    int terms = 0;
    auto skip_spaces = [&]() {
      while (i < text.size() && text[i] == ' ') ++i;
    };
    skip_spaces();
    while (i < text.size()) {
      std::size_t start = i;
      if (text[i] == '-' || text[i] == '+') ++i;
      while (i < text.size() &&
             (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.' || text[i] == ':'))
        ++i;
      std::string number = text.substr(start, i - start);
      skip_spaces();
      std::size_t unit_start = i;
      while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
      std::string written = text.substr(unit_start, i - unit_start);
      skip_spaces();
      ++terms;
      bool negative = !number.empty() && number[0] == '-';
      std::string digits = number.empty() || (number[0] != '-' && number[0] != '+')
                               ? number
                               : number.substr(1);
      if (digits.find(':') != std::string::npos) {
        // hh:mm[:ss[.f]]
        if (!written.empty() || !unit.empty()) unreadable();
        double parts[3] = {0, 0, 0};
        int n = 0;
        std::size_t p = 0;
        while (p <= digits.size() && n < 3) {
          std::size_t q = digits.find(':', p);
          if (q == std::string::npos) q = digits.size();
          std::string part = digits.substr(p, q - p);
          char* end = nullptr;
          if (part.empty()) unreadable();
          parts[n++] = std::strtod(part.c_str(), &end);
          if (end != part.c_str() + part.size()) unreadable();
          p = q + 1;
        }
        if (p <= digits.size() || n < 2) unreadable();
        double us = (parts[0] * 3600 + parts[1] * 60 + parts[2]) * 1e6;
        total += negative ? -us : us;
        continue;
      }
      if (!written.empty() && !unit.empty()) {
        Fail(loc,
             "an INTERVAL with its unit twice ('" + v.string_value() + "' " + Upper(unit) + ")");
      }
      std::int64_t scale = scale_of(written.empty() ? unit : written);
      char* end = nullptr;
      double amount = digits.empty() ? 0 : std::strtod(digits.c_str(), &end);
      if (scale == 0 || digits.empty() || end != digits.c_str() + digits.size() ||
          (!unit.empty() && terms > 1)) {
        unreadable();
      }
      double us = amount * static_cast<double>(scale);
      total += negative ? -us : us;
    }
    if (terms == 0) unreadable();
    if (std::abs(total) > 1e17 ||
        total != static_cast<double>(static_cast<std::int64_t>(total))) {
      Fail(loc, "an INTERVAL must be a whole number of microseconds (of at most 1e17): '" +
                    v.string_value() + "'");
    }
    return static_cast<std::int64_t>(total);
  }

  // A window's INTERVAL argument → µs (> 0).
  std::int64_t IntervalMicros(const json& arg, const std::string& fn) {
    std::string usage = Upper(fn) + " takes an INTERVAL ('10' SECOND, '2 minutes') here";
    if (!IsInterval(arg)) Fail(ArgLoc(arg), usage);
    std::int64_t us = IntervalValue(arg, "an INTERVAL ('10' SECOND, '2 minutes')");
    if (us < 1) Fail(ArgLoc(arg), "a window's INTERVAL must be a whole number of microseconds > 0");
    return us;
  }

  // `ts` ± an INTERVAL of `us` (signed): a timestamp. A string constant is read as a timestamp;
  // a constant timestamp is folded.
  ExprPtr AddInterval(ExprPtr ts, std::int64_t us, int loc) {
    if (ts->kind == ExprKind::kLiteral && ts->type == TypeId::kString) {
      Result<std::int64_t> t = ParseTimestamp(ts->value.string_value());
      if (!t.ok()) {
        Fail(ts->location, "'" + ts->value.string_value() +
                               "' has an INTERVAL added but is not a timestamp: " +
                               t.status().message());
      }
      ts = Literal(Value::Timestamp(*t), ts->location);
    }
    if (ts->type != TypeId::kTimestamp && ts->type != TypeId::kNull) {
      Fail(loc, "an INTERVAL is added to or subtracted from a timestamp, not " +
                    std::string(TypeName(ts->type)) + " (" + ts->ToString() + ")");
    }
    if (ts->kind == ExprKind::kLiteral && ts->type == TypeId::kTimestamp) {
      std::int64_t r = 0;
      if (__builtin_add_overflow(ts->value.int_value(), us, &r))
        Fail(loc, "a timestamp constant plus an INTERVAL overflows");
      return Literal(Value::Timestamp(r), loc);
    }
    return Call("add_interval", {ts, Literal(Value::Int64(us), loc)}, TypeId::kTimestamp, loc);
  }

  // Renames a relation's columns per `alias` (AS t(a, b)) and qualifies them with its name.
  Relation Aliased(Relation r, const json* alias, const std::string& default_name,
                   const std::vector<std::string>& column_names = {}) {
    std::string name = default_name;
    std::vector<std::string> names = column_names;
    if (alias != nullptr) {
      name = (*alias).value("aliasname", default_name);
      const json& cols = ListOf(*alias, "colnames");
      if (!cols.empty()) {
        names.clear();
        for (const auto& c : cols) names.push_back(StringOf(c));
      }
    }
    if (names.size() > r.node->columns.size()) {
      Fail(stmt_location_, name + " has " + std::to_string(r.node->columns.size()) +
                               " columns but " + std::to_string(names.size()) +
                               " names were given");
    }
    if (!names.empty()) {
      auto p = NewNode(NodeKind::kProject, r.node->location);
      for (std::size_t i = 0; i < r.node->columns.size(); ++i) {
        std::string n = i < names.size() ? names[i] : r.node->columns[i].name;
        p->exprs.push_back(
            ColumnRef(static_cast<int>(i), r.node->columns[i].name, r.node->columns[i].type));
        p->columns.push_back(Column{n, r.node->columns[i].type});
      }
      p->inputs = {r.node};
      r.node = p;
    }
    r.scope = OutputScope(*r.node, name);
    return r;
  }

  Relation PlanRangeVar(const json& rv) {
    std::string name = rv.value("relname", std::string());
    int loc = LocOf(rv);
    if (rv.contains("schemaname")) Refuse(loc, "a schema-qualified table name");
    const json* alias = rv.contains("alias") ? &Unwrap(rv["alias"], "Alias") : nullptr;
    for (std::size_t i = env_.size(); i-- > 0;) {
      if (!SameName(env_[i].name, name)) continue;
      const Cte cte = env_[i];
      std::vector<Cte> saved = env_;
      env_.resize(cte.visible);
      if (++cte_depth_ > 64) Fail(loc, "WITH queries nested more than 64 deep");
      Relation r = PlanSelect(*cte.query, false);
      --cte_depth_;
      env_ = std::move(saved);
      return Aliased(std::move(r), alias, cte.name, cte.column_names);
    }
    const TableInfo* table = catalog_.Find(name);
    if (table == nullptr) {
      std::vector<std::string> names = catalog_.Names();
      for (const auto& c : env_) names.push_back(c.name);
      std::string hint = NearestMatch(name, names);
      Fail(loc, "no table named " + name +
                    (hint.empty() ? " (tables: " + JoinNames(catalog_.Names()) + ")"
                                  : " (did you mean " + hint + "?)"));
    }
    auto n = NewNode(NodeKind::kScan, loc);
    n->table = table->name;
    n->alias = alias != nullptr ? (*alias).value("aliasname", table->name) : table->name;
    n->columns = table->columns;
    Relation r{n, OutputScope(*n, n->alias)};
    if (alias != nullptr && !ListOf(*alias, "colnames").empty())
      r = Aliased(std::move(r), alias, n->alias);
    scan_incomplete_[n] = !table->complete;
    return r;
  }

  Relation PlanJoin(const json& j) {
    std::string kind = j.value("jointype", std::string("JOIN_INNER"));
    // A JoinExpr has no position of its own: its right side's, or its condition's.
    int right_loc = NodeLoc(j.at("rarg"));
    int loc = j.contains("quals") ? NodeLoc(j["quals"]) : right_loc;
    if (j.value("isNatural", false)) Refuse(right_loc, "NATURAL JOIN");
    if (kind == "JOIN_RIGHT")
      Refuse(right_loc, "RIGHT JOIN (write it as a LEFT JOIN with the tables swapped)");
    if (kind == "JOIN_FULL") Refuse(right_loc, "FULL JOIN");
    if (kind != "JOIN_INNER" && kind != "JOIN_LEFT") Refuse(right_loc, kind);
    if (j.contains("alias")) Refuse(right_loc, "an alias on a JOIN");
    Relation left = PlanFromItem(j.at("larg"));
    Relation right = PlanFromItem(j.at("rarg"));
    JoinKind jk = kind == "JOIN_LEFT" ? JoinKind::kLeft : JoinKind::kInner;
    int nl = static_cast<int>(left.scope.size());
    int nr = static_cast<int>(right.scope.size());
    std::vector<ExprPtr> lkeys, rkeys, above;
    ExprPtr join_residual;
    std::vector<ScopeColumn> scope = left.scope;
    scope.insert(scope.end(), right.scope.begin(), right.scope.end());
    if (j.contains("usingClause")) {
      for (const auto& u : ListOf(j, "usingClause")) {
        std::string name = StringOf(u);
        int li = UniqueColumn(left.scope, name, loc, "the left side of USING");
        int ri = UniqueColumn(right.scope, name, loc, "the right side of USING");
        lkeys.push_back(ColumnRef(li, DisplayName(left.scope[li]), left.scope[li].type));
        rkeys.push_back(ColumnRef(ri, DisplayName(right.scope[ri]), right.scope[ri].type));
        CheckKeyTypes(lkeys.back(), rkeys.back(), loc);
        scope[nl + ri].hidden = true;
      }
    } else if (j.contains("quals")) {
      std::vector<ExprPtr> conjuncts;
      SplitConjuncts(ResolveExpr(j["quals"], scope, ExprContext{"JOIN … ON"}), conjuncts);
      std::vector<ExprPtr> right_only, residual;
      for (const auto& c : conjuncts) {
        if (auto key = EqualityKey(c, nl, nl + nr)) {
          lkeys.push_back(key->first);
          rkeys.push_back(Shift(key->second, -nl));
          CheckKeyTypes(lkeys.back(), rkeys.back(), c->location);
          continue;
        }
        auto [lo, hi] = ColumnRange(c);
        if (lo >= nl && jk == JoinKind::kLeft) {
          right_only.push_back(Shift(c, -nl));  // filters the right side before the join
        } else if (jk == JoinKind::kInner) {
          above.push_back(c);
        } else {
          // Decides which right rows match a left row (a left row without one passes with nulls).
          if (Contains(c, ExprKind::kSubquery))
            Refuse(c->location, "a scalar subquery in a LEFT JOIN's ON condition");
          if (c->type != TypeId::kBool && c->type != TypeId::kNull) {
            Fail(c->location, "a condition must be boolean, not " +
                                  std::string(TypeName(c->type)) + " (" + c->ToString() + ")");
          }
          residual.push_back(c);
        }
      }
      if (!right_only.empty()) right.node = FilterOf(right.node, AndOf(right_only));
      join_residual = AndOf(residual);
    } else {
      Refuse(loc, "CROSS JOIN");
    }
    if (lkeys.empty()) Refuse(loc, "a join without an equality between its two sides");
    Relation r = JoinOf(left, right, jk, std::move(lkeys), std::move(rkeys), loc);
    if (join_residual != nullptr) {
      auto n = std::make_shared<PlanNode>(*r.node);
      n->residual = join_residual;
      r.node = n;
    }
    r.scope = scope;
    if (!above.empty()) r.node = FilterOf(r.node, AndOf(above));
    return r;
  }

  void CheckKeyTypes(const ExprPtr& l, const ExprPtr& r, int loc) {
    bool ok = true;
    CommonType(l->type, r->type, &ok);
    if (!ok) {
      Fail(loc, "join key " + l->ToString() + " is " + std::string(TypeName(l->type)) + " but " +
                    r->ToString() + " is " + std::string(TypeName(r->type)));
    }
  }

  // `c` as an equality between an expression over columns [0, split) and one over [split, end).
  static std::optional<std::pair<ExprPtr, ExprPtr>> EqualityKey(const ExprPtr& c, int split,
                                                                int end) {
    if (c->kind != ExprKind::kCall || c->name != "=") return std::nullopt;
    auto side = [&](const ExprPtr& e) {
      auto [lo, hi] = ColumnRange(e);
      if (hi < 0) return 0;                    // a constant
      if (hi <= split) return 1;               // the left side
      if (lo >= split && hi <= end) return 2;  // the right side
      return 0;
    };
    int a = side(c->args[0]);
    int b = side(c->args[1]);
    if (a == 1 && b == 2) return std::make_pair(c->args[0], c->args[1]);
    if (a == 2 && b == 1) return std::make_pair(c->args[1], c->args[0]);
    return std::nullopt;
  }

  Relation JoinOf(const Relation& left, const Relation& right, JoinKind kind,
                  std::vector<ExprPtr> lkeys, std::vector<ExprPtr> rkeys, int loc) {
    auto n = NewNode(NodeKind::kJoin, loc);
    n->join = kind;
    n->left_keys = std::move(lkeys);
    n->right_keys = std::move(rkeys);
    n->columns = left.node->columns;
    n->columns.insert(n->columns.end(), right.node->columns.begin(), right.node->columns.end());
    n->inputs = {left.node, right.node};
    Relation r{n, left.scope};
    r.scope.insert(r.scope.end(), right.scope.begin(), right.scope.end());
    return r;
  }

  PlanPtr FilterOf(const PlanPtr& input, const ExprPtr& predicate) {
    if (predicate->type != TypeId::kBool && predicate->type != TypeId::kNull) {
      Fail(predicate->location, "a condition must be boolean, not " +
                                    std::string(TypeName(predicate->type)) + " (" +
                                    predicate->ToString() + ")");
    }
    auto n = NewNode(NodeKind::kFilter, predicate->location);
    n->predicate = predicate;
    n->columns = input->columns;
    n->inputs = {input};
    NoteRankBounds(predicate, input);
    return n;
  }

  static PlanPtr DistinctOf(const PlanPtr& input) {
    auto n = NewNode(NodeKind::kDistinct, input->location);
    n->columns = input->columns;
    n->inputs = {input};
    return n;
  }

  static std::vector<ScopeColumn> OutputScope(const PlanNode& n, const std::string& qualifier) {
    std::vector<ScopeColumn> out;
    for (const auto& c : n.columns) out.push_back(ScopeColumn{qualifier, c.name, c.type, false});
    return out;
  }

  // A filter bounding a TopN's rank from above (r = 1, r <= 3, r < 4, r BETWEEN 1 AND 3,
  // r IN (1, 2)) gives the TopN its limit.
  void NoteRankBounds(const ExprPtr& predicate, const PlanPtr& input) {
    std::vector<ExprPtr> conjuncts;
    SplitConjuncts(predicate, conjuncts);
    for (const auto& c : conjuncts) {
      if (c->kind != ExprKind::kCall || c->args.empty()) continue;
      std::optional<std::int64_t> bound;
      const ExprPtr* column = nullptr;
      const std::string& op = c->name;
      if (c->args.size() == 2 && c->args[0]->kind == ExprKind::kColumn && IntLiteral(c->args[1])) {
        std::int64_t v = *IntLiteral(c->args[1]);
        if (op == "=" || op == "<=") bound = v;
        if (op == "<") bound = v - 1;
        column = &c->args[0];
      } else if (c->args.size() == 2 && c->args[1]->kind == ExprKind::kColumn &&
                 IntLiteral(c->args[0])) {
        std::int64_t v = *IntLiteral(c->args[0]);
        if (op == "=" || op == ">=") bound = v;
        if (op == ">") bound = v - 1;
        column = &c->args[1];
      } else if (op == "between" && c->args[0]->kind == ExprKind::kColumn &&
                 IntLiteral(c->args[2])) {
        bound = *IntLiteral(c->args[2]);
        column = &c->args[0];
      } else if (op == "in" && c->args[0]->kind == ExprKind::kColumn) {
        std::int64_t max = std::numeric_limits<std::int64_t>::min();
        bool all = true;
        for (std::size_t i = 1; i < c->args.size(); ++i) {
          auto v = IntLiteral(c->args[i]);
          all = all && v.has_value();
          if (v) max = std::max(max, *v);
        }
        if (all) bound = max;
        column = &c->args[0];
      }
      if (!bound || column == nullptr) continue;
      // Follow the column down through projections, filters and DISTINCT to a TopN's rank.
      int col = (*column)->column;
      const PlanNode* n = input.get();
      while (true) {
        if (n->kind == NodeKind::kProject && n->exprs[col]->kind == ExprKind::kColumn) {
          col = n->exprs[col]->column;
        } else if (n->kind != NodeKind::kFilter && n->kind != NodeKind::kDistinct) {
          break;
        }
        n = n->inputs[0].get();
      }
      if (n->kind == NodeKind::kTopN && col == static_cast<int>(n->columns.size()) - 1) {
        auto it = bounds_.find(n);
        bounds_[n] = it == bounds_.end() ? *bound : std::min(it->second, *bound);
      }
    }
  }

  // Copies the plan with each TopN's limit; a TopN without one is refused.
  PlanPtr Finalize(const PlanPtr& node) {
    auto copy = std::make_shared<PlanNode>(*node);
    for (auto& in : copy->inputs) in = Finalize(in);
    if (copy->kind == NodeKind::kTopN) {
      auto it = bounds_.find(node.get());
      if (it == bounds_.end()) {
        Fail(node->location,
             copy->rank_function +
                 "() must be bounded by a filter on its value in an enclosing query (top-N per "
                 "group, e.g. WHERE " +
                 copy->columns.back().name +
                 " <= 10): ranking every row of a partition is not supported");
      }
      if (it->second < 1)
        Fail(node->location, "the filter on " + copy->columns.back().name + " keeps no rank");
      copy->limit = it->second;
    }
    return copy;
  }

  static std::string JoinNames(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  }

  // --- expressions
  // ----------------------------------------------------------------------------------

  std::vector<int> FindColumns(const std::vector<ScopeColumn>& scope, const std::string& qualifier,
                               const std::string& name) {
    std::vector<int> out;
    for (std::size_t i = 0; i < scope.size(); ++i) {
      if (!SameName(scope[i].name, name)) continue;
      if (qualifier.empty() ? scope[i].hidden : !SameName(scope[i].qualifier, qualifier)) continue;
      out.push_back(static_cast<int>(i));
    }
    return out;
  }

  int UniqueColumn(const std::vector<ScopeColumn>& scope, const std::string& name, int loc,
                   const char* where) {
    auto found = FindColumns(scope, "", name);
    if (found.size() != 1) {
      Fail(loc, "column " + name + (found.empty() ? " does not exist in " : " is ambiguous in ") +
                    where);
    }
    return found[0];
  }

  ExprPtr ResolveColumn(const json& b, const std::vector<ScopeColumn>& scope) {
    const json& fields = ListOf(b, "fields");
    int loc = LocOf(b);
    if (TypeOf(fields.back()) == "A_Star")
      Fail(loc, "* is only allowed in the select list or count(*)");
    if (fields.size() > 2) Refuse(loc, "a column name with more than one qualifier");
    std::string qualifier = fields.size() == 2 ? StringOf(fields[0]) : "";
    std::string name = StringOf(fields.back());
    auto found = FindColumns(scope, qualifier, name);
    if (found.size() == 1) {
      const ScopeColumn& c = scope[found[0]];
      return ColumnRef(found[0], DisplayName(c), c.type, loc);
    }
    std::string shown = qualifier.empty() ? name : qualifier + "." + name;
    if (found.size() > 1) {
      std::string list;
      for (int i : found) list += (list.empty() ? "" : ", ") + DisplayName(scope[i]);
      Fail(loc, "column " + shown + " is ambiguous (" + list + ")");
    }
    std::vector<std::string> candidates;
    bool qualifier_known = qualifier.empty();
    for (const auto& c : scope) {
      if (qualifier.empty() || SameName(c.qualifier, qualifier)) candidates.push_back(c.name);
      qualifier_known = qualifier_known || SameName(c.qualifier, qualifier);
    }
    std::string outer_hint;
    for (const auto* outer : outer_scopes_) {
      if (!FindColumns(*outer, qualifier, name).empty()) {
        outer_hint =
            "; it is a column of an enclosing query, and correlated subqueries are not supported";
        break;
      }
    }
    if (!qualifier_known)
      Fail(loc, "no table " + qualifier + " in FROM (for " + shown + ")" + outer_hint);
    std::string hint = NearestMatch(name, candidates);
    std::string msg = "column " + shown + " does not exist";
    if (!hint.empty()) {
      msg += " (did you mean " + hint + "?)";
    } else {
      msg += " (columns: " + JoinNames(candidates) + ")";
    }
    for (const auto& [node, incomplete] : scan_incomplete_) {
      if (incomplete && (qualifier.empty() || SameName(node->alias, qualifier))) {
        msg += "; table " + node->table + "'s columns are not all known before its data arrives";
        break;
      }
    }
    Fail(loc, msg + outer_hint);
  }

  Value ConstValue(const json& b) {
    if (b.value("isnull", false)) return Value();
    if (auto it = b.find("ival"); it != b.end()) {
      if (it->contains("ival")) return Value::Int64((*it)["ival"].get<std::int64_t>());
      // libpg_query's JSON leaves out an integer it takes for a default: 0, and also a negative
      // constant the grammar folded ("-3" comes out as {}). Read the constant where it stands.
      return Value::Int64(IntegerAt(LocOf(b)));
    }
    if (auto it = b.find("fval"); it != b.end()) {
      std::string text = it->value("fval", std::string("0"));
      std::int64_t i = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
      if (ec == std::errc() && p == text.data() + text.size()) return Value::Int64(i);
      return Value::Double(std::strtod(text.c_str(), nullptr));
    }
    if (auto it = b.find("sval"); it != b.end())
      return Value::String(it->value("sval", std::string()));
    if (auto it = b.find("boolval"); it != b.end()) return Value::Bool(it->value("boolval", false));
    if (b.contains("bsval")) Refuse(LocOf(b), "a bit-string constant");
    return Value();
  }

  // The integer constant written at `loc` of the rewritten text ("0", "-3", "- 3").
  std::int64_t IntegerAt(int loc) const {
    const std::string& text = sql_.text.rewritten();
    if (loc < 0 || loc >= static_cast<int>(text.size())) return 0;
    std::size_t i = static_cast<std::size_t>(loc);
    bool negative = false;
    if (text[i] == '-') {
      negative = true;
      ++i;
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    }
    std::int64_t v = 0;
    std::from_chars(text.data() + i, text.data() + text.size(), v);
    return negative ? -v : v;
  }

  // A call of `name`, typed by the function catalog (its error at `loc`).
  ExprPtr TypedCall(const std::string& name, std::vector<ExprPtr> args, int loc) {
    if (name == "=" || name == "<>" || name == "<" || name == "<=" || name == ">" || name == ">=" ||
        name == "between" || name == "not between" || name == "in" || name == "not in") {
      CoerceTimestampLiterals(args);
    }
    std::vector<TypeId> types;
    for (const auto& a : args) types.push_back(a->type);
    Result<TypeId> t = TypeOfCall(name, types);
    if (!t.ok()) {
      std::string msg = t.status().message();
      if (msg.starts_with("unknown function")) {
        std::vector<std::string> names = ScalarFunctionNames();
        for (const char* a : {"count", "sum", "avg", "min", "max", "median", "percentile_approx",
                              "percentile_disc"}) {
          names.emplace_back(a);
        }
        std::string hint = NearestMatch(name, names);
        if (!hint.empty()) msg += " (did you mean " + hint + "?)";
        Fail(loc, msg + " — not supported in live views");
      }
      std::string shown;
      for (const auto& a : args) shown += (shown.empty() ? "" : ", ") + a->ToString();
      Fail(loc, msg + ": " + shown);
    }
    return Call(name, std::move(args), *t, loc);
  }

  // A string literal compared with a timestamp is read as a timestamp (the batch SQL compares
  // timestamps as their 'YYYY-MM-DD HH:MM:SS' text, which orders the same way).
  void CoerceTimestampLiterals(std::vector<ExprPtr>& args) {
    bool any_ts = std::any_of(args.begin(), args.end(),
                              [](const ExprPtr& a) { return a->type == TypeId::kTimestamp; });
    if (!any_ts) return;
    for (auto& a : args) {
      if (a->kind != ExprKind::kLiteral || a->type != TypeId::kString) continue;
      Result<std::int64_t> us = ParseTimestamp(a->value.string_value());
      if (!us.ok()) {
        Fail(a->location,
             "'" + a->value.string_value() +
                 "' is compared with a timestamp but is not one: " + us.status().message());
      }
      a = Literal(Value::Timestamp(*us), a->location);
    }
  }

  static TypeId CastType(const json& type_name, int loc) {
    const json& names = ListOf(type_name, "names");
    std::string t = names.empty() ? "" : Lower(StringOf(names.back()));
    if (!ListOf(type_name, "arrayBounds").empty()) Refuse(loc, "a cast to an array type");
    if (t == "int2" || t == "int4" || t == "int8" || t == "integer" || t == "bigint" || t == "int")
      return TypeId::kInt64;
    if (t == "float4" || t == "float8" || t == "numeric" || t == "real" || t == "double")
      return TypeId::kDouble;
    if (t == "text" || t == "varchar" || t == "bpchar" || t == "string") return TypeId::kString;
    if (t == "timestamp" || t == "timestamptz") return TypeId::kTimestamp;
    if (t == "bool") return TypeId::kBool;
    Refuse(loc, "a cast to " + t);
  }

  ExprPtr ResolveExpr(const json& node, const std::vector<ScopeColumn>& scope,
                      const ExprContext& ctx) {
    std::string type = TypeOf(node);
    if (type.empty()) Fail(stmt_location_, "an empty expression");
    const json& b = Body(node);
    int loc = LocOf(b);
    auto sub = [&](const json& n) { return ResolveExpr(n, scope, ctx); };
    if (type == "ColumnRef") return ResolveColumn(b, scope);
    if (type == "A_Const") return Literal(ConstValue(b), loc);
    if (type == "TypeCast") {
      if (IsInterval(node)) {
        Refuse(ArgLoc(node), "an INTERVAL other than added to or subtracted from a timestamp");
      }
      TypeId to = CastType(Unwrap(b.at("typeName"), "TypeName"), loc);
      ExprPtr arg = sub(b.at("arg"));
      if (arg->kind == ExprKind::kLiteral && arg->type == TypeId::kString &&
          to == TypeId::kTimestamp) {
        Result<std::int64_t> us = ParseTimestamp(arg->value.string_value());
        if (!us.ok()) Fail(loc, "not a timestamp: '" + arg->value.string_value() + "'");
        return Literal(Value::Timestamp(*us), loc);
      }
      return Call("cast", {arg}, to, loc);
    }
    if (type == "BoolExpr") {
      std::string op = b.value("boolop", std::string());
      std::vector<ExprPtr> args;
      for (const auto& a : ListOf(b, "args")) args.push_back(sub(a));
      if (op == "NOT_EXPR") return TypedCall("not", {args.at(0)}, loc);
      std::string name = op == "AND_EXPR" ? "and" : "or";
      ExprPtr out = args.at(0);
      for (std::size_t i = 1; i < args.size(); ++i) out = TypedCall(name, {out, args[i]}, loc);
      return out;
    }
    if (type == "NullTest") {
      bool is_null = b.value("nulltesttype", std::string()) == "IS_NULL";
      return TypedCall(is_null ? "is null" : "is not null", {sub(b.at("arg"))}, loc);
    }
    if (type == "A_Expr") return ResolveAExpr(b, scope, ctx);
    if (type == "CaseExpr") {
      ExprPtr arg = b.contains("arg") ? sub(b["arg"]) : nullptr;
      auto e = std::make_shared<Expr>();
      e->kind = ExprKind::kCase;
      e->location = loc;
      TypeId result = TypeId::kNull;
      auto unify = [&](const ExprPtr& r) {
        bool ok = true;
        result = CommonType(result, r->type, &ok);
        if (!ok)
          Fail(r->location, "CASE mixes " + std::string(TypeName(result)) + " and " +
                                std::string(TypeName(r->type)) + " results");
      };
      for (const auto& w : ListOf(b, "args")) {
        const json& cw = Body(w);
        ExprPtr cond = sub(cw.at("expr"));
        if (arg != nullptr) cond = TypedCall("=", {arg, cond}, LocOf(cw));
        if (cond->type != TypeId::kBool && cond->type != TypeId::kNull)
          Fail(LocOf(cw), "a CASE condition must be boolean");
        ExprPtr then = sub(cw.at("result"));
        unify(then);
        e->args.push_back(cond);
        e->args.push_back(then);
      }
      ExprPtr otherwise = b.contains("defresult") ? sub(b["defresult"]) : Literal(Value(), loc);
      unify(otherwise);
      e->args.push_back(otherwise);
      e->type = result;
      return e;
    }
    if (type == "CoalesceExpr") {
      std::vector<ExprPtr> args;
      for (const auto& a : ListOf(b, "args")) args.push_back(sub(a));
      return TypedCall("coalesce", std::move(args), loc);
    }
    if (type == "FuncCall") return ResolveFuncCall(b, scope, ctx);
    if (type == "SubLink") {
      std::string kind = b.value("subLinkType", std::string());
      if (kind == "EXISTS_SUBLINK") Refuse(loc, "EXISTS (SELECT …)");
      if (kind == "ANY_SUBLINK") Refuse(loc, "IN (SELECT …)");
      if (kind != "EXPR_SUBLINK") Refuse(loc, "a subquery used as " + kind);
      return ResolveScalarSubquery(b, scope, loc);
    }
    if (type == "ParamRef") Refuse(loc, "a query parameter");
    if (type == "BooleanTest") Refuse(loc, "IS TRUE / IS FALSE / IS UNKNOWN");
    if (type == "MinMaxExpr") Refuse(loc, "GREATEST / LEAST");
    if (type == "SQLValueFunction")
      Refuse(loc,
             "CURRENT_DATE / CURRENT_TIMESTAMP / CURRENT_USER (a value that changes without the "
             "data)");
    if (type == "CollateClause") Refuse(loc, "COLLATE");
    if (type == "A_ArrayExpr" || type == "A_Indirection") Refuse(loc, "arrays and subscripts");
    Refuse(loc, type);
  }

  ExprPtr ResolveAExpr(const json& b, const std::vector<ScopeColumn>& scope,
                       const ExprContext& ctx) {
    std::string kind = b.value("kind", std::string());
    int loc = LocOf(b);
    const json& names = ListOf(b, "name");
    std::string op = names.empty() ? "" : StringOf(names.back());
    auto sub = [&](const json& n) { return ResolveExpr(n, scope, ctx); };
    auto list = [&](const json& n) {
      std::vector<ExprPtr> out;
      for (const auto& item : ListOf(Body(n), "items")) out.push_back(sub(item));
      return out;
    };
    if (kind == "AEXPR_OP") {
      if (!b.contains("lexpr")) {
        ExprPtr arg = sub(b.at("rexpr"));
        if (op == "-") {
          if (arg->kind == ExprKind::kLiteral && arg->type == TypeId::kInt64)
            return Literal(Value::Int64(-arg->value.int_value()), loc);
          if (arg->kind == ExprKind::kLiteral && arg->type == TypeId::kDouble)
            return Literal(Value::Double(-arg->value.double_value()), loc);
          return TypedCall("neg", {arg}, loc);
        }
        if (op == "+") return arg;
        Refuse(loc, "the prefix operator " + op);
      }
      // timestamp ± INTERVAL, INTERVAL + timestamp.
      if ((op == "+" || op == "-") && IsInterval(b.at("rexpr"))) {
        std::int64_t us = IntervalValue(b.at("rexpr"), kIntervalUsage);
        return AddInterval(sub(b.at("lexpr")), op == "-" ? -us : us, loc);
      }
      if (op == "+" && IsInterval(b.at("lexpr"))) {
        return AddInterval(sub(b.at("rexpr")), IntervalValue(b.at("lexpr"), kIntervalUsage), loc);
      }
      if (op == "-" && IsInterval(b.at("lexpr"))) {
        Fail(loc, "an INTERVAL minus a value (a timestamp minus an INTERVAL is supported)");
      }
      static const std::set<std::string> kOps = {"+",  "-", "*",  "/", "%",  "=",
                                                 "<>", "<", "<=", ">", ">=", "||"};
      if (op == "!=") op = "<>";
      if (kOps.count(op) == 0) Refuse(loc, "the operator " + op);
      return TypedCall(op, {sub(b.at("lexpr")), sub(b.at("rexpr"))}, loc);
    }
    if (kind == "AEXPR_IN") {
      std::vector<ExprPtr> args = {sub(b.at("lexpr"))};
      for (auto& e : list(b.at("rexpr"))) args.push_back(e);
      return TypedCall(op == "=" ? "in" : "not in", std::move(args), loc);
    }
    if (kind == "AEXPR_BETWEEN" || kind == "AEXPR_NOT_BETWEEN") {
      std::vector<ExprPtr> args = {sub(b.at("lexpr"))};
      for (auto& e : list(b.at("rexpr"))) args.push_back(e);
      return TypedCall(kind == "AEXPR_BETWEEN" ? "between" : "not between", std::move(args), loc);
    }
    if (kind == "AEXPR_LIKE") {
      return TypedCall(op == "~~" ? "like" : "not like", {sub(b.at("lexpr")), sub(b.at("rexpr"))},
                       loc);
    }
    if (kind == "AEXPR_NULLIF")
      return TypedCall("nullif", {sub(b.at("lexpr")), sub(b.at("rexpr"))}, loc);
    if (kind == "AEXPR_ILIKE") Refuse(loc, "ILIKE");
    if (kind == "AEXPR_DISTINCT" || kind == "AEXPR_NOT_DISTINCT")
      Refuse(loc, "IS [NOT] DISTINCT FROM");
    if (kind == "AEXPR_BETWEEN_SYM" || kind == "AEXPR_NOT_BETWEEN_SYM")
      Refuse(loc, "BETWEEN SYMMETRIC");
    if (kind == "AEXPR_SIMILAR") Refuse(loc, "SIMILAR TO");
    if (kind == "AEXPR_OP_ANY" || kind == "AEXPR_OP_ALL") Refuse(loc, "ANY / ALL");
    Refuse(loc, kind);
  }

  ExprPtr ResolveFuncCall(const json& b, const std::vector<ScopeColumn>& scope,
                          const ExprContext& ctx) {
    int loc = LocOf(b);
    const json& names = ListOf(b, "funcname");
    std::string name = Lower(StringOf(names.back()));
    if (names.size() > 1 && Lower(StringOf(names[0])) != "pg_catalog")
      Refuse(loc, "a schema-qualified function");
    if (name == "substring") name = "substr";
    // The grammar reads TRIM(x) as pg_catalog.btrim(x) (TRIM(LEADING …) as ltrim, refused):
    // SQLite's trim.
    if (name == "btrim" && b.value("funcformat", std::string()) == "COERCE_SQL_SYNTAX" &&
        ListOf(b, "args").size() == 1) {
      name = "trim";
    }
    if (name == "extract" || name == "date_part") {
      // EXTRACT(YEAR FROM x): year(x), and so on.
      const json& args = ListOf(b, "args");
      if (args.size() == 2 && TypeOf(args[0]) == "A_Const" && Body(args[0]).contains("sval")) {
        std::string field = Lower(ConstValue(Body(args[0])).string_value());
        if (field == "year" || field == "month" || field == "day" || field == "hour" ||
            field == "minute" || field == "second") {
          return TypedCall(field, {ResolveExpr(args[1], scope, ctx)}, loc);
        }
        Refuse(loc, "EXTRACT(" + field + " …)");
      }
    }
    if (b.contains("over")) {
      const json& over = Unwrap(b["over"], "WindowDef");
      if (!IsRankFunction(name))
        Refuse(loc,
               name + "() OVER (…) (of window functions, only rank, dense_rank and row_number)");
      if (!ctx.windows) Fail(loc, std::string("window functions are not allowed in ") + ctx.clause);
      if (!ListOf(b, "args").empty()) Fail(loc, name + "() takes no arguments");
      if (over.contains("refname") || over.contains("name")) Refuse(loc, "a named window");
      auto e = std::make_shared<Expr>();
      e->kind = ExprKind::kWindow;
      e->name = name;
      e->type = TypeId::kInt64;
      e->location = loc;
      ExprContext inner{"a window's PARTITION BY / ORDER BY", ctx.aggregates, false};
      for (const auto& p : ListOf(over, "partitionClause"))
        e->args.push_back(ResolveExpr(p, scope, inner));
      for (const auto& o : ListOf(over, "orderClause")) {
        e->order.push_back(MakeSortKey(Body(o), ResolveExpr(Body(o).at("node"), scope, inner)));
      }
      if (e->order.empty() && name != "row_number")
        Fail(loc, name + "() needs an ORDER BY in its OVER clause");
      if (e->order.empty())
        Fail(loc,
             "row_number() needs an ORDER BY in its OVER clause (which rows it keeps would be "
             "arbitrary)");
      return e;
    }
    if (IsRankFunction(name))
      Fail(loc, name + "() needs an OVER (PARTITION BY … ORDER BY …) clause");
    if (IsAggregate(name)) {
      if (!ctx.aggregates)
        Fail(loc, "aggregate functions are not allowed in " + std::string(ctx.clause));
      const json& args = ListOf(b, "args");
      auto e = std::make_shared<Expr>();
      e->kind = ExprKind::kAggregate;
      e->name = name;
      e->location = loc;
      e->distinct = b.value("agg_distinct", false);
      e->star = b.value("agg_star", false);
      ExprContext inner{"an aggregate's argument", false, false};
      if (b.value("agg_within_group", false)) {
        if (name != "percentile_disc") Refuse(loc, name + "(…) WITHIN GROUP");
        const json& order = ListOf(b, "agg_order");
        if (args.size() != 1 || order.size() != 1)
          Fail(loc,
               "percentile_disc(fraction) WITHIN GROUP (ORDER BY x) takes one fraction and one "
               "ORDER BY");
        e->fraction = Fraction(ResolveExpr(args[0], scope, inner), name);
        SortKey k =
            MakeSortKey(Body(order[0]), ResolveExpr(Body(order[0]).at("node"), scope, inner));
        if (k.descending) Refuse(loc, "percentile_disc … ORDER BY … DESC");
        e->args = {k.expr};
      } else {
        if (name == "percentile_disc")
          Fail(loc,
               "percentile_disc is written percentile_disc(fraction) WITHIN GROUP (ORDER BY x)");
        if (!ListOf(b, "agg_order").empty()) Refuse(loc, "ORDER BY inside an aggregate");
        if (e->star) {
          if (name != "count") Fail(loc, name + "(*) is not an aggregate; only count(*)");
        } else {
          std::size_t want = name == "percentile_approx" ? 2 : 1;
          if (args.size() < want || args.size() > (name == "percentile_approx" ? 3u : 1u)) {
            if (name == "min" || name == "max")
              Refuse(loc, name + " with " + std::to_string(args.size()) +
                              " arguments (SQLite's scalar " + name + ")");
            Fail(loc,
                 name + " takes " + std::to_string(want) + " argument" + (want > 1 ? "s" : ""));
          }
          e->args.push_back(ResolveExpr(args[0], scope, inner));
          if (name == "percentile_approx") {
            e->fraction = Fraction(ResolveExpr(args[1], scope, inner), name);
            if (args.size() == 3 && !IntLiteral(ResolveExpr(args[2], scope, inner))) {
              Fail(NodeLoc(args[2]), "percentile_approx's accuracy must be an integer constant");
            }
          }
        }
      }
      if (e->distinct && name != "count" && name != "sum" && name != "avg" && name != "min" &&
          name != "max") {
        Refuse(loc, name + "(DISTINCT …)");
      }
      if (b.contains("agg_filter")) {
        e->filter = ResolveExpr(b["agg_filter"], scope, ExprContext{"FILTER (WHERE …)"});
        if (e->filter->type != TypeId::kBool && e->filter->type != TypeId::kNull)
          Fail(loc, "FILTER (WHERE …) must be boolean");
      }
      Result<TypeId> t = TypeOfAggregate(name, e->args.empty() ? TypeId::kNull : e->args[0]->type);
      if (!t.ok()) Fail(loc, t.status().message());
      e->type = *t;
      return e;
    }
    if (b.value("agg_star", false)) Fail(loc, name + "(*) is not an aggregate; only count(*)");
    if (b.value("agg_distinct", false))
      Fail(loc, "DISTINCT in " + name + "(), which is not an aggregate");
    if (b.contains("agg_filter")) Fail(loc, "FILTER in " + name + "(), which is not an aggregate");
    std::vector<ExprPtr> args;
    for (const auto& a : ListOf(b, "args")) args.push_back(ResolveExpr(a, scope, ctx));
    return TypedCall(name, std::move(args), loc);
  }

  static double Fraction(const ExprPtr& e, const std::string& name) {
    if (e->kind != ExprKind::kLiteral || !IsNumeric(e->type))
      Fail(e->location, name + "'s fraction must be a numeric constant");
    double f = e->value.AsDouble();
    if (f < 0 || f > 1) Fail(e->location, name + "'s fraction must be between 0 and 1");
    return f;
  }

  ExprPtr ResolveScalarSubquery(const json& b, const std::vector<ScopeColumn>& scope, int loc) {
    outer_scopes_.push_back(&scope);
    Relation r = PlanSelect(Body(b.at("subselect")), false);
    outer_scopes_.pop_back();
    if (r.node->columns.size() != 1) {
      Fail(loc, "a scalar subquery must return one column, not " +
                    std::to_string(r.node->columns.size()));
    }
    const PlanNode* n = r.node.get();
    while (n->kind == NodeKind::kProject || n->kind == NodeKind::kFilter) n = n->inputs[0].get();
    if (n->kind != NodeKind::kAggregate || !n->group.empty()) {
      Refuse(
          loc,
          "a scalar subquery that is not an aggregate without GROUP BY (it must return one row)");
    }
    auto e = std::make_shared<Expr>();
    e->kind = ExprKind::kSubquery;
    e->type = r.node->columns[0].type;
    e->location = loc;
    e->subquery = Finalize(r.node);
    return e;
  }

  const ParsedSql& sql_;
  const SchemaCatalog& catalog_;
  int stmt_location_ = 0;
  std::vector<Cte> env_;
  int cte_depth_ = 0;
  std::map<const PlanNode*, std::int64_t> bounds_;  // TopN → the bound a filter put on its rank
  // Scan → its table's schema is incomplete. Owning: a scan of a subquery whose plan was dropped
  // is still named in a later error (a raw pointer here was read after its node was freed).
  std::map<std::shared_ptr<const PlanNode>, bool> scan_incomplete_;
  std::vector<const std::vector<ScopeColumn>*> outer_scopes_;  // for correlated-subquery messages
};

}  // namespace

void SchemaCatalog::Add(TableInfo table) {
  std::string key = Lower(table.name);
  tables_[key] = std::move(table);
}

const TableInfo* SchemaCatalog::Find(std::string_view name) const {
  auto it = tables_.find(Lower(name));
  return it == tables_.end() ? nullptr : &it->second;
}

std::vector<std::string> SchemaCatalog::Names() const {
  std::vector<std::string> out;
  for (const auto& [k, t] : tables_) out.push_back(t.name);
  return out;
}

Result<PlanPtr> PlanStatement(const ParsedSql& sql, std::size_t index,
                              const SchemaCatalog& catalog) {
  if (index >= sql.statements.size())
    return InvalidArgument("no statement " + std::to_string(index + 1));
  try {
    Planner planner(sql, catalog);
    return planner.PlanTop(sql.statements[index]);
  } catch (const SqlError& e) {
    return InvalidArgument(
        sql.text.Location(e.location < 0 ? sql.statements[index].location : e.location) + ": " +
        e.message);
  } catch (const json::exception& e) {
    return InvalidArgument(sql.text.Location(sql.statements[index].location) +
                           ": unexpected parse tree shape (" + e.what() + ")");
  }
}

}  // namespace pinstream::views
