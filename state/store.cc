#include "state/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include "engine/bytes.h"
#include "state/delta_table.h"

namespace pinstream::state {

namespace fs = std::filesystem;

namespace {

// Under the data dir: SST files being built for Store::IngestSorted.
constexpr const char* kIngestDir = "ingest";
const char* const kCfNames[] = {"checkpoint", "tables", "state", "source_log", "default"};
constexpr int kNumCf = 5;
// Column families of log spaces (Store::OpenLogSpace) are named with this prefix.
constexpr std::string_view kLogSpacePrefix = "log/";
bool IsLogSpaceName(std::string_view name) { return name.substr(0, kLogSpacePrefix.size()) == kLogSpacePrefix; }

std::string UnrecoverableMessage(const std::string& error) {
  return "the store stopped writing after an unrecoverable error (" + error +
         "); restart pinstream: it recovers from what is on disk";
}

Status Map(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::Ok();
  return FromRocks(static_cast<int>(s.code()), static_cast<int>(s.subcode()), s.ToString(), context);
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto c = static_cast<unsigned char>(s.back());
    if (c != 0xFF) {
      s.back() = static_cast<char>(c + 1);
      return s;
    }
    s.pop_back();
  }
  return s;  // empty: no upper bound
}

rocksdb::CompressionType CompressionOf(const std::string& name) {
  if (name == "none") return rocksdb::kNoCompression;
  if (name == "zstd") return rocksdb::kZSTD;
  if (name == "snappy") return rocksdb::kSnappyCompression;
  return rocksdb::kLZ4Compression;
}

}  // namespace

Status FromRocks(int code, int subcode, const std::string& message, std::string_view context) {
  using C = rocksdb::Status::Code;
  std::string msg = context.empty() ? message : fmt::format("{}: {}", context, message);
  switch (static_cast<C>(code)) {
    case C::kOk: return Status::Ok();
    case C::kNotFound: return NotFound(msg);
    case C::kCorruption: return Corruption(msg);
    case C::kNotSupported:
    case C::kInvalidArgument: return InvalidArgument(msg);
    case C::kIOError: {
      bool no_space = subcode == static_cast<int>(rocksdb::Status::SubCode::kNoSpace) ||
                      message.find("No space") != std::string::npos;
      return IOError(no_space ? "disk full: " + msg : msg, true);
    }
    case C::kBusy:
    case C::kTryAgain:
    case C::kTimedOut:
    case C::kIncomplete:
    case C::kAborted: return Unavailable(msg);
    case C::kShutdownInProgress: return Cancelled(msg);
    default: return Internal(msg);
  }
}

struct Store::Impl {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* cf[kNumCf] = {};
  // Log spaces by name; dropped ones stay here (their handles stay valid until the Store goes).
  mutable std::mutex log_mu;
  std::map<std::string, std::unique_ptr<LogSpace>> log_spaces;
  std::vector<std::unique_ptr<LogSpace>> dropped_log_spaces;
  rocksdb::ColumnFamilyOptions log_cf_options;
  std::shared_ptr<rocksdb::Cache> cache;
  int lock_fd = -1;
  std::string secondary_dir;
  std::string primary_dir;
  bool needs_resume = false;
  mutable std::mutex fatal_mu;
  std::string fatal_error;  // the first unrecoverable error, once there was one

  rocksdb::ColumnFamilyHandle* handle(KeySpace s) const { return cf[static_cast<int>(s)]; }
};

struct StoreTxn::Impl {
  rocksdb::WriteBatch wb;
};

// ---------------------------------------------------------------------------------------------

StoreSnapshot::~StoreSnapshot() {
  if (snap_ != nullptr) store_->impl()->db->ReleaseSnapshot(static_cast<const rocksdb::Snapshot*>(snap_));
}

namespace {

class RocksIterator : public StoreIterator {
 public:
  RocksIterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string_view prefix, const rocksdb::Snapshot* snap,
                bool fill_cache)
      : prefix_(prefix), upper_(PrefixSuccessor(prefix)) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    ro.fill_cache = fill_cache;
    if (!upper_.empty()) {
      upper_slice_ = rocksdb::Slice(upper_);
      ro.iterate_upper_bound = &upper_slice_;
    }
    lower_slice_ = rocksdb::Slice(prefix_);
    if (!prefix_.empty()) ro.iterate_lower_bound = &lower_slice_;
    it_.reset(db->NewIterator(ro, cf));
    it_->Seek(prefix_);
  }
  void Seek(std::string_view key) override { it_->Seek(rocksdb::Slice(key.data(), key.size())); }
  void SeekForPrev(std::string_view key) override { it_->SeekForPrev(rocksdb::Slice(key.data(), key.size())); }
  bool Valid() const override { return it_->Valid(); }
  void Next() override { it_->Next(); }
  void Prev() override { it_->Prev(); }
  std::string_view key() const override {
    auto k = it_->key();
    return {k.data(), k.size()};
  }
  std::string_view value() const override {
    auto v = it_->value();
    return {v.data(), v.size()};
  }
  Status status() const override { return Map(it_->status(), "iterating"); }

 private:
  std::string prefix_, upper_;
  rocksdb::Slice upper_slice_, lower_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

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
  // Not set: recycle_log_file_num. Overwriting a recycled WAL would make each fdatasync cheaper
  // (no size change to journal: 86 vs 132 µs here), but RocksDB 7.8 turns recycling off under
  // kPointInTimeRecovery, the recovery mode exactly-once needs (its LOG shows 0).
  *cache_out = rocksdb::NewLRUCache(static_cast<std::size_t>(std::max<std::int64_t>(o.block_cache_bytes, 1 << 20)));
  return opt;
}

