#include "operators/filter.h"

#include <algorithm>

#include "engine/time_util.h"
#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {
constexpr KeyDoc kFilterConditionDocs[] = {
    {"column", KeyType::kString, "", "Required. The column compared."},
    {"op", KeyType::kEnum, "==", "The comparison; values compare as the column's type.",
     "==|!=|<|<=|>|>=|in|not_in|is_null|not_null"},
    {"value", KeyType::kString, "",
     "The value compared with (all ops but in, not_in, is_null, "
     "not_null)."},
    {"values", KeyType::kStringList, "", "The values of in and not_in."},
};
constexpr KeyDoc kFilterAllAnyDocs[] = {
    {"all", KeyType::kList, "", "Conditions that must all hold."},
    {"any", KeyType::kList, "", "Conditions of which one must hold."},
};
constexpr KeyDoc kFilterNotDocs[] = {
    {"not", KeyType::kMap, "", "A condition that must not hold."},
};
}  // namespace

constexpr ConfigKeys kFilterConditionKeys{"operators: filter condition",
                                          "A comparison of one column with a value.",
                                          kFilterConditionDocs};
constexpr ConfigKeys kFilterAllAnyKeys{"operators: filter {all | any}",
                                       "A list of nested conditions.", kFilterAllAnyDocs};
constexpr ConfigKeys kFilterNotKeys{"operators: filter {not}", "A negated condition.",
                                    kFilterNotDocs};

namespace {

Result<Value> Literal(const std::string& text, TypeId type, const std::string& column) {
  auto bad = [&](const char* what) {
    return InvalidArgument(fmt::format("filter: '{}' is not {} (column '{}' is {})", text, what,
                                       column, TypeName(type)));
  };
  switch (type) {
    case TypeId::kInt64: {
      std::int64_t i;
      double d;
      if (ParseInt64Strict(text, &i)) return Value::Int64(i);
      if (ParseDoubleStrict(text, &d)) return Value::Double(d);
      return bad("a number");
    }
    case TypeId::kDouble: {
      double d;
      if (ParseDoubleStrict(text, &d)) return Value::Double(d);
      return bad("a number");
    }
    case TypeId::kBool:
      if (text == "true") return Value::Bool(true);
      if (text == "false") return Value::Bool(false);
      return bad("true or false");
    case TypeId::kTimestamp: {
      auto ts = ParseTimestamp(text);
      if (!ts.ok()) return bad("a timestamp");
      return Value::Timestamp(*ts);
    }
    case TypeId::kString:
    case TypeId::kRaw:
      return Value::String(text);
    default:
      return InvalidArgument(
          fmt::format("filter: column '{}' of type {} cannot be compared", column, TypeName(type)));
  }
}

class Filter : public Operator {
 public:
  explicit Filter(FilterConfig c) : config_(std::move(c)) {}

  Status Process(RecordBatch& batch, OperatorContext&) override {
    std::vector<std::uint8_t> keep;
    PS_RETURN_IF_ERROR(Eval(config_.root, batch, &keep));
    if (std::find(keep.begin(), keep.end(), 0) != keep.end()) batch.Compact(keep);
    return Status::Ok();
  }

 private:
  Status Eval(const FilterCondition& c, const RecordBatch& b, std::vector<std::uint8_t>* out) {
    std::size_t n = b.num_rows();
    switch (c.kind) {
      case FilterCondition::Kind::kAll:
      case FilterCondition::Kind::kAny: {
        bool all = c.kind == FilterCondition::Kind::kAll;
        out->assign(n, all ? 1 : 0);
        std::vector<std::uint8_t> sub;
        for (const auto& ch : c.children) {
          PS_RETURN_IF_ERROR(Eval(ch, b, &sub));
          for (std::size_t i = 0; i < n; ++i)
            (*out)[i] = all ? ((*out)[i] & sub[i]) : ((*out)[i] | sub[i]);
        }
        return Status::Ok();
      }
      case FilterCondition::Kind::kNot: {
        PS_RETURN_IF_ERROR(Eval(c.children[0], b, out));
        for (auto& v : *out) v = !v;
        return Status::Ok();
      }
      case FilterCondition::Kind::kCompare:
        break;
    }
    PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(b, c.column, "filter"));
    const Column& col = b.column(ci);
    out->assign(n, 0);
    bool null_type = col.type() == TypeId::kNull;
    if (c.op == "is_null" || c.op == "not_null") {
      bool want_null = c.op == "is_null";
      for (std::size_t i = 0; i < n; ++i) (*out)[i] = (null_type || col.IsNull(i)) == want_null;
      return Status::Ok();
    }
    if (null_type) return Status::Ok();
    std::vector<Value> lits;
    for (const auto& v : c.values) {
      PS_ASSIGN_OR_RETURN(Value lit, Literal(v, col.type(), c.column));
      lits.push_back(std::move(lit));
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (col.IsNull(i)) continue;
      Value v = col.GetValue(i);
      bool r;
      if (c.op == "in" || c.op == "not_in") {
        bool found = std::any_of(lits.begin(), lits.end(),
                                 [&](const Value& l) { return v.Compare(l) == 0; });
        r = c.op == "in" ? found : !found;
      } else {
        int cmp = v.Compare(lits[0]);
        if (c.op == "==")
          r = cmp == 0;
        else if (c.op == "!=")
          r = cmp != 0;
        else if (c.op == "<")
          r = cmp < 0;
        else if (c.op == "<=")
          r = cmp <= 0;
        else if (c.op == ">")
          r = cmp > 0;
        else
          r = cmp >= 0;
      }
      (*out)[i] = r;
    }
    return Status::Ok();
  }

