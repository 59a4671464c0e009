#include "state/delta_table.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/bytes.h"
#include "engine/row_format.h"
#include "engine/time_util.h"
#include "state/chunk_codec.h"
#include "state/store.h"

namespace pinstream::state {

using nlohmann::json;
using nlohmann::ordered_json;

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

// Per-column statistics of rows [0, n) (Delta's stats: min/max/null count).
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

}  // namespace

std::string CommitInfo::ToJson() const {
  ordered_json j;
  j["version"] = version;
  j["timestamp"] = timestamp_ms;
  j["operation"] = operation;
  j["operationParameters"] = {{"outputMode", overwrite ? "Overwrite" : "Append"}};
  j["writer"] = query_name;
  if (!app_id.empty()) j["txn"] = {{"appId", app_id}, {"epoch", epoch}, {"version", batch_id}};
  j["rowsAdded"] = rows_added;
  j["chunks"] = chunks;
  j["bytes"] = bytes;
  j["schemaId"] = schema_id;
  if (!added_columns.empty()) j["addedColumns"] = added_columns;
  ordered_json mins = ordered_json::object(), maxs = ordered_json::object(),
               nulls = ordered_json::object();
  for (const auto& s : stats) {
    if (!s.min.is_null()) mins[s.name] = ValueToJson(s.min);
    if (!s.max.is_null()) maxs[s.name] = ValueToJson(s.max);
    nulls[s.name] = s.null_count;
  }
  j["stats"] = {
      {"numRecords", rows_added}, {"minValues", mins}, {"maxValues", maxs}, {"nullCount", nulls}};
  return j.dump();
}

namespace {
Result<CommitInfo> ParseCommit(std::string_view text, const std::map<int, Schema>& schemas) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("version"))
    return Corruption("table log entry is not valid JSON");
  CommitInfo c;
  try {
    c.version = j.at("version").get<std::int64_t>();
    c.timestamp_ms = j.value("timestamp", std::int64_t{0});
    c.operation = j.value("operation", std::string());
    c.overwrite = j.contains("operationParameters") &&
                  j["operationParameters"].value("outputMode", "") == "Overwrite";
    c.query_name = j.value("writer", std::string());
    if (j.contains("txn")) {
      c.app_id = j["txn"].value("appId", std::string());
      c.epoch = j["txn"].value("epoch", std::int64_t{0});
      c.batch_id = j["txn"].value("version", std::int64_t{-1});
    }
    c.rows_added = j.value("rowsAdded", std::int64_t{0});
    c.chunks = j.value("chunks", std::int64_t{0});
    c.bytes = j.value("bytes", std::int64_t{0});
    c.schema_id = j.value("schemaId", 0);
    if (j.contains("addedColumns"))
      c.added_columns = j["addedColumns"].get<std::vector<std::string>>();
    auto sit = schemas.find(c.schema_id);
    if (sit != schemas.end() && j.contains("stats")) {
      const json& st = j["stats"];
      for (const auto& f : sit->second.fields()) {
        ColumnStats s;
        s.name = f.name;
        if (st.contains("nullCount") && st["nullCount"].contains(f.name))
          s.null_count = st["nullCount"][f.name].get<std::int64_t>();
        if (st.contains("minValues") && st["minValues"].contains(f.name))
          s.min = JsonToValue(st["minValues"][f.name], f.type);
        if (st.contains("maxValues") && st["maxValues"].contains(f.name))
          s.max = JsonToValue(st["maxValues"][f.name], f.type);
        c.stats.push_back(std::move(s));
      }
    }
  } catch (const json::exception& e) {
    return Corruption(fmt::format("table log entry has a malformed field: {}", e.what()));
  }
  return c;
}
}  // namespace

Result<CommitInfo> CommitInfo::Parse(std::string_view text) { return ParseCommit(text, {}); }

// ---------------------------------------------------------------------------------------------

std::string DeltaTable::Prefix(char kind) const { return TableKey(id_, kind); }