rocksdb::ColumnFamilyOptions CfOptions(const StoreOptions& o, const std::shared_ptr<rocksdb::Cache>& cache,
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
  // the page cache: RocksDB's own readahead only added a readahead() call per block read (1.3 %
  // of the pin pipeline). Cold reads still get the kernel's sequential readahead.
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
  c.write_buffer_size = static_cast<std::size_t>(o.write_buffer_bytes);
  c.max_write_buffer_number = 3;
  c.target_file_size_base = 64 << 20;
  return c;
}

// The column families to open: the fixed ones, and the log spaces a data dir already has.
std::vector<rocksdb::ColumnFamilyDescriptor> Families(const StoreOptions& o, const std::shared_ptr<rocksdb::Cache>& cache,
                                                      const std::vector<std::string>& existing) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (int i = 0; i < kNumCf; ++i) cfs.emplace_back(kCfNames[i], CfOptions(o, cache, kCfNames[i]));
  for (const auto& name : existing) {
    if (IsLogSpaceName(name)) cfs.emplace_back(name, CfOptions(o, cache, name));
  }
  return cfs;
}

std::vector<std::pair<std::string, void*>> Named(const std::vector<rocksdb::ColumnFamilyDescriptor>& cfs,
                                                const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  std::vector<std::pair<std::string, void*>> out;
  for (std::size_t i = 0; i < cfs.size(); ++i) out.emplace_back(cfs[i].name, handles[i]);
  return out;
}

}  // namespace

void Store::AdoptHandles(void* db, const std::vector<std::pair<std::string, void*>>& families) {
  impl_->db.reset(static_cast<rocksdb::DB*>(db));
  for (const auto& [name, handle] : families) {
    auto* h = static_cast<rocksdb::ColumnFamilyHandle*>(handle);
    if (IsLogSpaceName(name)) {
      impl_->log_spaces[name] = std::unique_ptr<LogSpace>(new LogSpace(name, h));
      continue;
    }
    for (int i = 0; i < kNumCf; ++i) {
      if (name == kCfNames[i]) impl_->cf[i] = h;
    }
  }
  impl_->log_cf_options = CfOptions(options_, impl_->cache, kLogSpacePrefix);
}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::unique_ptr<Store> s(new Store());
  s->options_ = options;
  PS_ASSIGN_OR_RETURN(s->table_codec_, ParseChunkCodec(options.table_compression));
  s->impl_ = std::make_unique<Impl>();
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec) return IOError(fmt::format("cannot create data dir '{}': {}", options.data_dir, ec.message()));

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
    return FailedPrecondition(fmt::format(
        "data dir '{}' is in use by another pinstream process (pid {}); stop it first, or give this "
        "daemon its own data_dir. Read-only commands (tables, scan, sql, history) work while it runs.",
        options.data_dir, pid));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    spdlog::warn("could not record the pid in {}", lock_path);
  }
  s->impl_->lock_fd = fd;

  rocksdb::Options opt = BaseOptions(options, &s->impl_->cache);
  std::vector<std::string> existing;
  if (fs::exists(fs::path(options.data_dir) / "CURRENT")) {
    rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(opt, options.data_dir, &existing);
    if (!ls.ok()) return Map(ls, fmt::format("reading '{}'", options.data_dir));
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = Families(options, s->impl_->cache, existing);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = rocksdb::DB::Open(opt, options.data_dir, cfs, &handles, &raw);
  if (!st.ok()) return Map(st, fmt::format("opening store '{}'", options.data_dir));
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
    return FailedPrecondition(fmt::format("data dir '{}' has store format {}, this pinstream reads format 1",
                                          options.data_dir, version));
  }
  return s;
}

