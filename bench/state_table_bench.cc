// Large keyed operator state (engine/state_table.h) over the daemon's RocksDB store: a state of
// `keys` keys (default 10M) — many times the block cache and the table's point-read cache —
// written in batches of 100k new keys as a windowed aggregate writes them (40-byte keys, 48-byte
// values, one atomic commit with undo log per batch), then read-modify-written at random (1M
// updates in batches of 100k, each key's old value read first, as an aggregate does), then
// scanned in key order. Reports keys/s of each phase, RSS and peak RSS, and the state's bytes on
// disk. Beside it, in the same run and store: the same puts as bare RocksDB WriteBatches (no
// undo log, no reads), the limit of the write phase on this machine.
//
//   state_table_bench [keys=10000000] [cache_mib=64] [block_cache_mib=64]

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "bench/bench_util.h"
#include "engine/bytes.h"
#include "engine/checkpoint.h"
#include "engine/record_batch.h"
#include "engine/state_table.h"
#include "state/checkpoint_store.h"
#include "state/store.h"

using namespace pinstream;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kBatch = 100000;

// Partition byte first (as operators build keys), then a 39-byte key of the index.
std::string Key(std::uint64_t i) {
  std::string k(1, static_cast<char>(StatePartitionOf(HashBytes(std::to_string(i)))));
  k += fmt::format("category-{:010}-window-{:018}", i % 1000, i);
  return k;
}
std::string StateValue(std::uint64_t i, std::uint64_t version) {
  return fmt::format("{:024}{:024}", i, version);
}

std::int64_t StatusKb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0) return std::atoll(line.c_str() + std::strlen(field));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000000;
  const std::size_t cache = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 64) << 20;
  const std::string dir = "/tmp/pinstream-state-bench";
  fs::remove_all(dir);
  state::StoreOptions so;
  so.data_dir = dir + "/data";
  if (argc > 3) so.block_cache_bytes = static_cast<std::int64_t>(std::atoll(argv[3])) << 20;
  auto store = std::move(state::Store::Open(so)).value();
  state::RocksCheckpointStore cps(store.get());
  auto cp = std::move(cps.OpenQuery("bench")).value();
  std::printf(
      "state of %llu keys, table cache %zu MiB, block cache %lld MiB, RSS at start %lld MiB\n",
      static_cast<unsigned long long>(n), cache >> 20,
      static_cast<long long>(so.block_cache_bytes >> 20),
      static_cast<long long>(StatusKb("VmRSS:") / 1024));

  std::int64_t batch_id = 0;
  auto commit = [&](StateTable& t) {
    auto txn = cp->BeginCommit(batch_id);
    t.StageBatch(batch_id, *txn);
    CommitLogEntry e;
    e.batch_id = batch_id++;
    Status st = cp->Commit(std::move(txn), e);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      std::exit(1);
    }
  };
  StateTable t(cp.get(), "bench/0", 0, 1, cache);
  if (!t.Open().ok()) return 1;

  // 1. Inserts: every key new (each Put reads the key first: absent).
  auto t0 = std::chrono::steady_clock::now();
  std::int64_t max_rss = 0;
  for (std::uint64_t b = 0; b < n; b += kBatch) {
    for (std::uint64_t i = b; i < std::min(n, b + kBatch); ++i) {
      if (!t.Put(Key(i), StateValue(i, 0)).ok()) return 1;
    }
    commit(t);
    max_rss = std::max(max_rss, StatusKb("VmRSS:"));
  }
  const double insert_s = bench::Seconds(t0);

  // 2. Read-modify-write of random keys (an aggregate updating groups).
  std::mt19937_64 rng(42);
  const std::uint64_t updates = std::min<std::uint64_t>(n, 1000000);
  t0 = std::chrono::steady_clock::now();
  std::string v;
  for (std::uint64_t b = 0; b < updates; b += kBatch) {
    for (std::uint64_t j = b; j < std::min(updates, b + kBatch); ++j) {
      std::uint64_t i = rng() % n;
      bool found = false;
      if (!t.Get(Key(i), &v, &found).ok() || !found) {
        std::fprintf(stderr, "key %llu missing\n", static_cast<unsigned long long>(i));
        return 1;
      }
      if (!t.Put(Key(i), StateValue(i, j + 1)).ok()) return 1;
    }
    commit(t);
    max_rss = std::max(max_rss, StatusKb("VmRSS:"));
  }
  const double update_s = bench::Seconds(t0);

  // 3. An ordered scan of every partition (watermark eviction reads ranges like these).
  t0 = std::chrono::steady_clock::now();
  std::uint64_t scanned = 0;
  for (std::uint8_t p : t.partitions()) {
    const std::string begin(1, static_cast<char>(p));
    const std::string end =
        p == 0xff ? std::string("\xff\xff") : std::string(1, static_cast<char>(p + 1));
    if (!t.Scan(begin, end, [&](std::string_view, std::string_view) {
            ++scanned;
            return true;
          }).ok())
      return 1;
  }
  const double scan_s = bench::Seconds(t0);
  if (scanned != n || t.Stats().rows != static_cast<std::int64_t>(n)) {
    std::fprintf(stderr, "scanned %llu keys, %lld rows counted, expected %llu\n",
                 static_cast<unsigned long long>(scanned), static_cast<long long>(t.Stats().rows),
                 static_cast<unsigned long long>(n));
    return 1;
  }
  std::string begin = StateTable::DataPrefix("bench/0"), end = begin;
  end.back() = static_cast<char>(end.back() + 1);
  const double disk_mb = static_cast<double>(cp->ApproximateStateBytes(begin, end)) / 1e6;

  // The limit: the same puts as bare WriteBatches into the same column family, same batch size.
  t0 = std::chrono::steady_clock::now();
  for (std::uint64_t b = 0; b < n; b += kBatch) {
    state::StoreTxn txn(store.get(), -1);
    for (std::uint64_t i = b; i < std::min(n, b + kBatch); ++i) {
      std::string k = "bare/0";
      k.push_back('\0');
      k += Key(i);
      txn.Put(state::KeySpace::kState, k, StateValue(i, 0));
    }
    if (!store->Write(txn, /*sync=*/true).ok()) return 1;  // as commits are
  }
  const double bare_s = bench::Seconds(t0);

  std::printf("inserts %.1fs, updates %.1fs, scan %.1fs, bare puts %.1fs; state %.0f MB on disk\n",
              insert_s, update_s, scan_s, bare_s, disk_mb);
  bench::Report("state_table_insert_keys_per_s", static_cast<double>(n) / insert_s, "keys/s");
  bench::Report("state_table_update_keys_per_s", static_cast<double>(updates) / update_s, "keys/s");
  bench::Report("state_table_scan_keys_per_s", static_cast<double>(n) / scan_s, "keys/s");
  bench::Report("bare_rocksdb_put_keys_per_s", static_cast<double>(n) / bare_s, "keys/s");
  bench::Report("state_table_insert_vs_bare_put_ratio", bare_s / insert_s, "x");
  bench::Report("state_table_rss_max_during_run_mib", static_cast<double>(max_rss) / 1024, "MiB");
  bench::Report("state_table_peak_rss_mib", static_cast<double>(StatusKb("VmHWM:")) / 1024, "MiB");
  bench::Report("state_table_bytes_on_disk_per_key", disk_mb * 1e6 / static_cast<double>(n),
                "B/key");
  cp.reset();
  store.reset();
  fs::remove_all(dir);
  return 0;
}
