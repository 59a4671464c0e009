#include "views/lowering.h"

#include "views/scalar_expr.h"
#include "views/view_operators.h"

namespace pinstream::views {
namespace {

class Select : public Operator {
 public:
  Select(std::vector<std::string> names, std::vector<TypeId> types)
      : names_(std::move(names)), types_(std::move(types)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      int c = batch.FindColumn(names_[i]);
      if (c < 0) {
        // A column absent from a batch is all nulls (a table's older versions may lack it).
        batch.AddColumn(names_[i], pinstream::Column::Nulls(types_[i], batch.num_rows()));
        c = static_cast<int>(batch.num_columns()) - 1;
      }
      TypeId t = batch.column(static_cast<std::size_t>(c)).type();
      if (t != types_[i] && t != TypeId::kNull && types_[i] != TypeId::kNull) {
        return InvalidArgument("column " + names_[i] + " is " + std::string(TypeName(t)) +
                               " in the table but " + std::string(TypeName(types_[i])) +
                               " in the view's plan");
      }
      order.push_back(static_cast<std::size_t>(c));
    }
    batch.SelectColumns(order);
    return Status::Ok();
  }

 private:
  std::vector<std::string> names_;
  std::vector<TypeId> types_;
};

class SelectSpec : public OperatorSpec {
 public:
  SelectSpec(std::vector<std::string> names, std::vector<TypeId> types)
      : names_(std::move(names)), types_(std::move(types)) {}
  std::string_view kind() const override { return "view_select"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext&) const override {
    return std::unique_ptr<Operator>(new Select(names_, types_));
  }

 private:
  std::vector<std::string> names_;
  std::vector<TypeId> types_;
};

struct NotLowered {
  int location;
  std::string construct;
};

class Lowering {
 public:
  explicit Lowering(LoweredView* out) : out_(out) {}

