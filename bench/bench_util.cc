#include "bench/bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "connectors/connector_env.h"
#include "connectors/registry.h"
#include "connectors/table/delta_source.h"
#include "engine/daemon.h"
#include "operators/registry.h"
#include "state/checkpoint_store.h"
#include "state/registry.h"
#include "state/store.h"
#include "state/table_maintenance.h"

namespace pinstream::bench {

std::unique_ptr<Registries> PluginRegistries(connectors::ConnectorEnv* env) {
  auto reg = std::make_unique<Registries>();
  ops::RegisterOperators(reg->operators);
  connectors::RegisterConnectors(*reg, env);
  state::RegisterStateSections(reg->sections);
  return reg;
}

PinQueryRun RunPinQuery(const std::string& yaml, const std::string& dir,
                        connectors::ConnectorEnv& env, const std::string& name) {
  auto reg = PluginRegistries(&env);
  DaemonConfig cfg = LoadConfigFromString(yaml, "bench.yaml", dir, *reg);
  state::RocksCheckpointStore cps(env.store);
  DaemonParts parts;
  parts.config = &cfg;
  parts.checkpoints = &cps;
  // PINSTREAM_BENCH_TABLE_MAINTENANCE=1: the daemon's table-maint service runs beside the query
  // with the default storage policy, passing every 100 ms instead of 10 s (policy on vs off).
  std::unique_ptr<state::TableMaintenance> maintenance;
  if (const char* m = std::getenv("PINSTREAM_BENCH_TABLE_MAINTENANCE"); m && *m == '1') {
    state::StoreOptions so = env.store->options();
    so.maintenance_interval_us = 100'000;
    maintenance = std::make_unique<state::TableMaintenance>(env.store, so);
    parts.services.push_back(maintenance.get());
    std::printf("table maintenance on: the storage policy every 100 ms\n");
  }
  Daemon d(std::move(parts));
  if (Status st = d.Start(); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    std::exit(1);
  }
  PinQueryRun run;
  rusage u0{};
  getrusage(RUSAGE_SELF, &u0);
  double cpu0 = ProcessCpuSeconds();
  std::int64_t written0 = ProcessBytesWritten();
  auto t0 = std::chrono::steady_clock::now();
  run.exit_code = d.Run();
  run.seconds = Seconds(t0);
  run.bytes_written = ProcessBytesWritten() - written0;
  std::printf("cores busy during the run: %.2f\n", (ProcessCpuSeconds() - cpu0) / run.seconds);
  rusage u1{};
  getrusage(RUSAGE_SELF, &u1);
  auto secs = [](const timeval& a, const timeval& b) {
    return static_cast<double>(b.tv_sec - a.tv_sec) +
           static_cast<double>(b.tv_usec - a.tv_usec) / 1e6;
  };
  // User and kernel CPU apart: the kernel's share (page faults, page-cache copies) varies the
  // most from run to run on this VM.
  run.user_seconds = secs(u0.ru_utime, u1.ru_utime);
  run.system_seconds = secs(u0.ru_stime, u1.ru_stime);
  std::printf("cpu during the run: user %.3f s, system %.3f s\n", run.user_seconds,
              run.system_seconds);
  std::printf("bytes written to files during the run: %.1f MB\n",
              static_cast<double>(run.bytes_written) / 1e6);
  for (const auto& p : d.RecentProgress(name)) {
    auto j = nlohmann::json::parse(p);
    if (j["numInputRows"].get<std::int64_t>() > 0) ++run.batches;
    std::printf("  batch %lld at %s: %lld rows, durationMs %s\n",
                static_cast<long long>(j["batchId"].get<std::int64_t>()),
                j["timestamp"].get<std::string>().c_str(),
                static_cast<long long>(j["numInputRows"].get<std::int64_t>()),
                j["durationMs"].dump().c_str());
  }
  return run;
}

void ViewProgress::OnProgress(const QueryProgress& p) {
  std::lock_guard lock(mu_);
  auto& q = queries_[p.name];
  for (const auto& s : p.sources) {
    for (const auto& [partition, end] : s.end_offset) q.end[partition] = end;
  }
  std::int64_t bytes = 0;
  for (const auto& op : p.state_operators) {
    auto it = op.custom_metrics.find("stateOnDiskBytes");
    if (it != op.custom_metrics.end()) bytes += it->second;
  }
  q.state_bytes = bytes;
  if (auto it = p.duration_ms.find("triggerExecution"); it != p.duration_ms.end())
    q.ms += it->second;
  q.rows += p.num_input_rows;
  cv_.notify_all();
}

bool ViewProgress::WaitFor(const std::map<std::string, std::vector<std::string>>& inputs,
                           const std::map<std::string, std::int64_t>& versions,
                           std::chrono::seconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    for (const auto& [query, tables] : inputs) {
      auto q = queries_.find(query);
      if (q == queries_.end()) return false;
      for (const auto& t : tables) {
        auto e = q->second.end.find(t);
        if (e == q->second.end.end() || e->second < connectors::DeltaOffset(versions.at(t) + 1, 0))
          return false;
      }
    }
    return true;
  });
}

std::int64_t ViewProgress::StateBytes() {
  std::lock_guard lock(mu_);
  std::int64_t total = 0;
  for (const auto& [name, q] : queries_) total += q.state_bytes;
  return total;
}

