#include "operators/aggregate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "engine/bytes.h"
#include "engine/state_codec.h"
#include "engine/time_util.h"
#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

// State keys (StateTable): [partition][kind] then
//   'W' be64(window end, sign flipped) group-key be64(window start, sign
//       flipped)                   windowed (tumbling, sliding, session)
//   'G' group-key                  not windowed
//   'S' group-key be64(session start, sign flipped) → be64(session end, sign
//       flipped)                   session windows: a group's sessions in
//                                  start order (the 'W' entry holds the state)
// so "every window ending at or before the watermark" is one range per owned
// partition, and a group's sessions one range (group keys are prefix-free:
// type-tagged, strings length-prefixed).
constexpr char kWindowedKey = 'W';
constexpr char kGroupKey = 'G';
constexpr char kSessionIndex = 'S';
constexpr std::uint64_t kSignBit = 1ULL << 63;

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::string WindowKey(char partition, std::string_view group, std::int64_t start,
                      std::int64_t end) {
  std::string key(1, partition);
  key.push_back(kWindowedKey);
  PutBigEndian64(&key, static_cast<std::uint64_t>(end) ^ kSignBit);
  key.append(group);
  PutBigEndian64(&key, static_cast<std::uint64_t>(start) ^ kSignBit);
  return key;
}
std::string SessionIndexKey(char partition, std::string_view group, std::int64_t start) {
  std::string key(1, partition);
  key.push_back(kSessionIndex);
  key.append(group);
  PutBigEndian64(&key, static_cast<std::uint64_t>(start) ^ kSignBit);
  return key;
}
// The first key after every key starting with `prefix` (not all 0xff here: it
// starts with a partition byte and a kind).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

