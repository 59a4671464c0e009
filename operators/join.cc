#include "operators/join.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "engine/bytes.h"
#include "engine/state_codec.h"
#include "engine/time_util.h"
#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

// State keys (StateTable), [partition] first (StatePartitionOf the join key's hash):
//   [p] 'J' key                                       → both sides' rows of that key (a Bucket):
//                                                        a row meets the other side's rows and
//                                                        joins its own with one read and one
//                                                        write of one key
//   [p] 'I' side kind be64(time, sign flipped) key    → "" : the side's rows in the bucket hold
//                                                        one that goes when `time` is passed
//                                                        (kind 'E': event time against the
//                                                        watermark, 'P': processing time, ttl)
// side is 'L' or 'R'; key is EncodeKey of the side's key columns (the same bytes on both sides:
// the types must agree), which is prefix-free, so a key never prefixes another. (State written
// before the joint buckets — one key per side, 'B' side key — has another StateFingerprint, so
// a query is refused rather than misread it.)
constexpr char kBucket = 'J';
constexpr char kIndex = 'I';
constexpr char kEventIndex = 'E';
constexpr char kTtlIndex = 'P';
constexpr std::uint64_t kSignBit = 1ULL << 63;
constexpr int kLeft = 0, kRight = 1;

char SideChar(int side) { return side == kLeft ? 'L' : 'R'; }

// The column names and types of the rows of one side as a batch carried them.
struct Layout {
  std::vector<std::string> names;
  std::vector<TypeId> types;
  std::string blob;  // the stored form
};

std::string LayoutBlob(const RecordBatch& b) {
  std::string s;
  PutVarint64(&s, b.num_columns());
  for (std::size_t c = 0; c < b.num_columns(); ++c) {
    PutLengthPrefixed(&s, b.name(c));
    s.push_back(static_cast<char>(b.column(c).type()));
  }
  return s;
}

// Splits EncodeKey bytes of `n` values into one slice per value.
bool SplitValues(std::string_view enc, std::size_t n, std::vector<std::string_view>* out) {
  out->clear();
  ByteReader r(enc);
  for (std::size_t i = 0; i < n; ++i) {
    const char* start = r.position();
    std::uint8_t tag = 0;
    if (!r.GetByte(&tag)) return false;
    if (tag != 0) {
      auto type = static_cast<TypeId>(tag - 1);
      std::string_view b;
      if (IsBinaryLike(type) || type == TypeId::kDoubleArray) {
        if (!r.GetBytes(4, &b)) return false;
        std::uint32_t len;
        std::memcpy(&len, b.data(), 4);
        if (!r.GetBytes(type == TypeId::kDoubleArray ? len * 8ULL : len, &b)) return false;
      } else if (!r.GetBytes(8, &b)) {
        return false;
      }
    }
    out->emplace_back(start, static_cast<std::size_t>(r.position() - start));
  }
  return r.remaining() == 0;
}

// Appends one EncodeKey value to `col`, typing a column that held only nulls so far.
Status AppendEncoded(Column& col, std::string_view v, std::string_view name) {
  const auto tag = static_cast<std::uint8_t>(v[0]);
  if (tag == 0) {
    col.AppendNull();
    return Status::Ok();
  }
  const auto type = static_cast<TypeId>(tag - 1);
  if (col.type() != type) {
    if (col.type() != TypeId::kNull || col.size() != col.NullCount()) {
      return InvalidArgument(fmt::format("join: output column '{}' holds {} and {} values", name,
                                         TypeName(col.type()), TypeName(type)));
    }
    col = Column::Nulls(type, col.size());
  }
  const char* p = v.data() + 1;
  if (IsBinaryLike(type) || type == TypeId::kDoubleArray) {
    std::uint32_t len;
    std::memcpy(&len, p, 4);
    if (type == TypeId::kDoubleArray) {
      std::vector<double> a(len);
      std::memcpy(a.data(), p + 4, len * 8ULL);
      col.AppendArray(a);
    } else {
      col.AppendString(std::string_view(p + 4, len));
    }
  } else if (type == TypeId::kDouble) {
    double d;
    std::memcpy(&d, p, 8);
    col.AppendDouble(d);
  } else {
    std::int64_t i;
    std::memcpy(&i, p, 8);
    if (type == TypeId::kBool) {
      col.AppendBool(i != 0);
    } else {
      col.AppendInt(i);
    }
  }
  return Status::Ok();
}

// One buffered row (equal rows share an entry: mult counts them, negative for retractions that
// found nothing to cancel yet, as a Z-set).
struct Entry {
  std::uint32_t layout = 0;  // index into Bucket::layouts
  std::int64_t mult = 0;
  std::int64_t matched = 0;  // left outer, left rows: the weighted matches of one copy
  std::int64_t ts = 0;       // the range column (with a time range)
  std::int64_t expire = 0;   // ttl: the processing time it goes
  std::string values;        // EncodeKey bytes of every column of its layout
};

// One key's rows of both sides (rows[kLeft], rows[kRight]); their layouts in one list.
struct Bucket {
  std::vector<const Layout*> layouts;
  std::vector<Entry> rows[2];
  bool empty() const { return rows[0].empty() && rows[1].empty(); }
};

// The output of a batch (or of Finish): rows made of a left and a right part, either of which
// may be missing (nulls), mapped to the output columns by name.
class OutputBuilder {
 public:
  OutputBuilder(const JoinConfig& c, const Layout* const* last) : c_(c), last_(last) {}

