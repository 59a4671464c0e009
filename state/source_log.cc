#include "state/source_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/bytes.h"
#include "engine/metrics.h"
#include "engine/thread_name.h"
#include "engine/time_util.h"
#include "state/store.h"

namespace pinstream::state {

namespace {

std::string MetaKey(const std::string& name) { return "log/" + name; }

// A partition's record batches live in a column family of their own (Store log space), keyed by
// the batch's base offset.
std::string SpaceName(std::uint32_t stream, int partition) {
  return fmt::format("log/{}/{}", stream, partition);
}

std::string BatchKey(std::int64_t base_offset) {
  std::string k;
  PutBigEndian64(&k, static_cast<std::uint64_t>(base_offset));
  return k;
}

// Keys of data dirs written before log spaces: every partition in the one `source_log` family,
// be32(stream) be32(partition) be64(base offset). Read once, to move them
// (SourceLog::MigrateLegacy).
std::string LegacyPartitionPrefix(std::uint32_t stream, std::uint32_t partition) {
  std::string k;
  PutBigEndian32(&k, stream);
  PutBigEndian32(&k, partition);
  return k;
}

// A record batch being built for one partition of one group commit. Each record's framing (key
// flag, key, value length) goes into `meta`; its value stays where the request holds it (alive
// until the group's write): PutInto gathers the pieces straight into the write batch, so a value
// is copied once here instead of three times (into the batch, into its encoding, into the write).
struct BatchBuilder {
  std::uint32_t stream = 0;
  int partition = 0;
  const LogSpace* space = nullptr;  // the partition's
  std::int64_t base = 0;
  std::uint64_t count = 0;
  std::string meta;
  std::string head;
  std::vector<std::string_view> parts;
  // For the next group (the buffers keep their capacity).
  void Reset(std::uint32_t s, int p, const LogSpace* sp, std::int64_t first_offset) {
    stream = s;
    partition = p;
    space = sp;
    base = first_offset;
    count = 0;
    meta.clear();
    pieces.clear();
  }
  struct Piece {
    const char* value;  // nullptr: `len` bytes of meta from `meta_at`
    std::size_t meta_at;
    std::size_t len;
  };
  std::vector<Piece> pieces;
  void Add(const LogRecord& r) {
    std::size_t at = meta.size();
    meta.push_back(r.has_key ? 1 : 0);
    if (r.has_key) PutLengthPrefixed(&meta, r.key);
    PutVarint64(&meta, r.value.size());
    pieces.push_back(Piece{nullptr, at, meta.size() - at});
    pieces.push_back(Piece{r.value.data(), 0, r.value.size()});
    ++count;
  }
  void PutInto(StoreTxn& txn, std::int64_t arrival_us) {
    head.clear();
    PutVarint64(&head, static_cast<std::uint64_t>(arrival_us));
    PutVarint64(&head, count);
    parts.clear();
    parts.push_back(head);
    for (const Piece& p : pieces) {
      parts.push_back(p.value ? std::string_view(p.value, p.len)
                              : std::string_view(meta).substr(p.meta_at, p.len));
    }
    txn.PutParts(*space, BatchKey(base), parts);
  }
};

// Reads a batch header: arrival and count; `rd` is left at the first record.
bool DecodeBatchHeader(ByteReader& rd, std::int64_t* arrival_us, std::uint64_t* count) {
  std::uint64_t arrival;
  if (!rd.GetVarint64(&arrival) || !rd.GetVarint64(count)) return false;
  *arrival_us = static_cast<std::int64_t>(arrival);
  return *count > 0 && *count < (1ULL << 32);
}

bool DecodeRecord(ByteReader& rd, SourceLog::ReadRecord* out) {
  std::uint8_t has_key;
  if (!rd.GetByte(&has_key)) return false;
  out->has_key = has_key != 0;
  out->key = {};
  if (out->has_key && !rd.GetLengthPrefixed(&out->key)) return false;
  return rd.GetLengthPrefixed(&out->value);
}

// The base offset a batch key holds; false for a key that is not one.
bool BatchBase(std::string_view key, std::int64_t* base) {
  if (key.size() != 8) return false;
  *base = static_cast<std::int64_t>(GetBigEndian64(key.data()));
  return true;
}

// Base offset and record count of the batch stored under key/value.
bool BatchExtent(std::string_view key, std::string_view value, std::int64_t* base,
                 std::uint64_t* count) {
  if (!BatchBase(key, base)) return false;
  ByteReader rd(value);
  std::int64_t arrival;
  return DecodeBatchHeader(rd, &arrival, count);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<SourceLog>> SourceLog::Open(Store* store, SourceLogOptions options) {
  std::unique_ptr<SourceLog> log(new SourceLog(store, options));
  PS_RETURN_IF_ERROR(log->LoadStreams());
  log->writer_ = std::thread([raw = log.get()] {
    SetThreadName("log-writer");
    raw->WriterLoop();
  });
  return log;
}

// The log thread's own: one record-batch builder per partition a group touches and the
// transaction the group is written with, all reused from group to group.
struct SourceLog::WriterScratch {
  std::vector<BatchBuilder> builders;
  std::size_t active = 0;
  std::unique_ptr<StoreTxn> txn;
  BatchBuilder* Find(std::uint32_t stream, int partition) {
    for (std::size_t i = 0; i < active; ++i) {
      if (builders[i].stream == stream && builders[i].partition == partition) return &builders[i];
    }
    return nullptr;
  }
  BatchBuilder& Add() {
    if (active == builders.size()) builders.emplace_back();
    return builders[active++];
  }
};

void SourceLog::Written::Clear() {
  requests.clear();
  offsets.clear();
  offsets_end.clear();
  errors.clear();
  ends.clear();
  records = bytes = 0;
}

SourceLog::SourceLog(Store* store, SourceLogOptions options)
    : store_(store),
      options_(options),
      retention_age_us_(options.retention_age_us),
      retention_bytes_(options.retention_bytes),
      group_commit_max_records_(options.group_commit_max_records),
      scratch_(std::make_unique<WriterScratch>()) {}

void SourceLog::SetLimits(std::int64_t retention_age_us, std::int64_t retention_bytes,
                          std::int64_t group_commit_max_records) {
  retention_age_us_.store(retention_age_us, std::memory_order_relaxed);
  retention_bytes_.store(retention_bytes, std::memory_order_relaxed);
  group_commit_max_records_.store(group_commit_max_records, std::memory_order_relaxed);
}

SourceLog::~SourceLog() { Shutdown(); }

Status SourceLog::LoadStreams() {
  std::set<std::string> owned;  // log spaces of existing streams
  auto it = store_->NewIterator(KeySpace::kMeta, "log/");
  for (; it->Valid(); it->Next()) {
    nlohmann::json j = nlohmann::json::parse(it->value(), nullptr, false);
    if (j.is_discarded() || !j.contains("id"))
      return Corruption(fmt::format("log stream entry '{}' is damaged", it->key()));
    Stream s;
    s.info.name = std::string(it->key().substr(4));
    s.info.id = j["id"].get<std::uint32_t>();
    s.info.partitions = j.value("partitions", 1);
    s.info.api = j.value("api", std::string("topic")) == "stream" ? LogApi::kKinesisStream
                                                                  : LogApi::kKafkaTopic;
    s.info.created_ms = j.value("createdMs", std::int64_t{0});
    s.parts.resize(static_cast<std::size_t>(s.info.partitions));
    for (int p = 0; p < s.info.partitions; ++p) {
      Partition& part = s.parts[static_cast<std::size_t>(p)];
      owned.insert(SpaceName(s.info.id, p));
      PS_ASSIGN_OR_RETURN(part.space, store_->OpenLogSpace(SpaceName(s.info.id, p)));
      PS_RETURN_IF_ERROR(MigrateLegacy(s.info, p, *part.space));
      PS_RETURN_IF_ERROR(LoadBounds(s.info, p, part));
      // Empty partitions restart at the offset they had reached (kept in the stream entry).
      if (j.contains("ends") && j["ends"].size() > static_cast<std::size_t>(p)) {
        std::int64_t kept = j["ends"][static_cast<std::size_t>(p)].get<std::int64_t>();
        if (part.end < kept) part.start = part.end = kept;
      }
      part.next = part.end;
    }
    std::uint32_t id = s.info.id;
    Stream& stored = streams_[s.info.name] = std::move(s);
    by_id_[id] = &stored;
  }
  PS_RETURN_IF_ERROR(it->status());
  // Spaces no stream owns: a stream deleted (its entry removed) before its spaces were dropped,
  // or created (spaces made) before its entry was written, when the daemon stopped in between.
  for (const auto& name : store_->LogSpaceNames()) {
    if (owned.count(name) > 0) continue;
    spdlog::info("source log: dropping '{}', which belongs to no topic or stream", name);
    PS_RETURN_IF_ERROR(store_->DropLogSpace(name));
  }
  return Status::Ok();
}

// A partition's start is its first batch's base offset, its end the last batch's base offset plus
// its record count. A damaged batch there (a block whose checksum does not match) does not keep the
// daemon from starting: RocksDB's metadata of the damaged file (intact) has its first and last
// keys, so a damaged first batch still gives the start; a damaged last batch gives its base
// offset but not its count, so the partition refuses appends (RefuseAppends) instead of guessing.
// Reading a damaged batch fails naming it, as any read does.
Status SourceLog::LoadBounds(const LogStreamInfo& info, int p, Partition& part) {
  auto damaged_keys = [&](const Status& st) -> std::optional<std::pair<std::int64_t, std::int64_t>> {
    if (st.code() != StatusCode::kCorruption) return std::nullopt;
    auto keys = store_->DamagedFileKeys(*part.space, st);
    std::int64_t first, last;
    if (!keys || !BatchBase(keys->first, &first) || !BatchBase(keys->second, &last))
      return std::nullopt;
    return std::make_pair(first, last);
  };
  auto unreadable = [&](const Status& st) {
    return st.WithContext(
        fmt::format("'{}' partition {}: reading its first and last record batches (the damaged "
                    "file's keys are unknown, so is the partition's end offset)",
                    info.name, p));
  };
  // The start: the first batch's base offset — the damaged file's first key when that batch is
  // unreadable (RocksDB's file metadata, intact).
  auto first = store_->NewIterator(*part.space);
  if (first->Valid()) {
    if (!BatchBase(first->key(), &part.start)) {
      return Corruption(fmt::format("'{}' partition {}: a record batch key is damaged", info.name, p));
    }
  } else if (Status st = first->status(); !st.ok()) {
    auto keys = damaged_keys(st);
    if (!keys) return unreadable(st);
    part.start = keys->first;
    spdlog::error(
        "source log: '{}' partition {}: its first record batch (offset {}) is damaged ({}); "
        "reading it fails, the partition takes records",
        info.name, p, part.start, st.message());
  } else {
    return Status::Ok();  // empty
  }
  // The end: the last batch's base offset plus its record count.
  auto last = store_->NewIterator(*part.space, /*at_first=*/false);
  last->SeekForPrev(BatchKey(INT64_MAX));
  std::int64_t base;
  std::uint64_t count;
  if (last->Valid()) {
    if (BatchExtent(last->key(), last->value(), &base, &count)) {
      part.end = base + static_cast<std::int64_t>(count);
      return Status::Ok();
    }
    if (!BatchBase(last->key(), &base)) {
      return Corruption(fmt::format("'{}' partition {}: a record batch key is damaged", info.name, p));
    }
    return RefuseAppends(info, p, part, base, "its header is malformed");
  }
  Status st = last->status();
  if (st.ok()) return unreadable(Corruption("the first record batch is there but no last one"));
  auto keys = damaged_keys(st);
  if (!keys) return unreadable(st);
  // A backward seek also reads the batch before the one it lands on: the damaged block may hold
  // batches before the last. Forward from the damaged file's last batch, which a forward seek
  // reads alone.
  base = keys->second;
  auto fwd = store_->NewIterator(*part.space, /*at_first=*/false);
  fwd->Seek(BatchKey(base));
  std::int64_t end = -1;  // -1: the last batch read is unreadable
  for (; fwd->Valid(); fwd->Next()) {
    std::int64_t b;
    if (!BatchBase(fwd->key(), &b)) {
      return Corruption(fmt::format("'{}' partition {}: a record batch key is damaged", info.name, p));
    }
    base = b;
    end = BatchExtent(fwd->key(), fwd->value(), &b, &count) ? b + static_cast<std::int64_t>(count)
                                                             : -1;
  }
  if (Status fst = fwd->status(); fst.ok() && end >= 0) {
    part.end = end;
    spdlog::error(
        "source log: '{}' partition {}: a record batch before its last one is damaged ({}); "
        "reading it fails, the partition takes records from offset {}",
        info.name, p, st.message(), part.end);
    return Status::Ok();
  } else if (!fst.ok()) {
    auto later = damaged_keys(fst);
    if (!later) return unreadable(fst);
    base = std::max(base, later->second);
    st = fst;
  }
  return RefuseAppends(info, p, part, base, st.message());
}

Status SourceLog::RefuseAppends(const LogStreamInfo& info, int p, Partition& part,
                                std::int64_t last_base, const std::string& why) {
  // Its records end somewhere after its base offset: readers reach it (and fail naming it), and
  // no offset after it is given out.
  part.end = last_base + 1;
  part.refused = fmt::format(
      "'{}' partition {}: its last record batch (offset {}) is damaged ({}), so the partition's "
      "next offset is unknown: appends to it are refused rather than risk giving an offset "
      "twice (the other partitions take records). Restore the data dir from a backup, or delete "
      "and recreate '{}'",
      info.name, p, last_base, why, info.name);
  spdlog::error("source log: {}", part.refused);
  return Status::Ok();
}

Status SourceLog::MigrateLegacy(const LogStreamInfo& info, int partition, const LogSpace& space) {
  std::string prefix = LegacyPartitionPrefix(info.id, static_cast<std::uint32_t>(partition));
  auto it = store_->NewIterator(KeySpace::kSourceLog, prefix);
  if (!it->Valid()) return it->status();
  // Copied in synced steps of ~32 MB (a copy that stops half way is redone: same keys, same
  // values), then removed from the old family.
  std::uint64_t batches = 0;
  constexpr std::size_t kStepBytes = 32 << 20;
  while (it->Valid()) {
    auto txn = store_->BeginTxn();
    std::size_t bytes = 0;
    for (; it->Valid() && bytes < kStepBytes; it->Next()) {
      if (it->key().size() != 16)
        return Corruption(
            fmt::format("'{}' partition {}: a record batch key is damaged", info.name, partition));
      std::string_view value = it->value();
      txn->PutParts(space, it->key().substr(8), std::span<const std::string_view>(&value, 1));
      bytes += it->key().size() + value.size();
      ++batches;
    }
    PS_RETURN_IF_ERROR(it->status());
    PS_RETURN_IF_ERROR(store_->Commit(std::move(txn), true));
  }
  auto del = store_->BeginTxn();
  del->DeleteRange(KeySpace::kSourceLog, prefix,
                   LegacyPartitionPrefix(info.id, static_cast<std::uint32_t>(partition) + 1));
  PS_RETURN_IF_ERROR(store_->Commit(std::move(del), true));
  spdlog::info(
      "source log: moved {} record batches of '{}' partition {} into its own column family '{}'",
      batches, info.name, partition, space.name());
  return Status::Ok();
}

Result<LogStreamInfo> SourceLog::Create(const std::string& name, int partitions, LogApi api) {
  if (partitions < 1 || partitions > 1024)
    return InvalidArgument("partition/shard count must be between 1 and 1024");
  std::lock_guard lock(mu_);
  auto it = streams_.find(name);
  if (it != streams_.end()) return AlreadyExists(fmt::format("'{}' already exists", name));
  PS_ASSIGN_OR_RETURN(std::uint32_t id, store_->AllocateId("log"));
  Stream s;
  s.info = LogStreamInfo{name, id, partitions, api, NowMicros() / 1000};
  s.parts.resize(static_cast<std::size_t>(partitions));
  // The partitions' spaces first: a stop before the entry below leaves spaces no stream owns,
  // which the next start drops.
  for (int p = 0; p < partitions; ++p) {
    PS_ASSIGN_OR_RETURN(s.parts[static_cast<std::size_t>(p)].space,
                        store_->OpenLogSpace(SpaceName(id, p)));
  }
  nlohmann::json j{{"id", id},
                   {"partitions", partitions},
                   {"api", api == LogApi::kKinesisStream ? "stream" : "topic"},
                   {"createdMs", s.info.created_ms}};
  PS_RETURN_IF_ERROR(store_->PutSync(KeySpace::kMeta, MetaKey(name), j.dump()));
  LogStreamInfo info = s.info;
  by_id_[id] = &(streams_[name] = std::move(s));
  return info;
}

Status SourceLog::Delete(const std::string& name) {
  std::lock_guard wlock(write_mu_);  // no group is being written while the stream goes away
  std::lock_guard lock(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return NotFound(fmt::format("'{}' does not exist", name));
  // The entry first: a stop before the spaces are dropped leaves spaces no stream owns, which
  // the next start drops.
  auto txn = store_->BeginTxn();
  txn->Delete(KeySpace::kMeta, MetaKey(name));
  PS_RETURN_IF_ERROR(store_->Commit(std::move(txn), true));
  LogStreamInfo info = it->second.info;
  by_id_.erase(info.id);
  streams_.erase(it);
  for (int p = 0; p < info.partitions; ++p)
    PS_RETURN_IF_ERROR(store_->DropLogSpace(SpaceName(info.id, p)));
  return Status::Ok();
}

std::optional<LogStreamInfo> SourceLog::Find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return std::nullopt;
  return it->second.info;
}

std::vector<LogStreamInfo> SourceLog::List(std::optional<LogApi> api) const {
  std::lock_guard lock(mu_);
  std::vector<LogStreamInfo> out;
  for (const auto& [n, s] : streams_) {
    if (!api || s.info.api == *api) out.push_back(s.info);
  }
  return out;
}

void SourceLog::AppendAsync(const std::string& stream, std::vector<LogRecord> records,
                            AppendCallback done) {
  {
    std::lock_guard lock(queue_mu_);
    if (!stopping_) {
      queue_.push_back(Pending{stream, std::move(records), std::move(done)});
      queue_cv_.notify_one();  // a no-op syscall-free path when the writer is not waiting
      return;
    }
  }
  done(Unavailable("the source log is shutting down"));
}

Result<std::vector<AppendedRecord>> SourceLog::Append(const std::string& stream,
                                                      std::vector<LogRecord> records) {
  std::mutex m;
  std::condition_variable cv;
  std::optional<Result<std::vector<AppendedRecord>>> result;
  AppendAsync(stream, std::move(records), [&](Result<std::span<const AppendedRecord>> r) {
    std::lock_guard lock(m);
    if (r.ok()) {
      result.emplace(std::vector<AppendedRecord>(r->begin(), r->end()));
    } else {
      result.emplace(r.status());
    }
    cv.notify_one();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return result.has_value(); });
  return std::move(*result);
}

void SourceLog::AddAppendListener(AppendListener fn) {
  std::lock_guard lock(queue_mu_);
  auto next = std::make_shared<std::vector<AppendListener>>(*listeners_);
  next->push_back(std::move(fn));
  listeners_ = std::move(next);
}

void SourceLog::WriterLoop() {
  static Histogram* sync_seconds = Metrics().GetHistogram(
      "pinstream_source_log_sync_seconds",
      "Duration of the source log's WAL fsyncs (one acknowledges many requests)", {},
      LatencyBuckets());
  static Histogram* group_records =
      Metrics().GetHistogram("pinstream_source_log_sync_records", "Records acknowledged per fsync",
                             {}, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384});
  std::int64_t next_retention = NowMicros() + options_.retention_check_interval_us;
  Written w;                          // reused: its containers keep their capacity
  std::vector<std::string> appended;  // the streams of a group, for the listeners
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait_for(lock, std::chrono::seconds(1),
                         [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) break;
      // Take whole requests up to the group limit (at least one): everything that arrived while
      // the previous group was written and synced.
      std::size_t records = 0, take = 0;
      const auto group_max =
          static_cast<std::size_t>(group_commit_max_records_.load(std::memory_order_relaxed));
      while (take < queue_.size() &&
             (take == 0 || records + queue_[take].records.size() <= group_max)) {
        records += queue_[take].records.size();
        ++take;
      }
      w.requests.insert(
          w.requests.end(), std::make_move_iterator(queue_.begin()),
          std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(take)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
    }
    if (!w.requests.empty()) {
      Status st = WriteGroup(w);
      bool written = st.ok();
      if (st.ok() && w.records > 0) {
        auto t0 = std::chrono::steady_clock::now();
        st = store_->SyncWal();
        sync_seconds->Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        group_records->Observe(static_cast<double>(w.records));
        if (st.ok()) SettleInDoubt();
      }
      // The streams that got records (a group holds few: a linear look-up is enough), for the
      // listeners, which run once the group is acknowledged (Complete clears it).
      appended.clear();
      for (std::size_t g = 0; st.ok() && g < w.requests.size(); ++g) {
        const bool stored = w.errors[g].ok() && w.offsets_end[g] > (g ? w.offsets_end[g - 1] : 0);
        if (stored &&
            std::find(appended.begin(), appended.end(), w.requests[g].stream) == appended.end())
          appended.push_back(w.requests[g].stream);
      }
      Complete(w, st, written);
      if (!appended.empty()) {
        std::shared_ptr<const std::vector<AppendListener>> ls;
        {
          std::lock_guard lock(queue_mu_);
          ls = listeners_;
        }
        for (const auto& l : *ls) l(appended);
      }
    }
    std::int64_t now = NowMicros();
    if (now >= next_retention) {
      auto r = EnforceRetention(now);
      if (!r.ok()) spdlog::warn("source log retention: {}", r.status().ToString());
      next_retention = now + options_.retention_check_interval_us;
    }
  }
}

SourceLog::Partition* SourceLog::PartitionById(std::uint32_t stream, int partition) {
  auto it = by_id_.find(stream);
  if (it == by_id_.end()) return nullptr;  // deleted since
  return &it->second->parts[static_cast<std::size_t>(partition)];
}

void SourceLog::SettleInDoubt() {
  if (in_doubt_.empty()) return;
  // The store took a write and a sync again, so it has recovered — and its recovery flushed the
  // groups whose sync had failed: they are durable now, and readable.
  std::lock_guard lock(mu_);
  for (const PartitionEnd& e : in_doubt_) {
    if (Partition* part = PartitionById(e.stream, e.partition))
      part->end = std::max(part->end, e.end);
  }
  in_doubt_.clear();
}

Status SourceLog::WriteGroup(Written& w) {
  std::lock_guard wlock(write_mu_);
  WriterScratch& sc = *scratch_;
  sc.active = 0;
  w.errors.resize(w.requests.size());
  w.offsets_end.resize(w.requests.size());
  std::int64_t now = NowMicros();
  {
    std::lock_guard lock(mu_);
    for (std::size_t g = 0; g < w.requests.size(); ++g) {
      Pending& req = w.requests[g];
      w.offsets_end[g] = w.offsets.size();
      auto it = streams_.find(req.stream);
      if (it == streams_.end()) {
        w.errors[g] = NotFound(fmt::format("'{}' does not exist", req.stream));
        continue;
      }
      Stream& s = it->second;
      // Validate the whole request first: a request is stored entirely or not at all.
      for (const auto& r : req.records) {
        if (r.partition >= s.info.partitions || r.partition < 0) {
          w.errors[g] = NotFound(fmt::format("partition {} of '{}' does not exist (it has {})",
                                             r.partition, s.info.name, s.info.partitions));
          break;
        }
        const std::string& refused = s.parts[static_cast<std::size_t>(r.partition)].refused;
        if (!refused.empty()) {
          w.errors[g] = Corruption(refused);
          break;
        }
      }
      if (!w.errors[g].ok()) continue;
      for (auto& r : req.records) {
        const int p = r.partition;
        Partition& part = s.parts[static_cast<std::size_t>(p)];
        std::int64_t off = part.next++;
        BatchBuilder* b = sc.Find(s.info.id, p);
        if (b == nullptr) {
          b = &sc.Add();
          b->Reset(s.info.id, p, part.space, off);
        }
        b->Add(r);
        w.offsets.push_back(AppendedRecord{p, off});
        w.bytes += r.value.size() + r.key.size();
        ++w.records;
      }
      w.offsets_end[g] = w.offsets.size();
    }
  }
  if (sc.active == 0) return Status::Ok();  // only invalid requests: nothing to write
  if (!sc.txn) sc.txn = store_->BeginTxn();
  for (std::size_t i = 0; i < sc.active; ++i) {
    BatchBuilder& b = sc.builders[i];
    b.PutInto(*sc.txn, now);
    w.ends.push_back(
        PartitionEnd{b.stream, b.partition, b.base, b.base + static_cast<std::int64_t>(b.count)});
  }
  return store_->Write(*sc.txn, /*sync=*/false);
}

void SourceLog::Complete(Written& w, const Status& st, bool written) {
  {
    std::lock_guard lock(mu_);
    for (const PartitionEnd& e : w.ends) {
      Partition* part = PartitionById(e.stream, e.partition);
      if (part == nullptr) continue;
      if (st.ok()) {
        part->end = std::max(part->end, e.end);  // durable: readers may see them now
      } else if (!written) {
        // The WAL write failed, so RocksDB left the memtable alone: nothing of the group is in
        // the store, and its offsets are handed out again (no gap opens in the partition).
        part->next = e.begin;
      }
      // Written but not synced: the group is in the memtable (and in a WAL that may or may not
      // be on disk). RocksDB refuses writes until it recovers, and its recovery flushes the
      // memtables — so the group becomes durable then, and its offsets stay taken: the next
      // successful sync makes them readable (in_doubt_). Its requests were refused; clients that
      // retry may find their records twice (at-least-once, like a Kafka producer after a
      // timeout).
    }
    if (!st.ok() && written) in_doubt_.insert(in_doubt_.end(), w.ends.begin(), w.ends.end());
  }
  if (st.ok()) {
    if (w.records > 0) {
      group_commits_.fetch_add(1);
      records_.fetch_add(w.records);
      bytes_.fetch_add(w.bytes);
    }
  } else {
    failed_writes_.fetch_add(1);
  }
  for (std::size_t g = 0; g < w.requests.size(); ++g) {
    if (!w.errors[g].ok()) {
      w.requests[g].done(w.errors[g]);
    } else if (!st.ok()) {
      w.requests[g].done(st);
    } else {
      std::size_t begin = g == 0 ? 0 : w.offsets_end[g - 1];
      w.requests[g].done(
          std::span<const AppendedRecord>(w.offsets).subspan(begin, w.offsets_end[g] - begin));
    }
  }
  w.Clear();
}

Result<std::pair<std::int64_t, std::int64_t>> SourceLog::Bounds(const std::string& stream,
                                                                int partition) const {
  std::lock_guard lock(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return NotFound(fmt::format("'{}' does not exist", stream));
  if (partition < 0 || partition >= it->second.info.partitions) {
    return NotFound(fmt::format("partition {} of '{}' does not exist", partition, stream));
  }
  const Partition& p = it->second.parts[static_cast<std::size_t>(partition)];
  std::int64_t end = p.end;
  if (!p.refused.empty()) {
    // Its end is unknown (RefuseAppends): a consumer that read past the damaged batch before the
    // damage has nothing new, not an end below what it committed.
    for (const auto& [consumer, by_stream] : consumers_) {
      auto s = by_stream.find(stream);
      if (s == by_stream.end()) continue;
      auto c = s->second.find(std::to_string(partition));
      if (c != s->second.end()) end = std::max(end, c->second);
    }
  }
  return std::make_pair(p.start, end);
}

Status SourceLog::Read(const std::string& stream, int partition, std::int64_t start,
                       std::int64_t end,
                       const std::function<Status(const ReadRecord&)>& visit) const {
  const LogSpace* space;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(stream);
    if (it == streams_.end()) return NotFound(fmt::format("'{}' does not exist", stream));
    if (partition < 0 || partition >= it->second.info.partitions) {
      return NotFound(fmt::format("partition {} of '{}' does not exist", partition, stream));
    }
    space = it->second.parts[static_cast<std::size_t>(partition)].space;
  }
  if (start >= end) return Status::Ok();
  // The batch holding `start`: usually one that begins there (a query's next micro-batch starts
  // where its last one ended); else it begins before (a backward seek, which also reads the batch
  // before the one it lands on).
  auto it = store_->NewIterator(*space, /*at_first=*/false);
  it->Seek(BatchKey(start));
  if (std::int64_t at; !it->Valid() || !BatchBase(it->key(), &at) || at != start) {
    auto back = store_->NewIterator(*space, /*at_first=*/false);
    back->SeekForPrev(BatchKey(start));
    if (back->Valid() || !back->status().ok()) it = std::move(back);
  }
  std::int64_t expect = start;
  bool sought_gap = false;  // the gap before the batch the iterator is on was sought
  ReadRecord rec;
  while (expect < end && it->Valid()) {
    std::int64_t base;
    if (!BatchBase(it->key(), &base)) {
      return Corruption(
          fmt::format("'{}' partition {}: a record batch key is damaged", stream, partition));
    }
    ByteReader rd(it->value());
    std::uint64_t count;
    if (!DecodeBatchHeader(rd, &rec.arrival_us, &count)) {
      return Corruption(
          fmt::format("'{}' partition {} batch {}: damaged header", stream, partition, base));
    }
    if (base + static_cast<std::int64_t>(count) <= expect) {  // entirely before the range
      it->Next();
      continue;
    }
    if (base > expect) {
      // Batches follow each other without gaps: this one is retention's doing, or RocksDB 7.8.3
      // stepping over a damaged file (store_internal.h) from one level's file to the next while
      // another level goes on. A seek to the missing batch tells them apart (a seek onto the
      // damaged file reports it).
      if (!sought_gap) {
        sought_gap = true;
        it->Seek(BatchKey(expect));
        continue;
      }
      return DataLoss(
          fmt::format("'{}' partition {}: records {}..{} are gone (deleted by retention?)", stream,
                      partition, expect, base - 1));
    }
    sought_gap = false;
    for (std::uint64_t i = 0; i < count && expect < end; ++i) {
      if (!DecodeRecord(rd, &rec)) {
        return Corruption(fmt::format("'{}' partition {} offset {}: damaged record", stream,
                                      partition, base + static_cast<std::int64_t>(i)));
      }
      rec.offset = base + static_cast<std::int64_t>(i);
      if (rec.offset < expect) continue;
      PS_RETURN_IF_ERROR(visit(rec));
      ++expect;
    }
    it->Next();
  }
  if (Status st = it->status(); !st.ok()) {
    // A damaged block: RocksDB names the file; its keys say which batches it holds.
    std::string batches;
    if (st.code() == StatusCode::kCorruption) {
      std::int64_t first, last;
      if (auto keys = store_->DamagedFileKeys(*space, st);
          keys && BatchBase(keys->first, &first) && BatchBase(keys->second, &last)) {
        batches = first == last ? fmt::format(" (the damaged file holds the batch at offset {})",
                                              first)
                                : fmt::format(" (the damaged file holds the batches at offsets "
                                              "{}..{})",
                                              first, last);
      }
    }
    return st.WithContext(fmt::format(
        "'{}' partition {} offset {}: the record batch holding it cannot be read{}", stream,
        partition, expect, batches));
  }
  if (expect < end) {
    return DataLoss(fmt::format("'{}' partition {}: records {}..{} are not in the log", stream,
                                partition, expect, end - 1));
  }
  return Status::Ok();
}

void SourceLog::RegisterConsumer(const std::string& consumer, const std::string& stream) {
  std::lock_guard lock(mu_);
  consumers_[consumer][stream];
}

void SourceLog::Commit(const std::string& consumer, const std::string& stream,
                       const PartitionOffsets& committed) {
  std::lock_guard lock(mu_);
  auto& offs = consumers_[consumer][stream];
  for (const auto& [p, o] : committed) offs[p] = std::max(offs[p], o);
}

std::int64_t SourceLog::MaxBacklog(const std::string& stream) const {
  std::lock_guard lock(mu_);
  auto sit = streams_.find(stream);
  if (sit == streams_.end()) return 0;
  std::int64_t worst = 0;
  for (const auto& [consumer, by_stream] : consumers_) {
    auto it = by_stream.find(stream);
    if (it == by_stream.end()) continue;
    std::int64_t backlog = 0;
    for (int p = 0; p < sit->second.info.partitions; ++p) {
      const Partition& part = sit->second.parts[static_cast<std::size_t>(p)];
      auto c = it->second.find(std::to_string(p));
      std::int64_t from = c == it->second.end() ? part.start : std::max(c->second, part.start);
      backlog += std::max<std::int64_t>(0, part.end - from);
    }
    worst = std::max(worst, backlog);
  }
  return worst;
}

std::int64_t SourceLog::Backlog(const std::string& consumer) const {
  std::lock_guard lock(mu_);
  auto cit = consumers_.find(consumer);
  if (cit == consumers_.end()) return 0;
  std::int64_t backlog = 0;
  for (const auto& [stream, offs] : cit->second) {
    auto sit = streams_.find(stream);
    if (sit == streams_.end()) continue;
    for (int p = 0; p < sit->second.info.partitions; ++p) {
      const Partition& part = sit->second.parts[static_cast<std::size_t>(p)];
      auto c = offs.find(std::to_string(p));
      std::int64_t from = c == offs.end() ? part.start : std::max(c->second, part.start);
      backlog += std::max<std::int64_t>(0, part.end - from);
    }
  }
  return backlog;
}

Result<std::int64_t> SourceLog::EnforceRetention(std::int64_t now_us) {
  struct Work {
    std::string stream;
    std::uint32_t id;
    int partition;
    const LogSpace* space;
    std::int64_t start, end, limit;
  };
  std::vector<Work> work;
  const std::int64_t retention_age_us = retention_age_us_.load(std::memory_order_relaxed);
  const std::int64_t retention_bytes = retention_bytes_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, s] : streams_) {
      for (int p = 0; p < s.info.partitions; ++p) {
        const Partition& part = s.parts[static_cast<std::size_t>(p)];
        // Never beyond what every consumer of this stream has committed.
        std::int64_t limit = part.end;
        for (const auto& [consumer, by_stream] : consumers_) {
          auto it = by_stream.find(name);
          if (it == by_stream.end()) continue;
          auto c = it->second.find(std::to_string(p));
          limit = std::min(limit, c == it->second.end() ? part.start : c->second);
        }
        if (limit > part.start)
          work.push_back({name, s.info.id, p, part.space, part.start, part.end, limit});
      }
    }
  }
  std::int64_t deleted = 0;
  Status first_error;
  for (const auto& w : work) {
    std::lock_guard wlock(write_mu_);
    {
      std::lock_guard lock(mu_);  // deleted (or deleted and created again) since the plan above?
      auto sit = streams_.find(w.stream);
      if (sit == streams_.end() || sit->second.info.id != w.id) continue;
    }
    auto it = store_->NewIterator(*w.space, /*at_first=*/false);
    it->Seek(BatchKey(w.start));
    std::int64_t new_start = w.start;
    std::int64_t partition_bytes = 0;
    // A partition that cannot be read (a damaged batch) keeps what it has; the others go on.
    auto unreadable = [&](const Status& st) {
      if (first_error.ok()) {
        first_error = st.WithContext(
            fmt::format("'{}' partition {}: reading it for retention", w.stream, w.partition));
      }
    };
    if (retention_bytes > 0) {
      // Bytes of the partition, to know how much must go for the size limit.
      auto sz = store_->NewIterator(*w.space);
      for (; sz->Valid(); sz->Next())
        partition_bytes += static_cast<std::int64_t>(sz->value().size());
      if (!sz->status().ok()) {
        unreadable(sz->status());
        continue;
      }
    }
    // Whole batches go, oldest first, while they are entirely below what every consumer committed.
    for (; it->Valid(); it->Next()) {
      std::int64_t arrival;
      std::uint64_t count;
      ByteReader rd(it->value());
      std::int64_t base;
      if (!BatchBase(it->key(), &base) || !DecodeBatchHeader(rd, &arrival, &count)) break;
      std::int64_t next = base + static_cast<std::int64_t>(count);
      if (next > w.limit) break;
      bool too_old = retention_age_us > 0 && arrival < now_us - retention_age_us;
      bool too_big = retention_bytes > 0 && partition_bytes > retention_bytes;
      if (!too_old && !too_big) break;
      partition_bytes -= static_cast<std::int64_t>(it->value().size());
      new_start = next;
    }
    if (!it->status().ok()) {
      unreadable(it->status());
      continue;
    }
    it.reset();
    if (new_start == w.start) continue;
    // Like Kafka deleting whole segments: the files holding only deleted batches go at once,
    // without a write; the batches of a file that also holds kept ones get a range tombstone.
    PS_RETURN_IF_ERROR(
        store_->DeleteFilesInRange(*w.space, BatchKey(w.start), BatchKey(new_start)));
    auto txn = store_->BeginTxn();
    txn->DeleteRange(*w.space, BatchKey(w.start), BatchKey(new_start));
    if (new_start == w.end) {
      // The partition is now empty: remember where it stands so that offsets never go back.
      std::lock_guard lock(mu_);
      auto sit = streams_.find(w.stream);
      if (sit != streams_.end()) {
        nlohmann::json j{
            {"id", sit->second.info.id},
            {"partitions", sit->second.info.partitions},
            {"api", sit->second.info.api == LogApi::kKinesisStream ? "stream" : "topic"},
            {"createdMs", sit->second.info.created_ms}};
        std::vector<std::int64_t> ends;
        for (const auto& p : sit->second.parts) ends.push_back(p.end);
        j["ends"] = ends;
        txn->Put(KeySpace::kMeta, MetaKey(w.stream), j.dump());
      }
    }
    PS_RETURN_IF_ERROR(store_->Commit(std::move(txn), true));
    {
      std::lock_guard lock(mu_);
      auto sit = streams_.find(w.stream);
      if (sit != streams_.end())
        sit->second.parts[static_cast<std::size_t>(w.partition)].start = new_start;
    }
    deleted += new_start - w.start;
  }
  PS_RETURN_IF_ERROR(first_error);
  return deleted;
}

void SourceLog::Shutdown() {
  {
    std::lock_guard lock(queue_mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
    queue_cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
}

SourceLog::Stats SourceLog::stats() const {
  return Stats{group_commits_.load(), records_.load(), bytes_.load(), failed_writes_.load()};
}

}  // namespace pinstream::state
