// The least work the pin pipeline's records need on this machine, beside which
// `run_benchmarks.sh pipeline` puts pipeline_bench: one thread, no engine. It reads the same
// records as pipeline_bench from a RocksDB database laid out like pinstream's source log (one
// column family per partition, 500-record batches keyed by base offset), and for each record
// does what conf/pinterest.yaml's `pin` query asks and nothing else:
//   parse the 12 fields with simdjson On-Demand into column buffers (copying each record into a
//   padded buffer first, as simdjson requires) · null the "no data" values and empty strings ·
//   parse follower_count (k/M) · strip save_location's prefix · keep the first arrival of each
//   unique_id (a plain open-addressing hash set, XXH3 — not pinstream's dedup index) · gather the
//   kept rows of each 4,096-record chunk into output columns · LZ4-compress each column (as the
//   delta table does) · write the compressed columns to a file, fdatasync'd every 100k records.
// No micro-batches, checkpoints, shards, exchange, statistics, dead letters, table log or
// RocksDB writes: a floor, not a second implementation. It runs three times over the same log
// and prints the best run's CPU per record and records per second of its one core.
//
//   pipeline_bound [records=1000000] [distinct posts=500000] [lz4|none]
//   [dir=/tmp/pinstream-pipeline-bound]
//
// `none` writes the columns uncompressed (storage.table_compression: none).

#include <fcntl.h>
#include <lz4.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <unistd.h>
#define XXH_INLINE_ALL  // header-only, as in operators/ (libxxhash-dev)
#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench/bench_util.h"
#include "engine/bytes.h"
#include "operators/parse_count.h"

namespace {

namespace od = simdjson::ondemand;
constexpr int kPartitions = 4;
constexpr std::size_t kChunk = 4096;

double ThreadCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// A string column: bytes back to back, an end offset and a null flag per row.
struct StrColumn {
  std::string bytes;
  std::vector<std::uint32_t> ends;
  std::vector<std::uint8_t> nulls;
  void Clear() {
    bytes.clear();
    ends.clear();
    nulls.clear();
  }
  void Add(std::string_view v, bool null) {
    if (!null) bytes.append(v.data(), v.size());
    ends.push_back(static_cast<std::uint32_t>(bytes.size()));
    nulls.push_back(null ? 1 : 0);
  }
  std::string_view Get(std::size_t i) const {
    std::uint32_t begin = i == 0 ? 0 : ends[i - 1];
    return {bytes.data() + begin, ends[i] - begin};
  }
};

// First arrival of each key: open addressing over XXH3 hashes, keys kept in an arena.
class KeySet {
 public:
  KeySet() : slots_(1 << 20) {}
  bool Insert(std::string_view key) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    std::uint64_t h = XXH3_64bits(key.data(), key.size()) | 1;
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.hash == 0) {
        s = Slot{h, static_cast<std::uint32_t>(arena_.size()),
                 static_cast<std::uint32_t>(key.size())};
        arena_.append(key.data(), key.size());
        ++size_;
        return true;
      }
      if (s.hash == h && std::string_view(arena_.data() + s.at, s.len) == key) return false;
    }
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t at = 0, len = 0;
  };
  void Grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    std::size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.hash == 0) continue;
      std::size_t i = s.hash & mask;
      while (slots_[i].hash != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  std::string arena_;
  std::size_t size_ = 0;
};

struct Chunk {
  // Output order of the pin table: ind, unique_id, title, description, follower_count,
  // poster_name, tag_list, is_image_or_video, image_src, save_location, category.
  std::vector<std::int64_t> ind, followers;
  std::vector<std::uint8_t> followers_null;
  StrColumn str[9];  // unique_id, title, description, poster_name, tag_list, is_image_or_video,
                     // image_src, save_location, category
  std::vector<std::uint32_t> kept;
  void Clear() {
    ind.clear();
    followers.clear();
    followers_null.clear();
    for (auto& c : str) c.Clear();
    kept.clear();
  }
};