  void Lower(const PlanNode& n, bool root) {
    switch (n.kind) {
      case NodeKind::kScan: {
        if (!out_->table.empty() && out_->table != n.table) {
          throw NotLowered{n.location, "a view over several tables (a join or a union)"};
        }
        out_->table = n.table;
        std::vector<std::string> names;
        std::vector<TypeId> types;
        std::string cols;
        for (const auto& c : n.columns) {
          // The plan names a scan's columns alias.column; the table's are the bare names.
          std::string name = c.name.substr(c.name.rfind('.') + 1);
          names.push_back(name);
          types.push_back(c.type);
          cols += (cols.empty() ? "" : ", ") + name;
        }
        Add(MakeViewSelect(names, types), "source: changes of table " + n.table + " (" + cols + ")");
        return;
      }
      case NodeKind::kFilter:
        Lower(*n.inputs.at(0), false);
        Add(MakeViewFilter(Compile(n.predicate)), "filter " + n.predicate->ToString());
        return;
      case NodeKind::kProject: {
        Lower(*n.inputs.at(0), false);
        std::vector<ScalarExpr> exprs;
        std::vector<std::string> names;
        std::string text;
        for (std::size_t i = 0; i < n.exprs.size(); ++i) {
          exprs.push_back(Compile(n.exprs[i]));
          names.push_back(n.columns[i].name);
          text += (text.empty() ? "" : ", ") + n.exprs[i]->ToString() + " AS " + names.back();
        }
        Add(MakeViewProject(std::move(exprs), std::move(names)), "project " + text);
        return;
      }
      case NodeKind::kAggregate: {
        Lower(*n.inputs.at(0), false);
        // The aggregate's input: group keys (named as its output), then arguments and FILTERs.
        std::vector<ScalarExpr> exprs;
        std::vector<std::string> names;
        ViewAggregateConfig c;
        c.groups = static_cast<int>(n.group.size());
        for (std::size_t i = 0; i < n.group.size(); ++i) {
          exprs.push_back(Compile(n.group[i]));
          names.push_back(n.columns[i].name);
          c.group_types.push_back(n.columns[i].type);
        }
        std::string text;
        for (std::size_t k = 0; k < n.aggregates.size(); ++k) {
          const AggregateCall& a = n.aggregates[k];
          ViewAggregateCall call;
          call.function = a.function;
          call.distinct = a.distinct;
          call.fraction = a.fraction;
          call.type = a.type;
          if (a.arg != nullptr) {
            call.arg = static_cast<int>(exprs.size());
            exprs.push_back(Compile(a.arg));
            names.push_back("_arg" + std::to_string(k));
          }
          if (a.filter != nullptr) {
            call.filter = static_cast<int>(exprs.size());
            exprs.push_back(Compile(a.filter));
            names.push_back("_filter" + std::to_string(k));
          }
          c.calls.push_back(call);
          text += (text.empty() ? "" : ", ") + a.ToString();
        }
        for (const auto& col : n.columns) c.names.push_back(col.name);
        std::string keys;
        for (const auto& g : n.group) keys += (keys.empty() ? "" : ", ") + g->ToString();
        c.fingerprint = keys + " | " + text;
        Add(MakeViewProject(std::move(exprs), std::move(names)), "project the group keys and the aggregates' arguments");
        Add(MakeViewAggregate(std::move(c)),
            "aggregate " + (keys.empty() ? std::string("(one global row)") : "group by " + keys) +
                ": " + text);
        return;
      }
      case NodeKind::kDistinct: {
        Lower(*n.inputs.at(0), false);
        std::vector<std::string> names;
        for (const auto& col : n.columns) names.push_back(col.name);
        Add(MakeViewDistinct(names), "distinct");
        return;
      }
      case NodeKind::kSort:
        if (!root) throw NotLowered{n.location, "ORDER BY inside a query"};
        Lower(*n.inputs.at(0), false);
        out_->graph.push_back("(ORDER BY applies when the view's table is read)");
        return;
      case NodeKind::kJoin:
        throw NotLowered{n.location, "a join"};
      case NodeKind::kTopN:
        throw NotLowered{n.location, "a top-N (" + n.rank_function + " with a bound on it)"};
      case NodeKind::kUnionAll:
        throw NotLowered{n.location, "UNION ALL"};
      case NodeKind::kLimit:
        throw NotLowered{n.location, "LIMIT / OFFSET"};
    }
  }

 private:
  ScalarExpr Compile(const ExprPtr& e) {
    if (e->kind == ExprKind::kSubquery) throw NotLowered{e->location, "a scalar subquery"};
    for (const auto& a : e->args) {
      if (a->kind == ExprKind::kSubquery) throw NotLowered{a->location, "a scalar subquery"};
    }
    Result<ScalarExpr> c = ScalarExpr::Compile(e);
    if (!c.ok()) throw NotLowered{e->location, c.status().message()};
    return *std::move(c);
  }

  void Add(std::shared_ptr<const OperatorSpec> op, std::string line) {
    out_->operators.push_back(std::move(op));
    out_->graph.push_back(std::move(line));
  }

  LoweredView* out_;
};

}  // namespace

std::shared_ptr<const OperatorSpec> MakeViewSelect(std::vector<std::string> names,
                                                   std::vector<TypeId> types) {
  return std::make_shared<SelectSpec>(std::move(names), std::move(types));
}

Result<LoweredView> LowerPlan(const ParsedSql& sql, std::size_t index, const PlanNode& plan) {
  LoweredView out;
  try {
    Lowering(&out).Lower(plan, true);
  } catch (const NotLowered& e) {
    int at = e.location >= 0 ? e.location : sql.statements.at(index).location;
    std::string what = e.construct;
    if (what.find("not supported in live views") == std::string::npos) {
      what += " is not lowered to a running view yet";
    }
    return InvalidArgument(sql.text.Location(at) + ": " + what);
  }
  return out;
}

}  // namespace pinstream::views