  // `lv`/`rv` null: that side is null (left outer) — its columns still appear, from the layout
  // last seen on that side.
  Status Add(const Layout* l, const std::string* lv, const Layout* r, const std::string* rv,
             std::int64_t weight, RowId id) {
    if (l == nullptr) l = last_[kLeft];
    if (r == nullptr) r = last_[kRight];
    const Mapping* m = nullptr;
    PS_RETURN_IF_ERROR(MappingFor(l, r, &m));
    if (lv != nullptr && !SplitValues(*lv, l->names.size(), &lslices_))
      return Corruption("join state: a damaged row");
    if (rv != nullptr && !SplitValues(*rv, r->names.size(), &rslices_))
      return Corruption("join state: a damaged row");
    for (std::size_t c = 0; c < cols_.size(); ++c) {
      const Source* src = c < m->src.size() ? &m->src[c] : nullptr;
      std::string_view v;
      if (src != nullptr) {
        if (src->left >= 0 && lv != nullptr) {
          v = lslices_[static_cast<std::size_t>(src->left)];
        } else if (src->right >= 0 && rv != nullptr) {
          v = rslices_[static_cast<std::size_t>(src->right)];
        }
      }
      if (v.empty()) {
        cols_[c].AppendNull();
      } else {
        PS_RETURN_IF_ERROR(AppendEncoded(cols_[c], v, names_[c]));
      }
    }
    weights_.push_back(weight);
    ids_.push_back(id);
    retracts_ |= weight != 1;
    return Status::Ok();
  }
  std::size_t rows() const { return ids_.size(); }

  RecordBatch Build(std::uint16_t tag) {
    RecordBatch b;
    b.row_ids() = std::move(ids_);
    for (std::size_t c = 0; c < cols_.size(); ++c) b.AddColumn(names_[c], std::move(cols_[c]));
    if (retracts_) b.SetWeights(std::move(weights_));
    b.set_input_tag(tag);
    return b;
  }

 private:
  // Where output column c takes its value from: a left column, else (left missing) a right one.
  struct Source {
    int left = -1, right = -1;
  };
  struct Mapping {
    std::vector<Source> src;  // by output column
  };

  std::size_t OutIndex(const std::string& name, TypeId type) {
    for (std::size_t c = 0; c < names_.size(); ++c)
      if (names_[c] == name) return c;
    names_.push_back(name);
    cols_.push_back(pinstream::Column::Nulls(type, rows()));
    return names_.size() - 1;
  }

  Status MappingFor(const Layout* l, const Layout* r, const Mapping** out) {
    auto key = std::make_pair(l, r);
    auto it = mappings_.find(key);
    if (it != mappings_.end()) {
      *out = &it->second;
      return Status::Ok();
    }
    Mapping m;
    auto at = [&](std::size_t c) -> Source& {
      if (m.src.size() <= c) m.src.resize(c + 1);
      return m.src[c];
    };
    std::set<std::string_view> left_names;
    if (l != nullptr) {
      for (std::size_t i = 0; i < l->names.size(); ++i) {
        at(OutIndex(l->names[i], l->types[i])).left = static_cast<int>(i);
        left_names.insert(l->names[i]);
      }
    }
    if (r != nullptr) {
      for (std::size_t j = 0; j < r->names.size(); ++j) {
        const std::string& name = r->names[j];
        bool shared = false;
        for (const auto& k : c_.on) shared = shared || (k.shared && k.right == name);
        std::string out_name = name;
        if (!shared && left_names.count(name)) {
          out_name = fmt::format("{}_{}", c_.right, name);
          if (left_names.count(out_name)) {
            return InvalidArgument(fmt::format(
                "join: the right input's column '{}' collides with the left's, and so does its "
                "renamed form '{}': rename one in its input's operators",
                name, out_name));
          }
        }
        at(OutIndex(out_name, r->types[j])).right = static_cast<int>(j);
      }
    }
    it = mappings_.emplace(key, std::move(m)).first;
    *out = &it->second;
    return Status::Ok();
  }

  const JoinConfig& c_;
  const Layout* const* last_;
  std::vector<std::string> names_;
  std::vector<pinstream::Column> cols_;
  std::vector<std::int64_t> weights_;
  std::vector<RowId> ids_;
  bool retracts_ = false;
  std::map<std::pair<const Layout*, const Layout*>, Mapping> mappings_;
  std::vector<std::string_view> lslices_, rslices_;
};

class Join : public Operator {
 public:
  Join(const JoinConfig& c, StateTable* table, std::uint16_t left_tag, std::uint16_t right_tag,
       std::uint16_t out_tag, std::string left_wm, std::string right_wm,
       const std::vector<StreamSchema>& schemas)
      : c_(c), table_(table), out_tag_(out_tag) {
    tags_[kLeft] = left_tag;
    tags_[kRight] = right_tag;
    wm_col_[kLeft] = std::move(left_wm);
    wm_col_[kRight] = std::move(right_wm);
    // A left row can go when no later right row can match it: later right rows are at or after
    // the watermark only if the right input drops late rows on its range column.
    evict_by_time_[kLeft] = c_.range.set && wm_col_[kRight] == c_.range.right_column;
    evict_by_time_[kRight] = c_.range.set && wm_col_[kLeft] == c_.range.left_column;
    // A side fed by an earlier stateful operator (a chained join) carries rows up to its lag
    // behind the watermark (StreamSchema::watermark_lag_us): they were checked for lateness
    // where they entered the query, and the other side's rows wait for them that much longer.
    for (int s = 0; s < 2; ++s) {
      if (static_cast<std::size_t>(s) < schemas.size()) lag_[s] = schemas[s].watermark_lag_us;
    }
    // The columns known at start, for the null side of left outer rows emitted before any row
    // of the right arrived in this run.
    for (int s = 0; s < 2; ++s) {
      if (static_cast<std::size_t>(s) >= schemas.size() || schemas[s].schema.size() == 0) continue;
      std::string blob;
      PutVarint64(&blob, schemas[s].schema.size());
      for (const auto& f : schemas[s].schema.fields()) {
        PutLengthPrefixed(&blob, f.name);
        blob.push_back(static_cast<char>(f.type));
      }
      last_[s] = Intern(blob);
    }
  }

