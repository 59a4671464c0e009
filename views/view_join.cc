#include "views/view_join.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <unordered_map>

#include "engine/state_codec.h"
#include "views/scalar_expr.h"
#include "views/view_rows.h"

namespace pinstream::views {
namespace {

using internal::PrefixEnd;
using internal::RowsOut;

// State, per join key:
//   [partition]['J'][key]              → the key's entry: for the left side, then the right, a
//       varint mode, then
//       mode 0 (inline): varint n, then n × (length-prefixed row bytes, ZigZag varint count), in
//                        row-byte order — while the side's rows stay under kInlineBytes;
//       mode 1 (spilled): varint count of distinct rows; each row is then an entry of its own:
//   [partition]['j'][side][key][row]   → ZigZag varint count (a spilled side's rows)
// A key without rows on either side has no entry. So a batch reads every key it touches with one
// point read (all prefetched together: one MultiGet) and writes it once; only a key with many rows
// costs a prefix scan (when its rows are needed: the other side changed) and a point read and
// write per changed row.
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
  Join(const ViewJoinConfig& c, StateTable* table, std::uint16_t left_tag, std::uint16_t tag,
       std::optional<ScalarExpr> residual)
      : c_(c), table_(table), left_tag_(left_tag), tag_(tag), residual_(std::move(residual)) {
    std::vector<std::string> names = c_.names;
    std::vector<TypeId> types = c_.left_types;
    types.insert(types.end(), c_.right_types.begin(), c_.right_types.end());
    out_ = std::make_unique<RowsOut>(names, types);
    if (residual_) pairs_ = std::make_unique<RowsOut>(std::move(names), std::move(types));
    nulls_.assign(c_.right_types.size(), '\0');  // EncodeKey's null, once per right column
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
    for (const auto& [row, w] : unmatched_) out_->Add(row, nulls_, w);
    unmatched_.clear();
    index_.clear();
    std::sort(deltas_.begin(), deltas_.end(),
              [](const KeyDelta& x, const KeyDelta& y) { return x.key < y.key; });
    // Every touched key's entry, read from storage at once.
    std::vector<std::string> heads;
    heads.reserve(deltas_.size());
    for (auto& d : deltas_) {
      d.partition = static_cast<char>(StatePartitionOf(HashBytes(d.key)));
      for (auto& rows : d.rows) Consolidate(&rows);
      heads.push_back(Head(d));
    }
    PS_RETURN_IF_ERROR(table_->Prefetch({heads.begin(), heads.end()}));
    for (std::size_t i = 0; i < deltas_.size(); ++i) {
      PS_RETURN_IF_ERROR(Key(deltas_[i], heads[i]));
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
    char partition = 0;
    std::array<Rows, 2> rows;  // this batch's changes of each side
  };
  // One side's rows of one key.
  struct Side {
    bool spilled = false;
    std::int64_t distinct = 0;  // distinct rows
    bool loaded = false;        // `rows` holds every row
    Rows rows;                  // by row bytes
  };

  static std::string Head(const KeyDelta& d) {
    std::string h(1, d.partition);
    h.push_back('J');
    h += d.key;
    return h;
  }
  static std::string RowPrefix(const KeyDelta& d, int side) {
    std::string h(1, d.partition);
    h.push_back('j');
    h.push_back(side == 0 ? '0' : '1');
    h += d.key;
    return h;
  }

  static Status Damaged() { return Corruption("view_join: a state entry is damaged"); }

  static Status ParseSide(ByteReader& rd, Side* s) {
    *s = Side();
    std::uint64_t mode = 0, n = 0;
    if (!rd.GetVarint64(&mode) || !rd.GetVarint64(&n)) return Damaged();
    if (mode == 1) {
      if (n == 0) return Damaged();
      s->spilled = true;
      s->distinct = static_cast<std::int64_t>(n);
      return Status::Ok();
    }
    if (mode != 0) return Damaged();
    s->rows.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string_view row;
      std::uint64_t c = 0;
      if (!rd.GetLengthPrefixed(&row) || !rd.GetVarint64(&c) || UnZigZag(c) <= 0) return Damaged();
      s->rows.emplace_back(std::string(row), UnZigZag(c));
    }
    s->distinct = static_cast<std::int64_t>(n);
    s->loaded = true;
    return Status::Ok();
  }