Result<std::unique_ptr<Store>> Store::OpenReader(const std::string& data_dir) {
  if (!fs::exists(fs::path(data_dir) / "CURRENT")) {
    return NotFound(fmt::format("no pinstream data in '{}' (is data_dir right? has the daemon run?)", data_dir));
  }
  std::unique_ptr<Store> s(new Store());
  s->options_.data_dir = data_dir;
  s->read_only_ = true;
  s->impl_ = std::make_unique<Impl>();
  char tmpl[] = "/tmp/pinstream-reader-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return IOError(fmt::format("mkdtemp: {}", std::strerror(errno)));
  s->impl_->secondary_dir = tmpl;
  s->impl_->primary_dir = data_dir;
  rocksdb::Options opt = BaseOptions(s->options_, &s->impl_->cache);
  opt.max_open_files = -1;  // required by secondary instances
  opt.create_if_missing = false;
  std::vector<std::string> names;
  rocksdb::Status st = rocksdb::DB::ListColumnFamilies(opt, data_dir, &names);
  if (!st.ok()) return Map(st, fmt::format("reading '{}'", data_dir));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = Families(s->options_, s->impl_->cache, names);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  st = rocksdb::DB::OpenAsSecondary(opt, data_dir, s->impl_->secondary_dir, cfs, &handles, &raw);
  if (!st.ok()) return Map(st, fmt::format("opening '{}' for reading", data_dir));
  s->AdoptHandles(raw, Named(cfs, handles));
  PS_RETURN_IF_ERROR(s->CatchUp());
  return s;
}

Store::~Store() {
  {
    std::lock_guard lock(tables_mu_);
    tables_.clear();
  }
  if (impl_ && impl_->db) {
    for (auto* h : impl_->cf) {
      if (h != nullptr) impl_->db->DestroyColumnFamilyHandle(h);
    }
    for (auto& [name, space] : impl_->log_spaces) {
      impl_->db->DestroyColumnFamilyHandle(static_cast<rocksdb::ColumnFamilyHandle*>(space->handle_));
    }
    for (auto& space : impl_->dropped_log_spaces) {
      impl_->db->DestroyColumnFamilyHandle(static_cast<rocksdb::ColumnFamilyHandle*>(space->handle_));
    }
    impl_->db->Close().PermitUncheckedError();
    impl_->db.reset();
  }
  if (impl_ && !impl_->secondary_dir.empty()) {
    std::error_code ec;
    fs::remove_all(impl_->secondary_dir, ec);
  }
  if (impl_ && impl_->lock_fd >= 0) {
    ::flock(impl_->lock_fd, LOCK_UN);
    ::close(impl_->lock_fd);
  }
}

Status Store::CatchUp() {
  if (!read_only_) return Status::Ok();
  PS_RETURN_IF_ERROR(Map(impl_->db->TryCatchUpWithPrimary(), "following the daemon's writes"));
  std::lock_guard lock(tables_mu_);
  for (auto& [name, t] : tables_) PS_RETURN_IF_ERROR(t->Refresh());
  return Status::Ok();
}

Status Store::Get(KeySpace space, std::string_view key, std::string* value, const StoreSnapshot* snap) const {
  rocksdb::ReadOptions ro;
  if (snap) ro.snapshot = static_cast<const rocksdb::Snapshot*>(snap->handle());
  rocksdb::Status st = impl_->db->Get(ro, impl_->handle(space), rocksdb::Slice(key.data(), key.size()), value);
  if (st.IsNotFound()) return NotFound("key not found");
  return Map(st, "reading");
}

std::unique_ptr<StoreIterator> Store::NewIterator(KeySpace space, std::string_view prefix, const StoreSnapshot* snap) const {
  // The source log is read once, front to back, by each query (like a Kafka fetch): its blocks
  // would only push table and state blocks out of the cache.
  return std::make_unique<RocksIterator>(impl_->db.get(), impl_->handle(space), prefix,
                                         snap ? static_cast<const rocksdb::Snapshot*>(snap->handle()) : nullptr,
                                         space != KeySpace::kSourceLog);
}

Result<LogSpace*> Store::OpenLogSpace(const std::string& name) {
  if (!IsLogSpaceName(name)) return InvalidArgument(fmt::format("'{}' is not a log space name", name));
  std::lock_guard lock(impl_->log_mu);
  auto it = impl_->log_spaces.find(name);
  if (it != impl_->log_spaces.end()) return it->second.get();
  if (read_only_) return NotFound(fmt::format("log space '{}' does not exist", name));
  rocksdb::ColumnFamilyHandle* h = nullptr;
  PS_RETURN_IF_ERROR(Map(impl_->db->CreateColumnFamily(impl_->log_cf_options, name, &h),
                         fmt::format("creating log space '{}'", name)));
  auto space = std::unique_ptr<LogSpace>(new LogSpace(name, h));
  LogSpace* raw = space.get();
  impl_->log_spaces[name] = std::move(space);
  return raw;
}

std::vector<std::string> Store::LogSpaceNames() const {
  std::lock_guard lock(impl_->log_mu);
  std::vector<std::string> out;
  for (const auto& [name, space] : impl_->log_spaces) out.push_back(name);
  return out;
}

Status Store::DropLogSpace(const std::string& name) {
  if (read_only_) return FailedPrecondition("the store is open read-only");
  std::lock_guard lock(impl_->log_mu);
  auto it = impl_->log_spaces.find(name);
  if (it == impl_->log_spaces.end()) return NotFound(fmt::format("log space '{}' does not exist", name));
  PS_RETURN_IF_ERROR(Map(impl_->db->DropColumnFamily(static_cast<rocksdb::ColumnFamilyHandle*>(it->second->handle_)),
                         fmt::format("dropping log space '{}'", name)));
  impl_->dropped_log_spaces.push_back(std::move(it->second));
  impl_->log_spaces.erase(it);
  return Status::Ok();
}

