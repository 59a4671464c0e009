#include "engine/daemon.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "engine/logging.h"
#include "engine/metrics.h"
#include "engine/thread_name.h"

namespace pinstream {

Daemon::Daemon(DaemonParts parts) : parts_(std::move(parts)) {}

Daemon::~Daemon() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  queries_.clear();
  if (signal_thread_.joinable()) signal_thread_.detach();
}

void Daemon::OnProgress(const QueryProgress& p) {
  std::int64_t duration =
      p.duration_ms.count("triggerExecution") ? p.duration_ms.at("triggerExecution") : 0;
  std::vector<LogField> fields = {{"query", p.name},
                                  {"batch", p.batch_id},
                                  {"input_rows", p.num_input_rows},
                                  {"output_rows", p.num_output_rows},
                                  {"dead_letter_rows", p.num_dead_letter_rows},
                                  {"duration_ms", duration},
                                  {"backlog_records", p.backlog_records}};
  std::string table;  // the sink's table, if it writes one (outlives `fields`' view of it)
  for (const auto& qc : parts_.config->queries) {
    if (qc.name == p.name) table = qc.sink.spec->TableName();
  }
  if (!table.empty()) fields.emplace_back("table", table);
  LogInfo(fields, "batch committed");
  Labels q{{"query", p.name}};
  Metrics().GetCounter("pinstream_query_batches_total", "Micro-batches committed", q)->Inc();
  Metrics()
      .GetCounter("pinstream_query_input_rows_total", "Records read by committed batches", q)
      ->Inc(static_cast<std::uint64_t>(p.num_input_rows));
  Metrics()
      .GetCounter("pinstream_query_dead_letter_rows_total", "Rows sent to dead-letter tables", q)
      ->Inc(static_cast<std::uint64_t>(p.num_dead_letter_rows));
  Metrics()
      .GetCounter("pinstream_table_rows_committed_total", "Rows committed to each sink",
                  {{"query", p.name}, {"sink", p.sink_description}})
      ->Inc(static_cast<std::uint64_t>(p.num_output_rows));
  if (p.duration_ms.count("triggerExecution")) {
    Metrics()
        .GetHistogram("pinstream_batch_duration_seconds",
                      "Micro-batch duration (planning to commit)", q, LatencyBuckets())
        ->Observe(static_cast<double>(p.duration_ms.at("triggerExecution")) / 1000.0);
  }
  {
    std::lock_guard lock(mu_);
    auto& q = progress_[p.name];
    q.push_back(p.ToJson());
    while (q.size() > 100) q.pop_front();
  }
  if (parts_.on_progress) parts_.on_progress(p);
}

Status Daemon::Start() {
  const DaemonConfig& cfg = *parts_.config;
  for (Service* s : parts_.services) {
    PS_RETURN_IF_ERROR(s->Start().WithContext(fmt::format("starting {}", s->name())));
  }
  for (const auto& qc : cfg.queries) {
    QueryParts qp;
    qp.config = &qc;
    for (const auto& src_name : qc.sources) {
      const SourceConfig& sc = cfg.sources.at(src_name);
      SourceCreateContext sctx{src_name, qc.name};
      if (const std::string table = sc.spec->TableName(); !table.empty()) {
        for (const auto& writer : cfg.queries) {
          if (writer.sink.spec->TableName() == table ||
              (writer.dead_letter && writer.dead_letter->spec->TableName() == table))
            sctx.table_written_by_config = true;
        }
      }
      auto src = sc.spec->Create(sctx);
      if (!src.ok())
        return src.status().WithContext(
            fmt::format("query '{}' source '{}' ({})", qc.name, src_name, sc.location));
      qp.sources.push_back(std::move(src).value());
      qp.source_descriptors.push_back(sc.spec->Descriptor());
      qp.source_schemas.push_back(sc.spec->DeclaredSchema());
    }
    auto sink = qc.sink.spec->Create(SinkCreateContext{qc.name, false});
    if (!sink.ok()) return sink.status().WithContext(fmt::format("query '{}' sink", qc.name));
    qp.sink = std::move(sink).value();
    if (qc.dead_letter) {
      auto dl = qc.dead_letter->spec->Create(SinkCreateContext{qc.name, true});
      if (!dl.ok())
        return dl.status().WithContext(fmt::format("query '{}' dead-letter sink", qc.name));
      qp.dead_letter = std::move(dl).value();
    }
    PS_ASSIGN_OR_RETURN(qp.checkpoint, parts_.checkpoints->OpenQuery(qc.name));
    auto q = std::make_unique<StreamingQuery>(std::move(qp),
                                              [this](const QueryProgress& p) { OnProgress(p); });
    PS_RETURN_IF_ERROR(q->Start());
    queries_.push_back(std::move(q));
  }
  for (Service* s : parts_.services) s->SetReady();
  LogInfo({{"queries", queries_.size()}, {"data_dir", cfg.data_dir}}, "pinstream ready");
  return Status::Ok();
}

