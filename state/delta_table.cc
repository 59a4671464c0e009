#include "state/delta_table.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "engine/bytes.h"
#include "engine/row_format.h"
#include "engine/time_util.h"
#include "state/chunk_codec.h"
#include "state/store.h"

namespace pinstream::state {

namespace {

constexpr std::int64_t kMaxVersion = std::numeric_limits<std::int64_t>::max();

// The smallest key after every key starting with `prefix` (prefixes here never end in 0xFF).
std::string After(std::string prefix) {
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

// The version of a 'C', 'T', 'L' or 'K' key (be32 table, kind, be64 version, ...).
std::int64_t KeyVersion(std::string_view key) {
  return static_cast<std::int64_t>(GetBigEndian64(key.data() + 5));
}

// The key bytes of row `row` of `b`: the canonical encoding (EncodeKey) of `columns`, a column
// the batch lacks encoded as null.
void KeyBytes(const RecordBatch& b, const std::vector<int>& columns, std::size_t row,
              std::string* out) {
  out->clear();
  for (int c : columns) {
    if (c < 0) {
      out->push_back('\0');
      continue;
    }
    EncodeKey(b, std::span<const int>(&c, 1), row, out);
  }
}

std::vector<int> KeyColumnIndexes(const RecordBatch& b, const std::vector<std::string>& names) {
  std::vector<int> out;
  out.reserve(names.size());
  for (const auto& n : names) out.push_back(b.FindColumn(n));
  return out;
}

// The values of a key for messages: (a=1, b='x').
std::string ShowKey(const RecordBatch& b, const std::vector<std::string>& names, std::size_t row) {
  std::string s = "(";
  for (std::size_t i = 0; i < names.size(); ++i) {
    int c = b.FindColumn(names[i]);
    s += (i ? ", " : "") + names[i] + "=" +
         (c < 0 ? std::string("null") : DisplayValue(b.column(static_cast<std::size_t>(c)), row));
  }
  return s + ")";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Loading

std::string DeltaTable::Prefix(char kind) const { return TableKey(id_, kind); }

Result<std::unique_ptr<DeltaTable>> DeltaTable::Load(Store* store, const std::string& name,
                                                     std::uint32_t id) {
  std::unique_ptr<DeltaTable> t(new DeltaTable(store, name, id));
  t->created_ = true;
  PS_RETURN_IF_ERROR(t->LoadHead());
  if (!store->read_only()) {
    if (t->legacy_) PS_RETURN_IF_ERROR(t->UpgradeLegacyLog());
    PS_RETURN_IF_ERROR(t->DropUncommittedChunks());
  }
  return t;
}

std::unique_ptr<DeltaTable> DeltaTable::CreateNew(Store* store, const std::string& name,
                                                  std::uint32_t id) {
  return std::unique_ptr<DeltaTable>(new DeltaTable(store, name, id));
}

Status DeltaTable::LoadSchemas(const StoreSnapshot* snap, std::map<int, Schema>* schemas) const {
  auto it = store_->NewIterator(KeySpace::kTables, Prefix('S'), snap);
  for (; it->Valid(); it->Next()) {
    std::string_view k = it->key();
    if (k.size() != 9) return Corruption(fmt::format("table '{}': malformed schema key", name_));
    int sid = static_cast<int>(GetBigEndian32(k.data() + 5));
    auto s = Schema::FromJson(it->value());
    if (!s.ok()) {
      return Corruption(
          fmt::format("table '{}': schema {} is unreadable: {}", name_, sid, s.status().message()));
    }
    (*schemas)[sid] = std::move(s).value();
  }
  return it->status().WithContext(fmt::format("table '{}': reading its schemas", name_));
}

std::string DeltaTable::LogError(std::optional<std::int64_t> version) const {
  return version ? fmt::format("table '{}': reading the table log up to version {}", name_, *version)
                 : fmt::format("table '{}': reading the table log", name_);
}

Result<std::shared_ptr<const TableState>> DeltaTable::ReadState(
    std::optional<std::int64_t> version, const std::map<int, Schema>& schemas,
    const StoreSnapshot* snap, bool* legacy) const {
  auto state = std::make_shared<TableState>();
  *legacy = false;
  auto log = store_->NewIterator(KeySpace::kTables, Prefix('L'), snap);
  log->SeekForPrev(TableVersionKey(id_, 'L', kMaxVersion));
  PS_RETURN_IF_ERROR(log->status().WithContext(LogError(version)));
  if (!log->Valid()) return std::shared_ptr<const TableState>(state);  // no version yet
  const std::int64_t latest = KeyVersion(log->key());
  const std::int64_t target = std::min(version.value_or(latest), latest);
  auto cp = store_->NewIterator(KeySpace::kTables, Prefix('K'), snap);
  cp->SeekForPrev(TableVersionKey(id_, 'K', target));
  PS_RETURN_IF_ERROR(cp->status().WithContext(LogError(target)));
  if (cp->Valid()) {
    auto s = TableState::FromCheckpoint(cp->value(), schemas);
    if (!s.ok()) return s.status().WithContext(fmt::format("table '{}'", name_));
    ++checkpoints_read_;
    *state = std::move(s).value();
  } else {
    *legacy = true;  // written before log checkpoints: the whole log
  }
  log->Seek(TableVersionKey(id_, 'L', state->version + 1));
  for (; log->Valid() && KeyVersion(log->key()) <= target; log->Next()) {
    auto c = CommitInfo::Parse(log->value(), &schemas);
    ++log_entries_read_;
    if (!c.ok()) return c.status().WithContext(fmt::format("table '{}'", name_));
    if (!schemas.count(c->schema_id)) {
      return Corruption(fmt::format("table '{}': version {} uses unknown schema {}", name_,
                                    c->version, c->schema_id));
    }
    if (Status st = state->Apply(*c); !st.ok())
      return st.WithContext(fmt::format("table '{}'", name_));
  }
  PS_RETURN_IF_ERROR(log->status().WithContext(LogError(target)));
  if (state->version != target) {
    return Corruption(fmt::format("table '{}': the log ends at version {}, not {}", name_,
                                  state->version, target));
  }
  return std::shared_ptr<const TableState>(state);
}

Status DeltaTable::LoadHead() {
  std::map<int, Schema> schemas;
  PS_RETURN_IF_ERROR(LoadSchemas(nullptr, &schemas));
  bool legacy = false;
  PS_ASSIGN_OR_RETURN(auto head, ReadState(std::nullopt, schemas, nullptr, &legacy));
  if (head->version >= 0 && !schemas.count(head->schema_id)) {
    return Corruption(fmt::format("table '{}': version {} uses unknown schema {}", name_,
                                  head->version, head->schema_id));
  }
  schemas_ = std::move(schemas);
  head_ = std::move(head);
  legacy_ = legacy && head_->version >= 0;
  // Streaming readers cannot hold what an earlier VACUUM removed (TableReaders::Hold).
  store_->table_readers().ResetFloor(name_, head_->oldest_readable);
  return Status::Ok();
}

Status DeltaTable::UpgradeLegacyLog() {
  // A log written before checkpoints: every version gets its statistics key, chunks no version
  // declared (left by attempts that never committed) are deleted — scans no longer consult
  // per-version chunk counts — and the head is saved as the first checkpoint.
  const std::int64_t latest = head_->version;
  std::vector<std::int64_t> declared(static_cast<std::size_t>(latest + 1), 0);
  std::int64_t small_live = 0;
  auto txn = store_->BeginTxn();
  auto log = store_->NewIterator(KeySpace::kTables, Prefix('L'));
  for (; log->Valid(); log->Next()) {
    auto c = CommitInfo::Parse(log->value(), &schemas_);
    ++log_entries_read_;
    if (!c.ok()) return c.status().WithContext(fmt::format("table '{}'", name_));
    if (c->version < 0 || c->version > latest) continue;
    declared[static_cast<std::size_t>(c->version)] = c->chunks;
    // Chunk sizes were not recorded: a version's chunks count as small when they average under
    // half the default target.
    if (c->chunks > 0 && c->rows_added / c->chunks < WriteOptions().rows_per_chunk / 2) {
      c->small_chunks = c->chunks;
      if (head_->IsLive(c->version)) small_live += c->chunks;
    }
    if (c->rows_added > 0) {
      txn->Put(KeySpace::kTables, TableVersionKey(id_, 'T', c->version), StatsOf(*c).Encode());
    }
    if (txn->staged_bytes() > (8u << 20)) {
      PS_RETURN_IF_ERROR(store_->Commit(std::move(txn), /*sync=*/false));
      txn = store_->BeginTxn();
    }
  }
  PS_RETURN_IF_ERROR(log->status());
  std::int64_t stale = 0;
  auto chunks = store_->NewIterator(KeySpace::kTables, Prefix('C'));
  for (; chunks->Valid(); chunks->Next()) {
    std::string_view k = chunks->key();
    if (k.size() != 17) return Corruption(fmt::format("table '{}': malformed chunk key", name_));
    std::int64_t v = KeyVersion(k);
    if (v <= latest && GetBigEndian32(k.data() + 13) < declared[static_cast<std::size_t>(v)])
      continue;
    txn->Delete(KeySpace::kTables, k);
    ++stale;
  }
  PS_RETURN_IF_ERROR(chunks->status());
  txn->DeleteRange(KeySpace::kTables, Prefix('X'), After(Prefix('X')));  // txns: in the state now
  auto head = std::make_shared<TableState>(*head_);
  head->small_chunks = small_live;
  txn->Put(KeySpace::kTables, TableVersionKey(id_, 'K', latest), head->ToCheckpointJson());
  PS_RETURN_IF_ERROR(store_->Commit(std::move(txn), /*sync=*/true));
  head_ = std::move(head);
  legacy_ = false;
  spdlog::info(
      "table '{}': log of {} versions given statistics keys and a checkpoint at version {} ({} "
      "undeclared chunk(s) deleted)",
      name_, latest + 1, latest, stale);
  return Status::Ok();
}

Status DeltaTable::DropUncommittedChunks() {
  // Chunks past the latest committed version were ingested for a version whose commit never
  // happened (the process stopped in between). Readers never see them; delete them so they do
  // not take space for ever (a retry of that version writes its chunks again).
  std::int64_t dropped = 0;
  auto it = store_->NewIterator(KeySpace::kTables, Prefix('C'));
  for (it->Seek(TableVersionKey(id_, 'C', head_->version + 1)); it->Valid(); it->Next()) ++dropped;
  if (Status st = it->status(); st.code() == StatusCode::kCorruption) {
    // The seek read a block of committed chunks that is damaged: the table stays open so that
    // the versions whose chunks are intact stay readable; a scan that reaches the damaged block
    // fails naming its versions.
    spdlog::error("table '{}': {} (a scan of the damaged versions will fail)", name_,
                  st.message());
    return Status::Ok();
  } else {
    PS_RETURN_IF_ERROR(st.WithContext(fmt::format("table '{}'", name_)));
  }
  if (dropped == 0) return Status::Ok();
  spdlog::info("table '{}': dropping {} chunk(s) of a version that was never committed", name_,
               dropped);
  auto txn = store_->BeginTxn();
  txn->DeleteRange(KeySpace::kTables, TableVersionKey(id_, 'C', head_->version + 1),
                   After(Prefix('C')));
  return store_->Commit(std::move(txn), /*sync=*/false);
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

// ---------------------------------------------------------------------------------------------
// The head

std::int64_t DeltaTable::latest_version() const {
  std::lock_guard lock(mu_);
  return head_->version;
}

Schema DeltaTable::schema() const {
  std::lock_guard lock(mu_);
  auto it = schemas_.find(head_->schema_id);
  return it == schemas_.end() ? Schema() : it->second;
}

std::int64_t DeltaTable::num_rows() const {
  std::lock_guard lock(mu_);
  return head_->num_rows;
}

TableInfo DeltaTable::info() const {
  std::shared_ptr<const TableState> h;
  {
    std::lock_guard lock(mu_);
    h = head_;
  }
  TableInfo i;
  i.version = h->version;
  i.timestamp_ms = h->timestamp_ms;
  i.rows = h->num_rows;
  i.live_chunks = h->live_chunks;
  i.live_bytes = h->live_bytes;
  i.live_ranges = static_cast<std::int64_t>(h->live.size());
  i.small_chunks = h->small_chunks;
  i.deletion_vectors = static_cast<std::int64_t>(h->dvs.size());
  i.oldest_readable = h->oldest_readable;
  i.key_columns = h->key_columns;
  return i;
}

std::optional<std::pair<std::int64_t, std::int64_t>> DeltaTable::LastTxn(
    const std::string& app_id) const {
  std::lock_guard lock(mu_);
  auto it = head_->txns.find(app_id);
  if (it == head_->txns.end()) return std::nullopt;
  return std::make_pair(it->second.epoch, it->second.batch);
}

// ---------------------------------------------------------------------------------------------
// Reading the log

Result<CommitInfo> DeltaTable::ReadCommit(std::int64_t version,
                                          const std::map<int, Schema>* schemas,
                                          const StoreSnapshot* snap) const {
  std::string text;
  Status st = store_->Get(KeySpace::kTables, TableVersionKey(id_, 'L', version), &text, snap);
  if (st.code() == StatusCode::kNotFound) {
    return NotFound(fmt::format("table '{}' has no log entry for version {}", name_, version));
  }
  PS_RETURN_IF_ERROR(st.WithContext(fmt::format("table '{}' version {}: reading its log entry", name_, version)));
  ++log_entries_read_;
  auto c = CommitInfo::Parse(text, schemas);
  if (!c.ok()) return c.status().WithContext(fmt::format("table '{}'", name_));
  return c;
}

Result<CommitInfo> DeltaTable::Commit(std::int64_t version) const {
  std::map<int, Schema> schemas;
  {
    std::lock_guard lock(mu_);
    schemas = schemas_;
  }
  return ReadCommit(version, &schemas, nullptr);
}

Result<std::vector<CommitInfo>> DeltaTable::History(std::size_t limit) const {
  std::map<int, Schema> schemas;
  std::shared_ptr<const TableState> head;
  {
    std::lock_guard lock(mu_);
    schemas = schemas_;
    head = head_;
  }
  std::vector<CommitInfo> out;
  if (head->version < 0) return out;
  auto it = store_->NewIterator(KeySpace::kTables, Prefix('L'));
  it->SeekForPrev(TableVersionKey(id_, 'L', head->version));
  for (; it->Valid(); it->Prev()) {
    auto c = CommitInfo::Parse(it->value(), &schemas);
    ++log_entries_read_;
    if (!c.ok()) return c.status().WithContext(fmt::format("table '{}'", name_));
    if (c->version < head->oldest_readable) break;
    out.push_back(std::move(c).value());
    if (limit > 0 && out.size() >= limit) break;
  }
  PS_RETURN_IF_ERROR(it->status().WithContext(fmt::format(
      "table '{}': reading the log back from version {}",
      name_, out.empty() ? head->version : out.back().version - 1)));
  return out;
}

Result<std::int64_t> DeltaTable::VersionAsOf(std::int64_t timestamp_us,
                                             const TablePin* pin) const {
  std::shared_ptr<const TableState> head;
  if (pin) {
    head = pin->head;
  } else {
    std::lock_guard lock(mu_);
    head = head_;
  }
  const StoreSnapshot* through = pin ? pin->snap.get() : nullptr;
  auto at = [&](std::int64_t v) -> Result<std::int64_t> {
    PS_ASSIGN_OR_RETURN(CommitInfo c, ReadCommit(v, nullptr, through));
    return c.timestamp_ms * 1000;
  };
  if (head->version < 0) {
    return OutOfRange(fmt::format("table '{}' has no version committed at or before {}", name_,
                                  FormatTimestamp(timestamp_us, TimestampStyle::kSql)));
  }
  // Commit timestamps never decrease (MakeCommitInfo): the last version at or before the time.
  std::int64_t lo = head->oldest_readable, hi = head->version;
  PS_ASSIGN_OR_RETURN(std::int64_t first, at(lo));
  if (first > timestamp_us) {
    if (lo > 0) {
      return OutOfRange(fmt::format(
          "table '{}': the version of {} is older than the retention window and was removed by "
          "VACUUM; the oldest readable version is {}, committed {}",
          name_, FormatTimestamp(timestamp_us, TimestampStyle::kSql), lo,
          FormatTimestamp(first, TimestampStyle::kSql)));
    }
    return OutOfRange(fmt::format(
        "table '{}' has no version committed at or before {} (its first version was committed "
        "{})",
        name_, FormatTimestamp(timestamp_us, TimestampStyle::kSql),
        FormatTimestamp(first, TimestampStyle::kSql)));
  }
  while (lo < hi) {
    std::int64_t mid = lo + (hi - lo + 1) / 2;
    PS_ASSIGN_OR_RETURN(std::int64_t t, at(mid));
    if (t <= timestamp_us)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

TablePin DeltaTable::Pin() const {
  TablePin pin;
  std::lock_guard lock(mu_);
  pin.head = head_;
  pin.schemas = schemas_;
  // Taken with the head: VACUUM deletes only after the head has moved past what it deletes.
  pin.snap = std::shared_ptr<StoreSnapshot>(const_cast<Store*>(store_)->GetSnapshot().release());
  return pin;
}

Result<std::unique_ptr<TableSnapshot>> DeltaTable::Snapshot(
    std::optional<std::int64_t> version) const {
  return Snapshot(version, Pin());
}

Result<std::unique_ptr<TableSnapshot>> DeltaTable::Snapshot(std::optional<std::int64_t> version,
                                                            const TablePin& pin) const {
  auto snap = std::make_unique<TableSnapshot>();
  const std::shared_ptr<const TableState>& head = pin.head;
  if (head->version < 0) {
    return NotFound(fmt::format("table '{}' has no committed version yet", name_));
  }
  snap->snap_ = pin.snap;
  std::int64_t v = version.value_or(head->version);
  if (v < 0 || v > head->version) {
    return OutOfRange(fmt::format("table '{}' has versions {}..{}; version {} does not exist",
                                  name_, head->oldest_readable, head->version, v));
  }
  if (v < head->oldest_readable) {
    return OutOfRange(fmt::format(
        "table '{}': version {} is older than the retention window and was removed by VACUUM; "
        "the oldest readable version is {}",
        name_, v, head->oldest_readable));
  }
  if (v == head->version) {
    snap->state_ = head;
  } else {
    bool legacy = false;
    PS_ASSIGN_OR_RETURN(snap->state_, ReadState(v, pin.schemas, snap->snap_.get(), &legacy));
  }
  auto sit = pin.schemas.find(snap->state_->schema_id);
  if (sit == pin.schemas.end()) {
    return Corruption(fmt::format("table '{}': version {} uses unknown schema {}", name_, v,
                                  snap->state_->schema_id));
  }
  snap->schema_ = sit->second;
  snap->store_ = store_;
  snap->table_id_ = id_;
  snap->table_name_ = name_;
  return snap;
}

// ---------------------------------------------------------------------------------------------
// Writing

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
  std::size_t per_chunk = static_cast<std::size_t>(std::max<std::int64_t>(1, opt.rows_per_chunk));
  RecordBatch pending;
  auto encode = [&](const RecordBatch& b) {
    for (std::size_t r = 0; r < b.num_rows(); r += per_chunk) {
      std::size_t end = std::min(b.num_rows(), r + per_chunk);
      out.chunks.push_back(EncodeChunk(b, r, end, opt.codec));
      out.chunk_rows.push_back(static_cast<std::uint32_t>(end - r));
      out.bytes += static_cast<std::int64_t>(out.chunks.back().size());
    }
  };
  for (const RecordBatch& b : batches) {
    PS_RETURN_IF_ERROR(b.Validate());
    if (b.num_rows() == 0) continue;
    if (b.has_weights() && b.HasRetractionsOrMultiples()) {
      return InvalidArgument(
          "a write stores rows of weight +1; rows with other weights are changes "
          "(DeltaTable::StageChanges)");
    }
    out.total_rows += b.num_rows();
    MergeStats(&out.stats, ComputeStats(b));
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

Status DeltaTable::BeginStaging(CommitTxn& txn) const {
  if (txn.staged_versions().count(name_)) {
    return InvalidArgument(fmt::format("table '{}' is written twice in one transaction", name_));
  }
  return Status::Ok();
}

Status DeltaTable::StageEncoded(CommitTxn& txn, std::span<const RecordBatch> batches,
                                EncodedWrite encoded, const WriteOptions& opt) {
  if (store_->read_only()) return FailedPrecondition("the store is open read-only");
  txn.HoldUntilDone(store_->table_commit_mutex());
  std::lock_guard lock(mu_);
  PS_RETURN_IF_ERROR(BeginStaging(txn));
  PS_RETURN_IF_ERROR(RefuseCommittedBatch(opt));
  PS_ASSIGN_OR_RETURN(SchemaChange schema, EvolveSchema(batches, opt.writer));
  const std::int64_t version = head_->version + 1;
  StageSchemaAndCatalogEntry(txn, schema);
  PS_RETURN_IF_ERROR(StageChunks(txn, version, encoded.chunks));
  CommitInfo info = MakeCommitInfo(encoded, schema, opt);
  if (!head_->key_columns.empty()) {
    // A keyed table (it has had changes commits): its key index follows every write.
    if (opt.overwrite) txn.DeleteRange(CommitSpace::kSinkOutput, Prefix('I'), After(Prefix('I')));
    PS_RETURN_IF_ERROR(StageKeyIndexEntries(txn, batches, encoded, version));
  }
  return StageCommit(txn, std::move(info), &schema, &encoded.stats);
}

Status DeltaTable::RefuseCommittedBatch(const WriteOptions& opt) const {
  if (opt.app_id.empty()) return Status::Ok();
  auto it = head_->txns.find(opt.app_id);
  if (it == head_->txns.end()) return Status::Ok();
  const TxnMark& last = it->second;
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
  const int current = head_->schema_id;
  out.schema = current >= 0 ? schemas_.at(current) : Schema();
  out.changed = current < 0;
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
        if (current >= 0) out.added.push_back(col);
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
  out.schema_id = current;
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
  // An earlier attempt at this version that ingested more chunks and never committed left the
  // rest behind: the commit deletes them (scans read every chunk of a live version).
  auto ahead = ingested_ahead_.find(version);
  if (ahead != ingested_ahead_.end() && ahead->second > chunks.size()) {
    txn.DeleteRange(CommitSpace::kSinkOutput,
                    ChunkKey(id_, ChunkId{version, static_cast<std::uint32_t>(chunks.size())}),
                    TableVersionKey(id_, 'C', version + 1));
  }
  std::size_t chunk_bytes = 0;
  for (const auto& c : chunks) chunk_bytes += c.size();
  if (chunk_bytes < static_cast<std::size_t>(store_->options().ingest_min_bytes)) {
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      txn.Put(CommitSpace::kSinkOutput,
              ChunkKey(id_, ChunkId{version, static_cast<std::uint32_t>(i)}), chunks[i]);
    }
    return Status::Ok();
  }
  // Large versions: the chunks go into the store as an SST file of their own, ahead of the
  // transaction that commits the version. Until then, and for ever if the transaction never
  // commits, no reader finds them: the version is in no live set.
  std::vector<std::string> keys;
  keys.reserve(chunks.size());
  std::vector<std::pair<std::string, std::string_view>> entries;
  entries.reserve(chunks.size());
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    entries.emplace_back(ChunkKey(id_, ChunkId{version, static_cast<std::uint32_t>(i)}), chunks[i]);
  }
  std::size_t& ahead_count = ingested_ahead_[version];
  ahead_count = std::max(ahead_count, chunks.size());
  return store_->IngestSorted(KeySpaceOf(CommitSpace::kSinkOutput), entries)
      .WithContext(fmt::format("table '{}' version {}", name_, version));
}

CommitInfo DeltaTable::MakeCommitInfo(const EncodedWrite& encoded, const SchemaChange& schema,
                                      const WriteOptions& opt) const {
  CommitInfo info;
  info.version = head_->version + 1;
  // Never earlier than the previous commit: TIMESTAMP AS OF searches the log by time.
  info.timestamp_ms = std::max(NowMicros() / 1000, head_->timestamp_ms);
  info.operation = opt.operation;
  info.mode = opt.overwrite ? WriteMode::kOverwrite : WriteMode::kAppend;
  info.query_name = opt.writer;
  info.app_id = opt.app_id;
  info.epoch = opt.epoch;
  info.batch_id = opt.batch_id;
  info.metrics = opt.metrics;
  info.rows_added = static_cast<std::int64_t>(encoded.total_rows);
  info.chunks = static_cast<std::int64_t>(encoded.chunks.size());
  info.bytes = encoded.bytes;
  info.small_chunks = CountSmallChunks(encoded.chunk_rows, opt.rows_per_chunk);
  if (opt.overwrite) {
    info.rows_removed = head_->num_rows;
    info.chunks_removed = head_->live_chunks;
    info.bytes_removed = head_->live_bytes;
    info.small_chunks_removed = head_->small_chunks;
  }
  info.schema_id = schema.schema_id;
  info.added_columns = schema.added;
  info.stats = encoded.stats;
  return info;
}

Status DeltaTable::StageKeyIndexEntries(CommitTxn& txn, std::span<const RecordBatch> rows,
                                        const EncodedWrite& encoded, std::int64_t version) const {
  // Encode keeps the rows in order and cuts them into chunks of chunk_rows[i] rows.
  std::size_t chunk = 0, in_chunk = 0;
  std::string key;
  for (const RecordBatch& b : rows) {
    if (b.num_rows() == 0) continue;
    std::vector<int> cols = KeyColumnIndexes(b, head_->key_columns);
    for (std::size_t r = 0; r < b.num_rows(); ++r) {
      while (chunk < encoded.chunk_rows.size() && in_chunk >= encoded.chunk_rows[chunk]) {
        ++chunk;
        in_chunk = 0;
      }
      if (chunk >= encoded.chunk_rows.size())
        return Internal(fmt::format("table '{}': rows and encoded chunks disagree", name_));
      KeyBytes(b, cols, r, &key);
      txn.Put(CommitSpace::kSinkOutput,
              KeyIndexEntry(id_, key, ChunkId{version, static_cast<std::uint32_t>(chunk)},
                            static_cast<std::uint32_t>(in_chunk)),
              std::string_view());
      ++in_chunk;
    }
  }
  return Status::Ok();
}

Status DeltaTable::StageCommit(CommitTxn& txn, CommitInfo info, const SchemaChange* schema,
                               const std::vector<ColumnStats>* version_stats) {
  const std::int64_t version = info.version;
  auto next = std::make_shared<TableState>(*head_);
  PS_RETURN_IF_ERROR(next->Apply(info).WithContext(fmt::format("table '{}'", name_)));
  txn.Put(CommitSpace::kSinkOutput, TableVersionKey(id_, 'L', version), info.ToJson());
  if (version_stats != nullptr && info.rows_added > 0) {
    txn.Put(CommitSpace::kSinkOutput, TableVersionKey(id_, 'T', version), StatsOf(info).Encode());
  }
  const std::int64_t interval =
      std::max<std::int64_t>(1, store_->options().table_checkpoint_interval);
  if (version % interval == 0) {
    txn.Put(CommitSpace::kSinkOutput, TableVersionKey(id_, 'K', version), next->ToCheckpointJson());
  }
  txn.staged_versions()[name_] = version;
  std::optional<SchemaChange> changed;
  if (schema != nullptr && schema->changed) changed = *schema;
  txn.OnCommitted([this, next = std::move(next), changed = std::move(changed)]() {
    {
      std::lock_guard l(mu_);
      created_ = true;
      if (changed) schemas_[changed->schema_id] = changed->schema;
      ingested_ahead_.erase(ingested_ahead_.begin(), ingested_ahead_.upper_bound(next->version));
      head_ = next;
    }
    store_->NotifyTableCommitted(name_);  // streaming readers of the table wake up
  });
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Changes commits

Status DeltaTable::StageChanges(CommitTxn& txn, std::span<const RecordBatch> changes,
                                std::vector<std::string> key_columns, const WriteOptions& opt) {
  if (store_->read_only()) return FailedPrecondition("the store is open read-only");
  if (opt.overwrite) {
    return InvalidArgument(
        fmt::format("table '{}': a changes commit cannot overwrite the table", name_));
  }
  for (const RecordBatch& b : changes) PS_RETURN_IF_ERROR(b.Validate());
  txn.HoldUntilDone(store_->table_commit_mutex());
  std::lock_guard lock(mu_);
  PS_RETURN_IF_ERROR(BeginStaging(txn));
  PS_RETURN_IF_ERROR(RefuseCommittedBatch(opt));
  PS_ASSIGN_OR_RETURN(SchemaChange schema, EvolveSchema(changes, opt.writer));
  const std::int64_t version = head_->version + 1;
  const TableState& head = *head_;

  // The key columns: declared by the first changes commit, the same ones afterwards.
  const bool declare = head.key_columns.empty();
  if (key_columns.empty()) {
    if (declare) {
      for (const auto& f : schema.schema.fields()) key_columns.push_back(f.name);
    } else {
      key_columns = head.key_columns;
    }
  }
  for (const auto& k : key_columns) {
    if (schema.schema.FieldIndex(k) < 0) {
      return InvalidArgument(fmt::format("table '{}': key column '{}' does not exist (columns: {})",
                                         name_, k, schema.schema.ToString()));
    }
  }
  if (!declare && key_columns != head.key_columns) {
    return InvalidArgument(fmt::format(
        "table '{}' keeps its key index on ({}); changes keyed on ({}) cannot be applied to it",
        name_, fmt::join(head.key_columns, ", "), fmt::join(key_columns, ", ")));
  }

  struct Loc {
    ChunkId chunk;
    std::uint32_t row;
  };
  // On the first changes commit the key index is built from the live rows (in memory for this
  // commit, and staged); afterwards it is read from the store.
  std::unordered_map<std::string, std::vector<Loc>> built;
  if (declare) {
    txn.DeleteRange(CommitSpace::kSinkOutput, Prefix('I'), After(Prefix('I')));
    if (head.version >= 0 && head.num_rows > 0) {
      TableSnapshot snap;
      snap.store_ = store_;
      snap.table_id_ = id_;
      snap.state_ = head_;
      snap.schema_ = schemas_.at(head.schema_id);
      snap.snap_ =
          std::shared_ptr<StoreSnapshot>(const_cast<Store*>(store_)->GetSnapshot().release());
      // Key columns this call adds to the schema are null in every earlier row.
      std::vector<std::string> stored;
      for (const auto& k : key_columns)
        if (snap.schema_.FieldIndex(k) >= 0) stored.push_back(k);
      auto cursor = snap.OpenCursor();
      std::string key;
      for (;;) {
        PS_ASSIGN_OR_RETURN(ScanStep step, cursor->NextChunk());
        if (step == ScanStep::kFinished) break;
        PS_ASSIGN_OR_RETURN(RecordBatch rows, cursor->Decode(stored));
        std::vector<int> cols = KeyColumnIndexes(rows, key_columns);
        for (std::size_t r = 0; r < rows.num_rows(); ++r) {
          KeyBytes(rows, cols, r, &key);
          auto row = static_cast<std::uint32_t>(rows.row_ids()[r]);
          built[key].push_back(Loc{cursor->chunk(), row});
          txn.Put(CommitSpace::kSinkOutput, KeyIndexEntry(id_, key, cursor->chunk(), row),
                  std::string_view());
        }
      }
    }
  }
  std::unique_ptr<StoreIterator> index;
  if (!declare) index = store_->NewIterator(KeySpace::kTables, Prefix('I'));
  std::unordered_set<std::string> consumed;  // index entries matched by this commit
  // The oldest live row of `key` not matched yet by this commit.
  auto find_live = [&](const std::string& key, std::string* entry) -> Result<std::optional<Loc>> {
    if (declare) {
      auto it = built.find(key);
      if (it == built.end()) return std::optional<Loc>();
      for (const Loc& l : it->second) {
        std::string e = KeyIndexEntry(id_, key, l.chunk, l.row);
        if (consumed.count(e)) continue;
        *entry = std::move(e);
        return std::optional<Loc>(l);
      }
      return std::optional<Loc>();
    }
    std::string prefix = KeyIndexPrefix(id_, key);
    for (index->Seek(prefix); index->Valid(); index->Next()) {
      std::string_view k = index->key();
      if (k.substr(0, prefix.size()) != prefix) break;
      if (k.size() != prefix.size() + 16) continue;  // prefix-free keys: never another key's
      if (consumed.count(std::string(k))) continue;
      const char* p = k.data() + prefix.size();
      Loc l{ChunkId{static_cast<std::int64_t>(GetBigEndian64(p)), GetBigEndian32(p + 8)},
            GetBigEndian32(p + 12)};
      if (!head.IsLive(l.chunk.version)) {
        return Internal(
            fmt::format("table '{}': its key index names a row of version {}, which is not live",
                        name_, l.chunk.version));
      }
      *entry = std::string(k);
      return std::optional<Loc>(l);
    }
    PS_RETURN_IF_ERROR(index->status());
    return std::optional<Loc>();
  };

  // The rows by weight.
  struct Row {
    std::size_t batch, row;
    std::string key;
  };
  std::vector<Row> inserts, retracts;  // one entry per copy
  for (std::size_t bi = 0; bi < changes.size(); ++bi) {
    const RecordBatch& b = changes[bi];
    std::vector<int> cols = KeyColumnIndexes(b, key_columns);
    for (std::size_t r = 0; r < b.num_rows(); ++r) {
      const std::int64_t w = b.weight(r);
      if (w == 0) continue;
      Row row{bi, r, {}};
      KeyBytes(b, cols, r, &row.key);
      auto& into = w > 0 ? inserts : retracts;
      for (std::int64_t n = w > 0 ? w : -w; n > 1; --n) into.push_back(row);
      into.push_back(std::move(row));
    }
  }
  // Retractions take live rows first, then cancel inserts of this call.
  std::map<ChunkId, std::vector<std::uint32_t>> deleted_now;
  std::vector<std::string> index_deletes;
  std::unordered_map<std::string, std::vector<std::size_t>> insert_by_key;
  for (std::size_t i = inserts.size(); i-- > 0;) insert_by_key[inserts[i].key].push_back(i);
  std::vector<std::uint8_t> cancelled(inserts.size(), 0);
  std::int64_t removed = 0;
  for (const Row& r : retracts) {
    std::string entry;
    PS_ASSIGN_OR_RETURN(std::optional<Loc> loc, find_live(r.key, &entry));
    if (loc) {
      consumed.insert(entry);
      index_deletes.push_back(std::move(entry));
      deleted_now[loc->chunk].push_back(loc->row);
      ++removed;
      continue;
    }
    auto it = insert_by_key.find(r.key);
    if (it != insert_by_key.end() && !it->second.empty()) {
      cancelled[it->second.back()] = 1;
      it->second.pop_back();
      continue;
    }
    return Internal(fmt::format(
        "table '{}' version {}: a retraction (weight {}) of key {} matches no live row; nothing "
        "was committed",
        name_, version, changes[r.batch].weight(r.row),
        ShowKey(changes[r.batch], key_columns, r.row)));
  }

  // The inserted rows, in input order, as one batch cut into chunks of rows_per_chunk.
  RecordBatch added;
  {
    std::vector<std::vector<std::uint32_t>> keep(changes.size());
    for (std::size_t i = 0; i < inserts.size(); ++i) {
      if (!cancelled[i])
        keep[inserts[i].batch].push_back(static_cast<std::uint32_t>(inserts[i].row));
    }
    bool first = true;
    for (std::size_t bi = 0; bi < changes.size(); ++bi) {
      if (keep[bi].empty()) continue;
      RecordBatch part = changes[bi].Take(keep[bi]);
      if (first) {
        added = std::move(part);
        first = false;
      } else {
        PS_RETURN_IF_ERROR(added.Append(part));
      }
    }
    for (std::size_t i = 0; i < added.num_rows(); ++i) added.row_ids()[i] = i;
    added.SetWeights({});  // stored rows are plain rows
  }
  WriteOptions enc = opt;
  enc.codec = store_->table_codec();
  PS_ASSIGN_OR_RETURN(EncodedWrite encoded, Encode(std::span<const RecordBatch>(&added, 1), enc));

  CommitInfo info = MakeCommitInfo(encoded, schema, opt);
  info.mode = WriteMode::kUpdate;
  info.rows_removed = removed;
  if (declare) info.key_columns = key_columns;
  // The deletion vectors: each touched chunk's rows deleted so far and now.
  for (auto& [chunk, rows] : deleted_now) {
    std::vector<std::uint32_t> all;
    auto dv = head.dvs.find(chunk);
    if (dv != head.dvs.end()) {
      std::string bytes;
      PS_RETURN_IF_ERROR(store_->Get(KeySpace::kTables,
                                     DeletionVectorKey(id_, chunk, dv->second.dv_version), &bytes));
      PS_ASSIGN_OR_RETURN(all, DecodeDeletionVector(bytes));
    }
    all.insert(all.end(), rows.begin(), rows.end());
    std::sort(all.begin(), all.end());
    if (std::adjacent_find(all.begin(), all.end()) != all.end()) {
      return Internal(
          fmt::format("table '{}': its key index names a deleted row of chunk {} of version {}",
                      name_, chunk.index, chunk.version));
    }
    txn.Put(CommitSpace::kSinkOutput, DeletionVectorKey(id_, chunk, version),
            EncodeDeletionVector(all));
    info.dv_updates.push_back(DvUpdate{chunk, static_cast<std::int64_t>(all.size())});
  }
  StageSchemaAndCatalogEntry(txn, schema);
  PS_RETURN_IF_ERROR(StageChunks(txn, version, encoded.chunks));
  for (const auto& e : index_deletes) txn.Delete(CommitSpace::kSinkOutput, e);
  {
    // The new rows' index entries (the head's key columns are not set yet on the first call).
    std::vector<int> cols = KeyColumnIndexes(added, key_columns);
    std::string key;
    std::size_t chunk = 0, in_chunk = 0;
    for (std::size_t r = 0; r < added.num_rows(); ++r, ++in_chunk) {
      while (in_chunk >= encoded.chunk_rows[chunk]) {
        ++chunk;
        in_chunk = 0;
      }
      KeyBytes(added, cols, r, &key);
      txn.Put(CommitSpace::kSinkOutput,
              KeyIndexEntry(id_, key, ChunkId{version, static_cast<std::uint32_t>(chunk)},
                            static_cast<std::uint32_t>(in_chunk)),
              std::string_view());
    }
  }
  return StageCommit(txn, std::move(info), &schema, &encoded.stats);
}

// ---------------------------------------------------------------------------------------------
// Scans

Status TableSnapshot::Scan(const std::vector<std::string>* columns,
                           const ChunkVisitor& visit) const {
  return ScanVersions(columns, nullptr, visit);
}

Status TableSnapshot::ScanVersions(const std::vector<std::string>* columns,
                                   const VersionFilter& keep_version,
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
    VersionFilter keep_version, const std::vector<VersionRange>* only) const {
  std::unique_ptr<TableScanCursor> c(new TableScanCursor());
  c->snap_ = this;
  c->keep_version_ = std::move(keep_version);
  if (only == nullptr) {
    c->ranges_ = state_->live;
  } else {
    for (const auto& r : *only) {
      auto part = Intersect(state_->live, r);
      c->ranges_.insert(c->ranges_.end(), part.begin(), part.end());
    }
  }
  c->it_ = store_->NewIterator(KeySpace::kTables, TableKey(table_id_, 'C'), snap_.get());
  if (c->keep_version_)
    c->stats_it_ = store_->NewIterator(KeySpace::kTables, TableKey(table_id_, 'T'), snap_.get());
  return c;
}

TableScanCursor::~TableScanCursor() = default;

Result<bool> TableScanCursor::KeepVersion(std::int64_t v) {
  if (v == filtered_version_) return keep_filtered_;
  filtered_version_ = v;
  keep_filtered_ = true;
  std::string key = TableVersionKey(snap_->table_id_, 'T', v);
  stats_it_->Seek(key);
  PS_RETURN_IF_ERROR(stats_it_->status());
  if (stats_it_->Valid() && stats_it_->key() == key) {
    PS_ASSIGN_OR_RETURN(VersionStats stats, VersionStats::Decode(v, stats_it_->value()));
    keep_filtered_ = keep_version_(stats);
  }
  decided_.emplace_back(v, keep_filtered_);
  return keep_filtered_;
}

Status TableScanCursor::LoadDeletionVector(std::size_t stored_rows) {
  deleted_.clear();
  auto dv = snap_->state_->dvs.find(chunk_);
  if (dv == snap_->state_->dvs.end()) return Status::Ok();
  std::string bytes;
  PS_RETURN_IF_ERROR(snap_->store_->Get(
      KeySpace::kTables, DeletionVectorKey(snap_->table_id_, chunk_, dv->second.dv_version), &bytes,
      snap_->snap_.get()));
  PS_ASSIGN_OR_RETURN(deleted_, DecodeDeletionVector(bytes));
  if (!deleted_.empty() && deleted_.back() >= stored_rows) {
    return Corruption(
        fmt::format("the deletion vector of chunk {} of version {} names row {} of {}",
                    chunk_.index, chunk_.version, deleted_.back(), stored_rows));
  }
  return Status::Ok();
}

Result<ScanStep> TableScanCursor::NextChunk() {
  auto step = Advance();
  if (step.ok() || step.status().message().rfind("table '", 0) == 0) return step;
  return step.status().WithContext(
      fmt::format("table '{}' version {}", snap_->table_name_, reached_));
}

Status TableScanCursor::CheckIterator() {
  Status st = it_->status();
  if (st.ok() || st.message() == ignored_error_) return Status::Ok();
  return Attribute(st, /*reposition=*/true);
}

Result<std::optional<std::int64_t>> TableScanCursor::ChunksToRead() {
  // The whole live set, unfiltered: the log's count.
  if (!keep_version_ && ranges_ == snap_->state_->live)
    return std::optional<std::int64_t>(snap_->state_->live_chunks);
  // Otherwise each version's statistics (every version that added rows has them) count its
  // chunks, and the filter says which versions the scan reads. Read through the same RocksDB, they
  // are checked too where a total is known: over the whole live set every version's chunks,
  // kept or not, add up to the log's `live_chunks` — a statistics entry skipped (RocksDB 7.8.3
  // stepping over a damaged file while another level goes on) would lower what the scan expects.
  const bool whole = ranges_ == snap_->state_->live;
  bool all_recorded = true;
  std::int64_t listed = 0;  // every version's chunks, kept or not
  std::int64_t chunks = 0;
  std::sort(decided_.begin(), decided_.end());
  std::size_t d = 0;
  auto it = snap_->store_->NewIterator(KeySpace::kTables, TableKey(snap_->table_id_, 'T'),
                                       snap_->snap_.get());
  for (const auto& r : ranges_) {
    for (it->Seek(TableVersionKey(snap_->table_id_, 'T', r.first));
         it->Valid() && KeyVersion(it->key()) <= r.last; it->Next()) {
      PS_ASSIGN_OR_RETURN(VersionStats vs,
                          VersionStats::Decode(KeyVersion(it->key()), it->value()));
      if (vs.chunks == 0 && vs.rows > 0) all_recorded = false;
      listed += vs.chunks;
      if (keep_version_) {
        // The scan's own decision for the versions it reached (the filter may count what it
        // prunes: asked once per version); the filter's for a version it never reached.
        while (d < decided_.size() && decided_[d].first < vs.version) ++d;
        const bool keep = d < decided_.size() && decided_[d].first == vs.version
                              ? decided_[d].second
                              : keep_version_(vs);
        if (!keep) continue;
      }
      if (vs.chunks == 0 && vs.rows > 0) return std::optional<std::int64_t>();  // not recorded
      chunks += vs.chunks;
    }
    PS_RETURN_IF_ERROR(it->status().WithContext(
        fmt::format("table '{}': reading the statistics of versions {}..{}", snap_->table_name_,
                    r.first, r.last)));
  }
  if (whole && all_recorded && listed != snap_->state_->live_chunks) {
    return Corruption(fmt::format(
        "table '{}' version {}: the statistics of its versions list {} chunks, its log {}: a "
        "statistics entry is missing or damaged (a damaged SST file?), so the scan cannot tell "
        "what it must read. Restore the data dir from a backup",
        snap_->table_name_, snap_->version(), listed, snap_->state_->live_chunks));
  }
  return std::optional<std::int64_t>(chunks);
}

Status TableScanCursor::CheckCount() {
  // RocksDB 7.8.3's merging iterator can step over a file whose block checksum does not match
  // with an OK status: with range tombstones in the tables family (VACUUM, dropped uncommitted
  // chunks), moving onto a file whose first block is damaged drops that file's error (fixed in
  // RocksDB 8.7, #11782 and #11786). So a scan checks it read every chunk the log and the
  // versions' statistics list for what it reads; when it did not, seeking to each version finds
  // the damaged file (a seek reports it).
  PS_ASSIGN_OR_RETURN(auto expected, ChunksToRead());
  if (!expected || chunks_read_ >= *expected) return Status::Ok();
  constexpr int kMaxProbes = 100000;
  int probes = 0;
  for (const auto& r : ranges_) {
    for (std::int64_t v = r.first; v <= r.last && probes < kMaxProbes; ++v, ++probes) {
      auto it = snap_->store_->NewIterator(KeySpace::kTables, TableKey(snap_->table_id_, 'C'),
                                           snap_->snap_.get());
      it->Seek(TableVersionKey(snap_->table_id_, 'C', v));
      if (Status st = it->status(); !st.ok() && st.code() == StatusCode::kCorruption) {
        Status named = Attribute(st, /*reposition=*/false);
        if (!named.ok()) return named;
      }
    }
  }
  return Corruption(fmt::format(
      "table '{}' version {}: the scan read {} of the {} chunks its log lists for the versions it "
      "reads (a damaged SST file?). Older versions may be readable by time travel ({}_at(N)); "
      "restore the data dir from a backup",
      snap_->table_name_, snap_->version(), chunks_read_, *expected, snap_->table_name_));
}

Status TableScanCursor::Attribute(const Status& st, bool reposition) {
  const std::string& name = snap_->table_name_;
  if (st.code() != StatusCode::kCorruption)
    return st.WithContext(fmt::format("table '{}' reading chunks from version {}", name, reached_));
  // RocksDB names the file whose block checksum did not match: the versions whose chunks it
  // holds are the ones damaged. A file with none of the chunks this scan reads (another table's,
  // a later version's) loses the scan nothing: it goes on.
  const std::string lo = TableKey(snap_->table_id_, 'C');
  const std::string hi = TableKey(snap_->table_id_, 'C' + 1);
  std::int64_t first = 0, last = kMaxVersion;
  bool known = false;
  if (auto keys = snap_->store_->DamagedFileKeys(KeySpace::kTables, st)) {
    known = true;
    if (keys->second < lo || keys->first >= hi) {
      first = 1, last = 0;  // no chunk of this table
    } else {
      if (keys->first > lo && keys->first.size() >= 13) first = KeyVersion(keys->first);
      if (keys->second < hi && keys->second.size() >= 13) last = KeyVersion(keys->second);
    }
  }
  std::int64_t hit_first = -1, hit_last = -1;
  for (const auto& r : ranges_) {
    const std::int64_t a = std::max(first, r.first), b = std::min(last, r.last);
    if (a > b) continue;
    if (hit_first < 0) hit_first = a;
    hit_last = b;
  }
  if (known && hit_first < 0) {
    ignored_error_ = st.message();
    return Status::Ok();
  }
  // A filtered scan that skips every version the damaged file holds (by their statistics) does
  // not need it: it goes on after the file.
  if (known && keep_version_ && last < kMaxVersion && last - first <= 100000) {
    bool needed = false;
    for (const auto& r : ranges_) {
      for (std::int64_t v = std::max(first, r.first); v <= std::min(last, r.last) && !needed; ++v) {
        PS_ASSIGN_OR_RETURN(bool keep, KeepVersion(v));
        needed = keep;
      }
    }
    if (!needed) {
      ignored_error_ = st.message();
      skip_to_ = last + 1;
      if (reposition) {
        it_->Seek(TableVersionKey(snap_->table_id_, 'C', skip_to_));
      }
      return Status::Ok();
    }
  }
  std::string versions = hit_first < 0        ? fmt::format("version {} or later", reached_)
                         : hit_first == hit_last ? fmt::format("version {}", hit_first)
                                                 : fmt::format("versions {}..{}", hit_first, hit_last);
  const std::int64_t before = hit_first < 0 ? reached_ : hit_first;
  return Corruption(fmt::format(
      "table '{}' {}: a stored chunk is damaged (its block checksum does not match: {}). "
      "Versions before {} are readable by time travel ({}_at(N)); restore the data dir from a "
      "backup to get the damaged rows back",
      name, versions, st.message(), before, name));
}

Result<ScanStep> TableScanCursor::Advance() {
  if (done_) return ScanStep::kFinished;
  const std::uint32_t table = snap_->table_id_;
  if (chunk_.version >= 0) {
    it_->Next();  // off the chunk returned last
  }
  chunk_ = ChunkId{-1, 0};
  for (;;) {
    if (!positioned_) {
      if (range_ >= ranges_.size()) break;
      reached_ = std::max(ranges_[range_].first, skip_to_);
      it_->Seek(TableVersionKey(table, 'C', reached_));
      positioned_ = true;
    }
    PS_RETURN_IF_ERROR(CheckIterator());
    // The end: the store's iterator confirms an end it steps to (a seek just past the last key,
    // which reports a damaged file RocksDB 7.8.3 would have stepped over; store_internal.h).
    if (!it_->Valid()) break;
    std::string_view k = it_->key();
    if (k.size() != 5 + 8 + 4) return Corruption("malformed chunk key");
    const std::int64_t v = KeyVersion(k);
    reached_ = v;
    if (v > ranges_[range_].last) {
      ++range_;
      positioned_ = false;
      continue;
    }
    if (keep_version_) {
      PS_ASSIGN_OR_RETURN(bool keep, KeepVersion(v));
      if (!keep) {
        it_->Seek(TableVersionKey(table, 'C', v + 1));
        continue;
      }
    }
    ++chunks_read_;
    ChunkId id{v, GetBigEndian32(k.data() + 13)};
    auto rows = ChunkRowCount(it_->value());
    if (!rows.ok()) return rows.status();
    auto dv = snap_->state_->dvs.find(id);
    if (dv != snap_->state_->dvs.end() && dv->second.deleted >= static_cast<std::int64_t>(*rows)) {
      it_->Next();  // every row deleted
      continue;
    }
    chunk_ = id;
    stored_rows_ = *rows;
    PS_RETURN_IF_ERROR(LoadDeletionVector(*rows));
    chunk_rows_ = *rows - deleted_.size();
    return ScanStep::kChunk;
  }
  PS_RETURN_IF_ERROR(CheckIterator());
  PS_RETURN_IF_ERROR(CheckCount());
  done_ = true;
  chunk_rows_ = 0;
  return ScanStep::kFinished;
}

Result<RecordBatch> TableScanCursor::Decode(const std::vector<std::string>& columns) const {
  if (done_ || chunk_.version < 0 || !it_->Valid())
    return FailedPrecondition("the scan cursor is not on a chunk");
  const Schema& schema = snap_->schema_;
  auto decoded = DecodeChunk(it_->value(), &columns);
  if (!decoded.ok()) {
    return decoded.status().WithContext(
        fmt::format("table '{}' version {}", snap_->table_name_, chunk_.version));
  }
  RecordBatch& raw = decoded.value();
  RecordBatch out;
  const std::size_t n = stored_rows_;
  out.row_ids().resize(n);
  for (std::size_t i = 0; i < n; ++i) out.row_ids()[i] = i;
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
  if (!deleted_.empty()) {
    std::vector<std::uint8_t> keep(n, 1);
    for (std::uint32_t r : deleted_) keep[r] = 0;
    out.Compact(keep);  // row ids stay each row's index in the stored chunk
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