double OrderedToDouble(std::string_view b, TypeId type) {
  if (b.size() != 8) return std::nan("");
  std::uint64_t bits = GetBigEndian64(b.data());
  if (type == TypeId::kDouble) {
    bits = (bits & kSignBit) ? bits & ~kSignBit : ~bits;
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  return static_cast<double>(static_cast<std::int64_t>(bits ^ kSignBit));
}
void AppendOrdered(Column& col, std::string_view b, TypeId type) {
  if (IsBinaryLike(type)) {
    col.AppendString(b);
  } else if (type == TypeId::kDouble) {
    col.AppendDouble(OrderedToDouble(b, type));
  } else if (type == TypeId::kBool) {
    col.AppendBool((GetBigEndian64(b.data()) ^ kSignBit) != 0);
  } else {
    col.AppendInt(static_cast<std::int64_t>(GetBigEndian64(b.data()) ^ kSignBit));
  }
}

bool KeepsValues(AggregateKind k) {
  return k == AggregateKind::kCountDistinct || k == AggregateKind::kMedian ||
         k == AggregateKind::kPercentile;
}
bool IsExtreme(AggregateKind k) { return k == AggregateKind::kMin || k == AggregateKind::kMax; }

std::string_view FnName(AggregateKind k) {
  switch (k) {
    case AggregateKind::kCount:
      return "count";
    case AggregateKind::kCountDistinct:
      return "count_distinct";
    case AggregateKind::kSum:
      return "sum";
    case AggregateKind::kAvg:
      return "avg";
    case AggregateKind::kMin:
      return "min";
    case AggregateKind::kMax:
      return "max";
    case AggregateKind::kMedian:
      return "median";
    case AggregateKind::kPercentile:
      return "percentile";
  }
  return "?";
}

// The output type of an aggregate over input of type `in` (kNull: not known
// yet).
TypeId OutputType(AggregateKind k, TypeId in) {
  switch (k) {
    case AggregateKind::kCount:
    case AggregateKind::kCountDistinct:
      return TypeId::kInt64;
    case AggregateKind::kSum:
      return in == TypeId::kDouble ? TypeId::kDouble : TypeId::kInt64;
    case AggregateKind::kMin:
    case AggregateKind::kMax:
      return in;
    default:
      return TypeId::kDouble;
  }
}

// One aggregate's accumulator in a group's state.
struct FnState {
  TypeId type = TypeId::kNull;  // of the values seen
  std::int64_t n = 0;           // weighted count of non-null values (rows for a plain count)
  std::int64_t isum = 0;
  double dsum = 0;
  std::map<std::string, std::int64_t> values;  // ordered bytes → weighted count (KeepsValues)
  std::optional<std::string> extreme;          // min/max over insert-only input
};

// A (group, window)'s state, as stored.
struct GroupState {
  std::int64_t rows = 0;  // weighted rows: 0 = the group is gone
  std::string group;      // EncodeKey bytes of the group columns
  std::int64_t start = 0, end = 0;
  std::vector<FnState> fns;

  std::string Encode() const {
    std::string s;
    PutVarint64(&s, ZigZag(rows));
    PutLengthPrefixed(&s, group);
    PutFixed64(&s, static_cast<std::uint64_t>(start));
    PutFixed64(&s, static_cast<std::uint64_t>(end));
    PutVarint64(&s, fns.size());
    for (const auto& f : fns) {
      s.push_back(static_cast<char>(f.type));
      PutVarint64(&s, ZigZag(f.n));
      PutVarint64(&s, ZigZag(f.isum));
      std::uint64_t bits;
      std::memcpy(&bits, &f.dsum, 8);
      PutFixed64(&s, bits);
      s.push_back(f.extreme ? 1 : 0);
      if (f.extreme) PutLengthPrefixed(&s, *f.extreme);
      PutVarint64(&s, f.values.size());
      for (const auto& [k, c] : f.values) {
        PutLengthPrefixed(&s, k);
        PutVarint64(&s, ZigZag(c));
      }
    }
    return s;
  }
  Status Decode(std::string_view v) {
    ByteReader r(v);
    std::uint64_t u = 0, nf = 0, st = 0, en = 0;
    std::string_view g;
    if (!r.GetVarint64(&u) || !r.GetLengthPrefixed(&g) || !r.GetFixed64(&st) ||
        !r.GetFixed64(&en) || !r.GetVarint64(&nf) || nf > 1024)
      return Corruption("aggregate state entry is damaged");
    rows = UnZigZag(u);
    group = std::string(g);
    start = static_cast<std::int64_t>(st);
    end = static_cast<std::int64_t>(en);
    fns.assign(nf, FnState{});
    for (auto& f : fns) {
      std::uint8_t t = 0, has = 0;
      std::uint64_t n = 0, is = 0, ds = 0, nv = 0;
      if (!r.GetByte(&t) || !r.GetVarint64(&n) || !r.GetVarint64(&is) || !r.GetFixed64(&ds) ||
          !r.GetByte(&has))
        return Corruption("aggregate state entry is damaged");
      f.type = static_cast<TypeId>(t);
      f.n = UnZigZag(n);
      f.isum = UnZigZag(is);
      std::memcpy(&f.dsum, &ds, 8);
      if (has) {
        std::string_view e;
        if (!r.GetLengthPrefixed(&e)) return Corruption("aggregate state entry is damaged");
        f.extreme = std::string(e);
      }
      if (!r.GetVarint64(&nv)) return Corruption("aggregate state entry is damaged");
      for (std::uint64_t i = 0; i < nv; ++i) {
        std::string_view k;
        std::uint64_t c = 0;
        if (!r.GetLengthPrefixed(&k) || !r.GetVarint64(&c))
          return Corruption("aggregate state entry is damaged");
        f.values.emplace_hint(f.values.end(), std::string(k), UnZigZag(c));
      }
    }
    return Status::Ok();
  }
};

// The type of the index-th value of EncodeKey bytes (to type a group column not known before
// the data); kNull for a null or damaged bytes.
TypeId KeyValueType(std::string_view group, std::size_t index) {
  ByteReader r(group);
  EncodedValue v;
  for (std::size_t i = 0; i <= index; ++i) {
    if (!ReadKeyValue(r, &v)) return TypeId::kNull;
  }
  return v.type;
}

class Aggregate : public Operator {
 public:
  Aggregate(const AggregateConfig& c, StateTable* table, bool retractable,
            std::vector<TypeId> group_types, std::vector<TypeId> fn_types, std::uint16_t out_tag,
            std::int64_t lag_us)
      : c_(c),
        table_(table),
        retractable_(retractable),
        lag_us_(lag_us),
        group_types_(std::move(group_types)),
        fn_types_(std::move(fn_types)),
        out_tag_(out_tag) {}

  Status Process(RecordBatch& batch, OperatorContext& ctx) override {
    std::vector<int> gcols;
    for (std::size_t i = 0; i < c_.group_by.size(); ++i) {
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, c_.group_by[i], "aggregate"));
      gcols.push_back(static_cast<int>(ci));
      if (batch.column(ci).type() != TypeId::kNull) group_types_[i] = batch.column(ci).type();
    }
    std::vector<const Column*> fcols(c_.aggregates.size(), nullptr);
    for (std::size_t i = 0; i < c_.aggregates.size(); ++i) {
      if (c_.aggregates[i].column.empty()) continue;
      PS_ASSIGN_OR_RETURN(std::size_t ci,
                          RequireColumn(batch, c_.aggregates[i].column, "aggregate"));
      fcols[i] = &batch.column(ci);
      if (fcols[i]->type() != TypeId::kNull) fn_types_[i] = fcols[i]->type();
    }
    const Column* ts = nullptr;
    const bool windowed = c_.window.kind != WindowKind::kNone;
    if (windowed) {
      PS_ASSIGN_OR_RETURN(std::size_t ci, RequireColumn(batch, c_.window.column, "aggregate"));
      ts = &batch.column(ci);
      if (ts->type() != TypeId::kTimestamp && ts->type() != TypeId::kNull) {
        return InvalidArgument(fmt::format("aggregate: window column '{}' is {}, not timestamp",
                                           c_.window.column, TypeName(ts->type())));
      }
    }
    // Rows from an earlier stateful operator (a join: StreamSchema::watermark_lag_us) may be up
    // to its lag behind the watermark and are not late: they were checked where they entered the
    // query, and no window they fall in is final yet (windows are final at W - lag).
    const bool drop_late = windowed && c_.mode != OutputMode::kComplete &&
                           ctx.watermark_us != kNoWatermark && lag_us_ == 0;
    struct Rejected {
      std::uint32_t row;
      std::string reason;
      bool late;
    };
    std::vector<Rejected> rejected;
    std::string group, key, value;
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      const std::int64_t w = batch.weight(r);
      if (w == 0) continue;
      if (w < 0 && (!retractable_ || c_.window.kind == WindowKind::kSession)) {
        return Internal("aggregate: a retraction in a stream derived as insert-only");
      }
      std::int64_t t = 0;
      if (windowed) {
        if (ts->type() == TypeId::kNull || ts->IsNull(r)) {
          rejected.push_back({static_cast<std::uint32_t>(r),
                              fmt::format("aggregate: null event time in '{}'", c_.window.column),
                              false});
          continue;
        }
        t = ts->Int(r);
        if (drop_late && t < ctx.watermark_us) {
          rejected.push_back(
              {static_cast<std::uint32_t>(r),
               fmt::format("late: event time {} in '{}' is behind the watermark {}",
                           FormatTimestamp(t, TimestampStyle::kIso), c_.window.column,
                           FormatTimestamp(ctx.watermark_us, TimestampStyle::kIso)),
               true});
          continue;
        }
      }
      group.clear();
      EncodeKey(batch, gcols, r, &group);
      const auto partition = static_cast<char>(StatePartitionOf(HashBytes(group)));
      auto apply = [&](std::int64_t start, std::int64_t end) -> Status {
        key.clear();
        key.push_back(partition);
        if (windowed) {
          key.push_back(kWindowedKey);
          PutBigEndian64(&key, static_cast<std::uint64_t>(end) ^ kSignBit);
          key.append(group);
          PutBigEndian64(&key, static_cast<std::uint64_t>(start) ^ kSignBit);
        } else {
          key.push_back(kGroupKey);
          key.append(group);
        }
        auto it = touched_.find(key);
        if (it == touched_.end()) {
          Touched e;
          bool found = false;
          PS_RETURN_IF_ERROR(table_->Get(key, &value, &found));
          if (found) {
            e.old = value;
            PS_RETURN_IF_ERROR(e.state.Decode(value));
          } else {
            e.state.group = group;
            e.state.start = start;
            e.state.end = end;
          }
          e.state.fns.resize(c_.aggregates.size());
          it = touched_.emplace(key, std::move(e)).first;
        }
        Add(it->second.state, fcols, r, w);
        return Status::Ok();
      };
      if (!windowed) {
        PS_RETURN_IF_ERROR(apply(0, 0));
        continue;
      }
      if (c_.window.kind == WindowKind::kSession) {
        PS_RETURN_IF_ERROR(AddToSession(partition, group, t, fcols, r, w));
        continue;
      }
      // Every window holding t: starts k*slide with start <= t < start + size.
      for (std::int64_t s = FloorDiv(t, c_.window.slide_us) * c_.window.slide_us;
           s > t - c_.window.size_us; s -= c_.window.slide_us) {
        PS_RETURN_IF_ERROR(apply(s, s + c_.window.size_us));
      }
    }
    // The rows are consumed: only the rejected ones stay, for the engine to
    // send on.
    std::vector<std::uint8_t> keep(batch.num_rows(), 0);
    for (const auto& rj : rejected) keep[rj.row] = 1;
    batch.Compact(keep);
    for (std::size_t i = 0; i < rejected.size(); ++i) {
      if (rejected[i].late) {
        ctx.RejectLateRow(i, std::move(rejected[i].reason));
      } else {
        ctx.RejectRow(i, std::move(rejected[i].reason));
      }
    }
    return Status::Ok();
  }

  Status Finish(OperatorContext& ctx, std::vector<RecordBatch>* out) override {
    Output o = NewOutput();
    changed_ = !touched_.empty() || !sessions_.empty();
    PS_RETURN_IF_ERROR(FinishSessions(o));
    // The changed groups in key order (deterministic output), written back.
    std::vector<std::pair<const std::string, Touched>*> order;
    order.reserve(touched_.size());
    for (auto& e : touched_) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
    for (auto* e : order) {
      GroupState& st = e->second.state;
      if (c_.mode == OutputMode::kUpdate) {
        if (e->second.old) {
          GroupState before;
          PS_RETURN_IF_ERROR(before.Decode(*e->second.old));
          before.fns.resize(c_.aggregates.size());
          PS_RETURN_IF_ERROR(AppendRow(o, before, -1));
        }
        if (st.rows != 0) PS_RETURN_IF_ERROR(AppendRow(o, st, +1));
      }
      if (st.rows == 0) {
        if (e->second.old) PS_RETURN_IF_ERROR(table_->Delete(e->first));
      } else {
        PS_RETURN_IF_ERROR(table_->Put(e->first, st.Encode()));
      }
    }
    touched_.clear();
    const bool windowed = c_.window.kind != WindowKind::kNone;
    if (windowed && c_.mode != OutputMode::kComplete && ctx.watermark_us != kNoWatermark) {
      const std::int64_t final_before = static_cast<std::int64_t>(
          std::max<__int128>(static_cast<__int128>(ctx.watermark_us) - lag_us_, INT64_MIN));
      // Windows ending at or before the watermark are final: append emits them,
      // and their state goes. (No row of this batch touched one: those rows
      // were late.)
      std::vector<std::pair<std::string, GroupState>> done;
      for (std::uint8_t p : table_->partitions()) {
        std::string begin(1, static_cast<char>(p));
        begin.push_back(kWindowedKey);
        std::string end = begin;
        PutBigEndian64(&end, (static_cast<std::uint64_t>(final_before) ^ kSignBit) + 1);
        Status bad;
        PS_RETURN_IF_ERROR(table_->Scan(begin, end, [&](std::string_view k, std::string_view v) {
          GroupState st;
          bad = st.Decode(v);
          if (!bad.ok()) return false;
          done.emplace_back(std::string(k), std::move(st));
          return true;
        }));
        PS_RETURN_IF_ERROR(bad);
      }
      for (auto& [k, st] : done) {
        if (c_.mode == OutputMode::kAppend) {
          st.fns.resize(c_.aggregates.size());
          PS_RETURN_IF_ERROR(AppendRow(o, st, +1));
        }
        PS_RETURN_IF_ERROR(table_->Delete(k));
        if (c_.window.kind == WindowKind::kSession)
          PS_RETURN_IF_ERROR(table_->Delete(SessionIndexKey(k[0], st.group, st.start)));
      }
    }
    if (c_.mode == OutputMode::kComplete) {
      // The whole result, every batch, from every shard: the sink overwrites
      // the table when some shard's result changed (ChangedResult), so each
      // shard's part must be there.
      Status bad;
      for (std::uint8_t p : table_->partitions()) {
        std::string begin(1, static_cast<char>(p));
        std::string end(1, static_cast<char>(p + 1));
        if (p == 0xff) end = std::string(1, '\xff') + std::string(1, '\xff');
        PS_RETURN_IF_ERROR(table_->Scan(begin, end, [&](std::string_view k, std::string_view v) {
          if (k.size() > 1 && k[1] == kSessionIndex) return true;  // not a result
          GroupState st;
          bad = st.Decode(v);
          if (bad.ok()) {
            st.fns.resize(c_.aggregates.size());
            bad = AppendRow(o, st, +1);
          }
          return bad.ok();
        }));
        PS_RETURN_IF_ERROR(bad);
      }
    }
    if (o.rows > 0) out->push_back(Build(std::move(o)));
    return Status::Ok();
  }

  bool ChangedResult() const override { return changed_; }

 private:
  struct Output {
    std::vector<Column> groups;
    Column start{TypeId::kTimestamp}, end{TypeId::kTimestamp};
    std::vector<Column> fns;
    std::vector<std::int64_t> weights;
    bool retracts = false;
    std::size_t rows = 0;
  };
  struct Touched {
    GroupState state;
    std::optional<std::string> old;  // the stored entry before this batch
  };
  // A group's session windows in this batch: as stored before it (start → end
  // and the encoded state) and as they are now (start → state).
  struct StoredSession {
    std::int64_t end;
    std::string value;
  };
  struct Sessions {
    char partition = 0;
    std::string group;
    std::map<std::int64_t, StoredSession> stored;
    std::map<std::int64_t, GroupState> live;
  };

  // Reads the group's sessions (its 'S' index, then each one's state).
  Status LoadSessions(Sessions* ss) {
    std::string begin(1, ss->partition);
    begin.push_back(kSessionIndex);
    begin.append(ss->group);
    std::vector<std::pair<std::int64_t, std::int64_t>> found;
    Status bad;
    PS_RETURN_IF_ERROR(
        table_->Scan(begin, PrefixEnd(begin), [&](std::string_view k, std::string_view v) {
          if (k.size() != begin.size() + 8 || v.size() != 8) {
            bad = Corruption("aggregate state: damaged session index entry");
            return false;
          }
          found.emplace_back(
              static_cast<std::int64_t>(GetBigEndian64(k.data() + begin.size()) ^ kSignBit),
              static_cast<std::int64_t>(GetBigEndian64(v.data()) ^ kSignBit));
          return true;
        }));
    PS_RETURN_IF_ERROR(bad);
    std::string value;
    for (const auto& [start, end] : found) {
      bool ok = false;
      PS_RETURN_IF_ERROR(
          table_->Get(WindowKey(ss->partition, ss->group, start, end), &value, &ok));
      if (!ok) return Corruption("aggregate state: a session index entry without its session");
      GroupState st;
      PS_RETURN_IF_ERROR(st.Decode(value));
      st.fns.resize(c_.aggregates.size());
      ss->stored.emplace(start, StoredSession{end, value});
      ss->live.emplace(start, std::move(st));
    }
    return Status::Ok();
  }

  // A row at t opens the session [t, t + gap); every session of the group it
  // overlaps merges into one with it (a row that bridges two sessions joins
  // them). Sessions that only touch (one ends where the other starts) stay
  // apart: a row `gap` after the last one is not within the gap.
  Status AddToSession(char partition, const std::string& group, std::int64_t t,
                      const std::vector<const Column*>& fcols, std::size_t r, std::int64_t w) {
    std::string id(1, partition);
    id.append(group);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) {
      Sessions ss;
      ss.partition = partition;
      ss.group = group;
      PS_RETURN_IF_ERROR(LoadSessions(&ss));
      it = sessions_.emplace(std::move(id), std::move(ss)).first;
    }
    auto& live = it->second.live;
    const std::int64_t end = t + c_.window.gap_us;
    // The group's sessions are disjoint and in start (so also end) order: the
    // ones overlapping [t, end) are the run just before the first starting at
    // or after `end` whose ends are after t.
    auto hi = live.lower_bound(end);
    auto lo = hi;
    while (lo != live.begin() && std::prev(lo)->second.end > t) --lo;
    GroupState merged;
    if (lo == hi) {
      merged.group = group;
      merged.start = t;
      merged.end = end;
      merged.fns.resize(c_.aggregates.size());
    } else {
      const std::int64_t last_end = std::prev(hi)->second.end;
      merged = std::move(lo->second);
      for (auto j = std::next(lo); j != hi; ++j) MergeInto(merged, j->second);
      merged.start = std::min(merged.start, t);
      merged.end = std::max(last_end, end);
      live.erase(lo, hi);
    }
    Add(merged, fcols, r, w);
    const std::int64_t start = merged.start;
    live.emplace(start, std::move(merged));
    return Status::Ok();
  }

  // Folds `from` (a session merged away) into `into`.
  void MergeInto(GroupState& into, const GroupState& from) const {
    into.rows += from.rows;
    for (std::size_t i = 0; i < c_.aggregates.size(); ++i) {
      FnState& a = into.fns[i];
      const FnState& b = from.fns[i];
      if (a.type == TypeId::kNull) a.type = b.type;
      a.n += b.n;
      a.isum += b.isum;
      a.dsum += b.dsum;
      for (const auto& [v, c] : b.values) {
        auto j = a.values.try_emplace(v, 0).first;
        j->second += c;
        if (j->second == 0) a.values.erase(j);
      }
      if (b.extreme &&
          (!a.extreme || (c_.aggregates[i].kind == AggregateKind::kMin ? *b.extreme < *a.extreme
                                                                       : *b.extreme > *a.extreme)))
        a.extreme = b.extreme;
    }
  }

  // Writes the batch's session changes back, in group order: a session that is
  // gone (merged) or changed is deleted — update mode retracts its row — and a
  // new or changed one written — update mode emits its row.
  Status FinishSessions(Output& o) {
    std::vector<Sessions*> order;
    order.reserve(sessions_.size());
    for (auto& [id, ss] : sessions_) order.push_back(&ss);
    std::sort(order.begin(), order.end(), [](const Sessions* a, const Sessions* b) {
      return std::tie(a->partition, a->group) < std::tie(b->partition, b->group);
    });
    const bool update = c_.mode == OutputMode::kUpdate;
    std::map<std::int64_t, std::string> encoded;
    for (Sessions* ss : order) {
      encoded.clear();
      for (const auto& [start, st] : ss->live) encoded.emplace(start, st.Encode());
      auto unchanged = [&](std::int64_t start) {
        auto s = ss->stored.find(start);
        auto l = ss->live.find(start);
        return s != ss->stored.end() && l != ss->live.end() && s->second.end == l->second.end &&
               s->second.value == encoded.at(start);
      };
      for (const auto& [start, old] : ss->stored) {
        if (unchanged(start)) continue;
        if (update) {
          GroupState before;
          PS_RETURN_IF_ERROR(before.Decode(old.value));
          before.fns.resize(c_.aggregates.size());
          PS_RETURN_IF_ERROR(AppendRow(o, before, -1));
        }
        PS_RETURN_IF_ERROR(table_->Delete(WindowKey(ss->partition, ss->group, start, old.end)));
        PS_RETURN_IF_ERROR(table_->Delete(SessionIndexKey(ss->partition, ss->group, start)));
      }
      for (const auto& [start, st] : ss->live) {
        if (unchanged(start)) continue;
        if (update) PS_RETURN_IF_ERROR(AppendRow(o, st, +1));
        PS_RETURN_IF_ERROR(
            table_->Put(WindowKey(ss->partition, ss->group, start, st.end), encoded.at(start)));
        std::string end;
        PutBigEndian64(&end, static_cast<std::uint64_t>(st.end) ^ kSignBit);
        PS_RETURN_IF_ERROR(table_->Put(SessionIndexKey(ss->partition, ss->group, start), end));
      }
    }
    sessions_.clear();
    return Status::Ok();
  }

  void Add(GroupState& st, const std::vector<const Column*>& fcols, std::size_t r, std::int64_t w) {
    st.rows += w;
    for (std::size_t i = 0; i < c_.aggregates.size(); ++i) {
      FnState& f = st.fns[i];
      const AggregateFn& fn = c_.aggregates[i];
      const Column* col = fcols[i];
      if (col == nullptr) {
        f.n += w;
        continue;
      }
      if (col->type() == TypeId::kNull || col->IsNull(r)) continue;
      f.n += w;
      f.type = col->type();
      if (fn.kind == AggregateKind::kSum || fn.kind == AggregateKind::kAvg) {
        if (col->type() == TypeId::kDouble) {
          f.dsum += static_cast<double>(w) * col->Double(r);
        } else {
          f.isum += w * col->Int(r);
        }
      } else if (KeepsValues(fn.kind) || (IsExtreme(fn.kind) && retractable_)) {
        scratch_.clear();
        PutOrdered(*col, r, &scratch_);
        auto it = f.values.try_emplace(scratch_, 0).first;
        it->second += w;
        if (it->second == 0) f.values.erase(it);
      } else if (IsExtreme(fn.kind)) {
        scratch_.clear();
        PutOrdered(*col, r, &scratch_);
        if (!f.extreme ||
            (fn.kind == AggregateKind::kMin ? scratch_ < *f.extreme : scratch_ > *f.extreme)) {
          f.extreme = scratch_;
        }
      }
    }
  }

  Output NewOutput() const {
    Output o;
    for (TypeId t : group_types_) o.groups.emplace_back(t);
    for (std::size_t i = 0; i < c_.aggregates.size(); ++i)
      o.fns.emplace_back(OutputType(c_.aggregates[i].kind, fn_types_[i]));
    return o;
  }

  // The fn's input type: as seen in batches or derived at start, else as the
  // state recorded.
  TypeId InputType(std::size_t i, const GroupState& st) const {
    return fn_types_[i] != TypeId::kNull ? fn_types_[i] : st.fns[i].type;
  }

  Status AppendRow(Output& o, const GroupState& st, std::int64_t weight) {
    ByteReader r(st.group);
    for (std::size_t g = 0; g < o.groups.size(); ++g) {
      if (o.groups[g].type() == TypeId::kNull) {
        TypeId t = KeyValueType(st.group, g);
        if (t != TypeId::kNull && o.groups[g].empty()) o.groups[g] = Column(t);
      }
      EncodedValue v;
      if (!ReadKeyValue(r, &v)) return Corruption("aggregate state: damaged group key");
      AppendKeyValue(v, o.groups[g]);
    }
    if (c_.window.kind != WindowKind::kNone) {
      o.start.AppendInt(st.start);
      o.end.AppendInt(st.end);
    }
    for (std::size_t i = 0; i < c_.aggregates.size(); ++i) {
      const AggregateFn& fn = c_.aggregates[i];
      const FnState& f = st.fns[i];
      Column& col = o.fns[i];
      const TypeId in = InputType(i, st);
      if (col.type() == TypeId::kNull && col.empty() && OutputType(fn.kind, in) != TypeId::kNull)
        col = Column(OutputType(fn.kind, in));
      switch (fn.kind) {
        case AggregateKind::kCount:
          col.AppendInt(f.n);
          break;
        case AggregateKind::kCountDistinct: {
          std::int64_t d = 0;
          for (const auto& [v, c] : f.values) d += c > 0;
          col.AppendInt(d);
          break;
        }
        case AggregateKind::kSum:
          if (f.n == 0) {
            col.AppendNull();
          } else if (col.type() == TypeId::kDouble) {
            col.AppendDouble(f.dsum);
          } else {
            col.AppendInt(f.isum);
          }
          break;
        case AggregateKind::kAvg:
          if (f.n == 0) {
            col.AppendNull();
          } else {
            double sum = in == TypeId::kDouble ? f.dsum : static_cast<double>(f.isum);
            col.AppendDouble(sum / static_cast<double>(f.n));
          }
          break;
        case AggregateKind::kMin:
        case AggregateKind::kMax: {
          const std::string* v = nullptr;
          if (f.extreme) v = &*f.extreme;
          if (fn.kind == AggregateKind::kMin) {
            for (auto it = f.values.begin(); v == nullptr && it != f.values.end(); ++it)
              if (it->second > 0) v = &it->first;
          } else {
            for (auto it = f.values.rbegin(); v == nullptr && it != f.values.rend(); ++it)
              if (it->second > 0) v = &it->first;
          }
          if (v == nullptr || col.type() == TypeId::kNull) {
            col.AppendNull();
          } else {
            AppendOrdered(col, *v, col.type());
          }
          break;
        }
        case AggregateKind::kMedian:
        case AggregateKind::kPercentile: {
          std::int64_t total = 0;
          for (const auto& [v, c] : f.values) total += std::max<std::int64_t>(c, 0);
          if (total == 0) {
            col.AppendNull();
            break;
          }
          const double pos = fn.p * static_cast<double>(total - 1);
          const auto lo = static_cast<std::int64_t>(std::floor(pos));
          const std::int64_t hi = std::min<std::int64_t>(lo + 1, total - 1);
          double vlo = 0, vhi = 0;
          std::int64_t seen = 0;
          bool have_lo = false;
          for (const auto& [v, c] : f.values) {
            if (c <= 0) continue;
            seen += c;
            if (!have_lo && seen > lo) {
              vlo = OrderedToDouble(v, in);
              have_lo = true;
            }
            if (seen > hi) {
              vhi = OrderedToDouble(v, in);
              break;
            }
          }
          col.AppendDouble(vlo + (vhi - vlo) * (pos - static_cast<double>(lo)));
          break;
        }
      }
    }
    o.weights.push_back(weight);
    o.retracts |= weight != 1;
    ++o.rows;
    return Status::Ok();
  }

  RecordBatch Build(Output o) const {
    RecordBatch b;
    b.row_ids().resize(o.rows);
    for (std::size_t g = 0; g < o.groups.size(); ++g) {
      b.AddColumn(c_.group_by[g], std::move(o.groups[g]));
    }
    if (c_.window.kind != WindowKind::kNone) {
      b.AddColumn("window_start", std::move(o.start));
      b.AddColumn("window_end", std::move(o.end));
    }
    for (std::size_t i = 0; i < o.fns.size(); ++i)
      b.AddColumn(c_.aggregates[i].as, std::move(o.fns[i]));
    if (o.retracts) b.SetWeights(std::move(o.weights));
    b.set_input_tag(out_tag_);
    return b;
  }

  AggregateConfig c_;
  StateTable* table_;
  bool retractable_;
  std::int64_t lag_us_;  // of the input's watermark column (StreamSchema::watermark_lag_us)
  std::vector<TypeId> group_types_, fn_types_;
  std::uint16_t out_tag_;
  std::unordered_map<std::string, Touched> touched_;
  std::unordered_map<std::string, Sessions> sessions_;  // by partition + group (session windows)
  std::string scratch_;
  bool changed_ = false;
};

