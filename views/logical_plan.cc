#include "views/logical_plan.h"

#include <set>

#include "engine/time_util.h"

namespace pinstream::views {
namespace {

const std::set<std::string, std::less<>> kInfix = {"+",  "-",  "*",    "/",       "%",  "=",
                                                   "<>", "<",  "<=",   ">",       ">=", "and",
                                                   "or", "||", "like", "not like"};

std::string Join(const std::vector<ExprPtr>& exprs, std::string_view sep = ", ") {
  std::string out;
  for (const auto& e : exprs) out += (out.empty() ? "" : std::string(sep)) + e->ToString();
  return out;
}

std::string SortText(const std::vector<SortKey>& keys) {
  std::string out;
  for (const auto& k : keys) {
    out += (out.empty() ? "" : ", ") + k.expr->ToString() + (k.descending ? " DESC" : "");
  }
  return out;
}

std::string LiteralText(const Value& v) {
  switch (v.type()) {
    case TypeId::kNull:
      return "NULL";
    case TypeId::kString:
      return "'" + v.string_value() + "'";
    case TypeId::kTimestamp:
      return "TIMESTAMP '" + v.ToString() + "'";
    case TypeId::kBool:
      return v.bool_value() ? "TRUE" : "FALSE";
    default:
      return v.ToString();
  }
}

// |us| as INTERVAL text: "10 seconds", "1500 milliseconds", "2 days".
std::string IntervalText(std::int64_t us) {
  std::uint64_t a = us < 0 ? 0 - static_cast<std::uint64_t>(us) : static_cast<std::uint64_t>(us);
  static const std::pair<std::uint64_t, const char*> kUnits[] = {{86400000000ULL, "day"},
                                                                 {3600000000ULL, "hour"},
                                                                 {60000000ULL, "minute"},
                                                                 {1000000ULL, "second"},
                                                                 {1000ULL, "millisecond"},
                                                                 {1ULL, "microsecond"}};
  for (const auto& [scale, unit] : kUnits) {
    if (a % scale == 0) {
      std::uint64_t n = a / scale;
      return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
    }
  }
  return std::to_string(a) + " microseconds";
}

bool SameExprs(const std::vector<ExprPtr>& a, const std::vector<ExprPtr>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i]->SameAs(*b[i])) return false;
  }
  return true;
}

}  // namespace

bool Expr::SameAs(const Expr& o) const {
  if (kind != o.kind || type != o.type) return false;
  switch (kind) {
    case ExprKind::kColumn:
      return column == o.column;
    case ExprKind::kLiteral:
      return value.type() == o.value.type() && value == o.value;
    case ExprKind::kSubquery:
      return subquery == o.subquery;
    case ExprKind::kWindow:
      if (order.size() != o.order.size()) return false;
      for (std::size_t i = 0; i < order.size(); ++i) {
        if (order[i].descending != o.order[i].descending ||
            !order[i].expr->SameAs(*o.order[i].expr))
          return false;
      }
      [[fallthrough]];
    default:
      if (name != o.name || distinct != o.distinct || star != o.star || fraction != o.fraction)
        return false;
      if ((filter == nullptr) != (o.filter == nullptr)) return false;
      if (filter != nullptr && !filter->SameAs(*o.filter)) return false;
      return SameExprs(args, o.args);
  }
}

