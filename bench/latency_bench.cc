// Send → visible latency of the daemon running conf/pinterest.yaml (its six queries), measured as
// a user sees it: one client posts geo records from the bundled data set
// (tests/data/pinterest/geolocation_data.csv, each record given a unique `ind` so that none is
// dropped by the query's dedup) as Kafka REST Proxy produce requests to the `geo` topic at a fixed
// rate, open loop, and a record is visible once the `geo` query has committed a batch that
// covers its offset (the produce answer gives each record's partition and offset, each batch's
// progress report the end offsets it read; the `geo` table then holds the row).
//
// Commits are learned through the long poll `GET /queries/geo/progress?after=N&waitMs=M`, which
// answers as each batch commits; the report's `committedAt` (µs, the daemon's wall clock on the
// same machine) is the moment the row became readable. Latencies run from each request's
// *scheduled* send time (no coordinated omission): send → acknowledged, send → committed
// ("visible"), and send → the client was told (committed + the notification's way back).
//
// Each scenario starts a fresh daemon (fresh data dir) with every query's trigger replaced by the
// scenario's, loads it for SECONDS, waits until every record is visible, then measures the
// daemon's CPU while idle for 5 s, and stops it with SIGTERM. The machine's limit is measured in
// the same run first: the latency of a small append + fdatasync in the same file system (an
// acknowledgement waits for one such sync of the source log's WAL, a commit for another).
//
//   latency_bench PINSTREAM_BINARY WORKDIR [SECONDS=10] [SCENARIO...]
//   SCENARIO: TRIGGER:RECORDS_PER_REQUEST:RECORDS_PER_SECOND, TRIGGER continuous or an interval
//   (500ms); default continuous:100:20000 continuous:100:50000 continuous:1:5000
//   500ms:100:20000 500ms:1:5000.
//
// Prints RESULT lines named latency_<trigger>_<records per request>x<rate>_<what>.

// clang-format off
#include <utility>  // before Asio: boost 1.74 awaitable.hpp needs std::exchange
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "engine/time_util.h"

extern char** environ;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using pinstream::bench::Die;

std::int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::size_t i =
      std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

struct Dist {
  double p50, p99, p999, max;
};
Dist Distribution(std::vector<double> v) {
  Dist d{Quantile(v, 0.50), Quantile(v, 0.99), Quantile(v, 0.999), 0};
  for (double x : v) d.max = std::max(d.max, x);
  return d;
}

void ReportDist(const std::string& prefix, const std::vector<double>& ms) {
  Dist d = Distribution(ms);
  pinstream::bench::Report(prefix + "_p50_ms", d.p50, "ms");
  pinstream::bench::Report(prefix + "_p99_ms", d.p99, "ms");
  pinstream::bench::Report(prefix + "_p999_ms", d.p999, "ms");
  pinstream::bench::Report(prefix + "_max_ms", d.max, "ms");
}

// The geo records of the bundled data set as JSON objects without their `ind` (added per record).
std::vector<std::string> GeoRecords() {
  std::ifstream in(pinstream::bench::DataDir() + "/geolocation_data.csv");
  std::string line;
  std::getline(in, line);  // ,ind,timestamp,latitude,longitude,country
  std::vector<std::string> out;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    if (f.size() != 6) continue;
    out.push_back(nlohmann::json{
        {"timestamp", f[2]},
        {"latitude", std::stod(f[3])},
        {"longitude", std::stod(f[4])},
        {"country",
         f[5]}}.dump());
  }
  if (out.empty()) Die("cannot read " + pinstream::bench::DataDir() + "/geolocation_data.csv");
  return out;
}

// Append + fdatasync of 1 KiB in `dir`, `n` times: latencies in ms.
std::vector<double> FsyncLatencies(const std::string& dir, int n) {
  std::string path = dir + "/fsync-probe";
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_APPEND, 0644);
  if (fd < 0) Die("cannot create " + path);
  std::string block(1024, 'x');
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0)
      Die("write/fdatasync failed in " + dir);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  ::close(fd);
  std::filesystem::remove(path);
  return ms;
}

double ProcessCpuSecondsOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::stringstream ss(s.substr(close + 2));
  std::vector<std::string> f;
  std::string x;
  while (ss >> x) f.push_back(x);
  // Fields after the command: state is field 3; utime 14 and stime 15 → f[11], f[12].
  if (f.size() < 13) return 0;
  return static_cast<double>(std::stoll(f[11]) + std::stoll(f[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Scenario {
  std::string trigger;  // "continuous" or an interval ("500ms")
  int per_request = 100;
  double rate = 20000;  // records per second
  std::string Name() const {
    std::string t = trigger == "continuous" ? "continuous" : "pt" + trigger;
    return t + "_" + std::to_string(per_request) + "x" + std::to_string(static_cast<long>(rate));
  }
};

Scenario ParseScenario(const std::string& s) {
  auto a = s.find(':'), b = s.rfind(':');
  if (a == std::string::npos || a == b) Die("bad scenario '" + s + "' (TRIGGER:PER_REQUEST:RATE)");
  return Scenario{s.substr(0, a), std::stoi(s.substr(a + 1, b - a - 1)),
                  std::stod(s.substr(b + 1))};
}

class Connection {
 public:
  explicit Connection(const std::string& port) : stream_(ioc_) {
    tcp::resolver r(ioc_);
    stream_.connect(r.resolve("127.0.0.1", port));
    stream_.socket().set_option(tcp::no_delay(true));
  }
  // Sends a request; the status (0 on a transport error) and the body.
  std::pair<int, std::string> Call(bhttp::verb verb, const std::string& target,
                                   const std::string& body = {}) {
    bhttp::request<bhttp::string_body> req{verb, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    if (!body.empty()) {
      req.set(bhttp::field::content_type, "application/vnd.kafka.json.v2+json");
      req.body() = body;
    }
    req.prepare_payload();
    beast::error_code ec;
    bhttp::write(stream_, req, ec);
    bhttp::response<bhttp::string_body> res;
    if (!ec) bhttp::read(stream_, buf_, res, ec);
    if (ec) return {0, ec.message()};
    return {res.result_int(), std::move(res.body())};
  }

 private:
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
};

int FreePort() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// The stages of a batch, as its progress report's durationMs names them (Spark's names).
const char* const kStages[] = {"latestOffset", "getBatch",  "execution",    "commitWait",
                               "addBatch",     "walCommit", "commitOffsets"};

struct Batch {
  std::int64_t id;
  std::int64_t committed_us, notified_us;
  std::map<int, std::int64_t> end;  // topic partition → end offset (exclusive)
  std::int64_t input_rows;
  std::map<std::string, double> stage_ms;  // durationMs, triggerExecution included
  std::int64_t started_us() const {
    auto it = stage_ms.find("triggerExecution");
    return committed_us - static_cast<std::int64_t>((it == stage_ms.end() ? 0 : it->second) * 1000);
  }
};

// One scenario: a fresh daemon, the load, the measurements.
void Run(const std::string& binary, const std::string& workdir, const Scenario& sc, double seconds,
         const std::vector<std::string>& geo) {
  const std::string name = sc.Name();
  const std::string dir = workdir + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // conf/pinterest.yaml with every query's trigger replaced.
  std::ifstream cin(std::string(PINSTREAM_SOURCE_DIR) + "/conf/pinterest.yaml");
  std::string conf((std::istreambuf_iterator<char>(cin)), std::istreambuf_iterator<char>());
  const std::string shipped = "trigger: {processing_time: 500ms}";
  const std::string mine = sc.trigger == "continuous"
                               ? "trigger: continuous"
                               : "trigger: {processing_time: " + sc.trigger + "}";
  int replaced = 0;
  for (auto at = conf.find(shipped); at != std::string::npos; at = conf.find(shipped, at)) {
    conf.replace(at, shipped.size(), mine);
    at += mine.size();
    ++replaced;
  }
  if (replaced != 6) Die("conf/pinterest.yaml no longer has six `" + shipped + "` triggers");
  // Without the live views it ships (the eight analysis queries): this measures the six cleaning
  // queries alone, as before the views shipped (the views' own cost is bench/view_bench's).
  if (std::size_t views = conf.find("\nviews:"); views != std::string::npos) {
    std::size_t end = views + 1;
    while ((end = conf.find('\n', end)) != std::string::npos && end + 1 < conf.size() &&
           (conf[end + 1] == ' ' || conf[end + 1] == '#' || conf[end + 1] == '\n')) {
      ++end;
    }
    conf.erase(views + 1, end == std::string::npos ? std::string::npos : end - views);
  }
  std::ofstream(dir + "/pinterest.yaml") << conf;
  std::filesystem::create_directory_symlink(std::string(PINSTREAM_SOURCE_DIR) + "/conf/queries",
                                            dir + "/queries");
  const std::string port = std::to_string(FreePort());

  // The daemon.
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string v = *e;
    if (v.rfind("PINSTREAM_", 0) != 0 && v.rfind("PIN_USER_ID=", 0) != 0) env_s.push_back(v);
  }
  env_s.push_back("PINSTREAM_DATA_DIR=" + dir + "/data");
  env_s.push_back("PINSTREAM_LISTEN=127.0.0.1:" + port);
  std::vector<char*> envp;
  for (auto& v : env_s) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string config_path = dir + "/pinterest.yaml";
  std::vector<std::string> args_s = {binary, "run", config_path};
  std::vector<char*> argv;
  for (auto& a : args_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, (dir + "/daemon.log").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  if (posix_spawn(&pid, binary.c_str(), &fa, nullptr, argv.data(), envp.data()) != 0)
    Die("cannot start " + binary);
  posix_spawn_file_actions_destroy(&fa);
  auto stop_daemon = [&] {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  };
  for (auto deadline = Clock::now() + std::chrono::seconds(60);;) {
    bool ready = false;
    try {
      ready = Connection(port).Call(bhttp::verb::get, "/ready").first == 200;
    } catch (const std::exception&) {
    }
    if (ready) break;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      Die("the daemon exited; see " + dir + "/daemon.log");
    if (Clock::now() > deadline) {
      stop_daemon();
      Die("the daemon did not become ready in 60 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // The commit notifications.
  std::vector<Batch> batches;
  std::atomic<bool> load_done{false};
  std::atomic<std::int64_t> records_sent{0}, rows_committed{0};
  std::string watch_error;
  std::thread watcher([&] {
    Connection c(port);
    std::int64_t after = -1;
    auto give_up = Clock::time_point::max();
    while (true) {
      if (load_done.load() && give_up == Clock::time_point::max())
        give_up = Clock::now() + std::chrono::seconds(30);
      if (load_done.load() && rows_committed.load() >= records_sent.load()) break;
      if (Clock::now() > give_up) {
        watch_error = "not every record was visible 30 s after the load";
        break;
      }
      auto [status, body] = c.Call(
          bhttp::verb::get, "/queries/geo/progress?after=" + std::to_string(after) + "&waitMs=200");
      std::int64_t now = WallMicros();
      if (status != 200) {
        watch_error = "progress long poll: " + std::to_string(status) + " " + body;
        break;
      }
      for (const auto& r : nlohmann::json::parse(body)) {
        Batch b;
        b.id = r.at("batchId").get<std::int64_t>();
        if (after >= 0 && b.id != after + 1) {
          watch_error = "progress reports skipped from batch " + std::to_string(after) + " to " +
                        std::to_string(b.id);
          break;
        }
        after = b.id;
        auto committed = pinstream::ParseTimestamp(r.at("committedAt").get<std::string>());
        if (!committed.ok()) {
          watch_error = "committedAt: " + committed.status().ToString();
          break;
        }
        b.committed_us = *committed;
        b.notified_us = now;
        b.input_rows = r.at("numInputRows").get<std::int64_t>();
        for (const auto& [k, v] : r.at("durationMs").items()) b.stage_ms[k] = v.get<double>();
        for (const auto& s : r.at("sources")) {
          if (s.at("description").get<std::string>().rfind("KafkaRestTopic", 0) != 0) continue;
          for (const auto& [p, o] : s.at("endOffset").items())
            b.end[std::stoi(p)] = o.get<std::int64_t>();
        }
        rows_committed += b.input_rows;
        batches.push_back(std::move(b));
      }
      if (!watch_error.empty()) break;
    }
  });

  // The load: open loop over a few connections (one-record requests need more in flight).
  const int conns = sc.per_request >= 100 ? 4 : 16;
  const double req_rate = sc.rate / sc.per_request;
  const auto n_requests = static_cast<long>(req_rate * seconds);
  struct Sent {
    std::int64_t scheduled_us = 0;
    double ack_ms = -1;
    std::vector<std::pair<int, std::int64_t>> offsets;  // partition, offset per record
  };
  std::vector<Sent> sent(static_cast<std::size_t>(n_requests));
  std::atomic<long> errors{0};
  std::string first_error;
  std::mutex err_mu;
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  const std::int64_t start_wall = WallMicros() + 200'000;
  const double cpu0 = ProcessCpuSecondsOf(pid);
  std::vector<std::thread> loaders;
  for (int c = 0; c < conns; ++c) {
    loaders.emplace_back([&, c] {
      Connection conn(port);
      std::string body;
      for (long i = c; i < n_requests; i += conns) {
        const double at_s = static_cast<double>(i) / req_rate;
        auto due = start +
                   std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at_s));
        std::this_thread::sleep_until(due);
        body = "{\"records\":[";
        for (int r = 0; r < sc.per_request; ++r) {
          long ind = i * sc.per_request + r;
          const std::string& g = geo[static_cast<std::size_t>(ind) % geo.size()];
          body += (r ? ",{\"value\":{\"ind\":" : "{\"value\":{\"ind\":") + std::to_string(ind) +
                  "," + g.substr(1) + "}";
        }
        body += "]}";
        Sent& s = sent[static_cast<std::size_t>(i)];
        s.scheduled_us = start_wall + static_cast<std::int64_t>(at_s * 1e6);
        auto [status, answer] = conn.Call(bhttp::verb::post, "/topics/0a1b2c3d4e5f.geo", body);
        s.ack_ms = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
        if (status != 200) {
          ++errors;
          std::lock_guard lock(err_mu);
          if (first_error.empty()) first_error = std::to_string(status) + " " + answer;
          continue;
        }
        const auto reply = nlohmann::json::parse(answer);
        for (const auto& o : reply.at("offsets"))
          s.offsets.emplace_back(o.at("partition").get<int>(), o.at("offset").get<std::int64_t>());
        records_sent += static_cast<std::int64_t>(s.offsets.size());
      }
    });
  }
  for (auto& t : loaders) t.join();
  const double load_s = std::chrono::duration<double>(Clock::now() - start).count();
  const double load_cpu = ProcessCpuSecondsOf(pid) - cpu0;
  load_done = true;
  watcher.join();
  // Idle: everything is committed; what does the daemon spend doing nothing?
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double idle0 = ProcessCpuSecondsOf(pid);
  std::this_thread::sleep_for(std::chrono::seconds(5));
  const double idle_cpu = (ProcessCpuSecondsOf(pid) - idle0) / 5.0;
  int status = stop_daemon();
  if (errors > 0)
    Die(name + ": " + std::to_string(errors.load()) + " requests failed: " + first_error);
  if (!watch_error.empty()) Die(name + ": " + watch_error);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    Die(name + ": the daemon did not stop cleanly; see " + dir + "/daemon.log");

  // Each record's first covering batch, per partition (ends never go back).
  std::map<int, std::vector<std::pair<std::int64_t, const Batch*>>> ends;  // partition → (end, b)
  for (const Batch& b : batches) {
    for (const auto& [p, e] : b.end) {
      auto& v = ends[p];
      if (v.empty() || e > v.back().first) v.emplace_back(e, &b);
    }
  }
  std::vector<double> visible, notified, ack;
  // Where each record's time went: scheduled → acknowledged, acknowledged → its batch started
  // (waiting for the batch before to end, or for the trigger), the batch's run.
  struct Parts {
    double visible, ack, wait, batch;
    const Batch* b;
  };
  std::vector<Parts> parts;
  for (const Sent& s : sent) {
    ack.push_back(s.ack_ms);
    for (const auto& [p, off] : s.offsets) {
      auto& v = ends[p];
      auto it = std::upper_bound(v.begin(), v.end(), off,
                                 [](std::int64_t o, const auto& e) { return o < e.first; });
      if (it == v.end()) Die(name + ": a record's batch was never reported");
      const Batch* b = it->second;
      double vis = static_cast<double>(b->committed_us - s.scheduled_us) / 1000.0;
      visible.push_back(vis);
      notified.push_back(static_cast<double>(b->notified_us - s.scheduled_us) / 1000.0);
      double batch = static_cast<double>(b->committed_us - b->started_us()) / 1000.0;
      double wait = std::max(0.0, vis - s.ack_ms - batch);
      parts.push_back({vis, std::min(s.ack_ms, vis), wait, std::min(batch, vis), b});
    }
  }
  std::printf(
      "== %s: %zu records in %ld requests over %.1f s (%.0f rec/s), %zu batches of geo; "
      "daemon %.2f cores busy under load\n",
      name.c_str(), visible.size(), n_requests, load_s,
      static_cast<double>(visible.size()) / load_s, batches.size(), load_cpu / load_s);
  const std::string prefix = "latency_" + name;
  pinstream::bench::Report(prefix + "_rec_per_s", static_cast<double>(visible.size()) / load_s,
                           "rec/s");
  ReportDist(prefix + "_visible", visible);
  ReportDist(prefix + "_notified", notified);
  ReportDist(prefix + "_ack", ack);
  pinstream::bench::Report(prefix + "_geo_batches_per_s",
                           static_cast<double>(batches.size()) / load_s, "batches/s");
  pinstream::bench::Report(prefix + "_cores_busy", load_cpu / load_s, "cores");
  pinstream::bench::Report(prefix + "_idle_cpu_pct", idle_cpu * 100, "%");
  // The tail, taken apart: the slowest 1 % of records' mean time in each part, and their
  // batches' mean stages; beside them every batch's stages (p50 / p99 / max) and the gaps
  // between two commits of geo.
  std::sort(parts.begin(), parts.end(),
            [](const Parts& a, const Parts& b) { return a.visible > b.visible; });
  const std::size_t tail = std::max<std::size_t>(1, parts.size() / 100);
  double t_ack = 0, t_wait = 0, t_batch = 0;
  std::map<std::string, double> t_stage;
  for (std::size_t i = 0; i < tail && i < parts.size(); ++i) {
    t_ack += parts[i].ack;
    t_wait += parts[i].wait;
    t_batch += parts[i].batch;
    for (const char* k : kStages) {
      auto it = parts[i].b->stage_ms.find(k);
      if (it != parts[i].b->stage_ms.end()) t_stage[k] += it->second;
    }
  }
  const double n_tail = static_cast<double>(std::min(tail, parts.size()));
  std::printf(
      "   slowest 1%% (%zu records, visible >= %.1f ms): ack %.1f + waiting for the batch "
      "%.1f + the batch %.1f ms (",
      tail, parts.empty() ? 0.0 : parts[std::min(tail, parts.size()) - 1].visible, t_ack / n_tail,
      t_wait / n_tail, t_batch / n_tail);
  for (const char* k : kStages) std::printf(" %s %.1f", k, t_stage[k] / n_tail);
  std::printf(" )\n");
  pinstream::bench::Report(prefix + "_tail_ack_ms", t_ack / n_tail, "ms");
  pinstream::bench::Report(prefix + "_tail_wait_ms", t_wait / n_tail, "ms");
  pinstream::bench::Report(prefix + "_tail_batch_ms", t_batch / n_tail, "ms");
  std::printf("   every batch of geo, ms p50/p99/max:");
  for (const char* k : {"latestOffset", "getBatch", "execution", "commitWait", "addBatch",
                        "walCommit", "commitOffsets", "triggerExecution"}) {
    std::vector<double> v;
    for (const Batch& b : batches) {
      auto it = b.stage_ms.find(k);
      if (it != b.stage_ms.end()) v.push_back(it->second);
    }
    Dist d = Distribution(v);
    std::printf(" %s %.0f/%.0f/%.0f", k, d.p50, d.p99, d.max);
  }
  std::vector<double> gaps;
  for (std::size_t i = 1; i < batches.size(); ++i)
    gaps.push_back(static_cast<double>(batches[i].committed_us - batches[i - 1].committed_us) /
                   1000.0);
  Dist g = Distribution(gaps);
  std::printf("; commit gaps %.1f/%.1f/%.1f\n", g.p50, g.p99, g.max);
  // When the slowest acknowledgements were due (the daemon's log, daemon.log beside the data,
  // tells what it was doing then).
  std::vector<std::pair<double, std::int64_t>> slow_acks;
  for (const Sent& s : sent) slow_acks.emplace_back(s.ack_ms, s.scheduled_us);
  std::sort(slow_acks.rbegin(), slow_acks.rend());
  std::printf("   slowest acknowledgements:");
  for (std::size_t i = 0; i < 5 && i < slow_acks.size(); ++i)
    std::printf(
        " %.1f ms at %s", slow_acks[i].first,
        pinstream::FormatTimestamp(slow_acks[i].second, pinstream::TimestampStyle::kIso).c_str());
  std::printf("\n");
  std::filesystem::remove_all(dir + "/data");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: latency_bench PINSTREAM_BINARY WORKDIR [SECONDS] [SCENARIO...]\n");
    return 2;
  }
  const std::string binary = argv[1], workdir = argv[2];
  const double seconds = argc > 3 ? std::atof(argv[3]) : 10;
  std::vector<Scenario> scenarios;
  for (int i = 4; i < argc; ++i) scenarios.push_back(ParseScenario(argv[i]));
  if (scenarios.empty()) {
    for (const char* s : {"continuous:100:20000", "continuous:100:50000", "continuous:1:5000",
                          "500ms:100:20000", "500ms:1:5000"})
      scenarios.push_back(ParseScenario(s));
  }
  std::filesystem::create_directories(workdir);
  signal(SIGPIPE, SIG_IGN);
  auto geo = GeoRecords();
  // The machine's limit, same run, same file system: one small durable append.
  auto fsync_ms = FsyncLatencies(workdir, 2000);
  ReportDist("latency_bound_fdatasync", fsync_ms);
  for (const Scenario& sc : scenarios) Run(binary, workdir, sc, seconds, geo);
  return 0;
}