class Bound {
 public:
  Bound(int out_fd, bool lz4) : out_fd_(out_fd), lz4_(lz4) {}

  void Record(std::string_view json) {
    padded_.assign(json.data(), json.size());
    padded_.append(simdjson::SIMDJSON_PADDING, '\0');
    od::document doc;
    if (parser_.iterate(padded_.data(), json.size(), padded_.size()).get(doc)) {
      ++bad_;
      return;
    }
    std::int64_t index = 0;
    std::string_view f[12];
    bool have[12] = {};
    od::object obj;
    if (doc.get_object().get(obj)) {
      ++bad_;
      return;
    }
    last_field_ = -1;
    for (auto field : obj) {
      std::string_view key;
      if (field.unescaped_key().get(key)) {
        ++bad_;
        return;
      }
      int k = FieldIndex(key);
      if (k < 0) continue;
      od::value v = field.value();
      bool is_null = false;
      if (v.is_null().get(is_null)) {
        ++bad_;
        return;
      }
      if (is_null) continue;  // a missing value: null
      if (k == 0 || k == 9) {
        std::int64_t n;
        if (v.get_int64().get(n)) {
          ++bad_;
          return;
        }
        if (k == 0) index = n;
      } else {
        // A string without escapes is its raw token without the quotes (no unescaping copy).
        std::string_view raw = v.raw_json_token();
        if (raw.size() >= 2 && raw.front() == '"' && raw.find('\\') == std::string_view::npos) {
          f[k] = raw.substr(1, raw.rfind('"') - 1);
        } else if (v.get_string().get(f[k])) {
          ++bad_;
          return;
        }
      }
      have[k] = true;
    }
    auto null_if = [&](int k, std::initializer_list<std::string_view> no_data) {
      if (!have[k] || f[k].empty()) return true;
      for (auto n : no_data) {
        if (f[k] == n) return true;
      }
      return false;
    };
    std::int64_t followers = 0;
    bool followers_null = null_if(5, {"User Info Error"});
    if (!followers_null && !pinstream::ops::ParseCount(f[5], &followers)) {
      ++bad_;
      return;
    }
    std::string_view save = f[10];
    constexpr std::string_view kPrefix = "Local save in ";
    if (save.substr(0, kPrefix.size()) == kPrefix) save.remove_prefix(kPrefix.size());
    std::size_t row = chunk_.ind.size();
    chunk_.ind.push_back(index);
    chunk_.followers.push_back(followers);
    chunk_.followers_null.push_back(followers_null ? 1 : 0);
    chunk_.str[0].Add(f[1], null_if(1, {}));
    chunk_.str[1].Add(f[2], null_if(2, {"No Title Data Available"}));
    chunk_.str[2].Add(
        f[3], null_if(3, {"No description available Story format", "No description available"}));
    chunk_.str[3].Add(f[4], null_if(4, {"User Info Error"}));
    chunk_.str[4].Add(f[6], null_if(6, {"N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"}));
    chunk_.str[5].Add(f[7], null_if(7, {}));
    chunk_.str[6].Add(f[8], null_if(8, {"Image src error."}));
    chunk_.str[7].Add(save, !have[10] || save.empty());
    chunk_.str[8].Add(f[11], null_if(11, {}));
    if (!chunk_.str[0].nulls[row] && ids_.Insert(chunk_.str[0].Get(row)))
      chunk_.kept.push_back(static_cast<std::uint32_t>(row));
    if (chunk_.ind.size() == kChunk) Flush();
  }