Result<std::unique_ptr<DeltaTable>> DeltaTable::Load(Store* store, const std::string& name,
                                                     std::uint32_t id) {
  std::unique_ptr<DeltaTable> t(new DeltaTable(store, name, id));
  t->created_ = true;
  PS_RETURN_IF_ERROR(t->LoadHead());
  if (!store->read_only()) PS_RETURN_IF_ERROR(t->DropUncommittedChunks());
  return t;
}

Status DeltaTable::DropUncommittedChunks() {
  // Chunks past the latest committed version were ingested for a version whose commit never
  // happened (the process stopped in between). Readers never see them; delete them so they do
  // not take space for ever (a retry of that version writes its chunks again).
  auto txn = store_->BeginTxn();
  std::int64_t dropped = 0;
  auto it = store_->NewIterator(KeySpace::kTables, TableKey(id_, 'C'));
  for (it->Seek(TableVersionKey(id_, 'C', static_cast<std::int64_t>(versions_.size())));
       it->Valid(); it->Next()) {
    txn->Delete(KeySpace::kTables, it->key());
    ++dropped;
  }
  PS_RETURN_IF_ERROR(it->status());
  if (dropped == 0) return Status::Ok();
  spdlog::info("table '{}': dropping {} chunk(s) of a version that was never committed", name_,
               dropped);
  return store_->Commit(std::move(txn), /*sync=*/false);
}

std::unique_ptr<DeltaTable> DeltaTable::CreateNew(Store* store, const std::string& name,
                                                  std::uint32_t id) {
  return std::unique_ptr<DeltaTable>(new DeltaTable(store, name, id));
}

Status DeltaTable::Refresh() {
  std::lock_guard lock(mu_);
  if (!created_) {
    std::string v;
    Status st = store_->Get(KeySpace::kMeta, "catalog/table/" + name_, &v);
    if (!st.ok()) return st.code() == StatusCode::kNotFound ? Status::Ok() : st;
    created_ = true;
  }
  return LoadHead();
}

Status DeltaTable::LoadHead() {
  auto damaged = [&](const std::string& what) {
    return Corruption(fmt::format("table '{}': {}", name_, what));
  };
  schemas_.clear();
  versions_.clear();
  txns_.clear();
  current_schema_ = -1;
  {
    auto it = store_->NewIterator(KeySpace::kTables, Prefix('S'));
    for (; it->Valid(); it->Next()) {
      std::string_view k = it->key();
      if (k.size() != 9) return damaged("malformed schema key");
      int sid = static_cast<int>(GetBigEndian32(k.data() + 5));
      auto s = Schema::FromJson(it->value());
      if (!s.ok())
        return damaged("schema " + std::to_string(sid) + " is unreadable: " + s.status().message());
      schemas_[sid] = std::move(s).value();
    }
    PS_RETURN_IF_ERROR(it->status());
  }
  {
    auto it = store_->NewIterator(KeySpace::kTables, Prefix('L'));
    std::int64_t expect = 0;
    for (; it->Valid(); it->Next()) {
      auto c = ParseCommit(it->value(), schemas_);
      if (!c.ok()) return damaged(c.status().message());
      if (c->version != expect) {
        return damaged(fmt::format("version {} follows version {} (the log must be gap-free)",
                                   c->version, expect - 1));
      }
      VersionHead h;
      h.base = c->overwrite || versions_.empty() ? c->version : versions_.back().base;
      h.rows =
          c->overwrite || versions_.empty() ? c->rows_added : versions_.back().rows + c->rows_added;
      h.schema_id = c->schema_id;
      if (!schemas_.count(h.schema_id))
        return damaged(fmt::format("version {} uses unknown schema {}", c->version, h.schema_id));
      current_schema_ = h.schema_id;
      versions_.push_back(h);
      ++expect;
    }
    PS_RETURN_IF_ERROR(it->status());
  }
  {
    auto it = store_->NewIterator(KeySpace::kTables, Prefix('X'));
    for (; it->Valid(); it->Next()) {
      json j = json::parse(it->value(), nullptr, false);
      if (j.is_discarded()) return damaged("txn entry is not valid JSON");
      Txn t{j.value("epoch", std::int64_t{0}), j.value("batch", std::int64_t{-1}),
            j.value("version", std::int64_t{-1})};
      txns_[std::string(it->key().substr(5))] = t;
    }
    PS_RETURN_IF_ERROR(it->status());
  }
  return Status::Ok();
}

