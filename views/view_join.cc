#include "views/view_join.h"

#include <array>
#include <map>

#include "engine/state_codec.h"
#include "views/view_rows.h"

namespace pinstream::views {
namespace {

using internal::DecodeRow;
using internal::PrefixEnd;
using internal::RowsOut;

// State keys: [partition]['J'][side '0' | '1'][key bytes][row bytes] → ZigZag varint count.
using RowCounts = std::map<std::string, std::int64_t>;  // row bytes → count

class Join : public Operator {
 public:
  Join(const ViewJoinConfig& c, StateTable* table, std::uint16_t left_tag, std::uint16_t tag)
      : c_(c), table_(table), left_tag_(left_tag), tag_(tag) {
    std::vector<std::string> names = c_.names;
    std::vector<TypeId> types = c_.left_types;
    types.insert(types.end(), c_.right_types.begin(), c_.right_types.end());
    out_ = std::make_unique<RowsOut>(std::move(names), std::move(types));
    nulls_.resize(c_.right_types.size());
  }

  Status Process(RecordBatch& batch, OperatorContext&) override {
    int side = batch.input_tag() == left_tag_ ? 0 : 1;
    const std::vector<int>& keys = side == 0 ? c_.left_keys : c_.right_keys;
    std::size_t width = side == 0 ? c_.left_types.size() : c_.right_types.size();
    if (batch.num_columns() != width) {
      return Internal("view_join: an input batch has " + std::to_string(batch.num_columns()) +
                      " columns, not " + std::to_string(width));
    }
    std::vector<int> all(width);
    for (std::size_t i = 0; i < width; ++i) all[i] = static_cast<int>(i);
    std::string key, row;
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      std::int64_t w = batch.weight(r);
      if (w == 0) continue;
      bool null_key = false;
      for (int k : keys) {
        const auto& col = batch.column(static_cast<std::size_t>(k));
        null_key = null_key || col.type() == TypeId::kNull || col.IsNull(r);
      }
      row.clear();
      EncodeKey(batch, all, r, &row);
      if (null_key) {
        // Never matches: a left join's left row passes with nulls; anything else is dropped.
        if (side == 0 && c_.join == JoinKind::kLeft) unmatched_[row] += w;
        continue;
      }
      key.clear();
      EncodeKey(batch, keys, r, &key);
      deltas_[key][side][row] += w;
    }
    batch.Compact(std::vector<std::uint8_t>(batch.num_rows(), 0));
    return Status::Ok();
  }

  Status Finish(OperatorContext&, std::vector<RecordBatch>* out) override {
    std::vector<Value> a, b;
    for (const auto& [row, w] : unmatched_) {
      PS_RETURN_IF_ERROR(Decode(row, 0, &a));
      out_->Add({&a, &nulls_}, w);
    }
    unmatched_.clear();
    for (auto& [key, d] : deltas_) PS_RETURN_IF_ERROR(Key(key, d[0], d[1]));
    deltas_.clear();
    if (!out_->empty()) {
      PS_ASSIGN_OR_RETURN(RecordBatch batch, out_->Build(tag_));
      out->push_back(std::move(batch));
    }
    return Status::Ok();
  }

 private:
  static std::string Prefix(const std::string& key, int side) {
    std::string p;
    p.push_back(static_cast<char>(StatePartitionOf(HashBytes(key))));
    p.push_back('J');
    p.push_back(side == 0 ? '0' : '1');
    p += key;
    return p;
  }

  Status Load(const std::string& prefix, RowCounts* rows) {
    Status bad = Status::Ok();
    PS_RETURN_IF_ERROR(
        table_->Scan(prefix, PrefixEnd(prefix), [&](std::string_view k, std::string_view v) {
          ByteReader rd(v);
          std::uint64_t c = 0;
          if (!rd.GetVarint64(&c)) {
            bad = Corruption("view_join: a state entry is damaged");
            return false;
          }
          (*rows)[std::string(k.substr(prefix.size()))] = UnZigZag(c);
          return true;
        }));
    return bad;
  }

  Status Decode(const std::string& row, int side, std::vector<Value>* out) {
    std::size_t n = side == 0 ? c_.left_types.size() : c_.right_types.size();
    if (!DecodeRow(row, n, out)) return Corruption("view_join: a state row is damaged");
    return Status::Ok();
  }

  static std::int64_t Total(const RowCounts& rows) {
    std::int64_t n = 0;
    for (const auto& [r, c] : rows) n += c;
    return n;
  }