std::string_view ModeName(OutputMode m) {
  switch (m) {
    case OutputMode::kAppend:
      return "append";
    case OutputMode::kUpdate:
      return "update";
    case OutputMode::kComplete:
      return "complete";
  }
  return "?";
}

class AggregateSpec : public OperatorSpec {
 public:
  explicit AggregateSpec(AggregateConfig c) : c_(std::move(c)) {}
  std::string_view kind() const override { return "aggregate"; }
  std::vector<std::string> KeyColumns() const override { return c_.group_by; }
  // Without group_by one group holds every row: the exchange brings them all to one shard.
  bool gathers_all_rows() const override { return c_.group_by.empty(); }
  bool stateful() const override { return true; }
  bool uses_state_table() const override { return true; }
  // The session index (one per session, beside its entry): not a state row.
  std::string_view state_index_kinds() const override {
    return std::string_view(&kSessionIndex, 1);
  }
  std::string StateFingerprint() const override {
    std::vector<std::string> fns;
    for (const auto& f : c_.aggregates)
      fns.push_back(
          fmt::format("{}({}{})", FnName(f.kind), f.column,
                      f.kind == AggregateKind::kPercentile ? fmt::format(",{}", f.p) : ""));
    const bool session = c_.window.kind == WindowKind::kSession;
    return fmt::format("group_by={} window={}:{}:{}:{} fns={} mode={}", fmt::join(c_.group_by, ","),
                       static_cast<int>(c_.window.kind), c_.window.column,
                       session ? c_.window.gap_us : c_.window.size_us,
                       session ? 0 : c_.window.slide_us, fmt::join(fns, ","), ModeName(c_.mode));
  }

  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    StreamSchema in = inputs.empty() ? StreamSchema::Unknown() : inputs.front();
    if (in.changes == ChangeKind::kSnapshot) {
      return InvalidArgument(
          "aggregate over complete results (an aggregate in "
          "complete mode): aggregate its input "
          "instead, or use output_mode: update upstream");
    }
    PS_RETURN_IF_ERROR(RequireColumnsIn(in, c_.group_by, "aggregate group_by"));
    StreamSchema out;
    out.complete = true;
    for (const auto& g : c_.group_by) out.schema.AddField({g, in.TypeOf(g)});
    if (c_.window.kind != WindowKind::kNone) {
      static constexpr TypeId kTs[] = {TypeId::kTimestamp};
      PS_RETURN_IF_ERROR(RequireColumnType(in, c_.window.column, "aggregate window", kTs));
      if (c_.window.kind == WindowKind::kSession && in.changes != ChangeKind::kInsertOnly) {
        return InvalidArgument(
            "aggregate: session windows need insert-only input (a retraction could split a "
            "session); aggregate the rows before the update-mode aggregate or join instead");
      }
      out.schema.AddField({"window_start", TypeId::kTimestamp});
      out.schema.AddField({"window_end", TypeId::kTimestamp});
    }
    for (const auto& f : c_.aggregates) {
      TypeId t = TypeId::kNull;
      if (!f.column.empty()) {
        std::string what = fmt::format("aggregate {} as '{}'", FnName(f.kind), f.as);
        if (f.kind == AggregateKind::kSum || f.kind == AggregateKind::kAvg ||
            f.kind == AggregateKind::kMedian || f.kind == AggregateKind::kPercentile) {
          static constexpr TypeId kNum[] = {TypeId::kInt64, TypeId::kDouble};
          PS_RETURN_IF_ERROR(RequireColumnType(in, f.column, what, kNum));
        } else {
          static constexpr TypeId kScalar[] = {TypeId::kBool,   TypeId::kInt64,     TypeId::kDouble,
                                               TypeId::kString, TypeId::kTimestamp, TypeId::kRaw};
          PS_RETURN_IF_ERROR(RequireColumnType(in, f.column, what, kScalar));
        }
        t = in.TypeOf(f.column);
      }
      out.schema.AddField({f.as, OutputType(f.kind, t)});
    }
    if (c_.mode == OutputMode::kAppend) {
      if (c_.window.kind == WindowKind::kNone) {
        return InvalidArgument(
            "aggregate: output_mode append needs a window "
            "(a group without one is never final); "
            "use update or complete");
      }
      if (in.watermark_column != c_.window.column) {
        return InvalidArgument(
            fmt::format("aggregate: output_mode append needs a watermark on "
                        "the window column '{}' (declare "
                        "`watermark: {{column: {}, delay: ...}}` on the "
                        "input{}), or use update or complete",
                        c_.window.column, c_.window.column,
                        in.watermark_column.empty()
                            ? ""
                            : fmt::format("; it is declared on '{}'", in.watermark_column)));
      }
    }
    switch (c_.mode) {
      case OutputMode::kAppend:
        out.changes = ChangeKind::kInsertOnly;
        break;
      case OutputMode::kUpdate:
        out.changes = ChangeKind::kChanges;
        break;
      case OutputMode::kComplete:
        out.changes = ChangeKind::kSnapshot;
        break;
    }
    if (c_.mode != OutputMode::kAppend) {
      out.key_columns = c_.group_by;
      if (c_.window.kind != WindowKind::kNone) {
        out.key_columns.push_back("window_start");
        out.key_columns.push_back("window_end");
      }
    }
    return out;
  }

  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
    if (ctx.table == nullptr) return Internal("aggregate needs a state table");
    StreamSchema in = ctx.input_schemas.empty() ? StreamSchema::Unknown() : ctx.input_schemas[0];
    std::vector<TypeId> gt, ft;
    for (const auto& g : c_.group_by) gt.push_back(in.TypeOf(g));
    for (const auto& f : c_.aggregates)
      ft.push_back(f.column.empty() ? TypeId::kNull : in.TypeOf(f.column));
    return std::unique_ptr<Operator>(std::make_unique<Aggregate>(
        c_, ctx.table, in.changes != ChangeKind::kInsertOnly, std::move(gt), std::move(ft),
        ctx.output_tag, in.watermark_lag_us));
  }

 private:
  AggregateConfig c_;
};

