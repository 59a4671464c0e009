// What the ingest APIs (REST Proxy, API-Gateway Kinesis, native Kinesis) share: the source log as
// they use it (streams resolved or created on first use, backpressure, records placed on
// partitions), their request counters, and the Reply every handler answers through.
//
// Threading: everything here is called from the server's I/O threads at once and is
// thread-safe; a Reply is used by one thread at a time (it moves with its request).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "connectors/http/api.h"
#include "connectors/http/auth.h"
#include "connectors/http/http_config.h"
#include "connectors/http/partitioner.h"
#include "connectors/http/request_parsers.h"
#include "state/source_log.h"

namespace pinstream {
class Counter;
class Histogram;
}  // namespace pinstream

namespace pinstream::connectors::http {

// One API's counters of requests and of produced records, by status
// (pinstream_http_requests_total, pinstream_http_records_total with label api=<label>). Each is
// resolved once: the metrics registry's lookup takes a lock and builds label strings, too much
// for every request.
class ApiCounters {
 public:
  explicit ApiCounters(std::string api_label) : label_(std::move(api_label)) {}
  void CountRequest(int status);
  void CountRecords(int status, std::size_t n);

 private:
  using Cache = std::array<std::atomic<Counter*>, 600>;
  Counter* Cached(Cache& cache, const char* name, const char* help, int status);
  std::string label_;
  Cache requests_{};
  Cache records_{};
};

// A request's answer: the server's callback, called once, and what the request is counted under
// — its API's counters by status, and for produce requests the acknowledgement latency. Moved
// along with the request (wrapping the callback in another std::function would allocate per
// request).
class Reply {
 public:
  // `ack_latency` is observed for successful answers when non-null (produce requests).
  Reply(ApiCounters* counters, Histogram* ack_latency, Respond respond)
      : counters_(counters),
        ack_latency_(ack_latency),
        respond_(std::move(respond)),
        t0_(std::chrono::steady_clock::now()) {}
  void operator()(ApiResponse r) const;
  // The records of a produce request, by the status they ended with.
  void CountRecords(int status, std::size_t n) const { counters_->CountRecords(status, n); }

 private:
  ApiCounters* counters_;
  Histogram* ack_latency_;
  Respond respond_;
  std::chrono::steady_clock::time_point t0_;
};

// The http settings requests are served with, as one immutable generation: the config (its
// limits, timeouts, auto_create, default_partitions, max_backlog_records), the produce parsers'
// limits and the authenticator built from it.
struct HttpSettings {
  explicit HttpSettings(const HttpConfig& c);
  HttpConfig config;
  ParseLimits limits;
  Authenticator auth;
};

// The source log as the ingest APIs use it, and the settings in force.
//
// Settings: a reload replaces them (ApplySettings) while requests are being served. Each
// generation is immutable and kept until the context is destroyed (a reload adds a few KB), so a
// request reads the current one with one atomic load and may keep references into it for as
// long as it runs; the requests that start after ApplySettings returns see the new one.
class IngestContext {
 public:
  IngestContext(const HttpConfig& config, state::SourceLog* log);

  const HttpSettings& settings() const { return *settings_.load(std::memory_order_acquire); }
  const HttpConfig& config() const { return settings().config; }
  state::SourceLog* log() const { return log_; }
  const ParseLimits& limits() const { return settings().limits; }
  // Makes `config`'s settings the ones new requests are served with. Thread-safe.
  void ApplySettings(const HttpConfig& config);
  // The histogram of produce requests' acknowledgement latency.
  Histogram* ack_latency() const { return ack_latency_; }

  // The stream, created on first use when `auto_create` is on (with `default_partitions`).
  std::optional<state::LogStreamInfo> Resolve(const std::string& name, state::LogApi api);
  // Why `stream` takes no records now — its slowest query's backlog is over
  // `max_backlog_records` — or nullopt when it does.
  std::optional<std::string> Backpressure(const std::string& stream) const;
  // The records of one request on the partitions they go to (partitioner.h): a partition the
  // request named is kept, a keyed record goes where its API's clients would send it (Kafka
  // murmur2, Kinesis MD5 ranges), keyless ones round-robin over the stream.
  std::vector<state::LogRecord> PlaceOnPartitions(const state::LogStreamInfo& info,
                                                  std::vector<ProducedRecord> records);

 private:
  std::mutex settings_mu_;  // generations_
  std::vector<std::unique_ptr<const HttpSettings>> generations_;
  std::atomic<const HttpSettings*> settings_;
  state::SourceLog* log_;
  Histogram* ack_latency_;
  RoundRobin round_robin_;
};

}  // namespace pinstream::connectors::http