std::string Expr::ToString() const {
  switch (kind) {
    case ExprKind::kColumn:
      return name;
    case ExprKind::kLiteral:
      return LiteralText(value);
    case ExprKind::kSubquery:
      return "(scalar subquery: " + (subquery->columns.empty() ? "" : subquery->columns[0].name) +
             ")";
    case ExprKind::kCase: {
      std::string out = "CASE";
      std::size_t i = 0;
      for (; i + 1 < args.size(); i += 2) {
        out += " WHEN " + args[i]->ToString() + " THEN " + args[i + 1]->ToString();
      }
      if (i < args.size()) out += " ELSE " + args[i]->ToString();
      return out + " END";
    }
    case ExprKind::kAggregate: {
      std::string out = name + "(" + (distinct ? "DISTINCT " : "") + (star ? "*" : Join(args));
      if (name == "percentile_approx") out += ", " + Value::Double(fraction).ToString();
      out += ")";
      if (filter != nullptr) out += " FILTER (WHERE " + filter->ToString() + ")";
      return out;
    }
    case ExprKind::kWindow:
      return name + "() OVER (PARTITION BY " + Join(args) + " ORDER BY " + SortText(order) + ")";
    case ExprKind::kCall:
      break;
  }
  if (kInfix.count(name) > 0 && args.size() == 2) {
    return "(" + args[0]->ToString() + " " + name + " " + args[1]->ToString() + ")";
  }
  if (name == "add_interval" && args.size() == 2) {  // timestamp ± INTERVAL (µs)
    std::int64_t us = args[1]->value.int_value();
    return "(" + args[0]->ToString() + (us < 0 ? " - " : " + ") + "INTERVAL '" +
           IntervalText(us) + "')";
  }
  if (name == "not") return "NOT " + args[0]->ToString();
  if (name == "neg") return "-" + args[0]->ToString();
  if (name == "is null" || name == "is not null") return args[0]->ToString() + " " + name;
  if (name == "between" || name == "not between") {
    return "(" + args[0]->ToString() + " " + name + " " + args[1]->ToString() + " AND " +
           args[2]->ToString() + ")";
  }
  if (name == "in" || name == "not in") {
    return args[0]->ToString() + " " + name + " (" +
           Join(std::vector<ExprPtr>(args.begin() + 1, args.end())) + ")";
  }
  if (name == "cast")
    return "CAST(" + args[0]->ToString() + " AS " + std::string(TypeName(type)) + ")";
  return name + "(" + Join(args) + ")";
}

std::string AggregateCall::ToString() const {
  std::string out = function + "(" + (distinct ? "DISTINCT " : "") + (arg ? arg->ToString() : "*");
  if (function == "percentile_approx" || function == "percentile_disc") {
    out += ", " + Value::Double(fraction).ToString();
  }
  out += ")";
  if (filter != nullptr) out += " FILTER (WHERE " + filter->ToString() + ")";
  return out;
}

std::string_view NodeKindName(NodeKind kind) {
  switch (kind) {
    case NodeKind::kScan:
      return "Scan";
    case NodeKind::kFilter:
      return "Filter";
    case NodeKind::kProject:
      return "Project";
    case NodeKind::kJoin:
      return "Join";
    case NodeKind::kAggregate:
      return "Aggregate";
    case NodeKind::kDistinct:
      return "Distinct";
    case NodeKind::kTopN:
      return "TopN";
    case NodeKind::kUnionAll:
      return "UnionAll";
    case NodeKind::kWindow:
      return "Window";
    case NodeKind::kSort:
      return "Sort";
    case NodeKind::kLimit:
      return "Limit";
  }
  return "?";
}