  Status Process(RecordBatch& batch, OperatorContext& ctx) override {
    int side;
    if (batch.input_tag() == tags_[kLeft]) {
      side = kLeft;
    } else if (batch.input_tag() == tags_[kRight]) {
      side = kRight;
    } else {
      return Internal(fmt::format("join: a batch of input tag {}", batch.input_tag()));
    }
    std::vector<int> kcols;
    for (const auto& k : c_.on) {
      PS_ASSIGN_OR_RETURN(std::size_t ci,
                          RequireColumn(batch, side == kLeft ? k.left : k.right, "join"));
      kcols.push_back(static_cast<int>(ci));
    }
    const Column* ts = nullptr;
    if (c_.range.set) {
      const std::string& name = side == kLeft ? c_.range.left_column : c_.range.right_column;
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, name, "join"));
      ts = &batch.column(ci);
      if (ts->type() != TypeId::kTimestamp && ts->type() != TypeId::kNull)
        return InvalidArgument(fmt::format("join: time_range column '{}' is {}, not timestamp",
                                           name, TypeName(ts->type())));
    }
    const Column* wm = nullptr;
    if (!wm_col_[side].empty() && lag_[side] == 0 && ctx.watermark_us != kNoWatermark) {
      int ci = batch.FindColumn(wm_col_[side]);
      if (ci >= 0 && batch.column(static_cast<std::size_t>(ci)).type() == TypeId::kTimestamp)
        wm = &batch.column(static_cast<std::size_t>(ci));
    }
    const Layout* lay = Intern(LayoutBlob(batch));
    last_[side] = lay;
    std::vector<int> all(batch.num_columns());
    for (std::size_t c = 0; c < all.size(); ++c) all[c] = static_cast<int>(c);

    // The buckets this batch's rows will read (their key's), read from state at once
    // (StateTable::Prefetch) rather than a point read per row.
    // Each row that reaches its key's bucket gets its slot here (one look-up of the touched map
    // per row); the slots new to this batch are filled from state after one Prefetch.
    std::vector<Slot*> slots(batch.num_rows(), nullptr);
    std::string values, key;
    {
      std::vector<Slot*> fresh;
      for (std::size_t r = 0; r < batch.num_rows(); ++r) {
        if (batch.weight(r) == 0) continue;
        if (wm != nullptr && wm->IsValid(r) && wm->Int(r) < ctx.watermark_us) continue;
        bool null_key = ts != nullptr && (ts->type() == TypeId::kNull || ts->IsNull(r));
        for (int kc : kcols) {
          const Column& col = batch.column(static_cast<std::size_t>(kc));
          null_key = null_key || col.type() == TypeId::kNull || col.IsNull(r);
        }
        if (null_key) continue;
        key.clear();
        EncodeKey(batch, kcols, r, &key);
        const auto p = static_cast<char>(StatePartitionOf(HashBytes(key)));
        auto [it, inserted] = touched_.try_emplace(BucketKey(p, key));
        if (inserted) {
          it->second.key = &it->first;
          fresh.push_back(&it->second);
        }
        slots[r] = &it->second;
      }
      std::vector<std::string_view> fresh_keys;
      fresh_keys.reserve(fresh.size());
      for (const Slot* f : fresh) fresh_keys.emplace_back(*f->key);
      PS_RETURN_IF_ERROR(table_->Prefetch(std::move(fresh_keys)));
      for (Slot* f : fresh) {
        Status st = Fill(f);
        if (!st.ok()) {  // no slot stays unread
          for (Slot* g : fresh) touched_.erase(std::string(*g->key));
          return st;
        }
      }
    }
    OutputBuilder o(c_, last_);
    std::vector<std::pair<std::size_t, std::string>> late;
    const bool outer_left = side == kLeft && c_.type == JoinType::kLeftOuter;
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      const std::int64_t w = batch.weight(r);
      if (w == 0) continue;
      const RowId id = batch.row_ids()[r];
      values.clear();
      EncodeKey(batch, all, r, &values);
      if (wm != nullptr && wm->IsValid(r) && wm->Int(r) < ctx.watermark_us) {
        late.emplace_back(
            o.rows(), fmt::format("late: event time {} in '{}' is behind the watermark {}",
                                  FormatTimestamp(wm->Int(r), TimestampStyle::kIso), wm_col_[side],
                                  FormatTimestamp(ctx.watermark_us, TimestampStyle::kIso)));
        if (side == kLeft) {
          PS_RETURN_IF_ERROR(o.Add(lay, &values, nullptr, nullptr, w, id));
        } else {
          PS_RETURN_IF_ERROR(o.Add(nullptr, nullptr, lay, &values, w, id));
        }
        continue;
      }
      Slot* slot = slots[r];
      if (slot == nullptr) {
        // Never matches: a left outer row is final now.
        if (outer_left) PS_RETURN_IF_ERROR(o.Add(lay, &values, nullptr, nullptr, w, id));
        continue;
      }
      const std::int64_t t = ts != nullptr ? ts->Int(r) : 0;
      const char p = (*slot->key)[0];  // the bucket key: [p] 'J' key
      const std::string_view key = std::string_view(*slot->key).substr(2);
      Bucket& bucket = slot->bucket;
      std::int64_t matched = 0;
      for (Entry& y : bucket.rows[1 - side]) {
        if (c_.ttl_us > 0 && y.expire <= ctx.batch_timestamp_us) continue;  // gone by ttl
        if (c_.range.set && !InRange(side == kLeft ? t : y.ts, side == kLeft ? y.ts : t)) continue;
        const Layout* ylay = bucket.layouts[y.layout];
        if (side == kLeft) {
          PS_RETURN_IF_ERROR(o.Add(lay, &values, ylay, &y.values, w * y.mult, id));
          matched += y.mult;
        } else {
          PS_RETURN_IF_ERROR(o.Add(ylay, &y.values, lay, &values, w * y.mult, id));
          if (c_.type == JoinType::kLeftOuter) y.matched += w;
        }
      }
      const std::int64_t expire = c_.ttl_us > 0 ? ctx.batch_timestamp_us + c_.ttl_us : 0;
      AddRow(bucket, side, lay, values, w, c_.type == JoinType::kLeftOuter ? matched : 0, t,
             expire);
      MarkDirty(slot);
      if (evict_by_time_[side]) {
        PS_RETURN_IF_ERROR(PutIndex(p, side, kEventIndex, EvictTime(side, t), key));
      }
      if (c_.ttl_us > 0) PS_RETURN_IF_ERROR(PutIndex(p, side, kTtlIndex, expire, key));
    }
    batch = o.Build(out_tag_);
    for (auto& [row, reason] : late) ctx.RejectLateRow(row, std::move(reason));
    return Status::Ok();
  }

  Status Finish(OperatorContext& ctx, std::vector<RecordBatch>* out) override {
    OutputBuilder o(c_, last_);
    if (ctx.watermark_us != kNoWatermark) {
      for (int side : {kLeft, kRight}) {
        // No later row of the other side is behind W minus that side's lag.
        if (evict_by_time_[side])
          PS_RETURN_IF_ERROR(Evict(side, kEventIndex, Behind(ctx.watermark_us, lag_[1 - side]), o));
      }
    }
    if (c_.ttl_us > 0) {
      for (int side : {kLeft, kRight})
        PS_RETURN_IF_ERROR(Evict(side, kTtlIndex, ctx.batch_timestamp_us + 1, o));
    }
    // The buckets this batch changed, written back (or deleted when empty).
    std::sort(dirty_.begin(), dirty_.end(),
              [](const Slot* a, const Slot* b) { return *a->key < *b->key; });
    std::string value;
    for (const Slot* slot : dirty_) {
      const std::string& k = *slot->key;
      const Slot& s = *slot;
      if (s.bucket.empty()) {
        if (s.existed) PS_RETURN_IF_ERROR(table_->Delete(k));
      } else {
        Encode(s.bucket, &value);
        PS_RETURN_IF_ERROR(table_->Put(k, value));
      }
    }
    dirty_.clear();
    touched_.clear();
    index_puts_.clear();
    if (o.rows() > 0) out->push_back(o.Build(out_tag_));
    return Status::Ok();
  }

 private:
  struct Slot {
    Bucket bucket;
    bool existed = false;
    bool dirty = false;                // written back by Finish
    const std::string* key = nullptr;  // its key in touched_ (a node's: stays until cleared)
  };

  static std::int64_t Behind(std::int64_t t, std::int64_t lag) {
    return static_cast<std::int64_t>(std::max<__int128>(static_cast<__int128>(t) - lag, INT64_MIN));
  }
  bool InRange(std::int64_t l, std::int64_t r) const {
    const __int128 lo = static_cast<__int128>(l) + c_.range.lower_us;
    const __int128 hi = static_cast<__int128>(l) + c_.range.upper_us;
    return r >= lo && r <= hi;
  }
  // When a row of `side` at range time t can no longer match (see the header comment).
  std::int64_t EvictTime(int side, std::int64_t t) const {
    const __int128 v = side == kLeft ? static_cast<__int128>(t) + c_.range.upper_us
                                     : static_cast<__int128>(t) - c_.range.lower_us;
    return static_cast<std::int64_t>(std::clamp<__int128>(v, static_cast<__int128>(INT64_MIN),
                                                          static_cast<__int128>(INT64_MAX)));
  }

  const Layout* Intern(std::string blob) {
    auto it = layouts_.find(blob);
    if (it != layouts_.end()) return it->second.get();
    auto l = std::make_unique<Layout>();
    ByteReader r(blob);
    std::uint64_t n = 0;
    if (r.GetVarint64(&n) && n <= 100000) {
      for (std::uint64_t i = 0; i < n; ++i) {
        std::string_view name;
        std::uint8_t t = 0;
        if (!r.GetLengthPrefixed(&name) || !r.GetByte(&t)) break;
        l->names.emplace_back(name);
        l->types.push_back(static_cast<TypeId>(t));
      }
    }
    l->blob = blob;
    const Layout* raw = l.get();
    layouts_.emplace(std::move(blob), std::move(l));
    return raw;
  }

  static std::string BucketKey(char p, std::string_view key) {
    std::string k;
    k.reserve(2 + key.size());
    k.push_back(p);
    k.push_back(kBucket);
    k.append(key);
    return k;
  }

  Status Load(char p, std::string_view key, Slot** out) {
    auto [it, inserted] = touched_.try_emplace(BucketKey(p, key));
    if (inserted) {
      it->second.key = &it->first;
      Status st = Fill(&it->second);
      if (!st.ok()) {
        touched_.erase(it);
        return st;
      }
    }
    *out = &it->second;
    return Status::Ok();
  }
  // A slot new to this batch: its bucket as stored (empty when absent).
  Status Fill(Slot* s) {
    bool found = false;
    PS_RETURN_IF_ERROR(table_->Get(*s->key, &scratch_, &found));
    if (found) {
      s->existed = true;
      PS_RETURN_IF_ERROR(Decode(scratch_, &s->bucket));
    }
    return Status::Ok();
  }
  void MarkDirty(Slot* s) {
    if (s->dirty) return;
    s->dirty = true;
    dirty_.push_back(s);
  }

  static void AddRow(Bucket& b, int side, const Layout* lay, const std::string& values,
                     std::int64_t w, std::int64_t matched, std::int64_t ts, std::int64_t expire) {
    std::uint32_t li = 0;
    while (li < b.layouts.size() && b.layouts[li] != lay) ++li;
    if (li == b.layouts.size()) b.layouts.push_back(lay);
    std::vector<Entry>& rows = b.rows[side];
    for (auto it = rows.begin(); it != rows.end(); ++it) {
      if (it->layout == li && it->matched == matched && it->ts == ts && it->values == values) {
        it->mult += w;
        it->expire = std::max(it->expire, expire);
        if (it->mult == 0) rows.erase(it);
        return;
      }
    }
    rows.push_back(Entry{li, w, matched, ts, expire, values});
  }

  Status PutIndex(char p, int side, char kind, std::int64_t time, std::string_view key) {
    std::string k;
    k.push_back(p);
    k.push_back(kIndex);
    k.push_back(SideChar(side));
    k.push_back(kind);
    PutBigEndian64(&k, static_cast<std::uint64_t>(time) ^ kSignBit);
    k.append(key);
    if (!index_puts_.insert(k).second) return Status::Ok();
    return table_->Put(k, "");
  }

  // Removes the rows of `side` whose time of `kind` is before `before`; left outer rows without
  // a match go out with nulls.
  Status Evict(int side, char kind, std::int64_t before, OutputBuilder& o) {
    std::vector<std::string> found;
    for (std::uint8_t p : table_->partitions()) {
      std::string begin;
      begin.push_back(static_cast<char>(p));
      begin.push_back(kIndex);
      begin.push_back(SideChar(side));
      begin.push_back(kind);
      std::string end = begin;
      PutBigEndian64(&end, static_cast<std::uint64_t>(before) ^ kSignBit);
      PS_RETURN_IF_ERROR(table_->Scan(begin, end, [&](std::string_view k, std::string_view) {
        found.emplace_back(k);
        return true;
      }));
    }
    {
      // The index entries (their deletes read them) and the buckets they name, at once.
      std::vector<std::string> keys(found.begin(), found.end());
      for (const std::string& ik : found) {
        std::string k = BucketKey(ik[0], std::string_view(ik).substr(4 + 8));
        if (touched_.find(k) == touched_.end()) keys.push_back(std::move(k));
      }
      PS_RETURN_IF_ERROR(table_->Prefetch(std::vector<std::string_view>(keys.begin(), keys.end())));
    }
    for (const std::string& ik : found) {
      PS_RETURN_IF_ERROR(table_->Delete(ik));
      const char p = ik[0];
      std::string_view key = std::string_view(ik).substr(4 + 8);
      Slot* slot = nullptr;
      PS_RETURN_IF_ERROR(Load(p, key, &slot));
      Bucket* b = &slot->bucket;
      std::vector<Entry>& rows = b->rows[side];
      bool changed = false;
      for (std::size_t i = 0; i < rows.size();) {
        const Entry& e = rows[i];
        const std::int64_t t = kind == kEventIndex ? EvictTime(side, e.ts) : e.expire;
        if (t >= before) {
          ++i;
          continue;
        }
        if (side == kLeft && c_.type == JoinType::kLeftOuter && e.matched == 0) {
          PS_RETURN_IF_ERROR(
              o.Add(b->layouts[e.layout], &e.values, nullptr, nullptr, e.mult, RowId{0}));
        }
        rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(i));
        changed = true;
      }
      if (changed) MarkDirty(slot);
    }
    return Status::Ok();
  }

  void Encode(const Bucket& b, std::string* out) const {
    out->clear();
    PutVarint64(out, b.layouts.size());
    for (const Layout* l : b.layouts) PutLengthPrefixed(out, l->blob);
    for (const auto& rows : b.rows) {
      PutVarint64(out, rows.size());
      for (const Entry& e : rows) {
        PutVarint64(out, e.layout);
        PutVarint64(out, ZigZag(e.mult));
        PutVarint64(out, ZigZag(e.matched));
        PutVarint64(out, ZigZag(e.ts));
        PutVarint64(out, ZigZag(e.expire));
        PutLengthPrefixed(out, e.values);
      }
    }
  }
  Status Decode(std::string_view v, Bucket* b) {
    ByteReader r(v);
    std::uint64_t nl = 0, nr = 0;
    if (!r.GetVarint64(&nl) || nl > 1'000'000) return Corruption("join state entry is damaged");
    for (std::uint64_t i = 0; i < nl; ++i) {
      std::string_view blob;
      if (!r.GetLengthPrefixed(&blob)) return Corruption("join state entry is damaged");
      b->layouts.push_back(Intern(std::string(blob)));
    }
    for (auto& rows : b->rows) {
      if (!r.GetVarint64(&nr) || nr > r.remaining())
        return Corruption("join state entry is damaged");
      rows.reserve(nr);
      for (std::uint64_t i = 0; i < nr; ++i) {
        std::uint64_t li = 0, m = 0, mt = 0, ts = 0, ex = 0;
        std::string_view values;
        if (!r.GetVarint64(&li) || li >= nl || !r.GetVarint64(&m) || !r.GetVarint64(&mt) ||
            !r.GetVarint64(&ts) || !r.GetVarint64(&ex) || !r.GetLengthPrefixed(&values))
          return Corruption("join state entry is damaged");
        rows.push_back(Entry{static_cast<std::uint32_t>(li), UnZigZag(m), UnZigZag(mt),
                             UnZigZag(ts), UnZigZag(ex), std::string(values)});
      }
    }
    if (r.remaining() != 0) return Corruption("join state entry is damaged");
    return Status::Ok();
  }

  JoinConfig c_;
  StateTable* table_;
  std::uint16_t tags_[2] = {0, 0};
  std::uint16_t out_tag_;
  std::string wm_col_[2];
  bool evict_by_time_[2] = {false, false};
  std::int64_t lag_[2] = {0, 0};
  const Layout* last_[2] = {nullptr, nullptr};
  std::unordered_map<std::string, std::unique_ptr<Layout>> layouts_;
  std::unordered_map<std::string, Slot> touched_;
  std::vector<Slot*> dirty_;  // the touched_ slots Finish writes back
  std::set<std::string> index_puts_;
  std::string scratch_;
};