std::unique_ptr<StoreIterator> Store::NewIterator(const LogSpace& space) const {
  return std::make_unique<RocksIterator>(impl_->db.get(), static_cast<rocksdb::ColumnFamilyHandle*>(space.handle_), "",
                                         nullptr, /*fill_cache=*/false);
}

Status Store::DeleteFilesInRange(const LogSpace& space, std::string_view begin, std::string_view end) {
  if (read_only_) return FailedPrecondition("the store is open read-only");
  rocksdb::Slice b(begin.data(), begin.size()), e(end.data(), end.size());
  return Map(rocksdb::DeleteFilesInRange(impl_->db.get(), static_cast<rocksdb::ColumnFamilyHandle*>(space.handle_), &b, &e,
                                         /*include_end=*/false),
             fmt::format("deleting files of log space '{}'", space.name()));
}

Store::CompactionIo Store::LogCompactionIo() const {
  CompactionIo io;
  std::vector<rocksdb::LiveFileMetaData> files;
  impl_->db->GetLiveFilesMetaData(&files);
  std::lock_guard lock(impl_->log_mu);
  for (const auto& [name, space] : impl_->log_spaces) {
    auto* h = static_cast<rocksdb::ColumnFamilyHandle*>(space->handle_);
    std::map<std::string, std::string> stats;
    if (!impl_->db->GetMapProperty(h, rocksdb::DB::Properties::kCFStats, &stats)) continue;
    // Per level "compaction.L<n>.WriteGB" (L0's is the flushes' output) and "...MovedGB".
    for (const auto& [k, v] : stats) {
      if (k.rfind("compaction.L", 0) != 0 || k.rfind("compaction.L0.", 0) == 0) continue;
      double gb = std::strtod(v.c_str(), nullptr);
      if (k.size() > 8 && k.compare(k.size() - 8, 8, ".WriteGB") == 0) io.written += static_cast<std::uint64_t>(gb * (1 << 30));
      if (k.size() > 8 && k.compare(k.size() - 8, 8, ".MovedGB") == 0) io.moved += static_cast<std::uint64_t>(gb * (1 << 30));
    }
    for (const auto& f : files) io.files += f.column_family_name == name ? 1 : 0;
  }
  return io;
}

std::unique_ptr<StoreSnapshot> Store::GetSnapshot() {
  // Secondary instances have no snapshots, and need none: their view changes only in CatchUp(),
  // which callers do not run while a read is in progress.
  if (read_only_) return std::unique_ptr<StoreSnapshot>(new StoreSnapshot(this, nullptr));
  return std::unique_ptr<StoreSnapshot>(new StoreSnapshot(this, impl_->db->GetSnapshot()));
}

std::unique_ptr<StoreTxn> Store::BeginTxn(std::int64_t batch_id) { return std::make_unique<StoreTxn>(this, batch_id); }

Status Store::Commit(std::unique_ptr<StoreTxn> txn, bool sync) { return Write(*txn, sync); }

