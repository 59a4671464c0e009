#include "views/view_join.h"

#include <algorithm>
#include <array>
#include <map>
#include <unordered_map>

#include "engine/state_codec.h"
#include "views/view_rows.h"

namespace pinstream::views {
namespace {

using internal::DecodeRow;
using internal::PrefixEnd;
using internal::RowsOut;

// State, per side (0 left, 1 right) and join key:
//   [partition]['J'][side][key]        → the key's bucket: varint mode, then
//       mode 0 (inline): (length-prefixed row bytes, ZigZag varint count) per distinct row, in
//                        row-byte order — while it stays under kInlineBytes;
//       mode 1 (spilled): varint count of distinct rows; each row is then an entry of its own:
//   [partition]['j'][side][key][row]   → ZigZag varint count (a spilled bucket's rows)
// A key without rows on a side has no bucket. So a batch reads every key it touches with point
// reads (prefetched together: one MultiGet), and only a key with many rows costs a prefix scan
// (when its rows are needed: the other side changed) and a point read per changed row.
constexpr std::size_t kInlineBytes = 1024;

using Rows = std::vector<std::pair<std::string, std::int64_t>>;  // row bytes → count, by row

// Sorts `rows` by row and merges duplicates, dropping the rows whose weights cancel.
void Consolidate(Rows* rows) {
  std::sort(rows->begin(), rows->end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::size_t out = 0;
  for (std::size_t i = 0; i < rows->size();) {
    std::size_t j = i;
    std::int64_t w = 0;
    for (; j < rows->size() && (*rows)[j].first == (*rows)[i].first; ++j) w += (*rows)[j].second;
    if (w != 0) {
      if (out != i) (*rows)[out].first = std::move((*rows)[i].first);
      (*rows)[out].second = w;
      ++out;
    }
    i = j;
  }
  rows->resize(out);
}

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
    if (all_[side].size() != width) {
      all_[side].resize(width);
      for (std::size_t i = 0; i < width; ++i) all_[side][i] = static_cast<int>(i);
    }
    std::string row;
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      std::int64_t w = batch.weight(r);
      if (w == 0) continue;
      bool null_key = false;
      for (int k : keys) {
        const auto& col = batch.column(static_cast<std::size_t>(k));
        null_key = null_key || col.type() == TypeId::kNull || col.IsNull(r);
      }
      row.clear();
      EncodeKey(batch, all_[side], r, &row);
      if (null_key) {
        // Never matches: a left join's left row passes with nulls; anything else is dropped.
        if (side == 0 && c_.join == JoinKind::kLeft) unmatched_[row] += w;
        continue;
      }
      key_.clear();
      EncodeKey(batch, keys, r, &key_);
      auto [it, added] = index_.try_emplace(key_, deltas_.size());
      if (added) deltas_.emplace_back().key = key_;
      deltas_[it->second].rows[side].emplace_back(row, w);
    }
    batch.Compact(std::vector<std::uint8_t>(batch.num_rows(), 0));
    return Status::Ok();
  }

  Status Finish(OperatorContext&, std::vector<RecordBatch>* out) override {
    std::vector<Value> a;
    for (const auto& [row, w] : unmatched_) {
      if (w == 0) continue;
      PS_RETURN_IF_ERROR(Decode(row, 0, &a));
      out_->Add({&a, &nulls_}, w);
    }
    unmatched_.clear();
    index_.clear();
    std::sort(deltas_.begin(), deltas_.end(),
              [](const KeyDelta& x, const KeyDelta& y) { return x.key < y.key; });
    // Every touched key's buckets, read from storage at once.
    std::vector<std::string> heads;
    heads.reserve(2 * deltas_.size());
    for (auto& d : deltas_) {
      d.prefix.push_back(static_cast<char>(StatePartitionOf(HashBytes(d.key))));
      for (int side = 0; side < 2; ++side) {
        Consolidate(&d.rows[side]);
        heads.push_back(Head(d, side));
      }
    }
    PS_RETURN_IF_ERROR(table_->Prefetch({heads.begin(), heads.end()}));
    for (std::size_t i = 0; i < deltas_.size(); ++i) {
      PS_RETURN_IF_ERROR(Key(deltas_[i], heads[2 * i], heads[2 * i + 1]));
    }
    deltas_.clear();
    if (!out_->empty()) {
      PS_ASSIGN_OR_RETURN(RecordBatch batch, out_->Build(tag_));
      out->push_back(std::move(batch));
    }
    return Status::Ok();
  }

