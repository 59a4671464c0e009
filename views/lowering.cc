#include "views/lowering.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>

#include "engine/time_util.h"
#include "views/scalar_expr.h"
#include "views/view_join.h"
#include "views/view_operators.h"
#include "views/view_topn.h"
#include "views/view_window.h"

namespace pinstream::views {
namespace {

class Select : public Operator {
 public:
  Select(std::vector<std::string> names, std::vector<TypeId> types, std::vector<bool> read)
      : names_(std::move(names)), types_(std::move(types)), read_(std::move(read)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      int c = batch.FindColumn(names_[i]);
      if (!read_.empty() && !read_[i]) {
        // Not read by the view: nulls keep the columns' positions and cost no state.
        batch.AddColumn(names_[i] + "#unread",
                        pinstream::Column::Nulls(types_[i], batch.num_rows()));
        c = static_cast<int>(batch.num_columns()) - 1;
      } else if (c < 0) {
        // A column absent from a batch is all nulls (a table's older versions may lack it).
        batch.AddColumn(names_[i], pinstream::Column::Nulls(types_[i], batch.num_rows()));
        c = static_cast<int>(batch.num_columns()) - 1;
      }
      TypeId t = batch.column(static_cast<std::size_t>(c)).type();
      if (types_[i] == TypeId::kNull && t != TypeId::kNull) {
        // Planned untyped, its expressions would all read null: a wrong answer, not an error.
        return InvalidArgument(
            "column " + names_[i] + " is " + std::string(TypeName(t)) +
            " in the table but was planned without a type (the config does not tell it and the "
            "table had no version when the view was planned); restart the daemon: views are "
            "planned with the tables' stored schemas");
      }
      if (t != types_[i] && t != TypeId::kNull && types_[i] != TypeId::kNull) {
        return InvalidArgument("column " + names_[i] + " is " + std::string(TypeName(t)) +
                               " in the table but " + std::string(TypeName(types_[i])) +
                               " in the view's plan");
      }
      order.push_back(static_cast<std::size_t>(c));
    }
    batch.SelectColumns(order);
    for (std::size_t i = 0; i < names_.size(); ++i) batch.RenameColumn(i, names_[i]);
    return Status::Ok();
  }

 private:
  std::vector<std::string> names_;
  std::vector<TypeId> types_;
  std::vector<bool> read_;
};

class SelectSpec : public OperatorSpec {
 public:
  SelectSpec(std::vector<std::string> names, std::vector<TypeId> types, std::vector<bool> read)
      : names_(std::move(names)), types_(std::move(types)), read_(std::move(read)) {}
  std::string_view kind() const override { return "view_select"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext&) const override {
    return std::unique_ptr<Operator>(new Select(names_, types_, read_));
  }
  // At start the input is the table's stored schema: a column of another type than the plan's is
  // refused (a column the table lacks reads as null, as in Process).
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    StreamSchema out = inputs.empty() ? StreamSchema::Unknown() : inputs.front();
    std::vector<Field> fields;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      TypeId t = types_[i];
      if (out.complete && out.schema.FieldIndex(names_[i]) >= 0) {
        TypeId stored = out.TypeOf(names_[i]);
        if (stored != t && stored != TypeId::kNull && t != TypeId::kNull) {
          return InvalidArgument("column " + names_[i] + " is " + std::string(TypeName(stored)) +
                                 " in the table's stored schema but " +
                                 std::string(TypeName(t)) +
                                 " in the view's plan (planned from the config)");
        }
        if (t == TypeId::kNull) t = stored;
      }
      fields.push_back({names_[i], t});
    }
    out.schema = Schema(fields);
    out.complete = true;
    return out;
  }

 private:
  std::vector<std::string> names_;
  std::vector<TypeId> types_;
  std::vector<bool> read_;
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
  std::string_view state_index_kinds() const override { return spec_->state_index_kinds(); }
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

// What a lowered subtree produces: the input or node it comes out of and its batches' columns.
struct Stream {
  std::string name;
  std::vector<std::string> names;
  std::vector<TypeId> types;
};

// Column names made unique within a batch ("g", "g#2"): keyed operators find their key columns
// by name.
std::vector<std::string> Unique(std::vector<std::string> names) {
  std::map<std::string, int> seen;
  for (auto& n : names) {
    int k = ++seen[n];
    if (k > 1) {
      std::string candidate;
      do {
        candidate = n + "#" + std::to_string(k++);
      } while (seen.count(candidate) != 0);
      seen[candidate] = 1;
      n = candidate;
    }
  }
  return names;
}

