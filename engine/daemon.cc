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

Daemon::Daemon(DaemonParts parts) : parts_(std::move(parts)), config_(parts_.config) {}

Daemon::~Daemon() {
  {
    std::lock_guard lock(mu_);
    reload_thread_exit_ = true;
    reload_cv_.notify_all();
  }
  if (reload_thread_.joinable()) reload_thread_.join();
  for (auto& r : queries_) {
    if (r.thread.joinable()) r.thread.join();
  }
  {
    std::lock_guard lock(mu_);  // waits for a RequestDrain() in progress on the signal thread
    queries_.clear();
  }
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
  for (const auto& qc : config().queries) {
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
  if (p.committed_at_us > 0 && p.min_arrival_us >= 0 && p.max_arrival_us >= 0) {
    // How old the batch's oldest and newest record were when its commit made them readable.
    for (const auto& [which, arrival] :
         {std::pair{"oldest", p.min_arrival_us}, std::pair{"newest", p.max_arrival_us}}) {
      Metrics()
          .GetHistogram("pinstream_query_record_age_at_commit_seconds",
                        "Age of a batch's oldest and newest record when the batch's commit made "
                        "them readable (arrival at the source to commit)",
                        {{"query", p.name}, {"record", which}}, LatencyBuckets())
          ->Observe(static_cast<double>(std::max<std::int64_t>(0, p.committed_at_us - arrival)) /
                    1e6);
    }
  }
  {
    std::lock_guard lock(mu_);
    auto& q = progress_[p.name];
    q.push_back(p.ToJson());
    while (q.size() > 100) q.pop_front();
  }
  if (parts_.on_progress) parts_.on_progress(p);
}

Result<std::shared_ptr<StreamingQuery>> Daemon::StartQuery(const QueryConfig& qc,
                                                           const DaemonConfig& cfg,
                                                           bool keep_damaged) {
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
  auto q = std::make_shared<StreamingQuery>(std::move(qp),
                                            [this](const QueryProgress& p) { OnProgress(p); });
  if (Status st = q->Start(); !st.ok()) {
    // Damaged data (a checkpoint entry whose checksum does not match) is this query's alone: it
    // is kept failed, naming what was hit, and the daemon runs the others.
    const bool damaged = st.code() == StatusCode::kCorruption || st.code() == StatusCode::kDataLoss;
    if (!keep_damaged || !damaged) return st;
    q->FailBeforeRunning(std::move(st));
  }
  return q;
}

Status Daemon::Start() {
  const DaemonConfig& cfg = *parts_.config;
  for (Service* s : parts_.services) {
    PS_RETURN_IF_ERROR(s->Start().WithContext(fmt::format("starting {}", s->name())));
  }
  for (const auto& qc : cfg.queries) {
    PS_ASSIGN_OR_RETURN(auto q, StartQuery(qc, cfg, /*keep_damaged=*/true));
    std::lock_guard lock(mu_);
    queries_.push_back(Running{std::move(q), {}});
  }
  for (Service* s : parts_.services) s->SetReady();
  LogInfo({{"queries", queries_.size()}, {"data_dir", cfg.data_dir}}, "pinstream ready");
  return Status::Ok();
}

void Daemon::RunThread(Running& r) {
  running_.fetch_add(1);
  StreamingQuery* raw = r.query.get();
  r.thread = std::thread([this, raw] {
    SetThreadName("q:" + raw->name());
    Status st = raw->Run();
    if (!st.ok()) any_failed_.store(true);
    running_.fetch_sub(1);
    std::lock_guard lock(mu_);
    cv_.notify_all();
  });
}

void Daemon::StopAndJoin(Running& r) {
  r.query->Stop();
  if (r.thread.joinable()) r.thread.join();
}

int Daemon::Run() {
  {
    std::lock_guard reload(reload_mu_);
    for (auto& r : queries_) RunThread(r);
    run_started_ = true;
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
  {
    std::lock_guard reload(reload_mu_);  // a reload in progress finishes first
    for (auto& r : queries_) r.query->Stop();
    for (auto& r : queries_) {
      if (r.thread.joinable()) r.thread.join();
    }
    stopped_ = true;
  }
  for (Service* s : parts_.services) s->Stop();
  int failed = 0;
  for (const auto& q : queries()) {
    auto snap = q->snapshot();
    if (snap.state == QueryState::kFailed) {
      ++failed;
      LogError({{"query", snap.name}, {"error", snap.error}}, "query failed");
    }
  }
  LogInfo({{"queries", queries().size()}, {"failed", failed}}, "pinstream stopped");
  return failed > 0 || any_failed_.load() ? 1 : 0;
}

void Daemon::RequestDrain() {
  // Under mu_ and without owning copies of the queries: the signal thread calls this while Run()
  // may return and the daemon (and then the store) be destroyed; a copy of queries() held here
  // could be a query's last owner and destroy it, with its sources, after the store was freed.
  std::lock_guard lock(mu_);
  drain_.store(true);
  for (const auto& r : queries_) r.query->Stop();
  cv_.notify_all();
}

std::shared_ptr<StreamingQuery> Daemon::FindQuery(const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const auto& r : queries_) {
    if (r.query->name() == name) return r.query;
  }
  return nullptr;
}

std::vector<std::shared_ptr<StreamingQuery>> Daemon::queries() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<StreamingQuery>> out;
  for (const auto& r : queries_) out.push_back(r.query);
  return out;
}