namespace {

std::string Details(const PlanNode& n) {
  switch (n.kind) {
    case NodeKind::kScan:
      return n.table + (n.alias.empty() || n.alias == n.table ? "" : " AS " + n.alias);
    case NodeKind::kFilter:
      return n.predicate->ToString();
    case NodeKind::kProject: {
      std::string out;
      for (std::size_t i = 0; i < n.exprs.size(); ++i) {
        std::string e = n.exprs[i]->ToString();
        out += (i ? ", " : "") + e + (e == n.columns[i].name ? "" : " AS " + n.columns[i].name);
      }
      return out;
    }
    case NodeKind::kJoin: {
      std::string out = n.join == JoinKind::kInner ? "inner on " : "left on ";
      for (std::size_t i = 0; i < n.left_keys.size(); ++i) {
        out +=
            (i ? " AND " : "") + n.left_keys[i]->ToString() + " = " + n.right_keys[i]->ToString();
      }
      if (n.residual != nullptr) out += " AND " + n.residual->ToString();
      return out;
    }
    case NodeKind::kAggregate: {
      std::string out = n.group.empty() ? "global" : "group by " + Join(n.group);
      std::string aggs;
      for (std::size_t i = 0; i < n.aggregates.size(); ++i) {
        aggs += (i ? ", " : "") + n.aggregates[i].ToString() + " AS " +
                n.columns[n.group.size() + i].name;
      }
      return aggs.empty() ? out : out + ": " + aggs;
    }
    case NodeKind::kTopN:
      return n.rank_function + "() over (" +
             (n.partition.empty() ? "" : "partition by " + Join(n.partition) + " ") + "order by " +
             SortText(n.order) + ") <= " + std::to_string(n.limit) + " AS " + n.columns.back().name;
    case NodeKind::kSort:
      return SortText(n.order);
    case NodeKind::kLimit:
      return std::to_string(n.limit) + (n.offset ? " offset " + std::to_string(n.offset) : "");
    case NodeKind::kWindow: {
      auto us = [](std::int64_t v) { return FormatDurationMicros(v); };
      std::string time = n.inputs.at(0)->columns.at(static_cast<std::size_t>(n.time_column)).name;
      return n.window_slide_us == n.window_size_us
                 ? "TUMBLE(" + time + ", " + us(n.window_size_us) + ")"
                 : "HOP(" + time + ", slide " + us(n.window_slide_us) + ", size " +
                       us(n.window_size_us) + ")";
    }
    case NodeKind::kDistinct:
    case NodeKind::kUnionAll:
      return "";
  }
  return "";
}

std::string ColumnList(const std::vector<Column>& columns, std::size_t from = 0) {
  std::string out;
  for (std::size_t i = from; i < columns.size(); ++i) {
    out += (i > from ? ", " : "") + columns[i].name + ": " + std::string(TypeName(columns[i].type));
  }
  return out;
}

void CollectSubqueries(const ExprPtr& e, std::vector<const PlanNode*>& out) {
  if (e == nullptr) return;
  if (e->kind == ExprKind::kSubquery) out.push_back(e->subquery.get());
  for (const auto& a : e->args) CollectSubqueries(a, out);
  for (const auto& k : e->order) CollectSubqueries(k.expr, out);
  CollectSubqueries(e->filter, out);
}

void ExplainInto(const PlanNode& n, int depth, std::string& out) {
  std::string indent(2 * depth, ' ');
  out += indent + std::string(NodeKindName(n.kind));
  std::string details = Details(n);
  if (!details.empty()) out += " " + details;
  // The output columns where a node makes new ones; filters, sorts, limits and DISTINCT pass
  // their input's through, a join concatenates its inputs'.
  switch (n.kind) {
    case NodeKind::kScan:
    case NodeKind::kProject:
    case NodeKind::kAggregate:
    case NodeKind::kUnionAll:
      out += "  → (" + ColumnList(n.columns) + ")";
      break;
    case NodeKind::kTopN:
      out += "  → (input, " + ColumnList(n.columns, n.columns.size() - 1) + ")";
      break;
    case NodeKind::kWindow:
      out += "  → (input, " + ColumnList(n.columns, n.columns.size() - 2) + ")";
      break;
    case NodeKind::kJoin:
      out += "  → (left, right: " + std::to_string(n.columns.size()) + " columns)";
      break;
    default:
      break;
  }
  out += "\n";
  std::vector<const PlanNode*> subqueries;
  CollectSubqueries(n.predicate, subqueries);
  for (const auto& e : n.exprs) CollectSubqueries(e, subqueries);
  for (const auto* sq : subqueries) {
    out += indent + "  scalar subquery:\n";
    ExplainInto(*sq, depth + 2, out);
  }
  for (const auto& in : n.inputs) ExplainInto(*in, depth + 1, out);
}

}  // namespace

std::string Explain(const PlanNode& root) {
  std::string out;
  ExplainInto(root, 0, out);
  return out;
}

ExprPtr ColumnRef(int column, std::string name, TypeId type, int location) {
  auto e = std::make_shared<Expr>();
  e->kind = ExprKind::kColumn;
  e->column = column;
  e->name = std::move(name);
  e->type = type;
  e->location = location;
  return e;
}

ExprPtr Literal(Value value, int location) {
  auto e = std::make_shared<Expr>();
  e->kind = ExprKind::kLiteral;
  e->type = value.type();
  e->value = std::move(value);
  e->location = location;
  return e;
}

}  // namespace pinstream::views
