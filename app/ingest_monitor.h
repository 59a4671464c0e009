// IngestMonitor: the ingest APIs' traffic over time — requests, refusals, records and the
// acknowledgement latency — sampled once a second from the process's metrics
// (pinstream_http_requests_total, pinstream_http_records_total by API and status,
// pinstream_http_ack_latency_seconds). GET /ingest and the console's overview read it.
//
// Per API (kafka-rest, kinesis-gateway, kinesis): totals since the daemon started and rates over
// the last `window` seconds. "Refused" are the answers that tell a client to come back later —
// 429 and 503 (backpressure, a store that cannot write) — and "errors" every other 4xx/5xx
// answer (bad requests, unknown streams, 401). Records count those acknowledged (status 200).
// The latency quantiles are those of the produce requests acknowledged within the window.
//
// Memory: the last kRawSamples cumulative samples (for the window) and kHistory per-second
// points (15 minutes: ~60 bytes each, ~54 KiB), whatever the daemon's age.
//
// Lifecycle: a daemon Service (it does not keep the daemon alive): Start() starts the sampling
// thread, Stop() ends it. Sample() may also be called directly (tests, with their own times).
// Threading: Sample and Json from any thread; one mutex.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/daemon.h"
#include "engine/metrics.h"

namespace pinstream::app {

class IngestMonitor : public Service {
 public:
  static constexpr std::array<const char*, 3> kApis = {"kafka-rest", "kinesis-gateway", "kinesis"};
  static constexpr std::size_t kHistory = 900;  // one point a second: 15 minutes
  static constexpr std::int64_t kWindowSeconds = 10;

  IngestMonitor() = default;
  ~IngestMonitor() override;

  std::string_view name() const override { return "ingest monitor"; }
  [[nodiscard]] Status Start() override;
  void StopAccepting() override {}
  void Stop() override;
  bool keeps_daemon_alive() const override { return false; }

  // Takes one sample of the metrics at `now_ms` (ms since the epoch).
  void Sample(std::int64_t now_ms);

  // {"windowSeconds", "apis": [{"api", "requests", "requestsPerSecond", "refused",
  //  "refusedPerSecond", "errors", "errorsPerSecond", "records", "recordsPerSecond",
  //  "byStatus": {"200": n, ...}}], "total": {the same summed, without byStatus},
  //  "ackLatencyMs": {"p50", "p99", "count"}, "history": [{"timeMs", "requestsPerSecond",
  //  "refusedPerSecond", "errorsPerSecond", "recordsPerSecond", "ackP50Ms", "ackP99Ms"}]}
  //  (ackP50Ms/ackP99Ms null for a second without acknowledgements)
  std::string Json() const;

 private:
  struct Totals {
    std::uint64_t requests = 0, refused = 0, errors = 0, records = 0;
    Totals& operator+=(const Totals& o) {
      requests += o.requests;
      refused += o.refused;
      errors += o.errors;
      records += o.records;
      return *this;
    }
  };
  struct RawSample {
    std::int64_t time_ms = 0;
    std::array<Totals, kApis.size()> apis;
    std::array<std::map<int, std::uint64_t>, kApis.size()> by_status;
    Histogram::Snapshot ack;
  };
  struct HistoryPoint {
    std::int64_t time_ms = 0;
    double requests = 0, refused = 0, errors = 0, records = 0;  // per second
    double ack_p50_ms = -1, ack_p99_ms = -1;  // -1: no acknowledgement in that second
  };
  static constexpr std::size_t kRawSamples = kWindowSeconds + 2;

  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<RawSample> raw_;
  std::deque<HistoryPoint> history_;
  std::thread thread_;
};

}  // namespace pinstream::app