std::string_view TypeWord(JoinType t) { return t == JoinType::kInner ? "inner" : "left_outer"; }

class JoinSpec : public OperatorSpec {
 public:
  explicit JoinSpec(JoinConfig c) : c_(std::move(c)) {}
  std::string_view kind() const override { return "join"; }
  bool stateful() const override { return true; }
  bool uses_state_table() const override { return true; }
  // The eviction index (one per bucket and time, beside the bucket): not a state row
  std::string_view state_index_kinds() const override { return std::string_view(&kIndex, 1); }
  std::vector<std::string> ConsumedInputs() const override { return {c_.left, c_.right}; }
  std::vector<std::string> KeyColumns() const override { return KeyColumnsOf(0); }
  std::vector<std::string> KeyColumnsOf(std::size_t input) const override {
    std::vector<std::string> k;
    for (const auto& j : c_.on) k.push_back(input == 0 ? j.left : j.right);
    return k;
  }
  std::string StateFingerprint() const override {
    std::vector<std::string> on;
    for (const auto& k : c_.on) on.push_back(fmt::format("{}={}", k.left, k.right));
    std::string range = "none";
    if (c_.range.set)
      range = fmt::format("{}:{}:{}:{}", c_.range.left_column, c_.range.right_column,
                          c_.range.lower_us, c_.range.upper_us);
    // buckets=joint: one state key per join key with both sides' rows (state written with a
    // key per side is refused, not misread).
    return fmt::format("join left={} right={} how={} on={} range={} ttl={} buckets=joint", c_.left,
                       c_.right, TypeWord(c_.type), fmt::join(on, ","), range, c_.ttl_us);
  }

  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    if (inputs.size() != 2) return Internal("join: derived with other than two inputs");
    const StreamSchema& l = inputs[0];
    const StreamSchema& r = inputs[1];
    for (int s = 0; s < 2; ++s) {
      if (inputs[s].changes == ChangeKind::kSnapshot)
        return InvalidArgument(fmt::format(
            "join: input '{}' carries complete results (an aggregate in complete mode); join its "
            "input instead, or use output_mode: update upstream",
            s == 0 ? c_.left : c_.right));
    }
    for (const auto& k : c_.on) {
      PS_RETURN_IF_ERROR(
          RequireColumnIn(l, k.left, fmt::format("join key of the left input '{}'", c_.left)));
      PS_RETURN_IF_ERROR(
          RequireColumnIn(r, k.right, fmt::format("join key of the right input '{}'", c_.right)));
      TypeId lt = l.TypeOf(k.left), rt = r.TypeOf(k.right);
      if (lt != TypeId::kNull && rt != TypeId::kNull && lt != rt) {
        return InvalidArgument(fmt::format(
            "join: key types differ: {}.{} is {}, {}.{} is {} (cast one side in its input's "
            "operators)",
            c_.left, k.left, TypeName(lt), c_.right, k.right, TypeName(rt)));
      }
    }
    if (c_.range.set) {
      static constexpr TypeId kTs[] = {TypeId::kTimestamp};
      PS_RETURN_IF_ERROR(RequireColumnType(
          l, c_.range.left_column, fmt::format("join time_range on input '{}'", c_.left), kTs));
      PS_RETURN_IF_ERROR(RequireColumnType(
          r, c_.range.right_column, fmt::format("join time_range on input '{}'", c_.right), kTs));
    }
    if (c_.type == JoinType::kLeftOuter) {
      if (!c_.range.set) {
        return InvalidArgument(fmt::format(
            "join: a left_outer join needs a time_range (e.g. `time_range: {}.ts BETWEEN {}.ts - "
            "1h AND {}.ts + 1h`) and a watermark on the right input: a left row without a match "
            "is emitted once the watermark says no later right row can match it (as Spark "
            "requires)",
            c_.right, c_.left, c_.left));
      }
      if (r.watermark_column != c_.range.right_column) {
        return InvalidArgument(fmt::format(
            "join: a left_outer join needs a watermark on the right input '{}' on its time_range "
            "column '{}' (declare `watermark: {{column: {}, delay: ...}}` on input '{}'{}): a left "
            "row without a match is emitted once the watermark says no later right row can match "
            "it (as Spark requires)",
            c_.right, c_.range.right_column, c_.range.right_column, c_.right,
            r.watermark_column.empty()
                ? ""
                : fmt::format("; it is declared on '{}'", r.watermark_column)));
      }
    }
    StreamSchema out;
    out.complete = l.complete && r.complete;
    out.changes = l.changes == ChangeKind::kInsertOnly && r.changes == ChangeKind::kInsertOnly
                      ? ChangeKind::kInsertOnly
                      : ChangeKind::kChanges;
    std::set<std::string> left_names;
    for (const auto& f : l.schema.fields()) {
      out.schema.AddField(f);
      left_names.insert(f.name);
    }
    // A missing key column of an incomplete left is still in the output (the data brings it).
    for (const auto& k : c_.on) {
      if (!left_names.count(k.left)) {
        out.schema.AddField({k.left, l.TypeOf(k.left)});
        left_names.insert(k.left);
      }
    }
    out.watermark_column = l.watermark_column;
    if (!out.watermark_column.empty()) {
      // The output's rows carry their left row's watermark column. Rows emitted after batch N:
      // new left rows (>= W_N - the left's lag) and left rows still buffered — a left row stays
      // until its range column + upper is behind W minus the right's lag — so, when the
      // watermark column is the range column, the lag is bounded; else nothing bounds how old a
      // buffered left row's time is, and the output has no watermark column.
      if (c_.range.set && l.watermark_column == c_.range.left_column &&
          r.watermark_column == c_.range.right_column) {
        out.watermark_lag_us = std::max<std::int64_t>(
            {l.watermark_lag_us, 0,
             static_cast<std::int64_t>(std::min<__int128>(
                 static_cast<__int128>(r.watermark_lag_us) + c_.range.upper_us, INT64_MAX))});
      } else {
        out.watermark_column.clear();
      }
    }
    for (const auto& f : r.schema.fields()) {
      bool shared = false;
      for (const auto& k : c_.on) shared = shared || (k.shared && k.right == f.name);
      if (shared) continue;
      std::string name = f.name;
      if (left_names.count(name)) {
        name = fmt::format("{}_{}", c_.right, f.name);
        if (left_names.count(name)) {
          return InvalidArgument(fmt::format(
              "join: the right input's column '{}' collides with the left's, and so does its "
              "renamed form '{}': rename one in its input's operators",
              f.name, name));
        }
      }
      out.schema.AddField({name, f.type});
    }
    return out;
  }

  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
    if (ctx.table == nullptr) return Internal("join needs a state table");
    if (ctx.input_tags.size() != 2) return Internal("join: created with other than two inputs");
    std::string lw, rw;
    if (ctx.input_schemas.size() == 2) {
      lw = ctx.input_schemas[0].watermark_column;
      rw = ctx.input_schemas[1].watermark_column;
    }
    return std::unique_ptr<Operator>(std::make_unique<Join>(c_, ctx.table, ctx.input_tags[0],
                                                            ctx.input_tags[1], ctx.output_tag, lw,
                                                            rw, ctx.input_schemas));
  }

 private:
  JoinConfig c_;
};

