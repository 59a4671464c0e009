#include "views/lowering.h"

#include <algorithm>

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

// A spec reading named inputs of its query; the rest is the wrapped spec's.
class WithInputsSpec : public OperatorSpec {
 public:
  WithInputsSpec(std::shared_ptr<const OperatorSpec> spec, std::vector<std::string> inputs)
      : spec_(std::move(spec)), inputs_(std::move(inputs)) {}
  std::string_view kind() const override { return spec_->kind(); }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
    return spec_->Create(ctx);
  }
  std::vector<std::string> KeyColumns() const override { return spec_->KeyColumns(); }
  bool gathers_all_rows() const override { return spec_->gathers_all_rows(); }
  std::optional<std::vector<std::string>> InputColumns() const override {
    return spec_->InputColumns();
  }
  bool stateful() const override { return spec_->stateful(); }
  bool uses_state_table() const override { return spec_->uses_state_table(); }
  std::string StateFingerprint() const override { return spec_->StateFingerprint(); }
  std::vector<std::string> ConsumedInputs() const override { return inputs_; }
  std::vector<std::string> KeyColumnsOf(std::size_t input) const override {
    return spec_->KeyColumnsOf(input);
  }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    return spec_->DeriveSchema(inputs);
  }

 private:
  std::shared_ptr<const OperatorSpec> spec_;
  std::vector<std::string> inputs_;
};

struct NotLowered {
  int location;
  std::string construct;
};

class Lowering {
 public:
  explicit Lowering(LoweredView* out) : out_(out) {}

  // Lowers the subtree `n`; returns the name of the input or node whose output it is.
  std::string Lower(const PlanNode& n, bool root) {
    switch (n.kind) {
      case NodeKind::kScan: {
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
        LoweredInput in;
        in.name = "in" + std::to_string(out_->inputs.size() + 1);
        in.table = n.table;
        in.select = MakeViewSelect(names, types);
        out_->graph.push_back(in.name + ": changes of table " + n.table + " (" + cols + ")");
        out_->inputs.push_back(in);
        return in.name;
      }
      case NodeKind::kFilter: {
        std::string in = Lower(*n.inputs.at(0), false);
        return Add(MakeViewFilter(Compile(n.predicate)), {in}, "filter " + n.predicate->ToString());
      }
      case NodeKind::kProject: {
        std::string in = Lower(*n.inputs.at(0), false);
        std::vector<ScalarExpr> exprs;
        std::vector<std::string> names;
        std::string text;
        for (std::size_t i = 0; i < n.exprs.size(); ++i) {
          exprs.push_back(Compile(n.exprs[i]));
          names.push_back(n.columns[i].name);
          text += (text.empty() ? "" : ", ") + n.exprs[i]->ToString() + " AS " + names.back();
        }
        return Add(MakeViewProject(std::move(exprs), std::move(names)), {in}, "project " + text);
      }
      case NodeKind::kAggregate: {
        std::string in = Lower(*n.inputs.at(0), false);
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
        std::string p = Add(MakeViewProject(std::move(exprs), std::move(names)), {in},
                            "project the group keys and the aggregates' arguments");
        return Add(MakeViewAggregate(std::move(c)), {p},
                   "aggregate " +
                       (keys.empty() ? std::string("(one global row)") : "group by " + keys) +
                       ": " + text);
      }
      case NodeKind::kDistinct: {
        std::string in = Lower(*n.inputs.at(0), false);
        std::vector<std::string> names;
        for (const auto& col : n.columns) names.push_back(col.name);
        return Add(MakeViewDistinct(names), {in}, "distinct");
      }
      case NodeKind::kSort: {
        if (!root) throw NotLowered{n.location, "ORDER BY inside a query"};
        std::string in = Lower(*n.inputs.at(0), false);
        out_->graph.push_back("(ORDER BY applies when the view's table is read)");
        return in;
      }
      case NodeKind::kJoin:
        throw NotLowered{n.location, "a join"};
      case NodeKind::kTopN:
        throw NotLowered{n.location, "a top-N (" + n.rank_function + " with a bound on it)"};
      case NodeKind::kUnionAll:
        throw NotLowered{n.location, "UNION ALL"};
      case NodeKind::kLimit:
        throw NotLowered{n.location, "LIMIT / OFFSET"};
    }
    throw NotLowered{n.location, "this plan node"};
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

  // Adds a node reading `inputs`; returns its name.
  std::string Add(std::shared_ptr<const OperatorSpec> op, std::vector<std::string> inputs,
                  const std::string& text) {
    LoweredNode node;
    node.name = "n" + std::to_string(out_->nodes.size() + 1);
    std::string from;
    for (const auto& i : inputs) from += (from.empty() ? "" : ", ") + i;
    out_->graph.push_back(node.name + " ← " + from + ": " + text);
    node.spec = WithInputs(std::move(op), inputs);
    node.inputs = std::move(inputs);
    out_->nodes.push_back(std::move(node));
    return out_->nodes.back().name;
  }

  LoweredView* out_;
};

}  // namespace

std::shared_ptr<const OperatorSpec> MakeViewSelect(std::vector<std::string> names,
                                                   std::vector<TypeId> types) {
  return std::make_shared<SelectSpec>(std::move(names), std::move(types));
}

std::shared_ptr<const OperatorSpec> WithInputs(std::shared_ptr<const OperatorSpec> spec,
                                               std::vector<std::string> inputs) {
  return std::make_shared<WithInputsSpec>(std::move(spec), std::move(inputs));
}

std::vector<std::string> LoweredView::Tables() const {
  std::vector<std::string> out;
  for (const auto& in : inputs) {
    if (std::find(out.begin(), out.end(), in.table) == out.end()) out.push_back(in.table);
  }
  return out;
}

void AddToQuery(const LoweredView& view, QueryConfig* query) {
  query->multi_input = true;
  for (const auto& in : view.inputs) {
    InputConfig ic;
    ic.name = in.name;
    OperatorConfig oc;
    oc.kind = std::string(in.select->kind());
    oc.name = in.name + ":select";
    oc.spec = in.select;
    ic.operators.push_back(std::move(oc));
    query->inputs.push_back(std::move(ic));
  }
  for (const auto& n : view.nodes) {
    OperatorConfig oc;
    oc.kind = std::string(n.spec->kind());
    oc.name = n.name;
    oc.spec = n.spec;
    query->operators.push_back(std::move(oc));
  }
}

Result<LoweredView> LowerPlan(const ParsedSql& sql, std::size_t index, const PlanNode& plan) {
  LoweredView out;
  try {
    std::string last = Lowering(&out).Lower(plan, true);
    if (out.nodes.empty() || out.nodes.back().name != last) {
      // A bare scan: the result is the input's rows; a node of its own keeps the shape uniform.
      std::vector<ScalarExpr> exprs;
      std::vector<std::string> names;
      for (std::size_t i = 0; i < plan.columns.size(); ++i) {
        exprs.push_back(*ScalarExpr::Compile(
            ColumnRef(static_cast<int>(i), plan.columns[i].name, plan.columns[i].type)));
        names.push_back(plan.columns[i].name);
      }
      LoweredNode node;
      node.name = "n" + std::to_string(out.nodes.size() + 1);
      node.inputs = {last};
      node.spec = WithInputs(MakeViewProject(std::move(exprs), std::move(names)), {last});
      out.graph.push_back(node.name + " ← " + last + ": project (the table's columns)");
      out.nodes.push_back(std::move(node));
    }
    for (const auto& c : plan.columns) out.columns.push_back(c.name);
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
