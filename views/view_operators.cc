#include "views/view_operators.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>

#include "engine/bytes.h"
#include "engine/state_codec.h"

namespace pinstream::views {
namespace {

using Column = ::pinstream::Column;  // not views::Column (a plan's column)

constexpr std::uint64_t kSignBit = 1ULL << 63;

Status Damaged(std::string_view what) {
  return Corruption(std::string(what) + ": a state entry is damaged");
}

// Decodes one EncodeKey value (engine/record_batch.h) into `col`: false when the bytes are
// damaged or the value's type does not fit the column.
bool AppendKeyValue(ByteReader& r, Column& col) {
  EncodedValue v;
  if (!ReadKeyValue(r, &v)) return false;
  bool fits =
      v.type == TypeId::kNull || (IsBinaryLike(v.type) && IsBinaryLike(col.type())) ||
      (v.type == TypeId::kDoubleArray && col.type() == TypeId::kDoubleArray) ||
      (v.type == TypeId::kDouble && col.type() == TypeId::kDouble) ||
      (IsIntegerLike(v.type) && (IsIntegerLike(col.type()) || col.type() == TypeId::kDouble));
  if (!fits) return false;
  ::pinstream::AppendKeyValue(v, col);
  return true;
}

// Appends an ordered value of input type `in` to `col` (converted to col's type).
void AppendOrdered(Column& col, std::string_view b, TypeId in) {
  if (IsBinaryLike(in)) {
    col.AppendString(b);
    return;
  }
  std::uint64_t bits = GetBigEndian64(b.data());
  if (in == TypeId::kDouble) {
    bits = (bits & kSignBit) ? bits & ~kSignBit : ~bits;
    double d;
    std::memcpy(&d, &bits, 8);
    if (col.type() == TypeId::kDouble) {
      col.AppendDouble(d);
    } else {
      col.AppendInt(static_cast<std::int64_t>(d));
    }
    return;
  }
  auto v = static_cast<std::int64_t>(bits ^ kSignBit);
  if (col.type() == TypeId::kDouble) {
    col.AppendDouble(static_cast<double>(v));
  } else {
    col.AppendInt(v);
  }
}

std::uint16_t OutputTag(const OperatorInitContext& ctx) { return ctx.output_tag; }

// --- Filter, Project ----------------------------------------------------------------------

class Filter : public Operator {
 public:
  explicit Filter(ScalarExpr p) : p_(std::move(p)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    PS_ASSIGN_OR_RETURN(std::vector<std::uint8_t> keep, p_.EvaluateTrue(batch));
    batch.Compact(keep);
    return Status::Ok();
  }

 private:
  ScalarExpr p_;
};

class FilterSpec : public OperatorSpec {
 public:
  explicit FilterSpec(ScalarExpr p) : p_(std::move(p)) {}
  std::string_view kind() const override { return "view_filter"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext&) const override {
    return std::unique_ptr<Operator>(new Filter(p_));
  }

 private:
  ScalarExpr p_;
};

class Project : public Operator {
 public:
  Project(std::vector<ScalarExpr> exprs, std::vector<std::string> names)
      : exprs_(std::move(exprs)), names_(std::move(names)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    std::vector<Column> cols;
    cols.reserve(exprs_.size());
    for (const auto& e : exprs_) {
      PS_ASSIGN_OR_RETURN(Column c, e.Evaluate(batch));
      cols.push_back(std::move(c));
    }
    while (batch.num_columns() > 0) batch.RemoveColumn(batch.num_columns() - 1);
    for (std::size_t i = 0; i < cols.size(); ++i) batch.AddColumn(names_[i], std::move(cols[i]));
    return Status::Ok();
  }