AggregateKind ParseFn(const ConfigNode& n) {
  static const std::pair<std::string_view, AggregateKind> kFns[] = {
      {"count", AggregateKind::kCount},   {"count_distinct", AggregateKind::kCountDistinct},
      {"sum", AggregateKind::kSum},       {"avg", AggregateKind::kAvg},
      {"min", AggregateKind::kMin},       {"max", AggregateKind::kMax},
      {"median", AggregateKind::kMedian}, {"percentile", AggregateKind::kPercentile}};
  std::string s = n.AsString();
  for (const auto& [name, k] : kFns)
    if (s == name) return k;
  n.Fail(
      fmt::format("unknown aggregate fn '{}' (count, count_distinct, sum, "
                  "avg, min, max, median, percentile)",
                  s));
}

}  // namespace

std::shared_ptr<const OperatorSpec> MakeAggregateSpec(AggregateConfig config) {
  return std::make_shared<AggregateSpec>(std::move(config));
}

namespace {
constexpr KeyDoc kAggregateDocs[] = {
    {"group_by", KeyType::kStringList, "",
     "The grouping columns; none (omitted or []): one group of every row, a global aggregate."},
    {"window", KeyType::kMap, "",
     "An event-time window per group (see operators: aggregate.window); needs a watermark for "
     "append mode."},
    {"aggregates", KeyType::kList, "",
     "Required. The aggregates computed (see operators: aggregate.aggregates[])."},
    {"output_mode", KeyType::kEnum, "",
     "Required. append: a group's row once, when the watermark finishes its window; update: the "
     "groups changed by each batch; complete: every group after each batch (Spark's modes).",
     "append|update|complete"},
};
constexpr KeyDoc kAggregateWindowDocs[] = {
    {"column", KeyType::kString, "", "Required. The event-time column."},
    {"size", KeyType::kDuration, "", "Tumbling and sliding windows: the window length (> 0)."},
    {"slide", KeyType::kDuration, "(size: tumbling)",
     "How far successive windows start apart (> 0, at most size; less than size: sliding)."},
    {"gap", KeyType::kDuration, "",
     "Session windows instead of size/slide: a key's session ends `gap` after its last row; "
     "sessions that overlap merge (> 0)."},
};
constexpr KeyDoc kAggregateFnDocs[] = {
    {"fn", KeyType::kEnum, "", "Required. The function.",
     "count|count_distinct|sum|avg|min|max|median|percentile"},
    {"column", KeyType::kString, "", "The column aggregated (all but count need one)."},
    {"p", KeyType::kNumber, "(required for percentile)", "The percentile, 0..1."},
    {"as", KeyType::kString, "(<fn>_<column>, or fn)", "The output column's name."},
};
}  // namespace
constexpr ConfigKeys kAggregateKeys{
    "operators: aggregate",
    "Grouped and windowed aggregates in append, update or complete mode, with the groups in the "
    "query's state.",
    kAggregateDocs};