  // Gathers the kept rows into output columns, compresses and writes them.
  void Flush() {
    if (chunk_.ind.empty()) return;
    out_.clear();
    column_.clear();
    for (std::uint32_t r : chunk_.kept)
      column_.append(reinterpret_cast<const char*>(&chunk_.ind[r]), 8);
    Compress();
    for (std::uint32_t r : chunk_.kept) {
      column_.append(reinterpret_cast<const char*>(&chunk_.followers[r]), 8);
      column_.push_back(static_cast<char>(chunk_.followers_null[r]));
    }
    Compress();
    for (const StrColumn& c : chunk_.str) {
      for (std::uint32_t r : chunk_.kept) {
        std::string_view v = c.Get(r);
        auto len = static_cast<std::uint32_t>(v.size());
        column_.append(reinterpret_cast<const char*>(&len), 4);
        column_.push_back(static_cast<char>(c.nulls[r]));
        column_.append(v.data(), v.size());
      }
      Compress();
    }
    if (::write(out_fd_, out_.data(), out_.size()) != static_cast<ssize_t>(out_.size()))
      std::perror("write");
    written_ += out_.size();
    rows_ += chunk_.ind.size();
    kept_rows_ += chunk_.kept.size();
    chunk_.Clear();
    if (rows_ - synced_rows_ >= 100000) Sync();
  }
  void Sync() {
    if (::fdatasync(out_fd_) != 0) std::perror("fdatasync");
    synced_rows_ = rows_;
  }
  std::size_t rows() const { return rows_; }
  std::size_t kept_rows() const { return kept_rows_; }
  std::size_t bad() const { return bad_; }
  std::size_t written() const { return written_; }

 private:
  // The field's index; records keep one order, so the field after the previous one is tried first.
  int FieldIndex(std::string_view k) {
    static constexpr std::string_view kNames[12] = {
        "index",       "unique_id",      "title",         "description",
        "poster_name", "follower_count", "tag_list",      "is_image_or_video",
        "image_src",   "downloaded",     "save_location", "category"};
    int guess = (last_field_ + 1) % 12;
    if (kNames[guess] == k) return last_field_ = guess;
    for (int i = 0; i < 12; ++i) {
      if (kNames[i] == k) return last_field_ = i;
    }
    return -1;
  }
  int last_field_ = -1;
  void Compress() {
    if (!lz4_) {
      out_.append(column_);
      column_.clear();
      return;
    }
    std::size_t at = out_.size();
    int bound = LZ4_compressBound(static_cast<int>(column_.size()));
    out_.resize(at + static_cast<std::size_t>(bound));
    int n = LZ4_compress_default(column_.data(), out_.data() + at, static_cast<int>(column_.size()),
                                 bound);
    out_.resize(at + static_cast<std::size_t>(n));
    column_.clear();
  }

  int out_fd_;
  bool lz4_;
  od::parser parser_;
  std::string padded_, column_, out_;
  Chunk chunk_;
  KeySet ids_;
  std::size_t rows_ = 0, kept_rows_ = 0, synced_rows_ = 0, bad_ = 0, written_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  std::size_t distinct = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : n / 2;
  bool lz4 = argc <= 3 || std::string(argv[3]) != "none";
  std::string dir = argc > 4 ? argv[4] : "/tmp/pinstream-pipeline-bound";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto records = pinstream::bench::PinRecords(n, distinct);
  std::unordered_set<std::string> ids;  // the posts the table must hold once each
  for (const auto& r : records) {
    std::size_t at = r.find("\"unique_id\":\"") + 13;
    ids.insert(r.substr(at, r.find('"', at) - at));
  }