std::string Joined(const std::vector<std::string>& parts, const char* sep = ", ") {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// `e` with every node for which `fn` returns non-null replaced by that.
ExprPtr Rewrite(const ExprPtr& e, const std::function<ExprPtr(const ExprPtr&)>& fn) {
  if (e == nullptr) return e;
  if (ExprPtr r = fn(e)) return r;
  auto copy = std::make_shared<Expr>(*e);
  for (auto& a : copy->args) a = Rewrite(a, fn);
  for (auto& k : copy->order) k.expr = Rewrite(k.expr, fn);
  copy->filter = Rewrite(copy->filter, fn);
  return copy;
}

// Which columns of a node's output its consumer reads (empty: all).
using Need = std::vector<bool>;

bool Needs(const Need& need, std::size_t i) { return need.empty() || need[i]; }

// Marks the input columns `e` reads (a scalar subquery's own plan reads its own inputs).
void Mark(const ExprPtr& e, Need* need) {
  if (e == nullptr || e->kind == ExprKind::kSubquery) return;
  if (e->kind == ExprKind::kColumn && e->column >= 0 &&
      static_cast<std::size_t>(e->column) < need->size()) {
    (*need)[static_cast<std::size_t>(e->column)] = true;
  }
  for (const auto& a : e->args) Mark(a, need);
  for (const auto& k : e->order) Mark(k.expr, need);
  Mark(e->filter, need);
}

// The columns of `n`'s input (index `input`) that n needs to produce the outputs in `need`.
Need InputNeed(const PlanNode& n, const Need& need, std::size_t input) {
  const PlanNode& in = *n.inputs.at(input);
  Need out(in.columns.size(), false);
  switch (n.kind) {
    case NodeKind::kFilter:
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = Needs(need, i);
      Mark(n.predicate, &out);
      break;
    case NodeKind::kProject:
      for (std::size_t i = 0; i < n.exprs.size(); ++i) {
        if (Needs(need, i)) Mark(n.exprs[i], &out);
      }
      break;
    case NodeKind::kAggregate:
      for (const auto& g : n.group) Mark(g, &out);
      for (const auto& a : n.aggregates) {
        Mark(a.arg, &out);
        Mark(a.filter, &out);
      }
      break;
    case NodeKind::kJoin: {
      std::size_t base = input == 0 ? 0 : n.inputs[0]->columns.size();
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = Needs(need, base + i);
      for (const auto& k : input == 0 ? n.left_keys : n.right_keys) Mark(k, &out);
      if (n.residual != nullptr) {  // over the joined row: this side's part
        Need joined(n.columns.size(), false);
        Mark(n.residual, &joined);
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = out[i] || joined[base + i];
      }
      break;
    }
    case NodeKind::kTopN:
    case NodeKind::kSort:
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = Needs(need, i);
      for (const auto& p : n.partition) Mark(p, &out);
      for (const auto& k : n.order) Mark(k.expr, &out);
      break;
    case NodeKind::kLimit:
    case NodeKind::kUnionAll:
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = Needs(need, i);
      break;
    case NodeKind::kWindow:
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = Needs(need, i);
      out.at(static_cast<std::size_t>(n.time_column)) = true;
      break;
    case NodeKind::kDistinct:
    case NodeKind::kScan:
      out.assign(out.size(), true);
      break;
  }
  return out;
}

void CollectSubqueries(const ExprPtr& e, std::vector<ExprPtr>* out) {
  if (e == nullptr) return;
  if (e->kind == ExprKind::kSubquery) {
    out->push_back(e);
    return;
  }
  for (const auto& a : e->args) CollectSubqueries(a, out);
  for (const auto& k : e->order) CollectSubqueries(k.expr, out);
  CollectSubqueries(e->filter, out);
}

bool SameExpr(const ExprPtr& a, const ExprPtr& b) {
  if (a == nullptr || b == nullptr) return a == b;
  return a == b || a->SameAs(*b);
}

bool SameExprs(const std::vector<ExprPtr>& a, const std::vector<ExprPtr>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!SameExpr(a[i], b[i])) return false;
  }
  return true;
}