 private:
  std::vector<ScalarExpr> exprs_;
  std::vector<std::string> names_;
};

class ProjectSpec : public OperatorSpec {
 public:
  ProjectSpec(std::vector<ScalarExpr> exprs, std::vector<std::string> names)
      : exprs_(std::move(exprs)), names_(std::move(names)) {}
  std::string_view kind() const override { return "view_project"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext&) const override {
    return std::unique_ptr<Operator>(new Project(exprs_, names_));
  }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    StreamSchema out = inputs.empty() ? StreamSchema::Unknown() : inputs.front();
    std::vector<Field> fields;
    for (std::size_t i = 0; i < exprs_.size(); ++i) fields.push_back({names_[i], exprs_[i].type()});
    out.schema = Schema(fields);
    out.complete = true;
    out.key_columns.clear();
    return out;
  }

 private:
  std::vector<ScalarExpr> exprs_;
  std::vector<std::string> names_;
};

// --- Distinct ----------------------------------------------------------------------------

class Distinct : public Operator {
 public:
  Distinct(StateTable* table, std::uint16_t tag) : table_(table), tag_(tag) {}

  Status Process(RecordBatch& batch, OperatorContext&) override {
    std::vector<int> all(batch.num_columns());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    std::string row, key, value;
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      std::int64_t w = batch.weight(r);
      if (w == 0) continue;
      row.clear();
      EncodeKey(batch, all, r, &row);
      key.clear();
      key.push_back(static_cast<char>(StatePartitionOf(HashBytes(row))));
      key.push_back('D');
      key += row;
      auto it = touched_.find(key);
      if (it == touched_.end()) {
        Touched t;
        bool found = false;
        PS_RETURN_IF_ERROR(table_->Get(key, &value, &found));
        if (found) {
          ByteReader rd(value);
          std::uint64_t c = 0;
          if (!rd.GetVarint64(&c)) return Damaged("distinct");
          t.before = UnZigZag(c);
        }
        t.count = t.before;
        t.sample = static_cast<std::uint32_t>(samples_.num_rows());
        it = touched_.emplace(key, t).first;
        // Keep the row's values for the output (the batch is consumed below).
        std::uint32_t one = static_cast<std::uint32_t>(r);
        RecordBatch copy = batch.Take(std::span<const std::uint32_t>(&one, 1));
        if (samples_.num_columns() == 0 && samples_.num_rows() == 0) {
          samples_ = std::move(copy);
        } else {
          PS_RETURN_IF_ERROR(samples_.Append(copy));
        }
      }
      it->second.count += w;
    }
    batch.Compact(std::vector<std::uint8_t>(batch.num_rows(), 0));
    return Status::Ok();
  }

  Status Finish(OperatorContext&, std::vector<RecordBatch>* out) override {
    std::vector<const std::pair<const std::string, Touched>*> order;
    for (const auto& e : touched_) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
    std::vector<std::uint32_t> rows;
    std::vector<std::int64_t> weights;
    for (const auto* e : order) {
      const Touched& t = e->second;
      if (t.count < 0) {
        return InvalidArgument("distinct: a row was retracted more often than inserted");
      }
      if (t.count == 0) {
        PS_RETURN_IF_ERROR(table_->Delete(e->first));
      } else if (t.count != t.before) {
        std::string v;
        PutVarint64(&v, ZigZag(t.count));
        PS_RETURN_IF_ERROR(table_->Put(e->first, v));
      }
      bool was = t.before > 0, is = t.count > 0;
      if (was == is) continue;
      rows.push_back(t.sample);
      weights.push_back(is ? +1 : -1);
    }
    if (!rows.empty()) {
      RecordBatch b = samples_.Take(rows);
      b.SetWeights(std::move(weights));
      b.set_input_tag(tag_);
      out->push_back(std::move(b));
    }
    touched_.clear();
    samples_ = RecordBatch();
    return Status::Ok();
  }

 private:
  struct Touched {
    std::int64_t before = 0, count = 0;
    std::uint32_t sample = 0;  // row of samples_
  };
  StateTable* table_;
  std::uint16_t tag_;
  std::unordered_map<std::string, Touched> touched_;
  RecordBatch samples_;  // one row per touched key
};

