// The dedup operator's index (operators/key_index.h): nanoseconds per "look up, insert when
// absent" over pin post ids, probed the way `dedup` probes a batch (keys hashed first, then
// KeyIndex::FindOrInsertEach, the batch probe `dedup` uses), and
// bytes of memory per key. Beside it, in the same run: this machine's latency of one dependent
// random memory access over an array as large as the index (the cost a probe pays when nothing
// overlaps it), and std::unordered_map doing the same inserts.
//
//   dedup_bench [probes=1000000] [distinct keys=500000] [batch=50000]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/bench_util.h"
#include "engine/allocator.h"
#include "engine/record_batch.h"
#include "operators/key_index.h"

using namespace pinstream;

namespace {

// A post id as `dedup` stores it: EncodeKey of one string column (type tag, 4-byte length,
// the 36 characters of the UUID).
std::string PostKey(std::size_t id) {
  char uid[48];
  std::snprintf(uid, sizeof uid, "%08zx-0000-4000-8000-%012zx", id >> 20, id);
  RecordBatch b;
  Column c(TypeId::kString);
  c.AppendString(uid);
  b.row_ids().resize(1);
  b.AddColumn("unique_id", std::move(c));
  std::string key;
  const int cols[] = {0};
  EncodeKey(b, cols, 0, &key);
  return key;
}

struct IndexRun {
  double hash_ns = 0, grow_ns = 0, probe_ns = 0;  // per probe
  double bytes_per_key = 0;
  double total() const { return hash_ns + grow_ns + probe_ns; }
};

IndexRun RunIndex(const std::vector<std::string>& keys, std::size_t batch) {
  ops::KeyIndex idx;
  std::vector<std::uint64_t> hashes;
  IndexRun run;
  double hash_s = 0, grow_s = 0, seconds = 0;
  std::size_t inserted_total = 0;
  for (std::size_t b = 0; b < keys.size(); b += batch) {
    std::size_t n = std::min(batch, keys.size() - b);
    auto t0 = std::chrono::steady_clock::now();
    hashes.resize(n);
    for (std::size_t i = 0; i < n; ++i) hashes[i] = HashBytes(keys[b + i]);
    hash_s += bench::Seconds(t0);
    t0 = std::chrono::steady_clock::now();
    idx.Reserve(n);
    grow_s += bench::Seconds(t0);
    t0 = std::chrono::steady_clock::now();
    idx.FindOrInsertEach(
        n, hashes.data(), static_cast<std::int64_t>(b),
        [&](std::size_t i) { return std::string_view(keys[b + i]); },
        [&](std::size_t, std::string_view, std::int64_t*, bool inserted) {
          inserted_total += inserted;
        });
    seconds += bench::Seconds(t0);
  }
  if (inserted_total != idx.size()) std::abort();
  auto per_probe = [&](double s) { return s / static_cast<double>(keys.size()) * 1e9; };
  run.hash_ns = per_probe(hash_s);
  run.grow_ns = per_probe(grow_s);
  run.probe_ns = per_probe(seconds);
  run.bytes_per_key = static_cast<double>(idx.MemoryBytes()) / static_cast<double>(idx.size());
  return run;
}

double UnorderedMapNsPerProbe(const std::vector<std::string>& keys) {
  std::unordered_map<std::string, std::int64_t> m;
  auto t0 = std::chrono::steady_clock::now();
  std::size_t inserted = 0;
  for (const auto& k : keys) inserted += m.try_emplace(k, 1).second;
  double s = bench::Seconds(t0);
  if (inserted != m.size()) std::abort();
  return s / static_cast<double>(keys.size()) * 1e9;
}

// Latency of one random access that depends on the one before (a pointer chase through a
// random cycle over `bytes` of memory, one 64-byte line per step).
double DependentMissNs(std::size_t bytes) {
  std::size_t lines = bytes / 64;
  std::vector<std::size_t> order(lines);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
  std::vector<std::size_t> next(lines * 8);
  for (std::size_t i = 0; i < lines; ++i) next[order[i] * 8] = order[(i + 1) % lines] * 8;
  std::size_t at = order[0] * 8, steps = std::min<std::size_t>(lines, 2'000'000);
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < steps; ++i) at = next[at];
  double s = bench::Seconds(t0);
  if (at == 1) std::printf(" ");
  return s / static_cast<double>(steps) * 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  TuneAllocatorForBatches();  // as the daemon does
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  std::size_t distinct = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : n / 2;
  std::size_t batch = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 50000;
  std::mt19937_64 rng(1);
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) keys.push_back(PostKey(rng() % distinct));

  IndexRun best;
  best.probe_ns = 1e30;
  double map_best = 1e30, miss_best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    IndexRun r = RunIndex(keys, batch);
    if (r.total() < best.total()) best = r;
    map_best = std::min(map_best, UnorderedMapNsPerProbe(keys));
    miss_best = std::min(miss_best, DependentMissNs(std::size_t{64} << 20));
  }
  std::printf("%zu probes of %zu-byte keys, %zu distinct, batches of %zu\n", n, keys[0].size(),
              distinct, batch);
  // Per probe: the whole cost (hashing the key, growing the table ahead of a batch, the probe),
  // then each part.
  bench::Report("dedup_index_ns_per_probe", best.total(), "ns");
  bench::Report("dedup_index_hash_ns_per_probe", best.hash_ns, "ns");
  bench::Report("dedup_index_grow_ns_per_probe", best.grow_ns, "ns");
  bench::Report("dedup_index_probe_only_ns_per_probe", best.probe_ns, "ns");
  bench::Report("dedup_index_bytes_per_key", best.bytes_per_key, "B");
  bench::Report("unordered_map_ns_per_probe", map_best, "ns");
  bench::Report("dependent_random_access_64MiB_ns", miss_best, "ns");
  bench::Report("dedup_index_probe_vs_one_miss_ratio", best.total() / miss_best, "x");
  return 0;
}