  // A spilled side's rows (a prefix scan).
  Status LoadRows(const KeyDelta& d, int side, Side* s) {
    if (s->loaded) return Status::Ok();
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
          s->rows.emplace_back(std::string(k.substr(prefix.size())), UnZigZag(c));
          return true;
        }));
    PS_RETURN_IF_ERROR(bad);
    if (static_cast<std::int64_t>(s->rows.size()) != s->distinct) return Damaged();
    s->loaded = true;
    return Status::Ok();
  }

  // Applies `delta` (consolidated) to side `side` of key `d`; after it `s` is the side's new
  // state (its rows too when they were loaded). A spilled side's row entries are written here,
  // the key's entry by WriteEntry.
  Status Update(const KeyDelta& d, int side, const Rows& delta, Side* s) {
    if (delta.empty()) return Status::Ok();
    if (s->loaded) {
      Rows merged;
      merged.reserve(s->rows.size() + delta.size());
      std::size_t i = 0, j = 0;
      std::string prefix = s->spilled ? RowPrefix(d, side) : std::string();
      while (i < s->rows.size() || j < delta.size()) {
        if (j == delta.size() || (i < s->rows.size() && s->rows[i].first < delta[j].first)) {
          merged.push_back(std::move(s->rows[i++]));
          continue;
        }
        std::int64_t now = delta[j].second;
        if (i < s->rows.size() && s->rows[i].first == delta[j].first) now += s->rows[i++].second;
        if (now < 0)
          return InvalidArgument("view_join: a row was retracted more often than inserted");
        if (now > 0) merged.emplace_back(delta[j].first, now);
        if (s->spilled) PS_RETURN_IF_ERROR(PutRow(prefix + delta[j].first, now));
        ++j;
      }
      s->rows = std::move(merged);
      s->distinct = static_cast<std::int64_t>(s->rows.size());
    } else {
      // A spilled side whose rows were not needed: each changed row by a point read.
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
        s->distinct += (now > 0 ? 1 : 0) - (before > 0 ? 1 : 0);
        PS_RETURN_IF_ERROR(PutRow(k, now));
      }
    }
    if (s->distinct == 0) {  // every row entry is gone: inline (and empty) again
      s->spilled = false;
      s->loaded = true;
      s->rows.clear();
    }
    return Status::Ok();
  }

  Status PutRow(const std::string& k, std::int64_t count) {
    if (count == 0) return table_->Delete(k);
    std::string v;
    PutVarint64(&v, ZigZag(count));
    return table_->Put(k, v);
  }

  // Writes the key's entry (`old`: its value before, if it had one), moving a side whose rows
  // outgrew kInlineBytes to entries of their own.
  Status WriteEntry(const KeyDelta& d, const std::string& head, std::array<Side, 2>& sides,
                    const std::optional<std::string>& old) {
    if (sides[0].distinct == 0 && sides[1].distinct == 0) {
      return old ? table_->Delete(head) : Status::Ok();
    }
    value_.clear();
    for (int side = 0; side < 2; ++side) {
      Side& s = sides[side];
      if (!s.spilled) {
        std::size_t bytes = 0;
        for (const auto& [row, c] : s.rows) bytes += row.size() + 4;
        if (bytes > kInlineBytes) {
          const std::string prefix = RowPrefix(d, side);
          for (const auto& [row, c] : s.rows) PS_RETURN_IF_ERROR(PutRow(prefix + row, c));
          s.spilled = true;
        }
      }
      PutVarint64(&value_, s.spilled ? 1 : 0);
      PutVarint64(&value_, static_cast<std::uint64_t>(s.distinct));
      if (s.spilled) continue;
      for (const auto& [row, c] : s.rows) {
        PutLengthPrefixed(&value_, row);
        PutVarint64(&value_, ZigZag(c));
      }
    }
    if (old && *old == value_) return Status::Ok();
    return table_->Put(head, value_);
  }

  // The left join's output of each left row of `as` (weights scaled by `sign`) against the right
  // rows `bs` under the residual condition: the pairs for which it is true, or the left row with
  // nulls when there is none. The pairs are evaluated a chunk of left rows at a time.
  Status Matched(const Rows& as, const Rows& bs, std::int64_t sign) {
    if (bs.empty()) {
      for (const auto& [ra, c] : as) out_->Add(ra, nulls_, sign * c);
      return Status::Ok();
    }
    constexpr std::size_t kPairs = 4096;
    const std::size_t per = std::max<std::size_t>(1, kPairs / bs.size());
    for (std::size_t lo = 0; lo < as.size(); lo += per) {
      std::size_t hi = std::min(as.size(), lo + per);
      for (std::size_t i = lo; i < hi; ++i) {
        for (const auto& [rb, cb] : bs) pairs_->Add(as[i].first, rb, 1);
      }
      PS_ASSIGN_OR_RETURN(RecordBatch pairs, pairs_->Build(tag_));
      PS_ASSIGN_OR_RETURN(std::vector<std::uint8_t> ok, residual_->EvaluateTrue(pairs));
      std::size_t p = 0;
      for (std::size_t i = lo; i < hi; ++i) {
        const auto& [ra, ca] = as[i];
        bool any = false;
        for (const auto& [rb, cb] : bs) {
          if (ok[p++] != 0) {
            out_->Add(ra, rb, sign * ca * cb);
            any = true;
          }
        }
        if (!any) out_->Add(ra, nulls_, sign * ca);
      }
    }
    return Status::Ok();
  }

  // A left join's key with a residual condition: when the key's right rows change, each left row
  // is decided again (its output against B_old retracted, against B_new emitted); the left's
  // changes are decided against B_new.
  Status KeyWithResidual(const KeyDelta& d, std::array<Side, 2>& sides) {
    Side& a = sides[0];
    Side& b = sides[1];
    const Rows& da = d.rows[0];
    const Rows& db = d.rows[1];
    PS_RETURN_IF_ERROR(LoadRows(d, 1, &b));
    if (!db.empty()) {
      PS_RETURN_IF_ERROR(LoadRows(d, 0, &a));
      PS_RETURN_IF_ERROR(Matched(a.rows, b.rows, -1));
      PS_RETURN_IF_ERROR(Update(d, 1, db, &b));
      PS_RETURN_IF_ERROR(Matched(a.rows, b.rows, 1));
    }
    PS_RETURN_IF_ERROR(Matched(da, b.rows, 1));
    return Update(d, 0, da, &a);
  }

  // One key's changes: d.rows[0] (left) and d.rows[1] (right).
  Status Key(const KeyDelta& d, const std::string& head) {
    const bool left = c_.join == JoinKind::kLeft;
    const Rows& da = d.rows[0];
    const Rows& db = d.rows[1];
    if (da.empty() && db.empty()) return Status::Ok();
    std::array<Side, 2> sides;
    Side& a = sides[0];
    Side& b = sides[1];
    std::optional<std::string> old;
    {
      bool found = false;
      PS_RETURN_IF_ERROR(table_->Get(head, &value_, &found));
      if (found) {
        old = value_;
        ByteReader rd(*old);
        PS_RETURN_IF_ERROR(ParseSide(rd, &a));
        PS_RETURN_IF_ERROR(ParseSide(rd, &b));
        if (rd.remaining() != 0) return Damaged();
      } else {
        a.loaded = b.loaded = true;
      }
    }
    if (residual_) {
      PS_RETURN_IF_ERROR(KeyWithResidual(d, sides));
      return WriteEntry(d, head, sides, old);
    }
    // A_old is needed when B changes (A_old ⋈ ΔB; a left join's unmatched rows), B's rows when
    // A changes (ΔA ⋈ B_new).
    if (!db.empty()) PS_RETURN_IF_ERROR(LoadRows(d, 0, &a));
    if (!da.empty()) PS_RETURN_IF_ERROR(LoadRows(d, 1, &b));
    // A_old ⋈ ΔB
    if (!db.empty()) {
      for (const auto& [ra, c] : a.rows) {
        for (const auto& [rb, w] : db) out_->Add(ra, rb, c * w);
      }
    }
    const bool b_empty_old = b.distinct == 0;
    PS_RETURN_IF_ERROR(Update(d, 1, db, &b));
    const bool b_empty_new = b.distinct == 0;
    // ΔA ⋈ B_new
    if (!da.empty()) {
      for (const auto& [ra, w] : da) {
        for (const auto& [rb, c] : b.rows) out_->Add(ra, rb, w * c);
      }
    }
    if (left && b_empty_old && !b_empty_new) {
      // The key's first right rows: its left rows before the batch lose their null rows.
      for (const auto& [ra, c] : a.rows) out_->Add(ra, nulls_, -c);
    }
    PS_RETURN_IF_ERROR(Update(d, 0, da, &a));
    if (left && b_empty_new) {
      if (b_empty_old) {
        // Still no right row: the left's changes pass with nulls.
        for (const auto& [ra, w] : da) out_->Add(ra, nulls_, w);
      } else {
        // The key's last right rows left: its left rows now (A_new, loaded above as B changed)
        // come back with nulls.
        for (const auto& [ra, c] : a.rows) out_->Add(ra, nulls_, c);
      }
    }
    return WriteEntry(d, head, sides, old);
  }

  ViewJoinConfig c_;
  StateTable* table_;
  std::uint16_t left_tag_, tag_;
  std::optional<ScalarExpr> residual_;  // a left join's condition beside the keys
  std::unique_ptr<RowsOut> out_;
  std::unique_ptr<RowsOut> pairs_;  // candidate pairs the residual condition is evaluated over
  std::string nulls_;                    // the right side's columns all null, encoded
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
    std::optional<ScalarExpr> residual;
    if (c_.residual != nullptr) {
      if (c_.join != JoinKind::kLeft) return Internal("view_join: a residual condition (left only)");
      PS_ASSIGN_OR_RETURN(ScalarExpr e, ScalarExpr::Compile(c_.residual));
      residual = std::move(e);
    }
    return std::unique_ptr<Operator>(
        new Join(c_, ctx.table, ctx.input_tags[0], ctx.output_tag, std::move(residual)));
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
  // "entries": the state layout above (an older layout is recomputed: the view starts over).
  std::string StateFingerprint() const override { return "view_join entries " + c_.fingerprint; }
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