std::int64_t DeltaTable::latest_version() const {
  std::lock_guard lock(mu_);
  return static_cast<std::int64_t>(versions_.size()) - 1;
}

Schema DeltaTable::schema() const {
  std::lock_guard lock(mu_);
  auto it = schemas_.find(current_schema_);
  return it == schemas_.end() ? Schema() : it->second;
}

std::int64_t DeltaTable::num_rows() const {
  std::lock_guard lock(mu_);
  return versions_.empty() ? 0 : versions_.back().rows;
}

std::optional<std::pair<std::int64_t, std::int64_t>> DeltaTable::LastTxn(
    const std::string& app_id) const {
  std::lock_guard lock(mu_);
  auto it = txns_.find(app_id);
  if (it == txns_.end()) return std::nullopt;
  return std::make_pair(it->second.epoch, it->second.batch);
}

namespace {
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
}  // namespace

Status DeltaTable::StageWrite(CommitTxn& txn, std::span<const RecordBatch> batches,
                              const WriteOptions& opt) {
  // Encode outside the lock: this is the expensive part.
  WriteOptions with_codec = opt;
  with_codec.codec = store_->table_codec();
  PS_ASSIGN_OR_RETURN(auto encoded, Encode(batches, with_codec));
  return StageEncoded(txn, batches, std::move(encoded), opt);
}

Result<EncodedWrite> DeltaTable::Encode(std::span<const RecordBatch> batches,
                                        const WriteOptions& opt) {
  // Batches smaller than half a chunk are gathered into one chunk.
  EncodedWrite out;
  std::vector<std::string>& chunks = out.chunks;
  std::vector<ColumnStats>& stats = out.stats;
  std::size_t per_chunk = static_cast<std::size_t>(std::max<std::int64_t>(1, opt.rows_per_chunk));
  std::int64_t& bytes = out.bytes;
  std::size_t& total_rows = out.total_rows;
  RecordBatch pending;
  auto encode = [&](const RecordBatch& b) {
    for (std::size_t r = 0; r < b.num_rows(); r += per_chunk) {
      chunks.push_back(EncodeChunk(b, r, std::min(b.num_rows(), r + per_chunk), opt.codec));
      bytes += static_cast<std::int64_t>(chunks.back().size());
    }
  };
  for (const RecordBatch& b : batches) {
    PS_RETURN_IF_ERROR(b.Validate());
    if (b.num_rows() == 0) continue;
    total_rows += b.num_rows();
    MergeStats(&stats, ComputeStats(b));
    if (b.num_rows() >= per_chunk / 2) {
      if (pending.num_rows() > 0) {
        encode(pending);
        pending = RecordBatch();
      }
      encode(b);
      continue;
    }
    PS_RETURN_IF_ERROR(pending.Append(b));
    if (pending.num_rows() >= per_chunk / 2) {
      encode(pending);
      pending = RecordBatch();
    }
  }
  if (pending.num_rows() > 0) encode(pending);
  return out;
}

Status DeltaTable::StageEncoded(CommitTxn& txn, std::span<const RecordBatch> batches,
                                EncodedWrite encoded, const WriteOptions& opt) {
  if (store_->read_only()) return FailedPrecondition("the store is open read-only");
  txn.HoldUntilDone(store_->table_commit_mutex());
  std::lock_guard lock(mu_);
  if (txn.staged_versions().count(name_)) {
    return InvalidArgument(fmt::format("table '{}' is written twice in one transaction", name_));
  }
  PS_RETURN_IF_ERROR(RefuseCommittedBatch(opt));
  PS_ASSIGN_OR_RETURN(SchemaChange schema, EvolveSchema(batches, opt.writer));
  const auto version = static_cast<std::int64_t>(versions_.size());
  StageSchemaAndCatalogEntry(txn, schema);
  PS_RETURN_IF_ERROR(StageChunks(txn, version, encoded.chunks));
  CommitInfo info = MakeCommitInfo(version, encoded, schema, opt);
  txn.Put(CommitSpace::kSinkOutput, TableVersionKey(id_, 'L', version), info.ToJson());
  if (!opt.app_id.empty()) {
    json tj{{"epoch", opt.epoch}, {"batch", opt.batch_id}, {"version", version}};
    txn.Put(CommitSpace::kSinkOutput, Prefix('X') + opt.app_id, tj.dump());
  }
  txn.staged_versions()[name_] = version;
  AdvanceHeadOnCommit(txn, std::move(info), std::move(schema));
  return Status::Ok();
}

