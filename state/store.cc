#include "state/store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/table.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "state/delta_table.h"
#include "state/store_internal.h"

namespace pinstream::state {

namespace fs = std::filesystem;

Status FromRocks(int code, int subcode, const std::string& message, std::string_view context) {
  using C = rocksdb::Status::Code;
  std::string msg = context.empty() ? message : fmt::format("{}: {}", context, message);
  switch (static_cast<C>(code)) {
    case C::kOk:
      return Status::Ok();
    case C::kNotFound:
      return NotFound(msg);
    case C::kCorruption:
      return Corruption(msg);
    case C::kNotSupported:
    case C::kInvalidArgument:
      return InvalidArgument(msg);
    case C::kIOError: {
      bool no_space = subcode == static_cast<int>(rocksdb::Status::SubCode::kNoSpace) ||
                      message.find("No space") != std::string::npos;
      return IOError(no_space ? "disk full: " + msg : msg, true);
    }
    case C::kBusy:
    case C::kTryAgain:
    case C::kTimedOut:
    case C::kIncomplete:
    case C::kAborted:
      return Unavailable(msg);
    case C::kShutdownInProgress:
      return Cancelled(msg);
    default:
      return Internal(msg);
  }
}

StoreSnapshot::~StoreSnapshot() {
  if (snap_ != nullptr)
    store_->rocks()->db->ReleaseSnapshot(static_cast<const rocksdb::Snapshot*>(snap_));
}

namespace {

rocksdb::Options BaseOptions(const StoreOptions& o, std::shared_ptr<rocksdb::Cache>* cache_out) {
  rocksdb::Options opt;
  if (o.env != nullptr) opt.env = o.env;
  opt.create_if_missing = true;
  opt.create_missing_column_families = true;
  // Debian's librocksdb is a debug-assertions build whose default log level is DEBUG.
  opt.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  opt.max_log_file_size = 8 << 20;
  opt.keep_log_file_num = 3;
  opt.max_background_jobs = 2;
  opt.bytes_per_sync = 1 << 20;
  opt.max_total_wal_size = 256LL << 20;
  // A write waits for the writes before it to reach the WAL, not their memtable inserts: a large
  // atomic write (a query's state snapshot, hundreds of thousands of keys) otherwise held every
  // acknowledgement and commit behind its insert (the latency bench's slowest acknowledgements
  // were each at a snapshot's commit).
  opt.enable_pipelined_write = true;
  // Not set: recycle_log_file_num. Overwriting a recycled WAL would make each fdatasync cheaper
  // (no size change to journal), but RocksDB 7.8 turns recycling off under kPointInTimeRecovery,
  // the recovery mode exactly-once needs.
  *cache_out = rocksdb::NewLRUCache(
      static_cast<std::size_t>(std::max<std::int64_t>(o.block_cache_bytes, 1 << 20)));
  return opt;
}

rocksdb::ColumnFamilyOptions CfOptions(const StoreOptions& o,
                                       const std::shared_ptr<rocksdb::Cache>& cache,
                                       std::string_view name) {
  rocksdb::ColumnFamilyOptions c;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  bool tables = name == "tables";
  bool log = name == "source_log" || IsLogSpaceName(name);
  // Table chunks are LZ4-compressed by pinstream itself and are large: bigger blocks, no
  // second compression. Point-lookup families get bloom filters.
  t.block_size = tables ? 256 << 10 : (log ? 64 << 10 : 16 << 10);
  if (!tables && !log) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // The source log is read front to back soon after it is written, so its blocks are mostly in
  // the page cache: RocksDB's own readahead would only add a readahead() call per block read.
  // Cold reads still get the kernel's sequential readahead.
  if (log) t.max_auto_readahead_size = 0;
  c.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  c.compression = tables ? rocksdb::kNoCompression
                         : CompressionOf(log ? o.source_log_compression : o.compression);
  if (log && c.compression != rocksdb::kNoCompression) {
    // The source log is read back soon after it is written: keep the young levels (flushes and
    // the first compaction) uncompressed so neither the flush nor the query's read pays for the
    // codec; a backlog that ages into the lower levels is compressed.
    c.compression_per_level.assign(7, c.compression);
    c.compression_per_level[0] = c.compression_per_level[1] = rocksdb::kNoCompression;
  }
  if (name == "state") {
    // Operators' point reads (a join's buckets, an aggregate's groups) mostly ask for keys that
    // are not there yet: a bloom filter over each memtable's whole keys answers those without
    // searching the memtables' skip lists (the SSTs have theirs above).
    c.memtable_prefix_bloom_size_ratio = 0.05;
    c.memtable_whole_key_filtering = true;
  }
  c.write_buffer_size = static_cast<std::size_t>(o.write_buffer_bytes);
  c.max_write_buffer_number = 3;
  c.target_file_size_base = 64 << 20;
  return c;
}

// The column families to open: the fixed ones, and the log spaces a data dir already has.
std::vector<rocksdb::ColumnFamilyDescriptor> Families(const StoreOptions& o,
                                                      const std::shared_ptr<rocksdb::Cache>& cache,
                                                      const std::vector<std::string>& existing) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (int i = 0; i < kNumCf; ++i) cfs.emplace_back(kCfNames[i], CfOptions(o, cache, kCfNames[i]));
  for (const auto& name : existing) {
    if (IsLogSpaceName(name)) cfs.emplace_back(name, CfOptions(o, cache, name));
  }
  return cfs;
}

// Records the errors of RocksDB's background work (a flush or compaction that ran out of space
// stops writes just as a failed write does) and the end of its own recovery from them (with an
// SstFileManager, RocksDB polls for free space and resumes by itself after a full disk).
class WriteErrorListener : public rocksdb::EventListener {
 public:
  explicit WriteErrorListener(Store::Rocks* rocks) : rocks_(rocks) {}