// "pin.ind" → (side, column); the qualifier is an input name or the word left / right.
std::pair<int, std::string> ParseRef(const ConfigNode& n, std::string_view text,
                                     const JoinConfig& c) {
  auto dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == text.size()) {
    n.Fail(
        fmt::format("'{}': write <input>.<column> with input '{}' or '{}'", text, c.left, c.right));
  }
  std::string_view q = text.substr(0, dot);
  std::string col(text.substr(dot + 1));
  if (q == c.left || q == "left") return {kLeft, col};
  if (q == c.right || q == "right") return {kRight, col};
  n.Fail(fmt::format("'{}' is neither input '{}' nor '{}'", q, c.left, c.right));
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

void ParseOn(const ConfigNode& n, JoinConfig& c) {
  std::vector<ConfigNode> items;
  if (n.IsSequence()) {
    items = n.Elements();
  } else {
    items.push_back(n);
  }
  if (items.empty()) n.Fail("a join needs at least one key in `on`");
  for (const ConfigNode& e : items) {
    std::string s = e.AsString();
    // "a.x = b.y AND a.z = b.w" is the same as a list of the equalities.
    std::vector<std::string> parts;
    std::string upper = s;
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    std::size_t from = 0;
    for (std::size_t at; (at = upper.find(" AND ", from)) != std::string::npos; from = at + 5)
      parts.push_back(s.substr(from, at - from));
    parts.push_back(s.substr(from));
    for (const std::string& part : parts) {
      JoinKey k;
      auto eq = part.find('=');
      if (eq == std::string::npos) {
        std::string name = Trim(part);
        if (name.empty() || name.find_first_of(" \t.") != std::string::npos)
          e.Fail(
              fmt::format("'{}': a key is a column both inputs have (ind) or an equality "
                          "({}.ind = {}.ind)",
                          part, c.left, c.right));
        k.left = k.right = name;
        k.shared = true;
      } else {
        auto a = ParseRef(e, Trim(part.substr(0, eq)), c);
        auto b = ParseRef(e, Trim(part.substr(eq + 1)), c);
        if (a.first == b.first)
          e.Fail(fmt::format("'{}': an equality between the two inputs is needed", Trim(part)));
        if (a.first == kRight) std::swap(a, b);
        k.left = a.second;
        k.right = b.second;
      }
      for (const auto& o : c.on) {
        if (o.left == k.left && o.right == k.right)
          e.Fail(fmt::format("key '{}' is given twice", Trim(part)));
      }
      c.on.push_back(std::move(k));
    }
  }
}