Status DeltaTable::RefuseCommittedBatch(const WriteOptions& opt) const {
  if (opt.app_id.empty()) return Status::Ok();
  auto it = txns_.find(opt.app_id);
  if (it == txns_.end()) return Status::Ok();
  const Txn& last = it->second;
  if (opt.epoch > last.epoch || (opt.epoch == last.epoch && opt.batch_id > last.batch))
    return Status::Ok();
  return AlreadyExists(
      fmt::format("table '{}': batch {} of '{}' (epoch {}) is already committed (as version {}, "
                  "batch {}); a batch is "
                  "written to a table at most once",
                  name_, opt.batch_id, opt.writer, opt.epoch, last.version, last.batch));
}

Result<DeltaTable::SchemaChange> DeltaTable::EvolveSchema(std::span<const RecordBatch> batches,
                                                          const std::string& writer) const {
  SchemaChange out;
  out.schema = current_schema_ >= 0 ? schemas_.at(current_schema_) : Schema();
  out.changed = current_schema_ < 0;
  Schema& schema = out.schema;
  for (const RecordBatch& rows : batches) {
    for (std::size_t c = 0; c < rows.num_columns(); ++c) {
      const std::string& col = rows.name(c);
      TypeId t = rows.column(c).type();
      int idx = schema.FieldIndex(col);
      if (idx < 0) {
        if (!IsValidUtf8(col)) {
          // The schema is stored as JSON: a name that is not UTF-8 (e.g. a Latin-1 CSV header)
          // cannot be, and would otherwise end the process in the JSON encoder.
          std::string shown;
          AppendJsonString(col, &shown);
          return InvalidArgument(fmt::format(
              "table '{}': column name {} written by '{}' is not UTF-8 (invalid bytes shown as "
              "U+FFFD); rename the column in the query or convert the input to UTF-8",
              name_, shown, writer));
        }
        schema.AddField(Field{col, t, true});
        if (current_schema_ >= 0) out.added.push_back(col);
        out.changed = true;
        continue;
      }
      TypeId have = schema.field(static_cast<std::size_t>(idx)).type;
      if (t == have || t == TypeId::kNull) continue;
      if (have == TypeId::kNull) {
        // A column so far only ever null gets its first real type.
        std::vector<Field> fields = schema.fields();
        fields[static_cast<std::size_t>(idx)].type = t;
        schema = Schema(fields);
        out.changed = true;
        continue;
      }
      return InvalidArgument(
          fmt::format("table '{}': column '{}' is {} in the table but {} in the rows written by "
                      "'{}'; a table's column "
                      "types cannot change (cast the column in the query, or write to a new table)",
                      name_, col, TypeName(have), TypeName(t), writer));
    }
  }
  out.schema_id = current_schema_;
  if (out.changed) out.schema_id = schemas_.empty() ? 0 : schemas_.rbegin()->first + 1;
  return out;
}

void DeltaTable::StageSchemaAndCatalogEntry(CommitTxn& txn, const SchemaChange& schema) const {
  if (schema.changed) {
    std::string k = Prefix('S');
    PutBigEndian32(&k, static_cast<std::uint32_t>(schema.schema_id));
    txn.Put(CommitSpace::kSinkOutput, k, schema.schema.ToJson());
  }
  if (!created_) {
    std::string id;
    PutBigEndian32(&id, id_);
    txn.Put(CommitSpace::kCatalog, "catalog/table/" + name_, id);
  }
}