 private:
  struct KeyDelta {
    std::string key;
    std::string prefix;        // the partition byte
    std::array<Rows, 2> rows;  // this batch's changes of each side
  };
  // One side's rows of one key.
  struct Bucket {
    bool spilled = false;
    std::int64_t distinct = 0;  // distinct rows (0: no bucket)
    bool loaded = false;        // `rows` holds every row
    Rows rows;                  // by row bytes
  };

  static std::string Head(const KeyDelta& d, int side) {
    std::string h = d.prefix;
    h.push_back('J');
    h.push_back(side == 0 ? '0' : '1');
    h += d.key;
    return h;
  }
  static std::string RowPrefix(const KeyDelta& d, int side) {
    std::string h = d.prefix;
    h.push_back('j');
    h.push_back(side == 0 ? '0' : '1');
    h += d.key;
    return h;
  }

  static Status Damaged() { return Corruption("view_join: a state entry is damaged"); }

  Status ReadHead(const std::string& head, Bucket* b) {
    bool found = false;
    PS_RETURN_IF_ERROR(table_->Get(head, &value_, &found));
    *b = Bucket();
    if (!found) {
      b->loaded = true;
      return Status::Ok();
    }
    ByteReader rd(value_);
    std::uint64_t mode = 0;
    if (!rd.GetVarint64(&mode)) return Damaged();
    if (mode == 1) {
      std::uint64_t n = 0;
      if (!rd.GetVarint64(&n) || n == 0) return Damaged();
      b->spilled = true;
      b->distinct = static_cast<std::int64_t>(n);
      return Status::Ok();
    }
    if (mode != 0) return Damaged();
    while (rd.remaining() > 0) {
      std::string_view row;
      std::uint64_t c = 0;
      if (!rd.GetLengthPrefixed(&row) || !rd.GetVarint64(&c) || UnZigZag(c) <= 0) return Damaged();
      b->rows.emplace_back(std::string(row), UnZigZag(c));
    }
    if (b->rows.empty()) return Damaged();
    b->distinct = static_cast<std::int64_t>(b->rows.size());
    b->loaded = true;
    return Status::Ok();
  }

  // A spilled bucket's rows (a prefix scan).
  Status LoadRows(const KeyDelta& d, int side, Bucket* b) {
    if (b->loaded) return Status::Ok();
    const std::string prefix = RowPrefix(d, side);
    Status bad = Status::Ok();
    PS_RETURN_IF_ERROR(
        table_->Scan(prefix, PrefixEnd(prefix), [&](std::string_view k, std::string_view v) {
          ByteReader rd(v);
          std::uint64_t c = 0;
          if (!rd.GetVarint64(&c) || UnZigZag(c) <= 0) {
            bad = Damaged();
            return false;
          }
          b->rows.emplace_back(std::string(k.substr(prefix.size())), UnZigZag(c));
          return true;
        }));
    PS_RETURN_IF_ERROR(bad);
    if (static_cast<std::int64_t>(b->rows.size()) != b->distinct) return Damaged();
    b->loaded = true;
    return Status::Ok();
  }

  Status Decode(const std::string& row, int side, std::vector<Value>* out) {
    std::size_t n = side == 0 ? c_.left_types.size() : c_.right_types.size();
    if (!DecodeRow(row, n, out)) return Corruption("view_join: a state row is damaged");
    return Status::Ok();
  }

