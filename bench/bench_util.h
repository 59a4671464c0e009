// Shared helpers for the benchmark programs: pin-like records resampled from the bundled data
// set, timing, and printing result lines that bench/run_benchmarks.sh collects.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "engine/progress.h"
#include "engine/record_batch.h"

namespace pinstream {
struct Registries;
namespace connectors {
struct ConnectorEnv;
}
namespace state {
class Store;
}
}  // namespace pinstream

namespace pinstream::bench {

// Every operator, source and sink kind, registered as the binary registers them (the benchmarks
// load configs without the app/ composition root).
std::unique_ptr<Registries> PluginRegistries(connectors::ConnectorEnv* env);

// `n` raw pin records (JSON text, ~650 bytes each), resampled with a fixed seed from
// tests/data/pinterest/pinterest_data_partial.jsonl; unique_id made unique per record
// unless `distinct_ids` is smaller than n (then ids repeat, for dedup benchmarks).
std::vector<std::string> PinRecords(std::size_t n, std::size_t distinct_ids = 0);

// The `queries:` section of a config with conf/pinterest.yaml's `pin` query reading `source`
// (parse_json → null_if → parse_count → strip_prefix → rename → dedup → select → delta table
// `pin`), available_now, 100k-record batches, 2 shards. `name` renames the query and its table
// (dead letters: `<name>_errors`), so that one process can run the query again from scratch.
std::string PinQueryYaml(const std::string& source, const std::string& name = "pin");

// A daemon run of a config holding PinQueryYaml's query `name` (available_now) on `env`'s
// store: the config is loaded from `yaml` (file name bench.yaml, relative paths under `dir`), the
// daemon started (the process exits with the error if it cannot), then run to the end and timed.
// Prints the cores busy and the CPU during the run and every batch of the query with its
// durations.
struct PinQueryRun {
  int exit_code = 0;
  double seconds = 0;
  double user_seconds = 0, system_seconds = 0;  // CPU of the whole process during the run
  std::int64_t batches = 0;                     // batches that read records
  std::int64_t bytes_written = 0;  // by the process during the run (/proc/self/io wchar)
};
PinQueryRun RunPinQuery(const std::string& yaml, const std::string& dir,
                        connectors::ConnectorEnv& env, const std::string& name = "pin");

double Seconds(std::chrono::steady_clock::time_point since);
// CPU time (user + system) of the whole process so far, all threads.
double ProcessCpuSeconds();

// Bytes the process has written to files so far (/proc/self/io wchar; -1 if unavailable).
std::int64_t ProcessBytesWritten();

// Buffered writes of 1 MiB into a new file of `bytes` under `dir`, in GB/s: `fresh` over the
// second half of the file (page-cache pages the kernel has to allocate, which on a VM whose host
// reclaims freed guest memory costs a host fault per page), `overwrite` rewriting the same file
// (pages already cached). The file is removed.
struct PageCacheWriteRates {
  double fresh_gbps = 0;
  double overwrite_gbps = 0;
};
PageCacheWriteRates MeasurePageCacheWrites(const std::string& dir, std::size_t bytes);

// Rows [from, to) of a table resampled from `base` (rows picked at random with `rng`), with
// ind = from..to-1, so that pin, geo and user rows resampled with the same range join 1:1 (the
// cleaned bundled data's rows, as sql_bench, table_history_bench and view_bench use them).
RecordBatch ResampleRows(const RecordBatch& base, std::size_t from, std::size_t to,
                         std::mt19937_64& rng);

// The committed end offsets of every view query's delta sources, from the daemon's progress
// reports (DaemonParts::on_progress), and the views' state bytes (their last batch's
// stateOnDiskBytes): the benchmarks wait on it for views to be up to date.
class ViewProgress {
 public:
  void OnProgress(const QueryProgress& p);
  // Waits until every query of `inputs` (query → the tables it reads) has committed a batch that
  // consumed each table up to `versions` (table → latest version); false after `timeout`.
  bool WaitFor(const std::map<std::string, std::vector<std::string>>& inputs,
               const std::map<std::string, std::int64_t>& versions, std::chrono::seconds timeout);
  std::int64_t StateBytes();  // summed over the queries
  // Per query: the milliseconds (triggerExecution) and input rows of its batches so far.
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> BatchTotals();

 private:
  struct Query {
    std::map<std::string, std::int64_t> end;  // partition (the table) → committed end offset
    std::int64_t state_bytes = 0;
    std::int64_t ms = 0, rows = 0;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Query> queries_;
};

// Prints "<program>: <what>" to stderr and exits 1: a benchmark that cannot go on.
[[noreturn]] void Die(const std::string& what);
template <typename T>
T Must(Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what + ": " + r.status().ToString());
  return std::move(r).value();
}
// A file's bytes; Die when it cannot be read.
std::string ReadFile(const std::string& path);

// Prints "RESULT <name> <value> <unit>" (machine-readable) plus a human line.
void Report(const std::string& name, double value, const std::string& unit);

std::string DataDir();

}  // namespace pinstream::bench