Status Store::Write(StoreTxn& txn, bool sync) {
  struct Cleared {
    StoreTxn& t;
    ~Cleared() { t.Clear(); }
  } cleared{txn};
  if (read_only_) return FailedPrecondition("the store is open read-only");
  if (impl_->needs_resume) {
    rocksdb::Status r = impl_->db->Resume();
    if (!r.ok()) {
      // RocksDB declares some write errors fatal — a failed WAL sync among them: after a failed
      // fsync the page cache can no longer be trusted to reach the disk (Linux may have dropped
      // the pages). Only reopening the store recovers, from what is on disk.
      if (r.severity() >= rocksdb::Status::Severity::kFatalError) {
        std::lock_guard lock(impl_->fatal_mu);
        if (impl_->fatal_error.empty()) {
          impl_->fatal_error = r.ToString();
          spdlog::error("{}", UnrecoverableMessage(impl_->fatal_error));
        }
        return Map(r, "the store stopped after an unrecoverable write error; restart pinstream to recover");
      }
      return Map(r, "store is recovering from an earlier write error");
    }
    impl_->needs_resume = false;
    spdlog::info("store resumed writing after an earlier error");
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status st = impl_->db->Write(wo, &txn.impl_->wb);
  if (!st.ok()) {
    Status mapped = Map(st, "committing");
    if (mapped.code() == StatusCode::kIOError) impl_->needs_resume = true;
    spdlog::error("store write failed: {}", mapped.ToString());
    return mapped;
  }
  for (auto& h : txn.hooks_) h();
  return Status::Ok();
}

std::optional<std::string> Store::unrecoverable_error() const {
  std::lock_guard lock(impl_->fatal_mu);
  if (impl_->fatal_error.empty()) return std::nullopt;
  return UnrecoverableMessage(impl_->fatal_error);
}

Status Store::SyncWal() {
  if (read_only_) return FailedPrecondition("the store is open read-only");
  rocksdb::Status st = impl_->db->SyncWAL();
  if (!st.ok()) {
    Status mapped = Map(st, "syncing the WAL");
    if (mapped.code() == StatusCode::kIOError) impl_->needs_resume = true;
    spdlog::error("store WAL sync failed: {}", mapped.ToString());
    return mapped;
  }
  return Status::Ok();
}

Status Store::PutSync(KeySpace space, std::string_view key, std::string_view value) {
  auto txn = BeginTxn();
  txn->Put(space, key, value);
  return Commit(std::move(txn), true);
}

std::vector<std::string> Store::ListTables() const {
  std::vector<std::string> out;
  auto it = NewIterator(KeySpace::kMeta, "catalog/table/");
  for (; it->Valid(); it->Next()) out.emplace_back(it->key().substr(std::strlen("catalog/table/")));
  return out;
}

Result<DeltaTable*> Store::Table(const std::string& name, bool create) {
  std::lock_guard lock(tables_mu_);
  auto it = tables_.find(name);
  if (it != tables_.end()) return it->second.get();
  std::string id_bytes;
  Status st = Get(KeySpace::kMeta, "catalog/table/" + name, &id_bytes);
  std::unique_ptr<DeltaTable> table;
  if (st.ok()) {
    if (id_bytes.size() != 4) return Corruption(fmt::format("catalog entry of table '{}' is damaged", name));
    PS_ASSIGN_OR_RETURN(table, DeltaTable::Load(this, name, GetBigEndian32(id_bytes.data())));
  } else if (st.code() == StatusCode::kNotFound) {
    if (!create) {
      std::vector<std::string> names = ListTables();
      std::string msg = fmt::format("table '{}' does not exist", name);
      if (!names.empty()) msg += fmt::format(" (tables: {})", fmt::join(names, ", "));
      return NotFound(msg);
    }
    if (read_only_) return FailedPrecondition("cannot create a table in a read-only store");
    PS_ASSIGN_OR_RETURN(std::uint32_t id, AllocateId("table"));
    table = DeltaTable::CreateNew(this, name, id);
  } else {
    return st;
  }
  DeltaTable* raw = table.get();
  tables_[name] = std::move(table);
  return raw;
}

Result<std::uint32_t> Store::AllocateId(std::string_view kind) {
  std::lock_guard lock(id_mu_);
  std::string key = fmt::format("next_id/{}", kind);
  std::string v;
  Status st = Get(KeySpace::kMeta, key, &v);
  std::uint32_t next = 1;
  if (st.ok()) {
    if (v.size() != 4) return Corruption(fmt::format("id counter '{}' is damaged", key));
    next = GetBigEndian32(v.data());
  } else if (st.code() != StatusCode::kNotFound) {
    return st;
  }
  std::string nv;
  PutBigEndian32(&nv, next + 1);
  PS_RETURN_IF_ERROR(PutSync(KeySpace::kMeta, key, nv));
  return next;
}

Status Store::IngestSorted(KeySpace space,
                           std::span<const std::pair<std::string, std::string_view>> entries) {
  if (read_only_) return FailedPrecondition("the store is open read-only");
  if (entries.empty()) return Status::Ok();
  fs::path dir = fs::path(options_.data_dir) / kIngestDir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IOError(fmt::format("cannot create '{}': {}", dir.string(), ec.message()));
  std::string path =
      (dir / fmt::format("{}.sst", ingest_seq_.fetch_add(1, std::memory_order_relaxed))).string();
  rocksdb::ColumnFamilyHandle* cf = impl_->handle(space);
  // invalidate_page_cache=false: dropping the file's pages every 1 MB (the default) costs fadvise
  // calls here and disk reads in the ingest (which reads the file's index and properties right
  // after Finish) and in queries of the new version. (Writing the file with O_DIRECT instead
  // made no difference to the pipeline's CPU and made commits wait for the disk: bench/README.)
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), impl_->db->GetOptions(cf), cf,
                                /*invalidate_page_cache=*/false);
  rocksdb::Status st = writer.Open(path);
  for (std::size_t i = 0; st.ok() && i < entries.size(); ++i) {
    const auto& [k, v] = entries[i];
    st = writer.Put(rocksdb::Slice(k.data(), k.size()), rocksdb::Slice(v.data(), v.size()));
  }
  if (st.ok()) st = writer.Finish();  // synced
  if (st.ok()) {
    rocksdb::IngestExternalFileOptions io;
    io.move_files = true;  // hard-linked into the store, not copied
    // The global sequence number goes into the MANIFEST only, instead of being written into the
    // file (a read-modify-write and sync of the file) when one is needed.
    io.write_global_seqno = false;
    st = impl_->db->IngestExternalFile(cf, {path}, io);
  }
  fs::remove(path, ec);  // moved, or not needed after a failure
  if (!st.ok()) {
    Status mapped = Map(st, fmt::format("ingesting {} values into {}", entries.size(), kCfNames[static_cast<int>(space)]));
    spdlog::error("store ingest failed: {}", mapped.ToString());
    return mapped;
  }
  return Status::Ok();
}