// "geo.timestamp BETWEEN pin.ts - 1h AND pin.ts + 1h" (either side first).
void ParseTimeRange(const ConfigNode& n, JoinConfig& c) {
  std::string text = n.AsString();
  std::vector<std::string> tok;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) tok.push_back(std::move(cur));
    cur.clear();
  };
  for (char ch : text) {
    if (std::isspace(static_cast<unsigned char>(ch))) {
      flush();
    } else if (ch == '+' || ch == '-') {
      flush();
      tok.emplace_back(1, ch);
    } else {
      cur.push_back(ch);
    }
  }
  flush();
  auto upper = [](std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
  };
  const std::string shape = fmt::format(
      "a time_range reads `{}.<column> BETWEEN {}.<column> - <duration> AND {}.<column> + "
      "<duration>`",
      c.right, c.left, c.left);
  std::size_t i = 0;
  auto ref = [&]() {
    if (i >= tok.size()) n.Fail(shape);
    return ParseRef(n, tok[i++], c);
  };
  auto offset = [&]() -> std::int64_t {
    if (i >= tok.size() || (tok[i] != "+" && tok[i] != "-")) return 0;
    const bool neg = tok[i++] == "-";
    if (i >= tok.size()) n.Fail(shape);
    auto d = ParseDurationMicros(tok[i]);
    if (!d.ok()) n.Fail(fmt::format("'{}': {}", tok[i], d.status().message()));
    ++i;
    return neg ? -*d : *d;
  };
  auto subject = ref();
  if (i >= tok.size() || upper(tok[i]) != "BETWEEN") n.Fail(shape);
  ++i;
  auto lo_ref = ref();
  std::int64_t lo = offset();
  if (i >= tok.size() || upper(tok[i]) != "AND") n.Fail(shape);
  ++i;
  auto hi_ref = ref();
  std::int64_t hi = offset();
  if (i != tok.size()) n.Fail(fmt::format("unexpected '{}': {}", tok[i], shape));
  if (lo_ref != hi_ref)
    n.Fail(fmt::format("both bounds must be on one column ({}.{} and {}.{})",
                       lo_ref.first == kLeft ? c.left : c.right, lo_ref.second,
                       hi_ref.first == kLeft ? c.left : c.right, hi_ref.second));
  if (lo_ref.first == subject.first)
    n.Fail("the bounds must be on the other input's column: " + shape);
  if (lo > hi) n.Fail("the range is empty: its lower bound is after its upper bound");
  c.range.set = true;
  if (subject.first == kRight) {
    c.range.right_column = subject.second;
    c.range.left_column = lo_ref.second;
    c.range.lower_us = lo;
    c.range.upper_us = hi;
  } else {
    // left.l BETWEEN right.r + lo AND right.r + hi  ⇔  right.r BETWEEN left.l − hi AND left.l − lo
    c.range.left_column = subject.second;
    c.range.right_column = lo_ref.second;
    c.range.lower_us = -hi;
    c.range.upper_us = -lo;
  }
}

}  // namespace