  // The log (not timed): 500-record requests spread round robin over 4 partitions, one value per
  // partition per request, as pinstream's source log stores them.
  rocksdb::Options opt;
  opt.create_if_missing = true;
  opt.create_missing_column_families = true;
  opt.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  opt.compression = rocksdb::kNoCompression;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs{{"default", rocksdb::ColumnFamilyOptions(opt)}};
  for (int p = 0; p < kPartitions; ++p)
    cfs.emplace_back("p" + std::to_string(p), rocksdb::ColumnFamilyOptions(opt));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = rocksdb::DB::Open(opt, dir + "/log", cfs, &handles, &raw);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  std::uint64_t next[kPartitions] = {};
  for (std::size_t b = 0; b < n; b += 500) {
    std::string value[kPartitions];
    std::uint64_t count[kPartitions] = {}, base[kPartitions];
    for (int p = 0; p < kPartitions; ++p) base[p] = next[p];
    for (std::size_t i = b; i < std::min(n, b + 500); ++i) {
      int p = static_cast<int>(i % kPartitions);
      pinstream::PutLengthPrefixed(&value[p], records[i]);
      ++count[p];
      ++next[p];
    }
    rocksdb::WriteBatch wb;
    for (int p = 0; p < kPartitions; ++p) {
      if (count[p] == 0) continue;
      std::string v, key;
      pinstream::PutVarint64(&v, count[p]);
      v += value[p];
      pinstream::PutBigEndian64(&key, base[p]);
      wb.Put(handles[static_cast<std::size_t>(p + 1)], key, v);
    }
    if (!db->Write(rocksdb::WriteOptions(), &wb).ok()) return 1;
  }
  for (auto* h : handles) db->Flush(rocksdb::FlushOptions(), h).PermitUncheckedError();
  for (;;) {  // the flushes' files are moved down the levels (sequential keys): wait for that
    std::uint64_t busy = 0, v = 0;
    for (const char* prop : {"rocksdb.num-running-compactions", "rocksdb.compaction-pending",
                             "rocksdb.num-running-flushes", "rocksdb.mem-table-flush-pending"}) {
      if (db->GetAggregatedIntProperty(prop, &v)) busy += v;
    }
    if (busy == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("ingested %zu pin records (%zu distinct posts) into %d partitions\n", n, distinct,
              kPartitions);

  // Three runs over the same log, each from scratch (empty key set, new output file); the best
  // counts, as in pipeline_bench.
  double best_cpu = 0;
  for (int run = 0; run < 3; ++run) {
    int out = ::open((dir + "/table.out").c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (out < 0) {
      std::perror("open");
      return 1;
    }
    auto bound = std::make_unique<Bound>(out, lz4);
    double cpu0 = ThreadCpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    for (int p = 0; p < kPartitions; ++p) {
      rocksdb::ReadOptions ro;
      ro.fill_cache = false;
      std::unique_ptr<rocksdb::Iterator> it(
          db->NewIterator(ro, handles[static_cast<std::size_t>(p + 1)]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        pinstream::ByteReader rd(std::string_view(it->value().data(), it->value().size()));
        std::uint64_t count;
        if (!rd.GetVarint64(&count)) return 1;
        for (std::uint64_t i = 0; i < count; ++i) {
          std::string_view record;
          if (!rd.GetLengthPrefixed(&record)) return 1;
          bound->Record(record);
        }
      }
    }
    bound->Flush();
    bound->Sync();
    double seconds = pinstream::bench::Seconds(t0);
    double cpu = ThreadCpuSeconds() - cpu0;
    ::close(out);
    std::printf(
        "bound run %d: %zu records (%zu kept, %zu refused) in %.2f s, %.3f us CPU per record, %.1f "
        "MB written\n",
        run, bound->rows(), bound->kept_rows(), bound->bad(), seconds,
        cpu / static_cast<double>(n) * 1e6, static_cast<double>(bound->written()) / 1e6);
    if (bound->rows() != n || bound->kept_rows() != ids.size()) {
      std::fprintf(stderr, "unexpected result: %zu rows, %zu kept\n", bound->rows(),
                   bound->kept_rows());
      return 1;
    }
    if (run == 0 || cpu < best_cpu) best_cpu = cpu;
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  db.reset();
  std::string name = lz4 ? "pin_pipeline_bound" : "pin_pipeline_bound_uncompressed";
  pinstream::bench::Report(name + "_cpu_us_per_rec", best_cpu / static_cast<double>(n) * 1e6,
                           "us/rec");
  pinstream::bench::Report(name + "_rec_per_s_one_core", static_cast<double>(n) / best_cpu,
                           "rec/s");
  std::filesystem::remove_all(dir);
  return 0;
}