  void OnBackgroundError(rocksdb::BackgroundErrorReason /*reason*/,
                         rocksdb::Status* bg_error) override {
    if (bg_error == nullptr || bg_error->ok()) return;
    Status mapped = MapRocks(*bg_error, "background write");
    spdlog::error("store: {}", mapped.ToString());
    {
      std::lock_guard lock(rocks_->fatal_mu);
      rocks_->write_error = mapped.message();
    }
    rocks_->needs_resume.store(true);
  }

  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    if (!info.new_bg_error.ok()) return;
    {
      std::lock_guard lock(rocks_->fatal_mu);
      rocks_->write_error.clear();
    }
    rocks_->needs_resume.store(false);
    spdlog::info("store recovered from a background write error ({}): writing again",
                 info.old_bg_error.ToString());
  }

 private:
  Store::Rocks* rocks_;
};

std::vector<std::pair<std::string, void*>> Named(
    const std::vector<rocksdb::ColumnFamilyDescriptor>& cfs,
    const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  std::vector<std::pair<std::string, void*>> out;
  for (std::size_t i = 0; i < cfs.size(); ++i) out.emplace_back(cfs[i].name, handles[i]);
  return out;
}

}  // namespace

void Store::AdoptHandles(void* db, const std::vector<std::pair<std::string, void*>>& families) {
  rocks_->db.reset(static_cast<rocksdb::DB*>(db));
  for (const auto& [name, handle] : families) {
    auto* h = static_cast<rocksdb::ColumnFamilyHandle*>(handle);
    if (IsLogSpaceName(name)) {
      rocks_->log_spaces[name] = std::unique_ptr<LogSpace>(new LogSpace(name, h));
      continue;
    }
    for (int i = 0; i < kNumCf; ++i) {
      if (name == kCfNames[i]) rocks_->cf[i] = h;
    }
  }
  rocks_->log_cf_options = CfOptions(options_, rocks_->cache, kLogSpacePrefix);
}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::unique_ptr<Store> s(new Store());
  s->options_ = options;
  PS_ASSIGN_OR_RETURN(s->table_codec_, ParseChunkCodec(options.table_compression));
  s->rocks_ = std::make_unique<Rocks>();
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec)
    return IOError(fmt::format("cannot create data dir '{}': {}", options.data_dir, ec.message()));

  // Exclusive lock: one daemon per data dir.
  std::string lock_path = (fs::path(options.data_dir) / "daemon.lock").string();
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IOError(fmt::format("cannot open '{}': {}", lock_path, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return FailedPrecondition(
        fmt::format("data dir '{}' is in use by another pinstream process (pid {}); stop it first, "
                    "or give this "
                    "daemon its own data_dir. Read-only commands (tables, scan, sql, history) work "
                    "while it runs.",
                    options.data_dir, pid));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    spdlog::warn("could not record the pid in {}", lock_path);
  }
  s->rocks_->lock_fd = fd;

  rocksdb::Options opt = BaseOptions(options, &s->rocks_->cache);
  opt.listeners.push_back(std::make_shared<WriteErrorListener>(s->rocks_.get()));
  std::vector<std::string> existing;
  if (fs::exists(fs::path(options.data_dir) / "CURRENT")) {
    rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(opt, options.data_dir, &existing);
    if (!ls.ok()) return MapRocks(ls, fmt::format("reading '{}'", options.data_dir));
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = Families(options, s->rocks_->cache, existing);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = rocksdb::DB::Open(opt, options.data_dir, cfs, &handles, &raw);
  if (!st.ok()) return MapRocks(st, fmt::format("opening store '{}'", options.data_dir));
  s->AdoptHandles(raw, Named(cfs, handles));
  // Files being built for IngestSorted when a previous run stopped: never ingested, not needed.
  fs::remove_all(fs::path(options.data_dir) / kIngestDir, ec);

  std::string version;
  Status vs = s->Get(KeySpace::kMeta, "format_version", &version);
  if (vs.code() == StatusCode::kNotFound) {
    PS_RETURN_IF_ERROR(s->PutSync(KeySpace::kMeta, "format_version", "1"));
  } else if (!vs.ok()) {
    return vs;
  } else if (version != "1") {
    return FailedPrecondition(
        fmt::format("data dir '{}' has store format {}, this pinstream reads format 1",
                    options.data_dir, version));
  }
  return s;
}

Result<std::unique_ptr<Store>> Store::OpenReader(const std::string& data_dir) {
  if (!fs::exists(fs::path(data_dir) / "CURRENT")) {
    return NotFound(fmt::format(
        "no pinstream data in '{}' (is data_dir right? has the daemon run?)", data_dir));
  }
  std::unique_ptr<Store> s(new Store());
  s->options_.data_dir = data_dir;
  s->read_only_ = true;
  s->rocks_ = std::make_unique<Rocks>();
  char tmpl[] = "/tmp/pinstream-reader-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return IOError(fmt::format("mkdtemp: {}", std::strerror(errno)));
  s->rocks_->secondary_dir = tmpl;
  s->rocks_->primary_dir = data_dir;
  rocksdb::Options opt = BaseOptions(s->options_, &s->rocks_->cache);
  opt.max_open_files = -1;  // required by secondary instances
  opt.create_if_missing = false;
  std::vector<std::string> names;
  rocksdb::Status st = rocksdb::DB::ListColumnFamilies(opt, data_dir, &names);
  if (!st.ok()) return MapRocks(st, fmt::format("reading '{}'", data_dir));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = Families(s->options_, s->rocks_->cache, names);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  st = rocksdb::DB::OpenAsSecondary(opt, data_dir, s->rocks_->secondary_dir, cfs, &handles, &raw);
  if (!st.ok()) return MapRocks(st, fmt::format("opening '{}' for reading", data_dir));
  s->AdoptHandles(raw, Named(cfs, handles));
  PS_RETURN_IF_ERROR(s->CatchUp());
  return s;
}

Store::~Store() {
  {
    std::lock_guard lock(tables_mu_);
    tables_.clear();
  }
  if (rocks_ && rocks_->db) {
    for (auto* h : rocks_->cf) {
      if (h != nullptr) rocks_->db->DestroyColumnFamilyHandle(h);
    }
    for (auto& [name, space] : rocks_->log_spaces) {
      rocks_->db->DestroyColumnFamilyHandle(
          static_cast<rocksdb::ColumnFamilyHandle*>(space->handle_));
    }
    for (auto& space : rocks_->dropped_log_spaces) {
      rocks_->db->DestroyColumnFamilyHandle(
          static_cast<rocksdb::ColumnFamilyHandle*>(space->handle_));
    }
    rocks_->db->Close().PermitUncheckedError();
    rocks_->db.reset();
  }
  if (rocks_ && !rocks_->secondary_dir.empty()) {
    std::error_code ec;
    fs::remove_all(rocks_->secondary_dir, ec);
  }
  if (rocks_ && rocks_->lock_fd >= 0) {
    ::flock(rocks_->lock_fd, LOCK_UN);
    ::close(rocks_->lock_fd);
  }
}

Status Store::CatchUp() {
  if (!read_only_) return Status::Ok();
  PS_RETURN_IF_ERROR(
      MapRocks(rocks_->db->TryCatchUpWithPrimary(), "following the daemon's writes"));
  std::lock_guard lock(tables_mu_);
  for (auto& [name, t] : tables_) PS_RETURN_IF_ERROR(t->Refresh());
  return Status::Ok();
}

Status Store::Get(KeySpace space, std::string_view key, std::string* value,
                  const StoreSnapshot* snap) const {
  rocksdb::ReadOptions ro;
  if (snap) ro.snapshot = static_cast<const rocksdb::Snapshot*>(snap->handle());
  rocksdb::Status st =
      rocks_->db->Get(ro, rocks_->handle(space), rocksdb::Slice(key.data(), key.size()), value);
  if (st.IsNotFound()) return NotFound("key not found");
  return MapRocks(st, "reading");
}

Status Store::MultiGet(KeySpace space, std::span<const std::string> keys,
                       std::vector<std::optional<std::string>>* values) const {
  values->assign(keys.size(), std::nullopt);
  if (keys.empty()) return Status::Ok();
  std::vector<rocksdb::Slice> slices;
  slices.reserve(keys.size());
  for (const std::string& k : keys) slices.emplace_back(k.data(), k.size());
  std::vector<rocksdb::PinnableSlice> got(keys.size());
  std::vector<rocksdb::Status> st(keys.size());
  rocks_->db->MultiGet(rocksdb::ReadOptions(), rocks_->handle(space), keys.size(), slices.data(),
                       got.data(), st.data(), /*sorted_input=*/true);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (st[i].IsNotFound()) continue;
    PS_RETURN_IF_ERROR(MapRocks(st[i], "reading"));
    (*values)[i].emplace(got[i].data(), got[i].size());
  }
  return Status::Ok();
}