std::vector<std::string> Daemon::RecentProgress(const std::string& query) const {
  std::lock_guard lock(mu_);
  auto it = progress_.find(query);
  if (it == progress_.end()) return {};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

const DaemonConfig& Daemon::config() const {
  std::lock_guard lock(mu_);
  return *config_;
}

void Daemon::SetReloadHandler(ReloadHandler handler) {
  std::lock_guard lock(mu_);
  reload_handler_ = std::move(handler);
}

void Daemon::RequestReload(std::function<void(std::string)> done) {
  std::lock_guard lock(mu_);
  reload_requests_.push_back(done ? std::move(done) : [](std::string) {});
  reload_cv_.notify_all();
}

void Daemon::ReloadLoop() {
  SetThreadName("reload");
  for (;;) {
    std::function<void(std::string)> done;
    ReloadHandler handler;
    {
      std::unique_lock lock(mu_);
      reload_cv_.wait(lock, [&] { return reload_thread_exit_ || !reload_requests_.empty(); });
      if (reload_thread_exit_) break;
      done = std::move(reload_requests_.front());
      reload_requests_.pop_front();
      handler = reload_handler_;
    }
    std::string result;
    if (drain_.load()) {
      result = R"({"ok":false,"error":"the daemon is draining; nothing was reloaded"})";
    } else if (!handler) {
      result = R"({"ok":false,"error":"reload is not available before the daemon is ready"})";
    } else {
      result = handler();
    }
    done(std::move(result));
  }
  // Requests still queued get an answer.
  std::unique_lock lock(mu_);
  while (!reload_requests_.empty()) {
    auto done = std::move(reload_requests_.front());
    reload_requests_.pop_front();
    lock.unlock();
    done(R"({"ok":false,"error":"the daemon is stopping; nothing was reloaded"})");
    lock.lock();
  }
}

Result<QueryReload> Daemon::ReloadQueries(std::shared_ptr<const DaemonConfig> next,
                                          const ConfigDiff& diff) {
  std::lock_guard reload(reload_mu_);
  if (drain_.load() || stopped_)
    return FailedPrecondition("the daemon is draining; nothing was reloaded");
  const DaemonConfig& old_cfg = config();
  QueryReload out;
  out.unchanged = diff.queries_unchanged;
  auto find_config = [](const DaemonConfig& cfg, const std::string& name) -> const QueryConfig* {
    for (const auto& q : cfg.queries) {
      if (q.name == name) return &q;
    }
    return nullptr;
  };
  auto index_of = [this](const std::string& name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < queries_.size(); ++i) {
      if (queries_[i].query->name() == name) return i;
    }
    return std::nullopt;
  };
  // Changed queries whose checkpoint the new config would misread are refused before anything
  // stops; the others are stopped (with the removed ones) and started from the new config.
  std::vector<std::string> restart;
  for (const auto& name : diff.queries_changed) {
    const QueryConfig* qc = find_config(*next, name);
    auto i = index_of(name);
    if (qc == nullptr || !i) {
      out.failed.emplace_back(name, "not running");
      continue;
    }
    // A live view's changed statement resets it when it starts (StreamingQuery::Start): its
    // checkpoint is never misread, so it is not refused here.
    if (!qc->view.empty()) {
      restart.push_back(name);
      continue;
    }
    std::vector<std::string> kinds, descriptors;
    for (const auto& s : qc->sources) {
      kinds.emplace_back(next->sources.at(s).spec->kind());
      descriptors.push_back(next->sources.at(s).spec->Descriptor());
    }
    Status compatible = CheckMetadataCompatible(queries_[*i].query->metadata(),
                                                MetadataOf(*qc, kinds, descriptors));
    if (!compatible.ok()) {
      out.refused.emplace_back(name, compatible.message());
      continue;
    }
    restart.push_back(name);
  }
  std::vector<Running> retired;
  auto retire = [&](const std::string& name) {
    auto i = index_of(name);
    if (!i) return;
    StopAndJoin(queries_[*i]);
    std::lock_guard lock(mu_);
    retired.push_back(std::move(queries_[*i]));
    queries_.erase(queries_.begin() + static_cast<std::ptrdiff_t>(*i));
  };
  for (const auto& name : diff.queries_removed) {
    retire(name);
    out.stopped.push_back(name);
  }
  for (const auto& name : restart) retire(name);
  // The new config is current from here on: started queries point into it.
  {
    std::lock_guard lock(mu_);
    kept_.push_back(next);
    config_ = next.get();
  }
  auto launch = [&](std::shared_ptr<StreamingQuery> q) {
    std::lock_guard lock(mu_);
    queries_.push_back(Running{std::move(q), {}});
    if (run_started_) RunThread(queries_.back());
  };
  for (const auto& name : diff.queries_added) {
    auto q = StartQuery(*find_config(*next, name), *next);
    if (!q.ok()) {
      out.failed.emplace_back(name, q.status().message());
      continue;
    }
    launch(std::move(q).value());
    out.started.push_back(name);
  }
  for (const auto& name : restart) {
    auto q = StartQuery(*find_config(*next, name), *next);
    if (q.ok()) {
      if ((*q)->view_reset()) out.reset.push_back(name);
      launch(std::move(q).value());
      out.restarted.push_back(name);
      continue;
    }
    // The old config's query starts again (from the checkpoint its last batch committed).
    std::string reason = q.status().message();
    auto old = StartQuery(*find_config(old_cfg, name), old_cfg);
    if (old.ok()) {
      launch(std::move(old).value());
      reason += "; the query runs its previous config again";
    } else {
      reason += "; starting its previous config again failed too: " + old.status().message();
    }
    out.failed.emplace_back(name, reason);
  }
  // Refused queries keep running with the config they started with, which stays alive in kept_
  // (or is the daemon's first config).
  return out;
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
  reload_thread_ = std::thread([this] { ReloadLoop(); });
  sigset_t set = DaemonSignals();
  signal_thread_ = std::thread([this, set] {
    SetThreadName("signals");
    bool draining = false;
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP) {
        spdlog::info("received SIGHUP: reloading the config");
        RequestReload(nullptr);  // the handler logs the result
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
