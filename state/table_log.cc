#include "state/table_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/bytes.h"
#include "engine/row_format.h"
#include "engine/time_util.h"

namespace pinstream::state {

using nlohmann::json;
using nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Keys

std::string TableKey(std::uint32_t table_id, char kind) {
  std::string k;
  PutBigEndian32(&k, table_id);
  k.push_back(kind);
  return k;
}

std::string TableVersionKey(std::uint32_t table_id, char kind, std::int64_t version) {
  std::string k = TableKey(table_id, kind);
  PutBigEndian64(&k, static_cast<std::uint64_t>(version));
  return k;
}

std::string ChunkKey(std::uint32_t table_id, ChunkId chunk) {
  std::string k = TableVersionKey(table_id, 'C', chunk.version);
  PutBigEndian32(&k, chunk.index);
  return k;
}

std::string DeletionVectorKey(std::uint32_t table_id, ChunkId chunk, std::int64_t dv_version) {
  std::string k = TableVersionKey(table_id, 'D', chunk.version);
  PutBigEndian32(&k, chunk.index);
  PutBigEndian64(&k, static_cast<std::uint64_t>(dv_version));
  return k;
}

std::string KeyIndexPrefix(std::uint32_t table_id, std::string_view key) {
  std::string k = TableKey(table_id, 'I');
  k.append(key);
  return k;
}

std::string KeyIndexEntry(std::uint32_t table_id, std::string_view key, ChunkId chunk,
                          std::uint32_t row) {
  std::string k = KeyIndexPrefix(table_id, key);
  PutBigEndian64(&k, static_cast<std::uint64_t>(chunk.version));
  PutBigEndian32(&k, chunk.index);
  PutBigEndian32(&k, row);
  return k;
}

// ---------------------------------------------------------------------------------------------
// Column statistics

namespace {

constexpr std::size_t kStatsStringPrefix = 32;

ordered_json ValueToJson(const Value& v) {
  switch (v.type()) {
    case TypeId::kBool:
      return v.bool_value();
    case TypeId::kInt64:
      return v.int_value();
    case TypeId::kDouble:
      return v.double_value();
    case TypeId::kTimestamp:
      return FormatTimestamp(v.int_value(), TimestampStyle::kIsoMicro);
    case TypeId::kString:
      return v.string_value();
    default:
      return nullptr;
  }
}

Value JsonToValue(const json& j, TypeId t) {
  if (j.is_null()) return Value();
  switch (t) {
    case TypeId::kBool:
      return j.is_boolean() ? Value::Bool(j.get<bool>()) : Value();
    case TypeId::kInt64:
      return j.is_number_integer() ? Value::Int64(j.get<std::int64_t>()) : Value();
    case TypeId::kDouble:
      return j.is_number() ? Value::Double(j.get<double>()) : Value();
    case TypeId::kTimestamp: {
      if (!j.is_string()) return Value();
      auto r = ParseTimestamp(j.get<std::string>());
      return r.ok() ? Value::Timestamp(*r) : Value();
    }
    case TypeId::kString:
      return j.is_string() ? Value::String(j.get<std::string>()) : Value();
    default:
      return Value();
  }
}

// The first 8 bytes of `s` as a big-endian number, zero-padded. Two of them order their strings
// as a byte-wise compare does whenever they differ; only equal ones need the full compare.
inline std::uint64_t Prefix8(std::string_view s) {
  if (s.size() >= 8) {
    std::uint64_t v;
    std::memcpy(&v, s.data(), 8);
    return __builtin_bswap64(v);
  }
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[i])) << (56 - 8 * i);
  return v;
}

// {"numRecords", "minValues", "maxValues", "nullCount"} of `stats`.
ordered_json StatsToJson(const std::vector<ColumnStats>& stats, std::int64_t rows) {
  ordered_json mins = ordered_json::object(), maxs = ordered_json::object(),
               nulls = ordered_json::object();
  for (const auto& s : stats) {
    if (!s.min.is_null()) mins[s.name] = ValueToJson(s.min);
    if (!s.max.is_null()) maxs[s.name] = ValueToJson(s.max);
    nulls[s.name] = s.null_count;
  }
  return {{"numRecords", rows}, {"minValues", mins}, {"maxValues", maxs}, {"nullCount", nulls}};
}