int Daemon::Run() {
  running_.store(static_cast<int>(queries_.size()));
  for (auto& q : queries_) {
    StreamingQuery* raw = q.get();
    threads_.emplace_back([this, raw] {
      SetThreadName("q:" + raw->name());
      Status st = raw->Run();
      if (!st.ok()) any_failed_.store(true);
      running_.fetch_sub(1);
      std::lock_guard lock(mu_);
      cv_.notify_all();
    });
  }
  bool keep_alive = false;
  for (Service* s : parts_.services) keep_alive |= s->keeps_daemon_alive();
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return drain_.load() || (!keep_alive && running_.load() == 0); });
  }
  if (drain_.load())
    spdlog::info("draining: stop accepting input, finish and commit running batches");
  for (Service* s : parts_.services) s->StopAccepting();
  for (auto& q : queries_) q->Stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  for (Service* s : parts_.services) s->Stop();
  int failed = 0;
  for (auto& q : queries_) {
    auto snap = q->snapshot();
    if (snap.state == QueryState::kFailed) {
      ++failed;
      LogError({{"query", snap.name}, {"error", snap.error}}, "query failed");
    }
  }
  LogInfo({{"queries", queries_.size()}, {"failed", failed}}, "pinstream stopped");
  return failed > 0 || any_failed_.load() ? 1 : 0;
}

void Daemon::RequestDrain() {
  drain_.store(true);
  for (auto& q : queries_) q->Stop();
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

StreamingQuery* Daemon::FindQuery(const std::string& name) const {
  for (const auto& q : queries_) {
    if (q->name() == name) return q.get();
  }
  return nullptr;
}

std::vector<StreamingQuery*> Daemon::queries() const {
  std::vector<StreamingQuery*> out;
  for (const auto& q : queries_) out.push_back(q.get());
  return out;
}

std::vector<std::string> Daemon::RecentProgress(const std::string& query) const {
  std::lock_guard lock(mu_);
  auto it = progress_.find(query);
  if (it == progress_.end()) return {};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

namespace {
struct ExitWatchdogState {
  std::mutex mu;
  std::condition_variable cv;
  bool disarmed = false;
};
ExitWatchdogState& Watchdog() {
  static auto* w = new ExitWatchdogState();  // never destroyed: the timer thread may outlive main()
  return *w;
}
}  // namespace

void ArmExitWatchdog(std::chrono::milliseconds limit, int exit_code, std::string what) {
  std::thread([limit, exit_code, what = std::move(what)] {
    SetThreadName("exit-watchdog");
    ExitWatchdogState& w = Watchdog();
    std::unique_lock lock(w.mu);
    if (w.cv.wait_for(lock, limit, [&] { return w.disarmed; })) return;
    spdlog::error(
        "stopping took longer than {} ms after everything was committed (still {}); exiting now",
        limit.count(), what);
    spdlog::default_logger()->flush();
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(exit_code);
  }).detach();
}

void DisarmExitWatchdog() {
  ExitWatchdogState& w = Watchdog();
  std::lock_guard lock(w.mu);
  w.disarmed = true;
  w.cv.notify_all();
}

namespace {
// The signals the daemon's signal thread takes: SIGINT and SIGTERM drain, SIGHUP (the service
// manager's reload) is answered without stopping.
sigset_t DaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

void BlockTerminationSignals() {
  sigset_t set = DaemonSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void Daemon::InstallSignalHandling() {
  sigset_t set = DaemonSignals();
  signal_thread_ = std::thread([this, set] {
    SetThreadName("signals");
    bool draining = false;
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP) {
        spdlog::warn(
            "received SIGHUP: reload is not supported yet; the daemon keeps running "
            "with the config it started with (restart it to apply changes)");
        continue;
      }
      if (draining) {
        std::fprintf(stderr, "pinstream: second signal, exiting at once\n");
        std::_Exit(130);
      }
      draining = true;
      spdlog::info("received {}: draining (send it again to exit at once)",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      RequestDrain();
    }
  });
}

}  // namespace pinstream