  // Applies `delta` (consolidated) to side `side`'s bucket `b` of key `d` and writes it; after it
  // `b` is the new bucket (its rows too when they were loaded).
  Status Update(const KeyDelta& d, int side, const std::string& head, const Rows& delta,
                Bucket* b) {
    if (delta.empty()) return Status::Ok();
    const std::int64_t distinct_before = b->distinct;
    if (b->loaded) {
      Rows merged;
      merged.reserve(b->rows.size() + delta.size());
      std::size_t i = 0, j = 0;
      std::vector<std::pair<const std::string*, std::int64_t>> changed;  // spilled: row → count
      while (i < b->rows.size() || j < delta.size()) {
        if (j == delta.size() || (i < b->rows.size() && b->rows[i].first < delta[j].first)) {
          merged.push_back(std::move(b->rows[i++]));
          continue;
        }
        std::int64_t now = delta[j].second;
        if (i < b->rows.size() && b->rows[i].first == delta[j].first) now += b->rows[i++].second;
        if (now < 0)
          return InvalidArgument("view_join: a row was retracted more often than inserted");
        if (now > 0) merged.emplace_back(delta[j].first, now);
        if (b->spilled) changed.emplace_back(&delta[j].first, now);
        ++j;
      }
      b->rows = std::move(merged);
      b->distinct = static_cast<std::int64_t>(b->rows.size());
      if (b->spilled) {
        const std::string prefix = RowPrefix(d, side);
        for (const auto& [row, now] : changed) PS_RETURN_IF_ERROR(PutRow(prefix + *row, now));
      }
    } else {
      // A spilled bucket whose rows were not needed: each changed row by a point read.
      const std::string prefix = RowPrefix(d, side);
      for (const auto& [row, w] : delta) {
        std::string k = prefix + row;
        bool found = false;
        std::int64_t before = 0;
        PS_RETURN_IF_ERROR(table_->Get(k, &value_, &found));
        if (found) {
          ByteReader rd(value_);
          std::uint64_t c = 0;
          if (!rd.GetVarint64(&c) || UnZigZag(c) <= 0) return Damaged();
          before = UnZigZag(c);
        }
        std::int64_t now = before + w;
        if (now < 0)
          return InvalidArgument("view_join: a row was retracted more often than inserted");
        b->distinct += (now > 0 ? 1 : 0) - (before > 0 ? 1 : 0);
        PS_RETURN_IF_ERROR(PutRow(k, now));
      }
    }
    if (b->distinct == 0) return table_->Delete(head);
    value_.clear();
    if (b->spilled) {
      if (b->distinct == distinct_before) return Status::Ok();
      PutVarint64(&value_, 1);
      PutVarint64(&value_, static_cast<std::uint64_t>(b->distinct));
      return table_->Put(head, value_);
    }
    PutVarint64(&value_, 0);
    for (const auto& [row, c] : b->rows) {
      PutLengthPrefixed(&value_, row);
      PutVarint64(&value_, ZigZag(c));
    }
    if (value_.size() > kInlineBytes) {
      // Too large to rewrite on every change: the rows move to entries of their own.
      const std::string prefix = RowPrefix(d, side);
      for (const auto& [row, c] : b->rows) PS_RETURN_IF_ERROR(PutRow(prefix + row, c));
      b->spilled = true;
      value_.clear();
      PutVarint64(&value_, 1);
      PutVarint64(&value_, static_cast<std::uint64_t>(b->distinct));
    }
    return table_->Put(head, value_);
  }

  Status PutRow(const std::string& k, std::int64_t count) {
    if (count == 0) return table_->Delete(k);
    std::string v;
    PutVarint64(&v, ZigZag(count));
    return table_->Put(k, v);
  }