  FilterConfig config_;
};

FilterCondition ParseCondition(const ConfigNode& n) {
  FilterCondition c;
  if (!n.IsMap())
    n.Fail(
        "a condition is a mapping: {column, op, value}, {all: [...]}, {any: [...]} or {not: "
        "{...}}");
  if (n.Has("all") || n.Has("any")) {
    n.ExpectKeys(kFilterAllAnyKeys);
    if (n.Has("all") && n.Has("any"))
      n.Fail("use either 'all' or 'any' in one condition, and nest the other");
    c.kind = n.Has("all") ? FilterCondition::Kind::kAll : FilterCondition::Kind::kAny;
    auto list = n.Has("all") ? n.Get("all") : n.Get("any");
    for (const auto& e : list.Elements()) c.children.push_back(ParseCondition(e));
    if (c.children.empty()) list.Fail("the list of conditions is empty");
    return c;
  }
  if (n.Has("not")) {
    n.ExpectKeys(kFilterNotKeys);
    c.kind = FilterCondition::Kind::kNot;
    c.children.push_back(ParseCondition(n.Get("not")));
    return c;
  }
  n.ExpectKeys(kFilterConditionKeys);
  c.column = n.GetString("column");
  c.op = n.GetEnum("op", {"==", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null"},
                   "==");
  if (c.op == "in" || c.op == "not_in") {
    c.values = n.GetStringList("values");
    if (c.values.empty()) n.Fail(fmt::format("'{}' needs 'values: [...]'", c.op));
  } else if (c.op != "is_null" && c.op != "not_null") {
    c.values = {n.GetString("value")};
  }
  return c;
}

}  // namespace

namespace {
Status RequireConditionColumns(const FilterCondition& c, const StreamSchema& in) {
  if (c.kind == FilterCondition::Kind::kCompare) return RequireColumnIn(in, c.column, "filter");
  for (const auto& child : c.children) PS_RETURN_IF_ERROR(RequireConditionColumns(child, in));
  return Status::Ok();
}
}  // namespace

std::unique_ptr<Operator> FilterOperator(const FilterConfig& config) {
  return std::make_unique<Filter>(config);
}

namespace {
constexpr KeyDoc kFilterDocs[] = {
    {"where", KeyType::kMap, "", "One condition (see operators: filter condition)."},
    {"all", KeyType::kList, "", "Conditions that must all hold."},
    {"any", KeyType::kList, "", "Conditions of which one must hold."},
    {"not", KeyType::kMap, "", "A condition that must not hold."},
};
}  // namespace
constexpr ConfigKeys kFilterKeys{
    "operators: filter",
    "Keeps the rows matching a condition: exactly one of where, all, any, not. Conditions nest: "
    "{all: [...]}, {any: [...]}, {not: {...}} or a comparison.",
    kFilterDocs};

std::shared_ptr<const OperatorSpec> FilterFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kFilterKeys);
  FilterConfig c;
  if (n.Has("where")) {
    if (n.Has("all") || n.Has("any") || n.Has("not"))
      n.Fail("use 'where' alone, or 'all'/'any'/'not'");
    c.root = ParseCondition(n.Get("where"));
  } else {
    if (!n.Has("all") && !n.Has("any") && !n.Has("not"))
      n.Fail("filter needs 'where', 'all', 'any' or 'not'");
    FilterCondition root;
    int forms = n.Has("all") + n.Has("any") + n.Has("not");
    if (forms > 1) n.Fail("use one of 'all', 'any', 'not' at the top and nest the others");
    if (n.Has("not")) {
      root.kind = FilterCondition::Kind::kNot;
      root.children.push_back(ParseCondition(n.Get("not")));
    } else {
      root.kind = n.Has("all") ? FilterCondition::Kind::kAll : FilterCondition::Kind::kAny;
      auto list = n.Has("all") ? n.Get("all") : n.Get("any");
      for (const auto& e : list.Elements()) root.children.push_back(ParseCondition(e));
      if (root.children.empty()) list.Fail("the list of conditions is empty");
    }
    c.root = std::move(root);
  }
  return std::make_shared<StatelessSpec<FilterConfig, Filter>>(
      "filter", std::move(c), [](const FilterConfig& c, StreamSchema in) -> Result<StreamSchema> {
        PS_RETURN_IF_ERROR(RequireConditionColumns(c.root, in));
        return in;
      });
}

}  // namespace pinstream::ops