class DistinctSpec : public OperatorSpec {
 public:
  explicit DistinctSpec(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  std::string_view kind() const override { return "view_distinct"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
    if (ctx.table == nullptr) return Internal("view_distinct: no state table");
    return std::unique_ptr<Operator>(new Distinct(ctx.table, OutputTag(ctx)));
  }
  std::vector<std::string> KeyColumns() const override { return columns_; }
  bool stateful() const override { return true; }
  bool uses_state_table() const override { return true; }
  std::string StateFingerprint() const override {
    std::string f = "view_distinct";
    for (const auto& c : columns_) f += " " + c;
    return f;
  }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    StreamSchema out = inputs.empty() ? StreamSchema::Unknown() : inputs.front();
    out.changes = ChangeKind::kChanges;
    return out;
  }

 private:
  std::vector<std::string> columns_;
};

// --- Aggregate ---------------------------------------------------------------------------

bool KeepsValues(const ViewAggregateCall& c) {
  return c.distinct || c.function == "min" || c.function == "max" || c.function == "median" ||
         c.function == "percentile_approx" || c.function == "percentile_disc";
}

struct CallState {
  TypeId type = TypeId::kNull;  // of the values seen
  std::int64_t n = 0;           // weighted non-null values (count(*): rows passing FILTER)
  std::int64_t isum = 0;
  double dsum = 0;
  std::map<std::string, std::int64_t> values;  // ordered bytes → weighted count
};

struct GroupState {
  std::int64_t rows = 0;  // weighted rows of the group
  std::string group;      // EncodeKey of the group columns
  std::vector<CallState> calls;

  std::string Encode() const {
    std::string s;
    PutVarint64(&s, ZigZag(rows));
    PutLengthPrefixed(&s, group);
    PutVarint64(&s, calls.size());
    for (const auto& c : calls) {
      s.push_back(static_cast<char>(c.type));
      PutVarint64(&s, ZigZag(c.n));
      PutVarint64(&s, ZigZag(c.isum));
      std::uint64_t bits;
      std::memcpy(&bits, &c.dsum, 8);
      PutFixed64(&s, bits);
      PutVarint64(&s, c.values.size());
      for (const auto& [k, n] : c.values) {
        PutLengthPrefixed(&s, k);
        PutVarint64(&s, ZigZag(n));
      }
    }
    return s;
  }
  Status Decode(std::string_view v) {
    ByteReader r(v);
    std::uint64_t u = 0, nc = 0;
    std::string_view g;
    if (!r.GetVarint64(&u) || !r.GetLengthPrefixed(&g) || !r.GetVarint64(&nc) || nc > 4096)
      return Damaged("aggregate");
    rows = UnZigZag(u);
    group = std::string(g);
    calls.assign(nc, CallState{});
    for (auto& c : calls) {
      std::uint8_t t = 0;
      std::uint64_t n = 0, is = 0, ds = 0, nv = 0;
      if (!r.GetByte(&t) || !r.GetVarint64(&n) || !r.GetVarint64(&is) || !r.GetFixed64(&ds) ||
          !r.GetVarint64(&nv))
        return Damaged("aggregate");
      c.type = static_cast<TypeId>(t);
      c.n = UnZigZag(n);
      c.isum = UnZigZag(is);
      std::memcpy(&c.dsum, &ds, 8);
      for (std::uint64_t i = 0; i < nv; ++i) {
        std::string_view k;
        std::uint64_t cnt = 0;
        if (!r.GetLengthPrefixed(&k) || !r.GetVarint64(&cnt)) return Damaged("aggregate");
        c.values.emplace_hint(c.values.end(), std::string(k), UnZigZag(cnt));
      }
    }
    return Status::Ok();
  }
};

class Aggregate : public Operator {
 public:
  void set_owns_global_row(bool owns) { owns_global_row_ = owns; }

  Aggregate(const ViewAggregateConfig& c, StateTable* table, std::uint16_t tag)
      : c_(c), table_(table), tag_(tag) {
    for (int i = 0; i < c_.groups; ++i) gcols_.push_back(i);
  }