std::unique_ptr<StoreIterator> Store::NewIterator(KeySpace space, std::string_view prefix,
                                                  const StoreSnapshot* snap) const {
  // The source log is read once, front to back, by each query (like a Kafka fetch): its blocks
  // would only push table and state blocks out of the cache.
  return std::make_unique<RocksIterator>(
      rocks_->db.get(), rocks_->handle(space), prefix,
      snap ? static_cast<const rocksdb::Snapshot*>(snap->handle()) : nullptr,
      space != KeySpace::kSourceLog);
}

std::unique_ptr<StoreIterator> Store::NewRangeIterator(KeySpace space, std::string_view begin,
                                                       std::string_view end) const {
  return std::make_unique<RocksIterator>(rocks_->db.get(), rocks_->handle(space), begin,
                                         std::string(end), nullptr, true);
}

std::uint64_t Store::ApproximateRangeSize(KeySpace space, std::string_view begin,
                                          std::string_view end) const {
  rocksdb::Range r(rocksdb::Slice(begin.data(), begin.size()),
                   rocksdb::Slice(end.data(), end.size()));
  // SST files: RocksDB's estimate from the files' index blocks.
  std::uint64_t files = 0;
  rocksdb::SizeApproximationOptions o;
  o.include_memtables = false;
  o.include_files = true;
  if (!rocks_->db->GetApproximateSizes(o, rocks_->handle(space), &r, 1, &files).ok()) files = 0;
  // Memtables: RocksDB's estimate samples the skip list and reads 0 for a range of a few keys
  // (a small operator state before its first flush showed "3 rows, 0 B"), so the bytes are
  // counted — key + value of each live entry, read from the memtables only — up to kCounted
  // entries; a larger range takes the estimate when it is larger — the right size, not exact: it
  // samples the skip list, whose node heights are random (556k for 1.22M bytes seen once).
  constexpr int kCounted = 4096;
  rocksdb::ReadOptions ro;
  ro.read_tier = rocksdb::kMemtableTier;
  ro.fill_cache = false;
  rocksdb::Slice upper(end.data(), end.size());
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(rocks_->db->NewIterator(ro, rocks_->handle(space)));
  std::uint64_t memtables = 0;
  int n = 0;
  for (it->Seek(rocksdb::Slice(begin.data(), begin.size())); it->Valid() && n < kCounted;
       it->Next(), ++n) {
    memtables += it->key().size() + it->value().size();
  }
  if (!it->status().ok() || n == kCounted) {
    std::uint64_t count = 0, estimate = 0;
    rocks_->db->GetApproximateMemTableStats(rocks_->handle(space), r, &count, &estimate);
    memtables = std::max(memtables, estimate);
  }
  return files + memtables;
}