Status DeltaTable::StageChunks(CommitTxn& txn, std::int64_t version,
                               const std::vector<std::string>& chunks) {
  auto chunk_key = [&](std::size_t i) {
    std::string k = TableVersionKey(id_, 'C', version);
    PutBigEndian32(&k, static_cast<std::uint32_t>(i));
    return k;
  };
  std::size_t chunk_bytes = 0;
  for (const auto& c : chunks) chunk_bytes += c.size();
  if (chunk_bytes < static_cast<std::size_t>(store_->options().ingest_min_bytes)) {
    for (std::size_t i = 0; i < chunks.size(); ++i)
      txn.Put(CommitSpace::kSinkOutput, chunk_key(i), chunks[i]);
    return Status::Ok();
  }
  // Large versions: the chunks go into the store as an SST file of their own, ahead of the
  // transaction that commits the version (its CommitInfo). Until then, and for ever if the
  // transaction never commits, no reader finds them: scans stop at the snapshot's version and
  // read only the `chunks` a committed version declares, so a retry that writes this version
  // again with fewer chunks hides the rest.
  std::vector<std::pair<std::string, std::string_view>> entries;
  entries.reserve(chunks.size());
  for (std::size_t i = 0; i < chunks.size(); ++i) entries.emplace_back(chunk_key(i), chunks[i]);
  return store_->IngestSorted(KeySpaceOf(CommitSpace::kSinkOutput), entries)
      .WithContext(fmt::format("table '{}' version {}", name_, version));
}

CommitInfo DeltaTable::MakeCommitInfo(std::int64_t version, EncodedWrite& encoded,
                                      const SchemaChange& schema, const WriteOptions& opt) {
  CommitInfo info;
  info.version = version;
  info.timestamp_ms = NowMicros() / 1000;
  info.operation = opt.operation;
  info.overwrite = opt.overwrite;
  info.query_name = opt.writer;
  info.app_id = opt.app_id;
  info.epoch = opt.epoch;
  info.batch_id = opt.batch_id;
  info.rows_added = static_cast<std::int64_t>(encoded.total_rows);
  info.chunks = static_cast<std::int64_t>(encoded.chunks.size());
  info.bytes = encoded.bytes;
  info.schema_id = schema.schema_id;
  info.added_columns = schema.added;
  info.stats = std::move(encoded.stats);
  return info;
}

void DeltaTable::AdvanceHeadOnCommit(CommitTxn& txn, CommitInfo info, SchemaChange schema) {
  txn.OnCommitted([this, info = std::move(info), schema = std::move(schema)]() {
    std::lock_guard l(mu_);
    created_ = true;
    if (schema.changed) schemas_[schema.schema_id] = schema.schema;
    current_schema_ = schema.schema_id;
    VersionHead h;
    h.base = info.overwrite || versions_.empty() ? info.version : versions_.back().base;
    h.rows = info.overwrite || versions_.empty() ? info.rows_added
                                                 : versions_.back().rows + info.rows_added;
    h.schema_id = schema.schema_id;
    versions_.push_back(h);
    if (!info.app_id.empty()) txns_[info.app_id] = Txn{info.epoch, info.batch_id, info.version};
  });
}

Result<std::vector<CommitInfo>> DeltaTable::History(std::size_t limit) const {
  std::map<int, Schema> schemas;
  std::int64_t latest;
  {
    std::lock_guard lock(mu_);
    schemas = schemas_;
    latest = static_cast<std::int64_t>(versions_.size()) - 1;
  }
  std::vector<CommitInfo> out;
  auto it = store_->NewIterator(KeySpace::kTables, Prefix('L'));
  it->SeekForPrev(TableVersionKey(id_, 'L', latest));
  for (; it->Valid(); it->Prev()) {
    auto c = ParseCommit(it->value(), schemas);
    if (!c.ok()) return c.status().WithContext(fmt::format("table '{}'", name_));
    out.push_back(std::move(c).value());
    if (limit > 0 && out.size() >= limit) break;
  }
  PS_RETURN_IF_ERROR(it->status());
  return out;
}