  Status Process(RecordBatch& batch, OperatorContext&) override {
    if (batch.num_columns() < static_cast<std::size_t>(c_.groups)) {
      return Internal("view aggregate: the input lacks its group columns");
    }
    std::string group, key;
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      std::int64_t w = batch.weight(r);
      if (w == 0) continue;
      group.clear();
      EncodeKey(batch, gcols_, r, &group);
      PS_ASSIGN_OR_RETURN(GroupState * g, Touch(group));
      g->rows += w;
      for (std::size_t k = 0; k < c_.calls.size(); ++k) {
        PS_RETURN_IF_ERROR(Add(c_.calls[k], g->calls[k], batch, r, w));
      }
    }
    batch.Compact(std::vector<std::uint8_t>(batch.num_rows(), 0));
    return Status::Ok();
  }

  Status Finish(OperatorContext&, std::vector<RecordBatch>* out) override {
    if (c_.groups == 0 && owns_global_row_) {
      // The global row exists from the first batch on, whether rows came or not.
      PS_RETURN_IF_ERROR(Touch(std::string()).status());
    }
    std::vector<std::pair<const std::string, Touched>*> order;
    for (auto& e : touched_) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
    RecordBatch b = NewOutput(), scratch = NewOutput();
    std::vector<std::int64_t> weights;
    for (auto* e : order) {
      Touched& t = e->second;
      if (t.state.rows < 0) {
        return InvalidArgument("aggregate: a group's rows were retracted more often than inserted");
      }
      const bool now = t.state.rows > 0 || c_.groups == 0;
      std::string after = t.state.Encode();
      if (t.old.has_value() && *t.old == after) continue;
      if (t.old.has_value()) {
        GroupState before;
        PS_RETURN_IF_ERROR(before.Decode(*t.old));
        before.calls.resize(c_.calls.size());
        if (!SameRow(before, t.state, scratch) || !now) {
          PS_RETURN_IF_ERROR(AppendRow(b, before));
          weights.push_back(-1);
          if (now) {
            PS_RETURN_IF_ERROR(AppendRow(b, t.state));
            weights.push_back(+1);
          }
        }
      } else if (now) {
        PS_RETURN_IF_ERROR(AppendRow(b, t.state));
        weights.push_back(+1);
      }
      if (now) {
        PS_RETURN_IF_ERROR(table_->Put(e->first, after));
      } else {
        PS_RETURN_IF_ERROR(table_->Delete(e->first));
      }
    }
    touched_.clear();
    if (!weights.empty()) {
      b.row_ids().resize(weights.size());  // the engine gives emitted rows fresh ids
      b.SetWeights(std::move(weights));
      out->push_back(std::move(b));
    }
    return Status::Ok();
  }

 private:
  struct Touched {
    std::optional<std::string> old;
    GroupState state;
  };

  Result<GroupState*> Touch(const std::string& group) {
    std::string key;
    key.push_back(static_cast<char>(StatePartitionOf(HashBytes(group))));
    key.push_back('A');
    key += group;
    auto it = touched_.find(key);
    if (it != touched_.end()) return &it->second.state;
    Touched t;
    std::string value;
    bool found = false;
    PS_RETURN_IF_ERROR(table_->Get(key, &value, &found));
    if (found) {
      PS_RETURN_IF_ERROR(t.state.Decode(value));
      t.old = std::move(value);
    } else {
      t.state.group = group;
    }
    t.state.calls.resize(c_.calls.size());
    return &touched_.emplace(std::move(key), std::move(t)).first->second.state;
  }

  static Status Add(const ViewAggregateCall& c, CallState& s, const RecordBatch& batch,
                    std::size_t r, std::int64_t w) {
    if (c.filter >= 0) {
      const Column& f = batch.column(static_cast<std::size_t>(c.filter));
      if (f.type() == TypeId::kNull || f.IsNull(r)) return Status::Ok();
      bool pass = f.type() == TypeId::kDouble ? f.Double(r) != 0 : f.Int(r) != 0;
      if (!pass) return Status::Ok();
    }
    if (c.arg < 0) {  // count(*)
      s.n += w;
      return Status::Ok();
    }
    const Column& col = batch.column(static_cast<std::size_t>(c.arg));
    if (col.type() == TypeId::kNull || col.IsNull(r)) return Status::Ok();
    s.type = col.type();
    if (KeepsValues(c)) {
      std::string v;
      PutOrdered(col, r, &v);
      auto it = s.values.emplace(std::move(v), 0).first;
      it->second += w;
      if (it->second == 0) s.values.erase(it);
      if (c.distinct) return Status::Ok();  // counted from the values
    }
    s.n += w;
    if (c.function == "sum" || c.function == "avg") {
      if (col.type() == TypeId::kDouble) {
        s.dsum += static_cast<double>(w) * col.Double(r);
      } else {
        std::int64_t p = 0;
        if (__builtin_mul_overflow(col.Int(r), w, &p) ||
            __builtin_add_overflow(s.isum, p, &s.isum)) {
          return InvalidArgument(c.function + ": integer overflow");
        }
      }
    }
    return Status::Ok();
  }

  RecordBatch NewOutput() const {
    RecordBatch b;
    for (std::size_t i = 0; i < c_.names.size(); ++i) {
      TypeId t = i < static_cast<std::size_t>(c_.groups) ? c_.group_types[i]
                                                         : c_.calls[i - c_.groups].type;
      b.AddColumn(c_.names[i], Column(t));
    }
    b.set_input_tag(tag_);
    return b;
  }

  // Whether two states give the same output row; `scratch` (a NewOutput() batch reused for the
  // batch's groups) gets both rows appended.
  bool SameRow(const GroupState& a, const GroupState& b, RecordBatch& scratch) const {
    const std::size_t x = scratch.num_rows();
    if (!AppendRow(scratch, a).ok() || !AppendRow(scratch, b).ok()) {
      scratch = NewOutput();  // columns of uneven lengths now (the caller fails on that state)
      return false;
    }
    scratch.row_ids().resize(x + 2);
    for (std::size_t i = 0; i < scratch.num_columns(); ++i) {
      const Column& c = scratch.column(i);
      if (c.IsNull(x) != c.IsNull(x + 1)) return false;
      if (!c.IsNull(x) && c.GetValue(x).Compare(c.GetValue(x + 1)) != 0) return false;
    }
    return true;
  }

  Status AppendRow(RecordBatch& b, const GroupState& s) const {
    ByteReader r(s.group);
    for (int i = 0; i < c_.groups; ++i) {
      if (!AppendKeyValue(r, b.column(static_cast<std::size_t>(i)))) return Damaged("aggregate");
    }
    for (std::size_t k = 0; k < c_.calls.size(); ++k) {
      const ViewAggregateCall& c = c_.calls[k];
      const CallState& cs = s.calls[k];
      Column& col = b.column(static_cast<std::size_t>(c_.groups) + k);
      const std::string& f = c.function;
      std::int64_t n = c.distinct ? static_cast<std::int64_t>(cs.values.size()) : cs.n;
      if (f == "count") {
        col.AppendInt(n);
        continue;
      }
      if (n <= 0) {
        col.AppendNull();
        continue;
      }
      if (f == "sum" || f == "avg") {
        double dsum = cs.dsum;
        std::int64_t isum = cs.isum;
        if (c.distinct) {  // over the distinct values
          dsum = 0;
          isum = 0;
          for (const auto& [v, cnt] : cs.values) {
            Column one(cs.type == TypeId::kDouble ? TypeId::kDouble : TypeId::kInt64);
            AppendOrdered(one, v, cs.type);
            if (one.type() == TypeId::kDouble) {
              dsum += one.Double(0);
            } else if (__builtin_add_overflow(isum, one.Int(0), &isum)) {
              return InvalidArgument(f + ": integer overflow");
            }
          }
        }
        bool dbl = cs.type == TypeId::kDouble;
        if (f == "avg") {
          col.AppendDouble((dbl ? dsum : static_cast<double>(isum)) / static_cast<double>(n));
        } else if (col.type() == TypeId::kDouble) {
          col.AppendDouble(dbl ? dsum : static_cast<double>(isum));
        } else {
          col.AppendInt(isum);
        }
        continue;
      }
      if (cs.values.empty()) {
        col.AppendNull();
        continue;
      }
      if (f == "min") {
        AppendOrdered(col, cs.values.begin()->first, cs.type);
        continue;
      }
      if (f == "max") {
        AppendOrdered(col, cs.values.rbegin()->first, cs.type);
        continue;
      }
      // median, percentile_approx, percentile_disc: the value at rank max(1, ceil(p·n)).
      auto rank = static_cast<std::int64_t>(std::ceil(c.fraction * static_cast<double>(n)));
      rank = std::clamp<std::int64_t>(rank, 1, n);
      std::int64_t seen = 0;
      for (const auto& [v, cnt] : cs.values) {
        seen += cnt;
        if (seen >= rank) {
          AppendOrdered(col, v, cs.type);
          break;
        }
      }
    }
    return Status::Ok();
  }

  ViewAggregateConfig c_;
  StateTable* table_;
  std::uint16_t tag_;
  bool owns_global_row_ = true;
  std::vector<int> gcols_;
  std::unordered_map<std::string, Touched> touched_;
};