std::map<std::string, std::pair<std::int64_t, std::int64_t>> ViewProgress::BatchTotals() {
  std::lock_guard lock(mu_);
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& [name, q] : queries_) out[name] = {q.ms, q.rows};
  return out;
}

RecordBatch ResampleRows(const RecordBatch& base, std::size_t from, std::size_t to,
                         std::mt19937_64& rng) {
  std::vector<std::uint32_t> pick(to - from);
  for (auto& p : pick) p = static_cast<std::uint32_t>(rng() % base.num_rows());
  RecordBatch out = base.Take(pick);
  int ind = out.FindColumn("ind");
  Column& c = out.column(static_cast<std::size_t>(ind));
  for (std::size_t i = 0; i < pick.size(); ++i) {
    c.mutable_ints()[i] = static_cast<std::int64_t>(from + i);
    c.mutable_validity()[i] = 1;
  }
  for (std::size_t i = 0; i < pick.size(); ++i) out.row_ids()[i] = i;
  return out;
}

std::string DataDir() { return std::string(PINSTREAM_SOURCE_DIR) + "/tests/data/pinterest"; }

std::vector<std::string> PinRecords(std::size_t n, std::size_t distinct_ids) {
  std::ifstream in(DataDir() + "/pinterest_data_partial.jsonl");
  std::vector<nlohmann::ordered_json> base;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) base.push_back(nlohmann::ordered_json::parse(line));
  }
  if (base.empty()) {
    std::fprintf(stderr, "cannot read the bundled pin data in %s\n", DataDir().c_str());
    std::exit(1);
  }
  std::mt19937_64 rng(42);
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    nlohmann::ordered_json r = base[rng() % base.size()];
    std::size_t id = distinct_ids ? rng() % distinct_ids : i;
    char uid[64];
    std::snprintf(uid, sizeof uid, "%08zx-0000-4000-8000-%012zx", id >> 20, id);
    r["unique_id"] = uid;
    out.push_back(r.dump());
  }
  return out;
}

std::string PinQueryYaml(const std::string& source, const std::string& name) {
  std::string q = R"(queries:
  - name: pin
    source: __SOURCE__
    trigger: available_now
    max_records_per_trigger: 100000
    shards: 2
    operators:
      - kind: parse_json
        schema: {index: int64, unique_id: string, title: string, description: string, poster_name: string,
                 follower_count: string, tag_list: string, is_image_or_video: string, image_src: string,
                 downloaded: int64, save_location: string, category: string}
      - kind: null_if
        empty_strings: true
        columns:
          description: ["No description available Story format", "No description available"]
          follower_count: ["User Info Error"]
          image_src: ["Image src error."]
          poster_name: ["User Info Error"]
          tag_list: ["N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"]
          title: ["No Title Data Available"]
      - {kind: parse_count, columns: [follower_count]}
      - {kind: strip_prefix, column: save_location, prefix: "Local save in "}
      - {kind: rename, columns: {index: ind}}
      - {kind: dedup, keys: [unique_id]}
      - kind: select
        columns: [ind, unique_id, title, description, follower_count, poster_name, tag_list,
                  is_image_or_video, image_src, save_location, category]
    sink: {kind: delta, table: pin}
    dead_letter: pin_errors
)";
  q.replace(q.find("__SOURCE__"), 10, source);
  for (const std::string from : {"name: pin\n", "table: pin}", "dead_letter: pin_errors"}) {
    std::string to = from;
    to.replace(to.find("pin"), 3, name);
    q.replace(q.find(from), from.size(), to);
  }
  return q;
}

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::int64_t ProcessBytesWritten() {
  std::ifstream in("/proc/self/io");
  std::string key;
  std::int64_t v = 0;
  while (in >> key >> v) {
    if (key == "wchar:") return v;
  }
  return -1;
}

PageCacheWriteRates MeasurePageCacheWrites(const std::string& dir, std::size_t bytes) {
  const std::size_t chunk = std::size_t{1} << 20;
  std::string buf(chunk, 'x');
  std::string path = dir + "/page_cache_probe.dat";
  PageCacheWriteRates r;
  auto pass = [&](int flags, std::size_t measure_from) {
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | flags, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "cannot create %s\n", path.c_str());
      std::exit(1);
    }
    auto t0 = std::chrono::steady_clock::now();
    for (std::size_t w = 0; w < bytes; w += chunk) {
      if (w == measure_from) t0 = std::chrono::steady_clock::now();
      if (::write(fd, buf.data(), chunk) != static_cast<ssize_t>(chunk)) {
        std::fprintf(stderr, "writing %s failed\n", path.c_str());
        std::exit(1);
      }
    }
    double secs = Seconds(t0);
    ::close(fd);
    return static_cast<double>(bytes - measure_from) / secs / 1e9;
  };
  std::size_t half = bytes / 2 / chunk * chunk;
  r.fresh_gbps = pass(O_TRUNC, half);
  r.overwrite_gbps = pass(0, 0);
  ::unlink(path.c_str());
  return r;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

void Report(const std::string& name, double value, const std::string& unit) {
  std::printf("RESULT %s %.6g %s\n", name.c_str(), value, unit.c_str());
  std::fflush(stdout);
}

void Die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
  std::exit(1);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace pinstream::bench