bool SameOrder(const std::vector<SortKey>& a, const std::vector<SortKey>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].descending != b[i].descending || a[i].nulls_first != b[i].nulls_first ||
        !SameExpr(a[i].expr, b[i].expr))
      return false;
  }
  return true;
}

// Whether two subplans compute the same rows: the same nodes over the same inputs with the same
// expressions and output types (column names aside: consumers read columns by position). A WITH
// query used twice is inlined twice by the planner; this finds the copies.
bool SamePlan(const PlanNode& a, const PlanNode& b) {
  if (&a == &b) return true;
  if (a.kind != b.kind || a.columns.size() != b.columns.size() ||
      a.inputs.size() != b.inputs.size())
    return false;
  for (std::size_t i = 0; i < a.columns.size(); ++i) {
    if (a.columns[i].type != b.columns[i].type) return false;
  }
  if (a.kind == NodeKind::kScan) {
    for (std::size_t i = 0; i < a.columns.size(); ++i) {
      const std::string& x = a.columns[i].name;
      const std::string& y = b.columns[i].name;
      if (x.substr(x.rfind('.') + 1) != y.substr(y.rfind('.') + 1)) return false;
    }
  }
  if (a.table != b.table || !SameExpr(a.predicate, b.predicate) || !SameExprs(a.exprs, b.exprs) ||
      a.join != b.join || !SameExprs(a.left_keys, b.left_keys) ||
      !SameExprs(a.right_keys, b.right_keys) || !SameExpr(a.residual, b.residual) ||
      !SameExprs(a.group, b.group) ||
      a.aggregates.size() != b.aggregates.size() || a.rank_function != b.rank_function ||
      !SameExprs(a.partition, b.partition) || !SameOrder(a.order, b.order) ||
      a.limit != b.limit || a.offset != b.offset || a.time_column != b.time_column ||
      a.window_size_us != b.window_size_us || a.window_slide_us != b.window_slide_us)
    return false;
  for (std::size_t i = 0; i < a.aggregates.size(); ++i) {
    const AggregateCall& x = a.aggregates[i];
    const AggregateCall& y = b.aggregates[i];
    if (x.function != y.function || x.distinct != y.distinct || x.fraction != y.fraction ||
        x.type != y.type || !SameExpr(x.arg, y.arg) || !SameExpr(x.filter, y.filter))
      return false;
  }
  for (std::size_t i = 0; i < a.inputs.size(); ++i) {
    if (!SamePlan(*a.inputs[i], *b.inputs[i])) return false;
  }
  return true;
}

// Every expression of a node (for the scalar subqueries in them).
std::vector<ExprPtr> ExprsOf(const PlanNode& n) {
  std::vector<ExprPtr> out = n.exprs;
  out.push_back(n.predicate);
  out.push_back(n.residual);
  for (const auto* v : {&n.left_keys, &n.right_keys, &n.group, &n.partition})
    out.insert(out.end(), v->begin(), v->end());
  for (const auto& a : n.aggregates) {
    out.push_back(a.arg);
    out.push_back(a.filter);
  }
  for (const auto& k : n.order) out.push_back(k.expr);
  return out;
}

// The subplans (other than scans) that occur more than once in a statement's plan, scalar
// subqueries included — a WITH query read twice. A repeat's own inputs are not counted again, so
// only the outermost repeated subplan is shared and the nodes inside it keep reading only the
// columns it needs.
class Repeats {
 public:
  explicit Repeats(const PlanNode& root) { Visit(root); }

  // The first of the occurrences equal to `n` when that subplan occurs twice or more, else null.
  const PlanNode* SharedAs(const PlanNode& n) const {
    if (n.kind == NodeKind::kScan) return nullptr;
    for (const auto& [first, count] : seen_) {
      if (count > 1 && SamePlan(*first, n)) return first;
    }
    return nullptr;
  }

 private:
  void Visit(const PlanNode& n) {
    if (n.kind != NodeKind::kScan) {
      for (auto& [first, count] : seen_) {
        if (SamePlan(*first, n)) {
          ++count;
          return;
        }
      }
      seen_.emplace_back(&n, 1);
    }
    for (const auto& in : n.inputs) Visit(*in);
    std::vector<ExprPtr> subs;
    for (const auto& e : ExprsOf(n)) CollectSubqueries(e, &subs);
    for (const auto& q : subs) Visit(*q->subquery);
  }