std::uint64_t Store::ApproximateSize(KeySpace space) const {
  std::uint64_t v = 0;
  impl_->db->GetIntProperty(impl_->handle(space), "rocksdb.estimate-live-data-size", &v);
  std::uint64_t mem = 0;
  impl_->db->GetIntProperty(impl_->handle(space), "rocksdb.cur-size-all-mem-tables", &mem);
  return v + mem;
}

void Store::CompactRange(KeySpace space) {
  rocksdb::CompactRangeOptions o;
  impl_->db->CompactRange(o, impl_->handle(space), nullptr, nullptr).PermitUncheckedError();
}

Status Store::Flush() {
  rocksdb::FlushOptions fo;
  for (auto* h : impl_->cf) PS_RETURN_IF_ERROR(Map(impl_->db->Flush(fo, h), "flushing"));
  std::lock_guard lock(impl_->log_mu);
  for (auto& [name, space] : impl_->log_spaces) {
    PS_RETURN_IF_ERROR(Map(impl_->db->Flush(fo, static_cast<rocksdb::ColumnFamilyHandle*>(space->handle_)), "flushing"));
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
      if (impl_->db->GetAggregatedIntProperty(p, &v)) busy += v;
    }
    if (busy == 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// ---------------------------------------------------------------------------------------------

StoreTxn::StoreTxn(Store* store, std::int64_t batch_id)
    : store_(store), batch_id_(batch_id), impl_(std::make_unique<Impl>()) {}
StoreTxn::~StoreTxn() = default;

void StoreTxn::Put(KeySpace space, std::string_view key, std::string_view value) {
  impl_->wb.Put(store_->impl()->handle(space), rocksdb::Slice(key.data(), key.size()),
                rocksdb::Slice(value.data(), value.size()))
      .PermitUncheckedError();
}
namespace {
void PutPartsInto(rocksdb::WriteBatch& wb, rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                  std::span<const std::string_view> parts) {
  thread_local std::vector<rocksdb::Slice> slices;  // reused: a group commit puts many
  slices.clear();
  for (std::string_view p : parts) slices.emplace_back(p.data(), p.size());
  rocksdb::Slice k(key.data(), key.size());
  wb.Put(cf, rocksdb::SliceParts(&k, 1), rocksdb::SliceParts(slices.data(), static_cast<int>(slices.size())))
      .PermitUncheckedError();
}
}  // namespace

void StoreTxn::PutParts(KeySpace space, std::string_view key,
                        std::span<const std::string_view> parts) {
  PutPartsInto(impl_->wb, store_->impl()->handle(space), key, parts);
}
void StoreTxn::Delete(KeySpace space, std::string_view key) {
  impl_->wb.Delete(store_->impl()->handle(space), rocksdb::Slice(key.data(), key.size())).PermitUncheckedError();
}
void StoreTxn::DeleteRange(KeySpace space, std::string_view begin, std::string_view end) {
  impl_->wb.DeleteRange(store_->impl()->handle(space), rocksdb::Slice(begin.data(), begin.size()),
                        rocksdb::Slice(end.data(), end.size()))
      .PermitUncheckedError();
}
void StoreTxn::PutParts(const LogSpace& space, std::string_view key, std::span<const std::string_view> parts) {
  PutPartsInto(impl_->wb, static_cast<rocksdb::ColumnFamilyHandle*>(space.handle_), key, parts);
}
void StoreTxn::DeleteRange(const LogSpace& space, std::string_view begin, std::string_view end) {
  impl_->wb.DeleteRange(static_cast<rocksdb::ColumnFamilyHandle*>(space.handle_), rocksdb::Slice(begin.data(), begin.size()),
                        rocksdb::Slice(end.data(), end.size()))
      .PermitUncheckedError();
}
std::size_t StoreTxn::staged_bytes() const { return impl_->wb.GetDataSize(); }
void StoreTxn::Clear() {
  impl_->wb.Clear();
  hooks_.clear();
  staged_versions_.clear();
  held_.clear();  // unlocks
}
void StoreTxn::HoldUntilDone(std::mutex& commit_order) {
  for (const auto& l : held_) {
    if (l.mutex() == &commit_order) return;
  }
  held_.emplace_back(commit_order);
}

KeySpace KeySpaceOf(CommitSpace space) {
  switch (space) {
    case CommitSpace::kOperatorState: return KeySpace::kState;
    case CommitSpace::kSinkOutput: return KeySpace::kTables;
    case CommitSpace::kCatalog: return KeySpace::kMeta;
  }
  PS_CHECK(false);
  return KeySpace::kMeta;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

std::string CheckpointKey(std::string_view query, char kind, std::int64_t batch) {
  std::string k(query);
  k.push_back('\0');
  k.push_back(kind);
  if (batch >= 0) PutBigEndian64(&k, static_cast<std::uint64_t>(batch));
  return k;
}

namespace {

class RocksQueryCheckpoint : public QueryCheckpoint {
 public:
  RocksQueryCheckpoint(Store* store, std::string q) : store_(store), q_(std::move(q)) {}

  Result<std::optional<QueryMetadata>> ReadMetadata() override {
    std::string v;
    Status st = store_->Get(KeySpace::kCheckpoint, CheckpointKey(q_, 'M'), &v);
    if (st.code() == StatusCode::kNotFound) return std::optional<QueryMetadata>();
    PS_RETURN_IF_ERROR(st);
    auto m = QueryMetadata::Parse(v);
    if (!m.ok()) return Damaged("metadata", m.status());
    return std::optional<QueryMetadata>(std::move(m).value());
  }
  Status WriteMetadata(const QueryMetadata& meta) override {
    return store_->PutSync(KeySpace::kCheckpoint, CheckpointKey(q_, 'M'), meta.Serialize());
  }
  Result<std::optional<std::int64_t>> Latest(char kind) {
    auto it = store_->NewIterator(KeySpace::kCheckpoint, CheckpointKey(q_, kind));
    it->SeekForPrev(CheckpointKey(q_, kind, INT64_MAX));
    PS_RETURN_IF_ERROR(it->status());
    if (!it->Valid()) return std::optional<std::int64_t>();
    std::string_view k = it->key();
    std::size_t plen = q_.size() + 2;
    if (k.size() != plen + 8) return Corruption(fmt::format("query '{}': malformed checkpoint key", q_));
    return std::optional<std::int64_t>(static_cast<std::int64_t>(GetBigEndian64(k.data() + plen)));
  }
  Result<std::optional<OffsetLogEntry>> LatestOffsets() override {
    PS_ASSIGN_OR_RETURN(auto n, Latest('O'));
    if (!n) return std::optional<OffsetLogEntry>();
    return GetOffsets(*n);
  }
  Result<std::optional<OffsetLogEntry>> GetOffsets(std::int64_t b) override {
    std::string v;
    Status st = store_->Get(KeySpace::kCheckpoint, CheckpointKey(q_, 'O', b), &v);
    if (st.code() == StatusCode::kNotFound) return std::optional<OffsetLogEntry>();
    PS_RETURN_IF_ERROR(st);
    auto e = OffsetLogEntry::Parse(b, v);
    if (!e.ok()) return Damaged(fmt::format("offsets/{}", b), e.status());
    return std::optional<OffsetLogEntry>(std::move(e).value());
  }
  Result<std::optional<std::int64_t>> LatestCommittedBatch() override { return Latest('C'); }
  Result<std::optional<CommitLogEntry>> GetCommit(std::int64_t b) override {
    std::string v;
    Status st = store_->Get(KeySpace::kCheckpoint, CheckpointKey(q_, 'C', b), &v);
    if (st.code() == StatusCode::kNotFound) return std::optional<CommitLogEntry>();
    PS_RETURN_IF_ERROR(st);
    auto e = CommitLogEntry::Parse(b, v);
    if (!e.ok()) return Damaged(fmt::format("commits/{}", b), e.status());
    return std::optional<CommitLogEntry>(std::move(e).value());
  }
  Status WriteOffsets(const OffsetLogEntry& e) override {
    return store_->PutSync(KeySpace::kCheckpoint, CheckpointKey(q_, 'O', e.batch_id), e.Serialize());
  }
  std::unique_ptr<CommitTxn> BeginCommit(std::int64_t b) override { return store_->BeginTxn(b); }
  Status Commit(std::unique_ptr<CommitTxn> txn, const CommitLogEntry& e) override {
    auto* st = dynamic_cast<StoreTxn*>(txn.get());
    if (st == nullptr) return Internal("a commit transaction from another store was passed to the RocksDB checkpoint");
    std::unique_ptr<StoreTxn> owned(st);
    txn.release();
    owned->Put(KeySpace::kCheckpoint, CheckpointKey(q_, 'C', e.batch_id), e.Serialize());
    std::int64_t keep = store_->options().checkpoint_retention;
    std::int64_t drop_below = e.batch_id - keep + 1;
    if (drop_below > 0) {
      for (char kind : {'O', 'C'}) {
        owned->DeleteRange(KeySpace::kCheckpoint, CheckpointKey(q_, kind, 0), CheckpointKey(q_, kind, drop_below));
      }
    }
    return store_->Commit(std::move(owned), true);
  }
  Status ScanState(std::string_view prefix, const Visitor& visit) override {
    auto it = store_->NewIterator(KeySpace::kState, prefix);
    for (; it->Valid(); it->Next()) visit(it->key(), it->value());
    return it->status();
  }
  Status Apply(std::unique_ptr<CommitTxn> txn) override {
    auto* st = dynamic_cast<StoreTxn*>(txn.get());
    if (st == nullptr) return Internal("a transaction from another store was passed to the RocksDB checkpoint");
    std::unique_ptr<StoreTxn> owned(st);
    txn.release();
    return store_->Commit(std::move(owned), true);
  }

 private:
  Status Damaged(const std::string& what, const Status& cause) {
    return Corruption(fmt::format(
        "query '{}': checkpoint entry {} is damaged ({}). Inspect it with `pinstream checkpoint show {}`; "
        "`pinstream checkpoint rewind {} --to-batch N` replays from an intact batch, `pinstream "
        "checkpoint reset {}` starts the query over",
        q_, what, cause.message(), q_, q_, q_));
  }
  Store* store_;
  std::string q_;
};

}  // namespace

Result<std::unique_ptr<QueryCheckpoint>> RocksCheckpointStore::OpenQuery(const std::string& query_name) {
  return std::unique_ptr<QueryCheckpoint>(std::make_unique<RocksQueryCheckpoint>(store_, query_name));
}

Result<std::vector<std::string>> RocksCheckpointStore::ListQueries() {
  std::vector<std::string> out;
  auto it = store_->NewIterator(KeySpace::kCheckpoint, "");
  for (; it->Valid(); it->Next()) {
    std::string_view k = it->key();
    auto nul = k.find('\0');
    if (nul == std::string_view::npos || nul + 1 >= k.size() || k[nul + 1] != 'M') continue;
    out.emplace_back(k.substr(0, nul));
  }
  PS_RETURN_IF_ERROR(it->status());
  return out;
}

Status RocksCheckpointStore::Rewind(const std::string& query, std::int64_t to_batch, std::string* report) {
  if (store_->read_only()) return FailedPrecondition("rewind needs the data dir opened for writing");
  PS_ASSIGN_OR_RETURN(auto cp, OpenQuery(query));
  PS_ASSIGN_OR_RETURN(auto meta, cp->ReadMetadata());
  if (!meta) return NotFound(fmt::format("no checkpoint for query '{}'", query));
  PS_ASSIGN_OR_RETURN(auto latest_offsets, cp->LatestOffsets());
  std::int64_t last = latest_offsets ? latest_offsets->batch_id : -1;
  if (to_batch < 0 || to_batch > last + 1) {
    return OutOfRange(fmt::format("query '{}': --to-batch must be between 0 and {}", query, last + 1));
  }
  if (to_batch > 0) {
    PS_ASSIGN_OR_RETURN(auto prev, cp->GetOffsets(to_batch - 1));
    if (!prev) {
      return OutOfRange(fmt::format(
          "query '{}': offsets/{} is no longer kept (retention keeps the last {} batches), so batch {} "
          "cannot be replayed exactly; choose a later batch or raise storage.checkpoint_retention",
          query, to_batch - 1, store_->options().checkpoint_retention, to_batch));
    }
  }
  auto txn = store_->BeginTxn();
  for (char kind : {'O', 'C'}) {
    txn->DeleteRange(KeySpace::kCheckpoint, CheckpointKey(query, kind, to_batch), CheckpointKey(query, kind, INT64_MAX));
  }
  // Keyed state written by the batches being replayed is dropped, namespace by namespace
  // ("<query>/<operator>").
  std::int64_t dropped = 0, kept = 0;
  std::set<std::string> namespaces;
  {
    auto it = store_->NewIterator(KeySpace::kState, query + "/");
    for (; it->Valid(); it->Next()) {
      std::string_view k = it->key();
      namespaces.emplace(k.substr(0, k.find('\0')));
    }
    PS_RETURN_IF_ERROR(it->status());
  }
  auto* reader = static_cast<QueryCheckpoint*>(cp.get());
  for (const auto& ns : namespaces) {
    PS_RETURN_IF_ERROR(RewindState(reader, ns, to_batch, *txn, &dropped, &kept));
  }
  QueryMetadata m = *meta;
  m.epoch += 1;
  txn->Put(KeySpace::kCheckpoint, CheckpointKey(query, 'M'), m.Serialize());
  PS_RETURN_IF_ERROR(store_->Commit(std::move(txn), true));
  *report = fmt::format(
      "query '{}' rewound: the next start replays from batch {} (epoch {}); removed offsets/commits {}..{}, "
      "{} state entries written by those batches dropped, {} kept. Table versions already written stay "
      "readable by time travel; replayed batches add new versions.",
      query, to_batch, m.epoch, to_batch, last, dropped, kept);
  return Status::Ok();
}

Status RocksCheckpointStore::Reset(const std::string& query) {
  if (store_->read_only()) return FailedPrecondition("reset needs the data dir opened for writing");
  auto txn = store_->BeginTxn();
  std::string p = query;
  p.push_back('\0');
  std::string end = query;
  end.push_back('\x01');
  txn->DeleteRange(KeySpace::kCheckpoint, p, end);
  std::string sp = query + "/";
  std::string se = query + "0";  // '0' is the byte after '/'
  txn->DeleteRange(KeySpace::kState, sp, se);
  return store_->Commit(std::move(txn), true);
}

}  // namespace pinstream::state