Result<std::unique_ptr<TableSnapshot>> DeltaTable::Snapshot(
    std::optional<std::int64_t> version) const {
  auto snap = std::make_unique<TableSnapshot>();
  std::map<int, Schema> schemas;
  {
    std::lock_guard lock(mu_);
    if (versions_.empty()) {
      return NotFound(fmt::format("table '{}' has no committed version yet", name_));
    }
    std::int64_t latest = static_cast<std::int64_t>(versions_.size()) - 1;
    std::int64_t v = version.value_or(latest);
    if (v < 0 || v > latest) {
      return OutOfRange(fmt::format("table '{}' has versions 0..{}; version {} does not exist",
                                    name_, latest, v));
    }
    const VersionHead& h = versions_[static_cast<std::size_t>(v)];
    snap->version_ = v;
    snap->base_version_ = h.base;
    snap->num_rows_ = h.rows;
    snap->schema_ = schemas_.at(h.schema_id);
    schemas = schemas_;
  }
  snap->store_ = store_;
  snap->table_id_ = id_;
  snap->snap_ = std::shared_ptr<StoreSnapshot>(const_cast<Store*>(store_)->GetSnapshot().release());
  auto it = store_->NewIterator(KeySpace::kTables, Prefix('L'), snap->snap_.get());
  it->Seek(TableVersionKey(id_, 'L', snap->base_version_));
  for (; it->Valid(); it->Next()) {
    auto c = ParseCommit(it->value(), schemas);
    if (!c.ok()) return c.status().WithContext(fmt::format("table '{}'", name_));
    if (c->version > snap->version_) break;
    snap->versions_.push_back(std::move(c).value());
  }
  PS_RETURN_IF_ERROR(it->status());
  return snap;
}

// ---------------------------------------------------------------------------------------------

Status TableSnapshot::Scan(const std::vector<std::string>* columns,
                           const ChunkVisitor& visit) const {
  return ScanVersions(columns, nullptr, visit);
}

Status TableSnapshot::ScanVersions(const std::vector<std::string>* columns,
                                   const std::function<bool(const CommitInfo&)>& keep_version,
                                   const ChunkVisitor& visit) const {
  std::vector<std::string> wanted;
  if (columns != nullptr) {
    wanted = *columns;
  } else {
    for (const auto& f : schema_.fields()) wanted.push_back(f.name);
  }
  for (const auto& c : wanted) {
    if (schema_.FieldIndex(c) < 0)
      return NotFound(
          fmt::format("column '{}' does not exist (columns: {})", c, schema_.ToString()));
  }
  auto cursor = OpenCursor(keep_version);
  for (;;) {
    PS_ASSIGN_OR_RETURN(ScanStep step, cursor->NextChunk());
    if (step == ScanStep::kFinished) return Status::Ok();
    PS_ASSIGN_OR_RETURN(RecordBatch b, cursor->Decode(wanted));
    PS_RETURN_IF_ERROR(visit(std::move(b)));
  }
}

std::unique_ptr<TableScanCursor> TableSnapshot::OpenCursor(
    std::function<bool(const CommitInfo&)> keep_version) const {
  std::unique_ptr<TableScanCursor> c(new TableScanCursor());
  c->snap_ = this;
  c->keep_version_ = std::move(keep_version);
  c->it_ = store_->NewIterator(KeySpace::kTables, TableKey(table_id_, 'C'), snap_.get());
  return c;
}

TableScanCursor::~TableScanCursor() = default;