namespace {

// The SST file a read error names (RocksDB's checksum errors end "in <path>/<number>.sst ...").
std::optional<std::uint64_t> DamagedFileNumber(const Status& error) {
  const std::string& msg = error.message();
  std::size_t end = msg.find(".sst");
  if (end == std::string::npos) return std::nullopt;
  std::size_t begin = end;
  while (begin > 0 && msg[begin - 1] >= '0' && msg[begin - 1] <= '9') --begin;
  if (begin == end) return std::nullopt;
  return std::strtoull(msg.c_str() + begin, nullptr, 10);
}

std::optional<std::pair<std::string, std::string>> FileKeys(rocksdb::DB* db,
                                                            const std::string& family,
                                                            const Status& error) {
  auto number = DamagedFileNumber(error);
  if (!number) return std::nullopt;
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  for (const auto& f : files) {
    if (f.file_number == *number && f.column_family_name == family)
      return std::make_pair(f.smallestkey, f.largestkey);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::pair<std::string, std::string>> Store::DamagedFileKeys(
    KeySpace space, const Status& error) const {
  return FileKeys(rocks_->db.get(), kCfNames[static_cast<int>(space)], error);
}

std::optional<std::pair<std::string, std::string>> Store::DamagedFileKeys(
    const LogSpace& space, const Status& error) const {
  return FileKeys(rocks_->db.get(), space.name(), error);
}

std::unique_ptr<StoreSnapshot> Store::GetSnapshot() {
  // Secondary instances have no snapshots, and need none: their view changes only in CatchUp(),
  // which callers do not run while a read is in progress.
  if (read_only_) return std::unique_ptr<StoreSnapshot>(new StoreSnapshot(this, nullptr));
  return std::unique_ptr<StoreSnapshot>(new StoreSnapshot(this, rocks_->db->GetSnapshot()));
}

std::optional<std::string> Store::unrecoverable_error() const {
  std::lock_guard lock(rocks_->fatal_mu);
  if (rocks_->fatal_error.empty()) return std::nullopt;
  return UnrecoverableMessage(rocks_->fatal_error);
}

std::uint64_t Store::ApproximateSize(KeySpace space) const {
  std::uint64_t v = 0;
  rocks_->db->GetIntProperty(rocks_->handle(space), "rocksdb.estimate-live-data-size", &v);
  std::uint64_t mem = 0;
  rocks_->db->GetIntProperty(rocks_->handle(space), "rocksdb.cur-size-all-mem-tables", &mem);
  return v + mem;
}

Store::SpaceBytes Store::SpaceSize(KeySpace space) const {
  SpaceBytes b;
  rocks_->db->GetIntProperty(rocks_->handle(space), "rocksdb.live-sst-files-size", &b.sst_files);
  rocks_->db->GetIntProperty(rocks_->handle(space), "rocksdb.cur-size-all-mem-tables",
                             &b.memtables);
  return b;
}

void Store::CompactRange(KeySpace space) {
  rocksdb::CompactRangeOptions o;
  rocks_->db->CompactRange(o, rocks_->handle(space), nullptr, nullptr).PermitUncheckedError();
}

Status Store::Flush() {
  rocksdb::FlushOptions fo;
  for (auto* h : rocks_->cf) PS_RETURN_IF_ERROR(MapRocks(rocks_->db->Flush(fo, h), "flushing"));
  std::lock_guard lock(rocks_->log_mu);
  for (auto& [name, space] : rocks_->log_spaces) {
    PS_RETURN_IF_ERROR(
        MapRocks(rocks_->db->Flush(fo, static_cast<rocksdb::ColumnFamilyHandle*>(space->handle_)),
                 "flushing"));
  }
  return Status::Ok();
}

bool Store::WaitForBackgroundWork(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::uint64_t busy = 0;
    for (const char* p : {"rocksdb.num-running-compactions", "rocksdb.num-running-flushes",
                          "rocksdb.compaction-pending", "rocksdb.mem-table-flush-pending"}) {
      std::uint64_t v = 0;
      if (rocks_->db->GetAggregatedIntProperty(p, &v)) busy += v;
    }
    if (busy == 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace pinstream::state
