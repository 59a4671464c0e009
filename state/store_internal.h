// The store's RocksDB side, shared by the files that implement Store (store.cc: opening and
// reads; store_txn.cc: transactions and writes; log_space.cc; table_catalog.cc; sst_ingest.cc;
// checkpoint_store.cc). Internal to state/: nothing outside it includes RocksDB headers.
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "state/store.h"

namespace pinstream::state {

inline constexpr const char* kIngestDir = "ingest";
inline const char* const kCfNames[] = {"checkpoint", "tables", "state", "source_log", "default"};
inline constexpr int kNumCf = 5;
// Column families of log spaces (Store::OpenLogSpace) are named with this prefix.
inline constexpr std::string_view kLogSpacePrefix = "log/";
inline bool IsLogSpaceName(std::string_view name) {
  return name.substr(0, kLogSpacePrefix.size()) == kLogSpacePrefix;
}

inline std::string UnrecoverableMessage(const std::string& error) {
  return "the store stopped writing after an unrecoverable error (" + error +
         "); restart pinstream: it recovers from what is on disk";
}

inline Status MapRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::Ok();
  return FromRocks(static_cast<int>(s.code()), static_cast<int>(s.subcode()), s.ToString(),
                   context);
}

inline std::string PrefixSuccessor(std::string_view prefix) {
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

inline rocksdb::CompressionType CompressionOf(const std::string& name) {
  if (name == "none") return rocksdb::kNoCompression;
  if (name == "zstd") return rocksdb::kZSTD;
  if (name == "snappy") return rocksdb::kSnappyCompression;
  return rocksdb::kLZ4Compression;
}

struct Store::Rocks {
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
  // A write failed with an error RocksDB can recover from (disk full, an I/O error): writes call
  // Resume() first until one succeeds. Set by a failed write and by RocksDB's background-error
  // callback (a flush or compaction that ran out of space); RocksDB's own recovery (it polls
  // for free space) or a successful Resume() clears it.
  std::atomic<bool> needs_resume{false};
  std::mutex resume_mu;  // one Resume() at a time
  mutable std::mutex fatal_mu;
  std::string fatal_error;  // the first unrecoverable error, once there was one
  std::string write_error;  // the recoverable error writes wait on (under fatal_mu)

  rocksdb::ColumnFamilyHandle* handle(KeySpace s) const { return cf[static_cast<int>(s)]; }
};

struct StoreTxn::Batch {
  rocksdb::WriteBatch wb;
};

// Iterates one column family over the keys with a prefix (all of them for an empty prefix).
//
// Every iteration of the store goes through it, and it confirms every end it reaches by a step:
// RocksDB 7.8.3's merging iterator, stepping from one file of a level below L0 to the next, drops
// the next file's error when that file's first block does not match its checksum, and every later
// key of the level with it (`MergingIterator::SkipNextDeleted`/`SkipPrevDeleted`; fixed in
// RocksDB 8.7, #11782), so an iteration can end early with an OK status. Where a Next() (Prev())
// seems to reach the end, the iterator seeks once just past (before) the key it was on: a seek
// onto the damaged file reports it (state/README.md "Damaged data"), and a seek that finds more
// keys goes on from them. Costs one seek per iteration that runs to its end; a key copy per step.
class RocksIterator : public StoreIterator {
 public:
  RocksIterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string_view prefix,
                const rocksdb::Snapshot* snap, bool fill_cache)
      : RocksIterator(db, cf, prefix, PrefixSuccessor(prefix), snap, fill_cache) {}
  // Keys in [lower, upper) (upper empty: to the end of the family).
  // `at_first`: positioned on the first key (else nowhere until a seek: a seek reads a block).
  RocksIterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string_view lower,
                std::string upper, const rocksdb::Snapshot* snap, bool fill_cache,
                bool at_first = true)
      : prefix_(lower), upper_(std::move(upper)) {
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
    if (!at_first) return;
    it_->Seek(prefix_);
    KeepError();
  }
  void Seek(std::string_view key) override {
    it_->Seek(rocksdb::Slice(key.data(), key.size()));
    KeepError();
  }
  void SeekForPrev(std::string_view key) override {
    it_->SeekForPrev(rocksdb::Slice(key.data(), key.size()));
    KeepError();
  }
  bool Valid() const override { return it_->Valid(); }
  void Next() override {
    const rocksdb::Slice k = it_->key();
    last_.assign(k.data(), k.size());
    it_->Next();
    KeepError();
    if (it_->Valid() || !it_->status().ok()) return;
    // The end, or RocksDB ending at a damaged file: the first key after the one it was on.
    last_.push_back('\0');
    it_->Seek(last_);
    KeepError();
  }
  void Prev() override {
    const rocksdb::Slice k = it_->key();
    last_.assign(k.data(), k.size());
    it_->Prev();
    KeepError();
    if (it_->Valid() || !it_->status().ok() || last_.empty()) return;
    // The start, or RocksDB ending at a damaged file: the last key before the one it was on —
    // exactly the key without its final zero byte, else a key just below it (its last byte one
    // less, then 16 0xFF bytes: every key before it up to 16 bytes longer orders at or before).
    if (last_.back() == '\0') {
      last_.pop_back();
    } else {
      last_.back() = static_cast<char>(static_cast<unsigned char>(last_.back()) - 1);
      last_.append(16, '\xFF');
    }
    it_->SeekForPrev(last_);
    KeepError();
  }
  std::string_view key() const override {
    auto k = it_->key();
    return {k.data(), k.size()};
  }
  std::string_view value() const override {
    auto v = it_->value();
    return {v.data(), v.size()};
  }
  Status status() const override {
    return MapRocks(error_.ok() ? it_->status() : error_, "iterating");
  }

 private:
  // An error sticks until the next one: RocksDB 7.8's iterator, seeked again after a block whose
  // checksum did not match, can leave that block's file out with an OK status (keys silently
  // missing). Callers that can tell the damaged file holds none of their keys
  // (Store::DamagedFileKeys) may go on reading.
  void KeepError() {
    if (!it_->status().ok()) error_ = it_->status();
  }
  rocksdb::Status error_;
  std::string prefix_, upper_;
  std::string last_;  // the key a Next()/Prev() stepped from
  rocksdb::Slice upper_slice_, lower_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace pinstream::state