std::shared_ptr<const OperatorSpec> MakeJoinSpec(JoinConfig config) {
  return std::make_shared<JoinSpec>(std::move(config));
}

namespace {
constexpr KeyDoc kJoinDocs[] = {
    {"left", KeyType::kString, "", "Required. The left input (a name under the query's inputs)."},
    {"right", KeyType::kString, "", "Required. The right input."},
    {"on", KeyType::kAny, "",
     "Required. The keys: column names both sides have ([ind]), or conditions like "
     "\"pin.user = geo.ind\"."},
    {"how", KeyType::kString, "inner",
     "inner, or left_outer (a left row without a match is emitted once with nulls, when the "
     "watermark evicts it — at once if its key or range column is null: it can never match; "
     "needs time_range and the right input's watermark)."},
    {"time_range", KeyType::kString, "",
     "An event-time range, e.g. \"geo.timestamp BETWEEN pin.ts - 1h AND pin.ts + 1h\": with the "
     "inputs' watermarks on these columns, buffered rows are evicted once no later row can "
     "match."},
    {"ttl", KeyType::kDuration, "",
     "Buffered rows are dropped this long (processing time) after the batch that stored them "
     "(default: kept until the time range evicts them, or forever)."},
};
}  // namespace
constexpr ConfigKeys kJoinKeys{
    "operators: join",
    "Stream-stream join of two named inputs of the query (inner or left outer) on keys, with an "
    "optional event-time range; both sides are buffered in the query's state. `name` names its "
    "output for a later join.",
    kJoinDocs};