class AggregateSpec : public OperatorSpec {
 public:
  explicit AggregateSpec(ViewAggregateConfig c) : c_(std::move(c)) {}
  std::string_view kind() const override { return "view_aggregate"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
    if (ctx.table == nullptr) return Internal("view_aggregate: no state table");
    auto op = std::make_unique<Aggregate>(c_, ctx.table, OutputTag(ctx));
    // A global aggregate's rows all go to the shard of the empty key (gathers_all_rows); only
    // that shard's instance has the global row.
    op->set_owns_global_row(ShardOfHash(HashBytes(""), std::max(1, ctx.num_shards)) == ctx.shard);
    return std::unique_ptr<Operator>(std::move(op));
  }
  bool gathers_all_rows() const override { return c_.groups == 0; }
  std::vector<std::string> KeyColumns() const override {
    return std::vector<std::string>(c_.names.begin(), c_.names.begin() + c_.groups);
  }
  bool stateful() const override { return true; }
  bool uses_state_table() const override { return true; }
  std::string StateFingerprint() const override { return "view_aggregate " + c_.fingerprint; }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema>) const override {
    StreamSchema out;
    std::vector<Field> fields;
    for (std::size_t i = 0; i < c_.names.size(); ++i) {
      TypeId t = i < static_cast<std::size_t>(c_.groups) ? c_.group_types[i]
                                                         : c_.calls[i - c_.groups].type;
      fields.push_back({c_.names[i], t});
    }
    out.schema = Schema(fields);
    out.complete = true;
    out.changes = ChangeKind::kChanges;
    return out;
  }

 private:
  ViewAggregateConfig c_;
};

}  // namespace

std::shared_ptr<const OperatorSpec> MakeViewFilter(ScalarExpr predicate) {
  return std::make_shared<FilterSpec>(std::move(predicate));
}

std::shared_ptr<const OperatorSpec> MakeViewProject(std::vector<ScalarExpr> exprs,
                                                    std::vector<std::string> names) {
  return std::make_shared<ProjectSpec>(std::move(exprs), std::move(names));
}

std::shared_ptr<const OperatorSpec> MakeViewDistinct(std::vector<std::string> columns) {
  return std::make_shared<DistinctSpec>(std::move(columns));
}

std::shared_ptr<const OperatorSpec> MakeViewAggregate(ViewAggregateConfig config) {
  return std::make_shared<AggregateSpec>(std::move(config));
}

}  // namespace pinstream::views