  // Writes side `side`'s delta of one key into the state (`old`: its rows before, if loaded).
  Status Apply(const std::string& prefix, const RowCounts& delta, const RowCounts* old) {
    std::string value;
    for (const auto& [row, w] : delta) {
      if (w == 0) continue;
      std::int64_t before = 0;
      if (old != nullptr) {
        auto it = old->find(row);
        if (it != old->end()) before = it->second;
      } else {
        bool found = false;
        PS_RETURN_IF_ERROR(table_->Get(prefix + row, &value, &found));
        if (found) {
          ByteReader rd(value);
          std::uint64_t c = 0;
          if (!rd.GetVarint64(&c)) return Corruption("view_join: a state entry is damaged");
          before = UnZigZag(c);
        }
      }
      std::int64_t now = before + w;
      if (now < 0)
        return InvalidArgument("view_join: a row was retracted more often than inserted");
      if (now == 0) {
        PS_RETURN_IF_ERROR(table_->Delete(prefix + row));
      } else {
        value.clear();
        PutVarint64(&value, ZigZag(now));
        PS_RETURN_IF_ERROR(table_->Put(prefix + row, value));
      }
    }
    return Status::Ok();
  }

  // One key's changes: da (left) and db (right).
  Status Key(const std::string& key, const RowCounts& da, const RowCounts& db) {
    bool left = c_.join == JoinKind::kLeft;
    std::string pa = Prefix(key, 0), pb = Prefix(key, 1);
    RowCounts a_old, b_old;
    bool need_b = !da.empty() || (left && !db.empty());
    bool need_a = !db.empty();
    if (need_a) PS_RETURN_IF_ERROR(Load(pa, &a_old));
    if (need_b) PS_RETURN_IF_ERROR(Load(pb, &b_old));
    RowCounts b_new = b_old;
    for (const auto& [row, w] : db) {
      if ((b_new[row] += w) == 0) b_new.erase(row);
    }
    std::vector<Value> av, bv;
    // ΔA ⋈ B_new
    if (!da.empty() && !b_new.empty()) {
      std::vector<std::pair<std::vector<Value>, std::int64_t>> bs;
      for (const auto& [row, c] : b_new) {
        PS_RETURN_IF_ERROR(Decode(row, 1, &bv));
        bs.emplace_back(bv, c);
      }
      for (const auto& [row, w] : da) {
        if (w == 0) continue;
        PS_RETURN_IF_ERROR(Decode(row, 0, &av));
        for (const auto& [vals, c] : bs) out_->Add({&av, &vals}, w * c);
      }
    }
    // A_old ⋈ ΔB
    if (!db.empty() && !a_old.empty()) {
      std::vector<std::pair<std::vector<Value>, std::int64_t>> ds;
      for (const auto& [row, w] : db) {
        if (w == 0) continue;
        PS_RETURN_IF_ERROR(Decode(row, 1, &bv));
        ds.emplace_back(bv, w);
      }
      for (const auto& [row, c] : a_old) {
        PS_RETURN_IF_ERROR(Decode(row, 0, &av));
        for (const auto& [vals, w] : ds) out_->Add({&av, &vals}, c * w);
      }
    }
    if (left) {
      // Unmatched left rows: A·[B empty], before and after.
      bool empty_old = Total(b_old) == 0, empty_new = Total(b_new) == 0;
      if (empty_old && empty_new) {
        for (const auto& [row, w] : da) {
          PS_RETURN_IF_ERROR(Decode(row, 0, &av));
          out_->Add({&av, &nulls_}, w);
        }
      } else if (empty_old && !empty_new) {
        for (const auto& [row, c] : a_old) {
          PS_RETURN_IF_ERROR(Decode(row, 0, &av));
          out_->Add({&av, &nulls_}, -c);
        }
      } else if (!empty_old && empty_new) {
        RowCounts a_new = a_old;
        for (const auto& [row, w] : da) {
          if ((a_new[row] += w) == 0) a_new.erase(row);
        }
        for (const auto& [row, c] : a_new) {
          PS_RETURN_IF_ERROR(Decode(row, 0, &av));
          out_->Add({&av, &nulls_}, c);
        }
      }
    }
    PS_RETURN_IF_ERROR(Apply(pa, da, need_a ? &a_old : nullptr));
    PS_RETURN_IF_ERROR(Apply(pb, db, need_b ? &b_old : nullptr));
    return Status::Ok();
  }