std::shared_ptr<const OperatorSpec> JoinFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kJoinKeys);
  JoinConfig c;
  c.left = n.GetString("left");
  c.right = n.GetString("right");
  if (c.left == c.right) n.Get("right").Fail("a join needs two different inputs");
  if (c.left == "left" || c.left == "right" || c.right == "left" || c.right == "right")
    n.Fail("an input of a join may not be called 'left' or 'right' (the words name the sides)");
  std::string how = n.GetString("how", "inner");
  if (how == "inner") {
    c.type = JoinType::kInner;
  } else if (how == "left_outer" || how == "left" || how == "leftouter") {
    c.type = JoinType::kLeftOuter;
  } else if (how == "right_outer" || how == "right" || how == "rightouter") {
    n.Get("how").Fail("right_outer is not supported: swap left and right and use left_outer");
  } else {
    n.Get("how").Fail(fmt::format("unknown join type '{}' (inner, left_outer)", how));
  }
  ParseOn(n.Get("on"), c);
  if (auto t = n.Find("time_range")) ParseTimeRange(*t, c);
  if (n.Has("ttl")) {
    c.ttl_us = n.GetDurationMicros("ttl", 0);
    if (c.ttl_us <= 0) n.Get("ttl").Fail("ttl must be > 0");
  }
  return std::make_shared<JoinSpec>(std::move(c));
}

}  // namespace pinstream::ops