Result<ScanStep> TableScanCursor::NextChunk() {
  if (done_) return ScanStep::kFinished;
  if (!started_) {
    it_->Seek(TableVersionKey(snap_->table_id_, 'C', snap_->base_version_));
    started_ = true;
  } else if (it_->Valid()) {
    it_->Next();
  }
  const auto& versions = snap_->versions_;
  while (it_->Valid()) {
    std::string_view k = it_->key();
    if (k.size() != 5 + 8 + 4) return Corruption("malformed chunk key");
    auto v = static_cast<std::int64_t>(GetBigEndian64(k.data() + 5));
    if (v > snap_->version_) break;
    while (vi_ < versions.size() && versions[vi_].version < v) ++vi_;
    if (vi_ >= versions.size() || versions[vi_].version != v) {
      // Chunks of no committed version (left by a write that never committed): skip them.
      it_->Seek(TableVersionKey(snap_->table_id_, 'C', v + 1));
      continue;
    }
    if ((keep_version_ && !keep_version_(versions[vi_])) ||
        static_cast<std::int64_t>(GetBigEndian32(k.data() + 13)) >= versions[vi_].chunks) {
      // Skip the rest of the version: not wanted, or chunks past the ones it committed (left by
      // an earlier attempt at this version that wrote more of them and did not commit).
      it_->Seek(TableVersionKey(snap_->table_id_, 'C', v + 1));
      continue;
    }
    auto rows = ChunkRowCount(it_->value());
    if (!rows.ok()) return rows.status().WithContext(fmt::format("version {}", v));
    chunk_version_ = v;
    chunk_rows_ = *rows;
    return ScanStep::kChunk;
  }
  PS_RETURN_IF_ERROR(it_->status());
  done_ = true;
  chunk_version_ = -1;
  chunk_rows_ = 0;
  return ScanStep::kFinished;
}

Result<RecordBatch> TableScanCursor::Decode(const std::vector<std::string>& columns) const {
  if (done_ || chunk_version_ < 0 || !it_->Valid())
    return FailedPrecondition("the scan cursor is not on a chunk");
  const Schema& schema = snap_->schema_;
  auto decoded = DecodeChunk(it_->value(), &columns);
  if (!decoded.ok()) return decoded.status().WithContext(fmt::format("version {}", chunk_version_));
  RecordBatch& raw = decoded.value();
  RecordBatch out;
  out.row_ids() = std::move(raw.row_ids());
  if (out.row_ids().size() != chunk_rows_) {
    out.row_ids().resize(chunk_rows_);
    for (std::size_t i = 0; i < chunk_rows_; ++i) out.row_ids()[i] = i;
  }
  std::size_t n = chunk_rows_;
  for (const auto& name : columns) {
    int fi = schema.FieldIndex(name);
    if (fi < 0)
      return NotFound(
          fmt::format("column '{}' does not exist (columns: {})", name, schema.ToString()));
    TypeId t = schema.field(static_cast<std::size_t>(fi)).type;
    int ci = raw.FindColumn(name);
    if (ci < 0 || raw.column(static_cast<std::size_t>(ci)).type() == TypeId::kNull) {
      out.AddColumn(name, Column::Nulls(t, n));
    } else if (raw.column(static_cast<std::size_t>(ci)).type() != t) {
      return Corruption(fmt::format("column '{}' is stored as {} but the schema says {}", name,
                                    TypeName(raw.column(static_cast<std::size_t>(ci)).type()),
                                    TypeName(t)));
    } else {
      out.AddColumn(name, std::move(raw.column(static_cast<std::size_t>(ci))));
    }
  }
  return out;
}

Result<RecordBatch> TableSnapshot::ReadAll(const std::vector<std::string>* columns) const {
  RecordBatch all;
  bool first = true;
  PS_RETURN_IF_ERROR(Scan(columns, [&](RecordBatch&& b) -> Status {
    if (first) {
      all = std::move(b);
      first = false;
      return Status::Ok();
    }
    return all.Append(b);
  }));
  if (first) {
    // No rows: still return the columns.
    std::vector<std::string> names;
    if (columns)
      names = *columns;
    else
      for (const auto& f : schema_.fields()) names.push_back(f.name);
    for (const auto& n : names)
      all.AddColumn(n, Column(schema_.field(static_cast<std::size_t>(schema_.FieldIndex(n))).type));
  }
  for (std::size_t i = 0; i < all.num_rows(); ++i) all.row_ids()[i] = i;
  return all;
}

}  // namespace pinstream::state