// True when `j` holds a floating-point number outside int's range anywhere but in the stats'
// bounds (minValues/maxValues, where double columns' bounds are doubles): every other number of a
// log entry or checkpoint is an integer, and converting such a float to one is undefined
// behaviour — a damaged entry must be refused instead.
bool HasOutOfRangeFloat(const json& j) {
  if (j.is_number_float()) {
    double d = j.get<double>();
    return !(d > -2147483648.0 && d < 2147483648.0);
  }
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (k != "minValues" && k != "maxValues" && HasOutOfRangeFloat(v)) return true;
    }
  } else if (j.is_array()) {
    for (const auto& v : j) {
      if (HasOutOfRangeFloat(v)) return true;
    }
  }
  return false;
}

// The stats of `st` for the columns of `schema` (bounds typed by it).
std::vector<ColumnStats> StatsFromJson(const json& st, const Schema& schema) {
  std::vector<ColumnStats> out;
  for (const auto& f : schema.fields()) {
    ColumnStats s;
    s.name = f.name;
    if (st.contains("nullCount") && st["nullCount"].contains(f.name))
      s.null_count = st["nullCount"][f.name].get<std::int64_t>();
    else if (st.contains("nullCount"))
      continue;  // a column the stats do not know (added later)
    if (st.contains("minValues") && st["minValues"].contains(f.name))
      s.min = JsonToValue(st["minValues"][f.name], f.type);
    if (st.contains("maxValues") && st["maxValues"].contains(f.name))
      s.max = JsonToValue(st["maxValues"][f.name], f.type);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

std::vector<ColumnStats> ComputeStats(const RecordBatch& b) {
  std::vector<ColumnStats> out;
  for (std::size_t c = 0; c < b.num_columns(); ++c) {
    const Column& col = b.column(c);
    ColumnStats s;
    s.name = b.name(c);
    std::size_t n = col.size();
    if (col.type() == TypeId::kNull) {
      s.null_count = static_cast<std::int64_t>(n);
      out.push_back(std::move(s));
      continue;
    }
    bool any = false;
    switch (col.type()) {
      case TypeId::kBool:
      case TypeId::kInt64:
      case TypeId::kTimestamp: {
        std::int64_t lo = 0, hi = 0;
        for (std::size_t i = 0; i < n; ++i) {
          if (col.IsNull(i)) {
            ++s.null_count;
            continue;
          }
          std::int64_t v = col.Int(i);
          if (!any || v < lo) lo = v;
          if (!any || v > hi) hi = v;
          any = true;
        }
        if (any) {
          if (col.type() == TypeId::kBool) {
            s.min = Value::Bool(lo != 0);
            s.max = Value::Bool(hi != 0);
          } else if (col.type() == TypeId::kTimestamp) {
            s.min = Value::Timestamp(lo);
            s.max = Value::Timestamp(hi);
          } else {
            s.min = Value::Int64(lo);
            s.max = Value::Int64(hi);
          }
        }
        break;
      }
      case TypeId::kDouble: {
        double lo = 0, hi = 0;
        for (std::size_t i = 0; i < n; ++i) {
          if (col.IsNull(i)) {
            ++s.null_count;
            continue;
          }
          double v = col.Double(i);
          if (v != v) continue;  // NaN is not ordered
          if (!any || v < lo) lo = v;
          if (!any || v > hi) hi = v;
          any = true;
        }
        if (any) {
          s.min = Value::Double(lo);
          s.max = Value::Double(hi);
        }
        break;
      }
      case TypeId::kString: {
        std::string_view lo, hi;
        std::uint64_t plo = 0, phi = 0;  // Prefix8 of lo and hi: most rows are decided by them
        for (std::size_t i = 0; i < n; ++i) {
          if (col.IsNull(i)) {
            ++s.null_count;
            continue;
          }
          std::string_view v = col.Str(i);
          std::uint64_t pv = Prefix8(v);
          if (!any || pv < plo || (pv == plo && v < lo)) {
            lo = v;
            plo = pv;
          }
          if (!any || pv > phi || (pv == phi && v > hi)) {
            hi = v;
            phi = pv;
          }
          any = true;
        }
        if (any) {
          // Like Delta: long strings are truncated; the max gets U+10FFFF appended so it stays an
          // upper bound.
          std::string mn(lo.substr(0, kStatsStringPrefix));
          std::string mx(hi);
          if (mx.size() > kStatsStringPrefix) {
            mx.resize(kStatsStringPrefix);
            while (!mx.empty() && (static_cast<unsigned char>(mx.back()) & 0xC0) == 0x80)
              mx.pop_back();
            if (!mx.empty() && static_cast<unsigned char>(mx.back()) >= 0xC0) mx.pop_back();
            mx += "\xF4\x8F\xBF\xBF";
          }
          while (!mn.empty() && (static_cast<unsigned char>(mn.back()) & 0xC0) == 0x80)
            mn.pop_back();
          if (!mn.empty() && static_cast<unsigned char>(mn.back()) >= 0xC0) mn.pop_back();
          if (IsValidUtf8(mn) && IsValidUtf8(mx)) {
            s.min = Value::String(std::move(mn));
            s.max = Value::String(std::move(mx));
          } else {
            s.bounds_unknown = true;
          }
        }
        break;
      }
      default:
        s.null_count = static_cast<std::int64_t>(col.NullCount());
        break;
    }
    out.push_back(std::move(s));
  }
  return out;
}

void MergeStats(std::vector<ColumnStats>* acc, std::vector<ColumnStats> more) {
  for (auto& m : more) {
    auto it = std::find_if(acc->begin(), acc->end(),
                           [&](const ColumnStats& s) { return s.name == m.name; });
    if (it == acc->end()) {
      acc->push_back(std::move(m));
      continue;
    }
    it->null_count += m.null_count;
    if (it->bounds_unknown || m.bounds_unknown) {
      it->bounds_unknown = true;
      it->min = Value();
      it->max = Value();
      continue;
    }
    if (!m.min.is_null() && (it->min.is_null() || m.min.Compare(it->min) < 0)) it->min = m.min;
    if (!m.max.is_null() && (it->max.is_null() || m.max.Compare(it->max) > 0)) it->max = m.max;
  }
}

// ---------------------------------------------------------------------------------------------
// CommitInfo

const char* WriteModeName(WriteMode mode) {
  switch (mode) {
    case WriteMode::kOverwrite:
      return "Overwrite";
    case WriteMode::kUpdate:
      return "Update";
    case WriteMode::kAppend:
      break;
  }
  return "Append";
}

namespace {

ordered_json RangesToJson(const std::vector<VersionRange>& ranges) {
  ordered_json a = ordered_json::array();
  for (const auto& r : ranges) a.push_back({r.first, r.last});
  return a;
}

std::vector<VersionRange> RangesFromJson(const json& a) {
  std::vector<VersionRange> out;
  for (const auto& r : a)
    out.push_back(VersionRange{r.at(0).get<std::int64_t>(), r.at(1).get<std::int64_t>()});
  return out;
}

const Schema* SchemaOf(const std::map<int, Schema>* schemas, int id) {
  if (schemas == nullptr) return nullptr;
  auto it = schemas->find(id);
  return it == schemas->end() ? nullptr : &it->second;
}

}  // namespace

std::string CommitInfo::ToJson() const {
  ordered_json j;
  j["version"] = version;
  j["timestamp"] = timestamp_ms;
  j["operation"] = operation;
  j["operationParameters"] = {{"outputMode", WriteModeName(mode)}};
  j["dataChange"] = data_change;
  j["writer"] = query_name;
  if (!app_id.empty()) j["txn"] = {{"appId", app_id}, {"epoch", epoch}, {"version", batch_id}};
  j["rowsAdded"] = rows_added;
  if (rows_removed != 0) j["rowsRemoved"] = rows_removed;
  j["chunks"] = chunks;
  j["bytes"] = bytes;
  if (chunks_removed != 0) j["chunksRemoved"] = chunks_removed;
  if (bytes_removed != 0) j["bytesRemoved"] = bytes_removed;
  if (small_chunks != 0) j["smallChunks"] = small_chunks;
  if (small_chunks_removed != 0) j["smallChunksRemoved"] = small_chunks_removed;
  j["schemaId"] = schema_id;
  if (!added_columns.empty()) j["addedColumns"] = added_columns;
  if (!removed.empty()) j["removedVersions"] = RangesToJson(removed);
  if (!dv_updates.empty()) {
    ordered_json dvs = ordered_json::array();
    for (const auto& u : dv_updates) dvs.push_back({u.chunk.version, u.chunk.index, u.deleted});
    j["deletionVectors"] = dvs;
  }
  if (!key_columns.empty()) j["keyColumns"] = key_columns;
  if (oldest_readable) j["oldestReadableVersion"] = *oldest_readable;
  if (live) j["liveVersions"] = RangesToJson(*live);
  if (!metrics.empty()) {
    ordered_json m = ordered_json::object();
    for (const auto& [k, v] : metrics) m[k] = v;
    j["operationMetrics"] = m;
  }
  if (rows_added > 0 || !stats.empty()) j["stats"] = StatsToJson(stats, rows_added);
  return j.dump();
}

Result<CommitInfo> CommitInfo::Parse(std::string_view text, const std::map<int, Schema>* schemas) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("version"))
    return Corruption("table log entry is not valid JSON");
  if (HasOutOfRangeFloat(j)) return Corruption("table log entry has a number out of range");
  CommitInfo c;
  try {
    c.version = j.at("version").get<std::int64_t>();
    c.timestamp_ms = j.value("timestamp", std::int64_t{0});
    c.operation = j.value("operation", std::string());
    std::string mode =
        j.contains("operationParameters") ? j["operationParameters"].value("outputMode", "") : "";
    c.mode = mode == "Overwrite" ? WriteMode::kOverwrite
             : mode == "Update"  ? WriteMode::kUpdate
                                 : WriteMode::kAppend;
    c.data_change = j.value("dataChange", true);
    c.query_name = j.value("writer", std::string());
    if (j.contains("txn")) {
      c.app_id = j["txn"].value("appId", std::string());
      c.epoch = j["txn"].value("epoch", std::int64_t{0});
      c.batch_id = j["txn"].value("version", std::int64_t{-1});
    }
    c.rows_added = j.value("rowsAdded", std::int64_t{0});
    c.rows_removed = j.value("rowsRemoved", std::int64_t{0});
    c.chunks = j.value("chunks", std::int64_t{0});
    c.bytes = j.value("bytes", std::int64_t{0});
    c.chunks_removed = j.value("chunksRemoved", std::int64_t{0});
    c.bytes_removed = j.value("bytesRemoved", std::int64_t{0});
    c.small_chunks = j.value("smallChunks", std::int64_t{0});
    c.small_chunks_removed = j.value("smallChunksRemoved", std::int64_t{0});
    c.schema_id = j.value("schemaId", 0);
    if (j.contains("addedColumns"))
      c.added_columns = j["addedColumns"].get<std::vector<std::string>>();
    if (j.contains("removedVersions")) c.removed = RangesFromJson(j["removedVersions"]);
    if (j.contains("deletionVectors")) {
      for (const auto& d : j["deletionVectors"]) {
        c.dv_updates.push_back(
            DvUpdate{ChunkId{d.at(0).get<std::int64_t>(), d.at(1).get<std::uint32_t>()},
                     d.at(2).get<std::int64_t>()});
      }
    }
    if (j.contains("keyColumns")) c.key_columns = j["keyColumns"].get<std::vector<std::string>>();
    if (j.contains("oldestReadableVersion"))
      c.oldest_readable = j["oldestReadableVersion"].get<std::int64_t>();
    if (j.contains("liveVersions")) c.live = RangesFromJson(j["liveVersions"]);
    if (j.contains("operationMetrics")) {
      for (const auto& [k, v] : j["operationMetrics"].items())
        if (v.is_number_integer()) c.metrics.emplace_back(k, v.get<std::int64_t>());
    }
    const Schema* schema = SchemaOf(schemas, c.schema_id);
    if (schema != nullptr && j.contains("stats")) c.stats = StatsFromJson(j["stats"], *schema);
  } catch (const json::exception& e) {
    return Corruption(fmt::format("table log entry has a malformed field: {}", e.what()));
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Live sets

void AddVersion(std::vector<VersionRange>* live, std::int64_t v) {
  if (!live->empty() && live->back().last + 1 == v) {
    live->back().last = v;
    return;
  }
  if (!live->empty() && live->back().last >= v) return;  // already there (never for new versions)
  live->push_back(VersionRange{v, v});
}

void RemoveRange(std::vector<VersionRange>* live, VersionRange r) {
  std::vector<VersionRange> out;
  out.reserve(live->size() + 1);
  for (const auto& x : *live) {
    if (x.last < r.first || x.first > r.last) {
      out.push_back(x);
      continue;
    }
    if (x.first < r.first) out.push_back(VersionRange{x.first, r.first - 1});
    if (x.last > r.last) out.push_back(VersionRange{r.last + 1, x.last});
  }
  *live = std::move(out);
}

std::vector<VersionRange> Intersect(const std::vector<VersionRange>& live, VersionRange within) {
  std::vector<VersionRange> out;
  for (const auto& x : live) {
    VersionRange c{std::max(x.first, within.first), std::min(x.last, within.last)};
    if (c.first <= c.last) out.push_back(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// TableState

bool TableState::IsLive(std::int64_t v) const {
  auto it = std::upper_bound(live.begin(), live.end(), v,
                             [](std::int64_t x, const VersionRange& r) { return x < r.first; });
  return it != live.begin() && std::prev(it)->Contains(v);
}

std::int64_t TableState::live_versions() const {
  std::int64_t n = 0;
  for (const auto& r : live) n += r.last - r.first + 1;
  return n;
}

Status TableState::Apply(const CommitInfo& c) {
  if (c.version != version + 1) {
    return Corruption(fmt::format("version {} follows version {} (the log must be gap-free)",
                                  c.version, version));
  }
  version = c.version;
  timestamp_ms = c.timestamp_ms;
  schema_id = c.schema_id;
  if (c.overwrite()) {
    live.clear();
    dvs.clear();
    num_rows = c.rows_added;
    live_chunks = c.chunks;
    live_bytes = c.bytes;
    small_chunks = c.small_chunks;
    stats = c.stats;
  } else {
    for (const auto& r : c.removed) {
      RemoveRange(&live, r);
      dvs.erase(dvs.lower_bound(ChunkId{r.first, 0}), dvs.lower_bound(ChunkId{r.last + 1, 0}));
    }
    num_rows += c.rows_added - c.rows_removed;
    live_chunks += c.chunks - c.chunks_removed;
    live_bytes += c.bytes - c.bytes_removed;
    small_chunks += c.small_chunks - c.small_chunks_removed;
    if (c.data_change) MergeStats(&stats, c.stats);
  }
  if (c.live) live = *c.live;
  // Every version joins the live set, also one without chunks: the ranges stay contiguous.
  AddVersion(&live, c.version);
  for (const auto& u : c.dv_updates) {
    if (u.deleted > 0)
      dvs[u.chunk] = DvRef{c.version, u.deleted};
    else
      dvs.erase(u.chunk);
  }
  if (!c.key_columns.empty()) key_columns = c.key_columns;
  if (c.oldest_readable) oldest_readable = std::max(oldest_readable, *c.oldest_readable);
  if (!c.app_id.empty()) txns[c.app_id] = TxnMark{c.epoch, c.batch_id, c.version};
  return Status::Ok();
}

std::string TableState::ToCheckpointJson() const {
  ordered_json j;
  j["checkpointFormat"] = 1;
  j["version"] = version;
  j["timestamp"] = timestamp_ms;
  j["schemaId"] = schema_id;
  j["live"] = RangesToJson(live);
  ordered_json d = ordered_json::array();
  for (const auto& [chunk, ref] : dvs)
    d.push_back({chunk.version, chunk.index, ref.dv_version, ref.deleted});
  j["deletionVectors"] = d;
  j["numRows"] = num_rows;
  j["liveChunks"] = live_chunks;
  j["liveBytes"] = live_bytes;
  j["smallChunks"] = small_chunks;
  j["stats"] = StatsToJson(stats, num_rows);
  ordered_json t = ordered_json::object();
  for (const auto& [app, m] : txns) t[app] = {m.epoch, m.batch, m.version};
  j["txns"] = t;
  if (!key_columns.empty()) j["keyColumns"] = key_columns;
  j["oldestReadableVersion"] = oldest_readable;
  return j.dump();
}

Result<TableState> TableState::FromCheckpoint(std::string_view text,
                                              const std::map<int, Schema>& schemas) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("version"))
    return Corruption("table log checkpoint is not valid JSON");
  if (HasOutOfRangeFloat(j)) return Corruption("table log checkpoint has a number out of range");
  TableState s;
  try {
    if (j.value("checkpointFormat", 0) != 1)
      return Corruption(fmt::format("table log checkpoint has an unknown format {}",
                                    j.value("checkpointFormat", 0)));
    s.version = j.at("version").get<std::int64_t>();
    s.timestamp_ms = j.value("timestamp", std::int64_t{0});
    s.schema_id = j.value("schemaId", -1);
    s.live = RangesFromJson(j.at("live"));
    for (const auto& d : j.at("deletionVectors")) {
      s.dvs[ChunkId{d.at(0).get<std::int64_t>(), d.at(1).get<std::uint32_t>()}] =
          DvRef{d.at(2).get<std::int64_t>(), d.at(3).get<std::int64_t>()};
    }
    s.num_rows = j.value("numRows", std::int64_t{0});
    s.live_chunks = j.value("liveChunks", std::int64_t{0});
    s.live_bytes = j.value("liveBytes", std::int64_t{0});
    s.small_chunks = j.value("smallChunks", std::int64_t{0});
    auto schema = schemas.find(s.schema_id);
    if (schema != schemas.end() && j.contains("stats"))
      s.stats = StatsFromJson(j["stats"], schema->second);
    for (const auto& [app, m] : j.at("txns").items())
      s.txns[app] = TxnMark{m.at(0).get<std::int64_t>(), m.at(1).get<std::int64_t>(),
                            m.at(2).get<std::int64_t>()};
    if (j.contains("keyColumns")) s.key_columns = j["keyColumns"].get<std::vector<std::string>>();
    s.oldest_readable = j.value("oldestReadableVersion", std::int64_t{0});
  } catch (const json::exception& e) {
    return Corruption(fmt::format("table log checkpoint has a malformed field: {}", e.what()));
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// VersionStats: varint rows | varint columns | per column: name | varint null count |
// flags (1 min, 2 max, 4 bounds unknown) | type byte | [min] [max] | varint chunks | varint
// bytes | varint small chunks; values: int-like fixed64, double fixed64 bits, string
// length-prefixed.

namespace {

void PutValue(std::string* out, const Value& v) {
  switch (v.type()) {
    case TypeId::kString:
      PutLengthPrefixed(out, v.string_value());
      break;
    case TypeId::kDouble: {
      double d = v.double_value();
      std::uint64_t bits;
      std::memcpy(&bits, &d, 8);
      PutFixed64(out, bits);
      break;
    }
    default:
      PutFixed64(out, static_cast<std::uint64_t>(v.int_value()));
  }
}

bool GetValue(ByteReader* r, TypeId t, Value* v) {
  if (t == TypeId::kString) {
    std::string_view s;
    if (!r->GetLengthPrefixed(&s)) return false;
    *v = Value::String(std::string(s));
    return true;
  }
  std::uint64_t bits;
  if (!r->GetFixed64(&bits)) return false;
  switch (t) {
    case TypeId::kDouble: {
      double d;
      std::memcpy(&d, &bits, 8);
      *v = Value::Double(d);
      return true;
    }
    case TypeId::kBool:
      *v = Value::Bool(bits != 0);
      return true;
    case TypeId::kTimestamp:
      *v = Value::Timestamp(static_cast<std::int64_t>(bits));
      return true;
    case TypeId::kInt64:
      *v = Value::Int64(static_cast<std::int64_t>(bits));
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string VersionStats::Encode() const {
  std::string out;
  PutVarint64(&out, static_cast<std::uint64_t>(rows));
  PutVarint64(&out, stats.size());
  for (const auto& s : stats) {
    PutLengthPrefixed(&out, s.name);
    PutVarint64(&out, static_cast<std::uint64_t>(s.null_count));
    std::uint8_t flags =
        (s.min.is_null() ? 0 : 1) | (s.max.is_null() ? 0 : 2) | (s.bounds_unknown ? 4 : 0);
    out.push_back(static_cast<char>(flags));
    TypeId t = !s.min.is_null() ? s.min.type() : s.max.type();
    out.push_back(static_cast<char>(t));
    if (!s.min.is_null()) PutValue(&out, s.min);
    if (!s.max.is_null()) PutValue(&out, s.max);
  }
  PutVarint64(&out, static_cast<std::uint64_t>(chunks));
  PutVarint64(&out, static_cast<std::uint64_t>(bytes));
  PutVarint64(&out, static_cast<std::uint64_t>(small_chunks));
  return out;
}

Result<VersionStats> VersionStats::Decode(std::int64_t version, std::string_view bytes) {
  VersionStats v;
  v.version = version;
  ByteReader r(bytes);
  std::uint64_t rows = 0, n = 0;
  auto bad = [&] {
    return Corruption(fmt::format("statistics of version {} are damaged", version));
  };
  if (!r.GetVarint64(&rows) || !r.GetVarint64(&n) || n > bytes.size()) return bad();
  v.rows = static_cast<std::int64_t>(rows);
  for (std::uint64_t i = 0; i < n; ++i) {
    ColumnStats s;
    std::string_view name;
    std::uint64_t nulls;
    std::uint8_t flags, type;
    if (!r.GetLengthPrefixed(&name) || !r.GetVarint64(&nulls) || !r.GetByte(&flags) ||
        !r.GetByte(&type))
      return bad();
    s.name = std::string(name);
    s.null_count = static_cast<std::int64_t>(nulls);
    s.bounds_unknown = (flags & 4) != 0;
    auto t = static_cast<TypeId>(type);
    if ((flags & 1) && !GetValue(&r, t, &s.min)) return bad();
    if ((flags & 2) && !GetValue(&r, t, &s.max)) return bad();
    v.stats.push_back(std::move(s));
  }
  std::uint64_t chunks = 0, total = 0, small = 0;  // absent in the first format: unknown
  if (r.remaining() > 0 &&
      (!r.GetVarint64(&chunks) || !r.GetVarint64(&total) || !r.GetVarint64(&small)))
    return bad();
  v.chunks = static_cast<std::int64_t>(chunks);
  v.bytes = static_cast<std::int64_t>(total);
  v.small_chunks = static_cast<std::int64_t>(small);
  if (!r.ok() || r.remaining() != 0) return bad();
  return v;
}

VersionStats StatsOf(const CommitInfo& c) {
  return VersionStats{c.version, c.rows_added, c.chunks, c.bytes, c.small_chunks, c.stats};
}

std::int64_t CountSmallChunks(const std::vector<std::uint32_t>& chunk_rows,
                              std::int64_t rows_per_chunk) {
  std::int64_t n = 0;
  for (std::uint32_t r : chunk_rows) n += static_cast<std::int64_t>(r) < rows_per_chunk / 2;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Deletion vectors: varint count | varint deltas of the sorted row indexes.

std::string EncodeDeletionVector(const std::vector<std::uint32_t>& rows) {
  std::string out;
  PutVarint64(&out, rows.size());
  std::uint32_t prev = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    PutVarint64(&out, i == 0 ? rows[i] : rows[i] - prev);
    prev = rows[i];
  }
  return out;
}

Result<std::vector<std::uint32_t>> DecodeDeletionVector(std::string_view bytes) {
  ByteReader r(bytes);
  std::uint64_t n = 0;
  if (!r.GetVarint64(&n) || n > bytes.size()) return Corruption("deletion vector is damaged");
  std::vector<std::uint32_t> rows;
  rows.reserve(static_cast<std::size_t>(n));
  std::uint64_t at = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t d;
    if (!r.GetVarint64(&d) || (i > 0 && d == 0)) return Corruption("deletion vector is damaged");
    at = i == 0 ? d : at + d;
    if (at > 0xFFFFFFFFu) return Corruption("deletion vector is damaged");
    rows.push_back(static_cast<std::uint32_t>(at));
  }
  if (r.remaining() != 0) return Corruption("deletion vector is damaged");
  return rows;
}

}  // namespace pinstream::state