constexpr ConfigKeys kAggregateWindowKeys{"operators: aggregate.window",
                                          "Tumbling (slide = size), sliding or session (gap) windows.",
                                          kAggregateWindowDocs};
constexpr ConfigKeys kAggregateFnKeys{"operators: aggregate.aggregates[]", "One aggregate.",
                                      kAggregateFnDocs};

std::shared_ptr<const OperatorSpec> AggregateFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kAggregateKeys);
  AggregateConfig c;
  // Without group_by (or with an empty list): one group, every row (a global aggregate).
  c.group_by = n.GetStringList("group_by");
  std::vector<std::string> names = c.group_by;
  if (auto w = n.Find("window")) {
    w->ExpectKeys(kAggregateWindowKeys);
    c.window.column = w->GetString("column");
    if (w->Has("gap")) {
      for (const char* k : {"size", "slide"}) {
        if (w->Has(k)) {
          w->Get(k).Fail(
              "a session window has a gap, not a size or slide ({column, gap} for sessions, "
              "{column, size, slide} for tumbling and sliding windows)");
        }
      }
      c.window.kind = WindowKind::kSession;
      c.window.gap_us = w->GetDurationMicros("gap", 0);
      if (c.window.gap_us <= 0) w->Get("gap").Fail("the session gap must be > 0");
    } else {
      if (!w->Has("size")) w->Fail("a window needs a size (tumbling, sliding) or a gap (session)");
      c.window.size_us = w->GetDurationMicros("size", 0);
      if (c.window.size_us <= 0) w->Get("size").Fail("the window size must be > 0");
      c.window.slide_us = w->GetDurationMicros("slide", c.window.size_us);
      if (c.window.slide_us <= 0 || c.window.slide_us > c.window.size_us) {
        w->Get("slide").Fail("the slide must be > 0 and at most the window size");
      }
      c.window.kind =
          c.window.slide_us == c.window.size_us ? WindowKind::kTumbling : WindowKind::kSliding;
    }
    names.push_back("window_start");
    names.push_back("window_end");
  }
  for (const ConfigNode& a : n.Get("aggregates").Elements()) {
    a.ExpectKeys(kAggregateFnKeys);
    AggregateFn f;
    f.kind = ParseFn(a.Get("fn"));
    f.column = a.GetString("column", "");
    if (f.column.empty() && f.kind != AggregateKind::kCount) {
      a.Fail(fmt::format("aggregate fn {} needs a column", FnName(f.kind)));
    }
    if (f.kind == AggregateKind::kPercentile) {
      if (!a.Has("p")) a.Fail("percentile needs p (0..1)");
      f.p = a.GetDouble("p", 0.5);
      if (!(f.p >= 0 && f.p <= 1)) a.Get("p").Fail("p must be between 0 and 1");
    } else if (a.Has("p")) {
      a.Get("p").Fail("p is for fn: percentile only");
    }
    f.as = a.GetString("as", f.column.empty() ? std::string(FnName(f.kind))
                                              : fmt::format("{}_{}", FnName(f.kind), f.column));
    if (std::find(names.begin(), names.end(), f.as) != names.end()) {
      a.Fail(fmt::format("output column '{}' is already taken: name it with `as`", f.as));
    }
    names.push_back(f.as);
    c.aggregates.push_back(std::move(f));
  }
  if (c.aggregates.empty()) n.Get("aggregates").Fail("aggregate needs at least one aggregate");
  std::string mode = n.GetString("output_mode");
  if (mode == "append") {
    c.mode = OutputMode::kAppend;
  } else if (mode == "update") {
    c.mode = OutputMode::kUpdate;
  } else if (mode == "complete") {
    c.mode = OutputMode::kComplete;
  } else {
    n.Get("output_mode")
        .Fail(fmt::format("unknown output_mode '{}' (append, update, complete)", mode));
  }
  return std::make_shared<AggregateSpec>(std::move(c));
}

}  // namespace pinstream::ops