  ViewJoinConfig c_;
  StateTable* table_;
  std::uint16_t left_tag_, tag_;
  std::unique_ptr<RowsOut> out_;
  std::vector<Value> nulls_;
  // This batch's changes by key: [0] the left's rows, [1] the right's.
  std::map<std::string, std::array<RowCounts, 2>> deltas_;
  RowCounts unmatched_;  // left rows with a NULL key (left join)
};

class JoinSpec : public OperatorSpec {
 public:
  explicit JoinSpec(ViewJoinConfig c) : c_(std::move(c)) {}
  std::string_view kind() const override { return "view_join"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
    if (ctx.table == nullptr) return Internal("view_join: no state table");
    if (ctx.input_tags.size() != 2) return Internal("view_join: reads two inputs");
    return std::unique_ptr<Operator>(new Join(c_, ctx.table, ctx.input_tags[0], ctx.output_tag));
  }
  std::vector<std::string> KeyColumns() const override { return KeyColumnsOf(0); }
  std::vector<std::string> KeyColumnsOf(std::size_t input) const override {
    const auto& keys = input == 0 ? c_.left_keys : c_.right_keys;
    const auto& names = input == 0 ? c_.left_names : c_.right_names;
    std::vector<std::string> out;
    for (int k : keys) out.push_back(names.at(static_cast<std::size_t>(k)));
    return out;
  }
  bool gathers_all_rows() const override { return c_.left_keys.empty(); }
  bool stateful() const override { return true; }
  bool uses_state_table() const override { return true; }
  std::string StateFingerprint() const override { return "view_join " + c_.fingerprint; }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema>) const override {
    StreamSchema out;
    std::vector<Field> fields;
    for (std::size_t i = 0; i < c_.names.size(); ++i) {
      TypeId t =
          i < c_.left_types.size() ? c_.left_types[i] : c_.right_types[i - c_.left_types.size()];
      fields.push_back({c_.names[i], t});
    }
    out.schema = Schema(fields);
    out.complete = true;
    out.changes = ChangeKind::kChanges;
    return out;
  }

 private:
  ViewJoinConfig c_;
};

class UnionAll : public Operator {
 public:
  UnionAll(std::vector<std::string> names, std::vector<TypeId> types)
      : names_(std::move(names)), types_(std::move(types)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    if (batch.num_columns() != names_.size()) {
      return Internal("view_union_all: an input batch has " + std::to_string(batch.num_columns()) +
                      " columns, not " + std::to_string(names_.size()));
    }
    for (std::size_t i = 0; i < names_.size(); ++i) {
      batch.RenameColumn(i, names_[i]);
      const ::pinstream::Column& col = batch.column(i);
      if (col.type() == types_[i]) continue;
      // The union's column type is the sides' common type: an integer side becomes double, a
      // column of unknown type (all null) takes the union's.
      if (col.type() == TypeId::kNull || types_[i] == TypeId::kDouble) {
        ::pinstream::Column c(types_[i]);
        for (std::size_t r = 0; r < batch.num_rows(); ++r) {
          if (col.type() == TypeId::kNull || col.IsNull(r)) {
            c.AppendNull();
          } else if (col.type() == TypeId::kDouble) {
            c.AppendDouble(col.Double(r));
          } else if (IsIntegerLike(col.type())) {
            c.AppendDouble(static_cast<double>(col.Int(r)));
          } else {
            return InvalidArgument("UNION column " + names_[i] + " is " +
                                   std::string(TypeName(col.type())) + ", not double");
          }
        }
        batch.SetColumn(i, std::move(c));
      }
    }
    return Status::Ok();
  }

 private:
  std::vector<std::string> names_;
  std::vector<TypeId> types_;
};

class UnionAllSpec : public OperatorSpec {
 public:
  UnionAllSpec(std::vector<std::string> names, std::vector<TypeId> types)
      : names_(std::move(names)), types_(std::move(types)) {}
  std::string_view kind() const override { return "view_union_all"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext&) const override {
    return std::unique_ptr<Operator>(new UnionAll(names_, types_));
  }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema>) const override {
    StreamSchema out;
    std::vector<Field> fields;
    for (std::size_t i = 0; i < names_.size(); ++i) fields.push_back({names_[i], types_[i]});
    out.schema = Schema(fields);
    out.complete = true;
    out.changes = ChangeKind::kChanges;
    return out;
  }

 private:
  std::vector<std::string> names_;
  std::vector<TypeId> types_;
};

}  // namespace

std::shared_ptr<const OperatorSpec> MakeViewJoin(ViewJoinConfig config) {
  return std::make_shared<JoinSpec>(std::move(config));
}

std::shared_ptr<const OperatorSpec> MakeViewUnionAll(std::vector<std::string> names,
                                                     std::vector<TypeId> types) {
  return std::make_shared<UnionAllSpec>(std::move(names), std::move(types));
}

}  // namespace pinstream::views