  // One key's changes: d.rows[0] (left) and d.rows[1] (right).
  Status Key(const KeyDelta& d, const std::string& head_a, const std::string& head_b) {
    const bool left = c_.join == JoinKind::kLeft;
    const Rows& da = d.rows[0];
    const Rows& db = d.rows[1];
    if (da.empty() && db.empty()) return Status::Ok();
    Bucket a, b;
    PS_RETURN_IF_ERROR(ReadHead(head_a, &a));
    PS_RETURN_IF_ERROR(ReadHead(head_b, &b));
    // A_old is needed when B changes (A_old ⋈ ΔB; a left join's unmatched rows), B's rows when
    // A changes (ΔA ⋈ B_new).
    if (!db.empty()) PS_RETURN_IF_ERROR(LoadRows(d, 0, &a));
    if (!da.empty()) PS_RETURN_IF_ERROR(LoadRows(d, 1, &b));
    std::vector<Value> av, bv;
    // A_old ⋈ ΔB
    if (!db.empty() && a.distinct > 0) {
      std::vector<std::pair<std::vector<Value>, std::int64_t>> ds;
      for (const auto& [row, w] : db) {
        PS_RETURN_IF_ERROR(Decode(row, 1, &bv));
        ds.emplace_back(bv, w);
      }
      for (const auto& [row, c] : a.rows) {
        PS_RETURN_IF_ERROR(Decode(row, 0, &av));
        for (const auto& [vals, w] : ds) out_->Add({&av, &vals}, c * w);
      }
    }
    const bool b_empty_old = b.distinct == 0;
    PS_RETURN_IF_ERROR(Update(d, 1, head_b, db, &b));
    const bool b_empty_new = b.distinct == 0;
    // ΔA ⋈ B_new
    if (!da.empty() && !b_empty_new) {
      std::vector<std::pair<std::vector<Value>, std::int64_t>> bs;
      for (const auto& [row, c] : b.rows) {
        PS_RETURN_IF_ERROR(Decode(row, 1, &bv));
        bs.emplace_back(bv, c);
      }
      for (const auto& [row, w] : da) {
        PS_RETURN_IF_ERROR(Decode(row, 0, &av));
        for (const auto& [vals, c] : bs) out_->Add({&av, &vals}, w * c);
      }
    }
    if (left && b_empty_old && !b_empty_new) {
      // The key's first right rows: its left rows before the batch lose their null rows.
      for (const auto& [row, c] : a.rows) {
        PS_RETURN_IF_ERROR(Decode(row, 0, &av));
        out_->Add({&av, &nulls_}, -c);
      }
    }
    PS_RETURN_IF_ERROR(Update(d, 0, head_a, da, &a));
    if (left && b_empty_new) {
      if (b_empty_old) {
        // Still no right row: the left's changes pass with nulls.
        for (const auto& [row, w] : da) {
          PS_RETURN_IF_ERROR(Decode(row, 0, &av));
          out_->Add({&av, &nulls_}, w);
        }
      } else {
        // The key's last right rows left: its left rows now (A_new, loaded above as B changed)
        // come back with nulls.
        for (const auto& [row, c] : a.rows) {
          PS_RETURN_IF_ERROR(Decode(row, 0, &av));
          out_->Add({&av, &nulls_}, c);
        }
      }
    }
    return Status::Ok();
  }

  ViewJoinConfig c_;
  StateTable* table_;
  std::uint16_t left_tag_, tag_;
  std::unique_ptr<RowsOut> out_;
  std::vector<Value> nulls_;
  std::array<std::vector<int>, 2> all_;  // every column of each side
  std::string key_, value_;
  // This batch's changes by key, in the order keys came (index_: key → position).
  std::vector<KeyDelta> deltas_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::int64_t> unmatched_;  // left rows with a NULL key (left join)
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
  // "buckets": the state layout above (an older layout is recomputed: the view starts over).
  std::string StateFingerprint() const override { return "view_join buckets " + c_.fingerprint; }
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