  std::vector<std::pair<const PlanNode*, int>> seen_;
};

class Lowering {
 public:
  Lowering(LoweredView* out, const PlanNode& root) : out_(out), repeats_(root) {}

  // Lowers the subtree `n`, of which the consumer reads the columns in `need` (empty: all).
  Stream Lower(const PlanNode& n, bool root, const Need& need = {}) {
    // A subplan the statement uses twice or more (a WITH query read twice): computed once, with
    // every column, and read by each of its consumers (the query's shared_inputs).
    if (const PlanNode* first = root ? nullptr : repeats_.SharedAs(n)) {
      for (const auto& [p, stream] : shared_) {
        if (p == first) return stream;
      }
      Stream s = LowerNode(n, false, {});
      for (auto& line : out_->graph) {
        if (line.rfind(s.name + " ←", 0) == 0) line += " [a subplan used twice or more: computed once]";
      }
      shared_.emplace_back(first, s);
      return s;
    }
    return LowerNode(n, root, need);
  }

 private:
  Stream LowerNode(const PlanNode& n, bool root, const Need& need) {
    // The input's lowering, told which of its columns this node reads.
    auto input = [&](std::size_t i, bool input_root = false) {
      return Lower(*n.inputs.at(i), input_root, InputNeed(n, need, i));
    };
    switch (n.kind) {
      case NodeKind::kScan: {
        Stream s;
        std::vector<std::string> read;
        for (std::size_t i = 0; i < n.columns.size(); ++i) {
          // The plan names a scan's columns alias.column; the table's are the bare names.
          const std::string& name = n.columns[i].name;
          s.names.push_back(name.substr(name.rfind('.') + 1));
          s.types.push_back(n.columns[i].type);
          if (Needs(need, i)) read.push_back(s.names.back());
        }
        LoweredInput in;
        in.name = "in" + std::to_string(out_->inputs.size() + 1);
        in.table = n.table;
        in.select = MakeViewSelect(s.names, s.types, need);
        std::size_t unread = s.names.size() - read.size();
        out_->graph.push_back(in.name + ": changes of table " + n.table + " (" + Joined(read) +
                              (unread == 0 ? std::string()
                                           : "; " + std::to_string(unread) + " other column" +
                                                 (unread == 1 ? "" : "s") + " not read") +
                              ")");
        out_->inputs.push_back(in);
        s.name = in.name;
        return s;
      }
      case NodeKind::kFilter: {
        Stream in = input(0);
        std::size_t width = in.names.size();
        ExprPtr predicate = WithSubqueries(n.predicate, &in);
        Stream f = Add(MakeViewFilter(Compile(predicate)), {in}, in.names, in.types,
                       "filter " + n.predicate->ToString());
        return Narrow(f, width);
      }
      case NodeKind::kProject: {
        // The final projection dropping ORDER BY's hidden columns stands above Sort / Limit.
        NodeKind below = n.inputs.at(0)->kind;
        Stream in = input(0, root && (below == NodeKind::kSort || below == NodeKind::kLimit));
        std::vector<ExprPtr> exprs;
        for (const auto& e : n.exprs) exprs.push_back(WithSubqueries(e, &in));
        std::vector<std::string> names;
        std::vector<TypeId> types;
        std::string text;
        for (std::size_t i = 0; i < n.exprs.size(); ++i) {
          names.push_back(n.columns[i].name);
          types.push_back(n.exprs[i]->type);
          text += (text.empty() ? "" : ", ") + n.exprs[i]->ToString() + " AS " + names.back();
        }
        if (!root) names = Unique(names);
        return Project(in, exprs, names, "project " + text);
      }
      case NodeKind::kAggregate: {
        Stream in = input(0);
        // The aggregate's input: group keys (named as its output), then arguments and FILTERs.
        std::vector<ExprPtr> exprs;
        std::vector<std::string> names;
        ViewAggregateConfig c;
        c.groups = static_cast<int>(n.group.size());
        std::vector<std::string> out_names;
        for (const auto& col : n.columns) out_names.push_back(col.name);
        if (!root) out_names = Unique(out_names);
        for (std::size_t i = 0; i < n.group.size(); ++i) {
          exprs.push_back(n.group[i]);
          names.push_back(out_names[i]);
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
            exprs.push_back(a.arg);
            names.push_back("_arg" + std::to_string(k));
          }
          if (a.filter != nullptr) {
            call.filter = static_cast<int>(exprs.size());
            exprs.push_back(a.filter);
            names.push_back("_filter" + std::to_string(k));
          }
          c.calls.push_back(call);
          text += (text.empty() ? "" : ", ") + a.ToString();
        }
        c.names = out_names;
        std::string keys;
        for (const auto& g : n.group) keys += (keys.empty() ? "" : ", ") + g->ToString();
        c.fingerprint = keys + " | " + text;
        Stream p = Project(in, exprs, Unique(names),
                           "project the group keys and the aggregates' arguments");
        std::vector<TypeId> types;
        for (const auto& col : n.columns) types.push_back(col.type);
        return Add(MakeViewAggregate(std::move(c)), {p}, out_names, types,
                   "aggregate " +
                       (keys.empty() ? std::string("(one global row)") : "group by " + keys) +
                       ": " + text);
      }
      case NodeKind::kWindow: {
        Stream in = input(0);
        std::vector<std::string> names = in.names;
        names.push_back("window_start");
        names.push_back("window_end");
        names = Unique(names);
        std::vector<TypeId> types = in.types;
        types.push_back(TypeId::kTimestamp);
        types.push_back(TypeId::kTimestamp);
        ViewWindowConfig c;
        c.time_column = n.time_column;
        c.size_us = n.window_size_us;
        c.slide_us = n.window_slide_us;
        c.start_name = names[names.size() - 2];
        c.end_name = names.back();
        std::string time = in.names.at(static_cast<std::size_t>(n.time_column));
        std::string text =
            c.slide_us == c.size_us
                ? "tumbling window of " + FormatDurationMicros(c.size_us) + " on " + time
                : "hopping windows of " + FormatDurationMicros(c.size_us) + " every " +
                      FormatDurationMicros(c.slide_us) + " on " + time;
        return Add(MakeViewWindow(std::move(c)), {in}, names, types,
                   text + " (window_start, window_end)");
      }
      case NodeKind::kDistinct: {
        Stream in = input(0);
        return Add(MakeViewDistinct(in.names), {in}, in.names, in.types, "distinct");
      }
      case NodeKind::kSort: {
        if (!root) throw NotLowered{n.location, "ORDER BY inside a query"};
        Stream in = input(0);
        out_->graph.push_back("(ORDER BY applies when the view's table is read)");
        return in;
      }
      case NodeKind::kJoin: {
        Stream left = input(0);  // left first: inputs are numbered in the plan's order
        Stream right = input(1);
        return LowerJoin(n, std::move(left), std::move(right));
      }
      case NodeKind::kTopN:
        return LowerTopN(n, input(0), n.order, n.rank_function, 1, n.limit, true);
      case NodeKind::kUnionAll: {
        std::vector<Stream> ins;
        std::vector<std::string> names;
        std::vector<TypeId> types;
        for (const auto& c : n.columns) {
          names.push_back(c.name);
          types.push_back(c.type);
        }
        for (std::size_t i = 0; i < n.inputs.size(); ++i) {
          Stream s = input(i);
          // A column of another type than the union's: cast by the union (int64 → double).
          for (std::size_t c = 0; c < s.types.size(); ++c) {
            if (s.types[c] != types[c] && s.types[c] != TypeId::kNull &&
                !(types[c] == TypeId::kDouble && IsIntegerLike(s.types[c]))) {
              throw NotLowered{n.location, "UNION of " + std::string(TypeName(s.types[c])) +
                                               " and " + std::string(TypeName(types[c]))};
            }
          }
          ins.push_back(std::move(s));
        }
        if (!root) names = Unique(names);
        return Add(MakeViewUnionAll(names, types), ins, names, types, "union all");
      }
      case NodeKind::kLimit: {
        if (!root) throw NotLowered{n.location, "LIMIT inside a query"};
        const PlanNode& in = *n.inputs.at(0);
        if (in.kind != NodeKind::kSort) {
          throw NotLowered{n.location,
                           "LIMIT / OFFSET without ORDER BY (which rows it keeps would be "
                           "arbitrary)"};
        }
        if (n.limit < 0 || n.limit >= std::numeric_limits<std::int64_t>::max() - n.offset) {
          throw NotLowered{n.location, "OFFSET without LIMIT"};
        }
        out_->graph.push_back("(ORDER BY applies when the view's table is read)");
        return LowerTopN(n, Lower(*in.inputs.at(0), false, InputNeed(in, InputNeed(n, need, 0), 0)),
                         in.order, "row_number", n.offset + 1, n.offset + n.limit, false);
      }
    }
    throw NotLowered{n.location, "this plan node"};
  }

  // The plan's join: each side's keys made columns, the join, the extra key columns dropped.
  Stream LowerJoin(const PlanNode& n, Stream left, Stream right) {
    std::size_t lw = left.names.size(), rw = right.names.size();
    for (std::size_t k = 0; k < n.left_keys.size(); ++k) {
      TypeId a = n.left_keys[k]->type, b = n.right_keys[k]->type;
      if (a != b && a != TypeId::kNull && b != TypeId::kNull) {
        throw NotLowered{n.left_keys[k]->location, "a join key of two types (" +
                                                       std::string(TypeName(a)) + " = " +
                                                       std::string(TypeName(b)) + ")"};
      }
    }
    // The plan's keys are over each input's own columns.
    std::vector<int> lk = KeyColumns(&left, n.left_keys);
    std::vector<int> rk = KeyColumns(&right, n.right_keys);
    ViewJoinConfig c;
    c.join = n.join;
    c.left_keys = lk;
    c.right_keys = rk;
    c.left_names = left.names;
    c.right_names = right.names;
    c.left_types = left.types;
    c.right_types = right.types;
    std::vector<std::string> names = left.names;
    names.insert(names.end(), right.names.begin(), right.names.end());
    c.names = Unique(names);
    std::vector<TypeId> types = left.types;
    types.insert(types.end(), right.types.begin(), right.types.end());
    std::string on;
    for (std::size_t k = 0; k < n.left_keys.size(); ++k) {
      on += (on.empty() ? "" : " and ") + n.left_keys[k]->ToString() + " = " +
            n.right_keys[k]->ToString();
    }
    if (n.residual != nullptr) {
      // Over the join's inputs as lowered: the right's columns after the left's key columns.
      auto shift = static_cast<int>(left.names.size() - lw);
      auto split = static_cast<int>(lw);
      c.residual = Rewrite(n.residual, [&](const ExprPtr& x) -> ExprPtr {
        if (x->kind != ExprKind::kColumn || x->column < split) return nullptr;
        auto moved = std::make_shared<Expr>(*x);
        moved->column += shift;
        return moved;
      });
      Compile(c.residual);  // what it cannot evaluate is refused here, at its position
      on += (on.empty() ? "" : " and ") + n.residual->ToString();
    }
    c.fingerprint = std::string(n.join == JoinKind::kLeft ? "left" : "inner") + " on " + on;
    std::vector<std::string> out_names = c.names;
    Stream j =
        Add(MakeViewJoin(std::move(c)), {left, right}, out_names, types,
            std::string(n.join == JoinKind::kLeft ? "left join (unmatched: eager)" : "inner join") +
                " on " + (on.empty() ? "(no key: one row group)" : on));
    if (left.names.size() == lw && right.names.size() == rw) return j;
    // Drop the key columns computed for the join.
    std::vector<int> keep;
    for (std::size_t i = 0; i < lw; ++i) keep.push_back(static_cast<int>(i));
    for (std::size_t i = 0; i < rw; ++i) keep.push_back(static_cast<int>(left.names.size() + i));
    return Select(j, keep, "project the joined columns");
  }

  // The columns of `s` holding `exprs` (over s's columns): a plain column is used as it is; the
  // others are computed by a projection appended.
  std::vector<int> KeyColumns(Stream* s, const std::vector<ExprPtr>& exprs) {
    std::vector<int> out;
    std::vector<ExprPtr> extra;
    std::size_t width = s->names.size();
    for (const auto& e : exprs) {
      if (e->kind == ExprKind::kColumn) {
        out.push_back(e->column);
      } else {
        out.push_back(static_cast<int>(width + extra.size()));
        extra.push_back(e);
      }
    }
    if (!extra.empty()) *s = Append(*s, extra, "_key", "project the join keys");
    return out;
  }

  // `s` with `extra` expressions appended as columns named prefix0, prefix1, ….
  Stream Append(const Stream& s, const std::vector<ExprPtr>& extra, const std::string& prefix,
                const std::string& text) {
    std::vector<ExprPtr> exprs;
    std::vector<std::string> names = s.names;
    for (std::size_t i = 0; i < s.names.size(); ++i) {
      exprs.push_back(ColumnRef(static_cast<int>(i), s.names[i], s.types[i]));
    }
    for (std::size_t i = 0; i < extra.size(); ++i) {
      exprs.push_back(extra[i]);
      names.push_back(prefix + std::to_string(i));
    }
    return Project(
        s, exprs, Unique(names), text + ": " + [&] {
          std::vector<std::string> t;
          for (const auto& e : extra) t.push_back(e->ToString());
          return Joined(t);
        }());
  }

  // The columns `keep` of `s`, in that order.
  Stream Select(const Stream& s, const std::vector<int>& keep, const std::string& text) {
    std::vector<ExprPtr> exprs;
    std::vector<std::string> names;
    for (int i : keep) {
      auto u = static_cast<std::size_t>(i);
      exprs.push_back(ColumnRef(i, s.names[u], s.types[u]));
      names.push_back(s.names[u]);
    }
    return Project(s, exprs, names, text);
  }

  // `s` without the columns after the first `width` (those a scalar subquery's join added).
  Stream Narrow(const Stream& s, std::size_t width) {
    if (s.names.size() == width) return s;
    std::vector<int> keep;
    for (std::size_t i = 0; i < width; ++i) keep.push_back(static_cast<int>(i));
    return Select(s, keep, "project without the subqueries' values");
  }

  // Each scalar subquery in `e`: a left join of *s to the subquery's one row on no key (the
  // value is null while the subquery has no row); returns `e` reading those columns instead.
  ExprPtr WithSubqueries(const ExprPtr& e, Stream* s) {
    std::vector<ExprPtr> subs;
    CollectSubqueries(e, &subs);
    if (subs.empty()) return e;
    std::vector<std::pair<const Expr*, int>> columns;
    for (const auto& q : subs) {
      Stream v = Lower(*q->subquery, false);
      if (v.names.size() != 1)
        throw NotLowered{q->location, "a scalar subquery of several columns"};
      ViewJoinConfig c;
      c.join = JoinKind::kLeft;
      c.left_names = s->names;
      c.right_names = v.names;
      c.left_types = s->types;
      c.right_types = v.types;
      std::vector<std::string> names = s->names;
      names.push_back("_subquery" + std::to_string(columns.size()));
      c.names = Unique(names);
      c.fingerprint = "scalar subquery " + q->ToString();
      std::vector<TypeId> types = s->types;
      types.push_back(v.types[0]);
      columns.emplace_back(q.get(), static_cast<int>(s->names.size()));
      std::vector<std::string> out_names = c.names;
      *s = Add(MakeViewJoin(std::move(c)), {*s, v}, out_names, types,
               "left join (no key) to the scalar subquery's one row: " + q->ToString());
    }
    return Rewrite(e, [&](const ExprPtr& x) -> ExprPtr {
      for (const auto& [q, col] : columns) {
        if (x.get() == q) return ColumnRef(col, "(" + x->ToString() + ")", x->type, x->location);
      }
      return nullptr;
    });
  }

  // A top-N over `input`'s rows: partition and order expressions made columns, the TopN, the
  // extra columns dropped. `plan` is the TopN or Limit node.
  Stream LowerTopN(const PlanNode& plan, Stream in, const std::vector<SortKey>& order,
                   const std::string& function, std::int64_t min_rank, std::int64_t max_rank,
                   bool emit_rank) {
    std::size_t width = in.names.size();
    std::vector<ExprPtr> exprs = plan.partition;
    for (const auto& k : order) {
      if (k.expr->type == TypeId::kDoubleArray) {
        throw NotLowered{k.expr->location, "ORDER BY an array"};
      }
      exprs.push_back(k.expr);
    }
    std::vector<int> cols = KeyColumns(&in, exprs);
    ViewTopNConfig c;
    c.rank_function = function;
    c.partition.assign(cols.begin(), cols.begin() + static_cast<long>(plan.partition.size()));
    std::string by;
    for (std::size_t i = 0; i < order.size(); ++i) {
      ViewSortColumn s;
      s.column = cols[plan.partition.size() + i];
      s.descending = order[i].descending;
      s.nulls_first = order[i].nulls_first;
      c.order.push_back(s);
      by += (by.empty() ? "" : ", ") + order[i].expr->ToString() +
            (order[i].descending ? " DESC" : "");
    }
    std::string part;
    for (const auto& p : plan.partition) part += (part.empty() ? "" : ", ") + p->ToString();
    c.min_rank = min_rank;
    c.max_rank = max_rank;
    c.emit_rank = emit_rank;
    c.names = in.names;
    c.types = in.types;
    c.rank_name = emit_rank ? plan.columns.back().name : "rank";
    std::vector<std::string> names = in.names;
    std::vector<TypeId> types = in.types;
    if (emit_rank) {
      names.push_back(c.rank_name);
      types.push_back(TypeId::kInt64);
      names = Unique(names);
      c.rank_name = names.back();
    }
    std::string text = function + "() over (" +
                       (part.empty() ? std::string() : "partition by " + part + " ") + "order by " +
                       by + ") in [" + std::to_string(min_rank) + ", " + std::to_string(max_rank) +
                       "]" + (emit_rank ? " AS " + c.rank_name : "");
    c.fingerprint = text;
    Stream t = Add(MakeViewTopN(std::move(c)), {in}, names, types,
                   (emit_rank ? "top-N " : "LIMIT / OFFSET as a top-N: ") + text);
    if (in.names.size() == width) return t;
    std::vector<int> keep;
    for (std::size_t i = 0; i < width; ++i) keep.push_back(static_cast<int>(i));
    if (emit_rank) keep.push_back(static_cast<int>(in.names.size()));
    return Select(t, keep, "project without the top-N's key columns");
  }

  Stream Project(const Stream& in, const std::vector<ExprPtr>& exprs,
                 const std::vector<std::string>& names, const std::string& text) {
    std::vector<ScalarExpr> compiled;
    std::vector<TypeId> types;
    for (const auto& e : exprs) {
      compiled.push_back(Compile(e));
      types.push_back(e->type);
    }
    return Add(MakeViewProject(std::move(compiled), names), {in}, names, types, text);
  }

  ScalarExpr Compile(const ExprPtr& e) {
    std::vector<ExprPtr> subs;
    CollectSubqueries(e, &subs);
    if (!subs.empty()) throw NotLowered{subs[0]->location, "a scalar subquery here"};
    Result<ScalarExpr> c = ScalarExpr::Compile(e);
    if (!c.ok()) throw NotLowered{e->location, c.status().message()};
    return *std::move(c);
  }

  // Adds a node reading `inputs`; returns its stream.
  Stream Add(std::shared_ptr<const OperatorSpec> op, std::vector<Stream> inputs,
             std::vector<std::string> names, std::vector<TypeId> types, const std::string& text) {
    // A shared subplan on two sides of one operator (a WITH query joined with itself): the
    // second side reads it through a projection of its own (an operator reads each input once).
    for (std::size_t i = 1; i < inputs.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (inputs[j].name != inputs[i].name) continue;
        std::vector<int> all;
        for (std::size_t c = 0; c < inputs[i].names.size(); ++c) all.push_back(static_cast<int>(c));
        inputs[i] = Select(inputs[i], all, "project (the shared rows, read a second time)");
        break;
      }
    }
    LoweredNode node;
    node.name = "n" + std::to_string(out_->nodes.size() + 1);
    std::vector<std::string> from;
    for (const auto& i : inputs) from.push_back(i.name);
    out_->graph.push_back(node.name + " ← " + Joined(from) + ": " + text);
    node.spec = WithInputs(std::move(op), from);
    node.inputs = std::move(from);
    out_->nodes.push_back(std::move(node));
    return Stream{out_->nodes.back().name, std::move(names), std::move(types)};
  }

  LoweredView* out_;
  Repeats repeats_;
  std::vector<std::pair<const PlanNode*, Stream>> shared_;  // shared subplans lowered
};

}  // namespace

std::shared_ptr<const OperatorSpec> MakeViewSelect(std::vector<std::string> names,
                                                   std::vector<TypeId> types,
                                                   std::vector<bool> read) {
  return std::make_shared<SelectSpec>(std::move(names), std::move(types), std::move(read));
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
  query->shared_inputs = true;  // a shared subplan's node is read by each of its consumers
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
    std::string last = Lowering(&out, plan).Lower(plan, true).name;
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
