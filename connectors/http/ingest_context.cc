#include "connectors/http/ingest_context.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/config.h"
#include "engine/metrics.h"

namespace pinstream::connectors::http {

using state::LogApi;
using state::LogStreamInfo;

Counter* ApiCounters::Cached(Cache& cache, const char* name, const char* help, int status) {
  auto& slot = cache[static_cast<std::size_t>(std::clamp(status, 0, 599))];
  Counter* c = slot.load(std::memory_order_acquire);
  if (c == nullptr) {
    c = Metrics().GetCounter(name, help, {{"api", label_}, {"status", std::to_string(status)}});
    slot.store(c, std::memory_order_release);
  }
  return c;
}

void ApiCounters::CountRequest(int status) {
  Cached(requests_, "pinstream_http_requests_total", "HTTP requests by API and status", status)
      ->Inc();
}

void ApiCounters::CountRecords(int status, std::size_t n) {
  Cached(records_, "pinstream_http_records_total", "Records in produce requests by API and outcome",
         status)
      ->Inc(n);
}

void Reply::operator()(ApiResponse r) const {
  counters_->CountRequest(r.status);
  if (ack_latency_ != nullptr && r.status == 200) {
    ack_latency_->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
  }
  respond_(std::move(r));
}

HttpSettings::HttpSettings(const HttpConfig& c) : config(c), auth(c) {
  limits.max_record_bytes = c.max_record_bytes;
}

IngestContext::IngestContext(const HttpConfig& config, state::SourceLog* log) : log_(log) {
  generations_.push_back(std::make_unique<const HttpSettings>(config));
  settings_.store(generations_.back().get(), std::memory_order_release);
  ack_latency_ = Metrics().GetHistogram(
      "pinstream_http_ack_latency_seconds",
      "Time from a produce request's arrival to its durable acknowledgement", {}, LatencyBuckets());
}

void IngestContext::ApplySettings(const HttpConfig& config) {
  auto next = std::make_unique<const HttpSettings>(config);
  std::lock_guard lock(settings_mu_);
  settings_.store(next.get(), std::memory_order_release);
  generations_.push_back(std::move(next));
}

std::optional<LogStreamInfo> IngestContext::Resolve(const std::string& name, LogApi api) {
  if (auto s = log_->Find(name)) return s;
  const HttpConfig& config = this->config();
  if (!config.auto_create || !IsValidName(name)) return std::nullopt;
  auto created = log_->Create(name, config.default_partitions, api);
  if (created.ok()) return *created;
  return log_->Find(name);  // created concurrently
}

std::optional<std::string> IngestContext::Backpressure(const std::string& stream) const {
  std::int64_t backlog = log_->MaxBacklog(stream);
  const std::int64_t limit = config().max_backlog_records;
  if (backlog <= limit) return std::nullopt;
  return fmt::format("'{}' has {} records not yet processed by its queries (limit {}); retry later",
                     stream, backlog, limit);
}

std::vector<state::LogRecord> IngestContext::PlaceOnPartitions(
    const LogStreamInfo& info, std::vector<ProducedRecord> records) {
  std::uint32_t keyless = 0;
  for (const auto& r : records) keyless += r.partition < 0 && !r.has_key ? 1 : 0;
  std::uint32_t next = keyless > 0 ? round_robin_.Take(info.name, keyless) : 0;
  const auto partitions = static_cast<std::uint32_t>(info.partitions);
  std::vector<state::LogRecord> out;
  out.reserve(records.size());
  for (ProducedRecord& r : records) {
    int p = r.partition;
    if (p < 0) {
      if (!r.has_key) {
        p = static_cast<int>(next++ % partitions);
      } else if (info.api == LogApi::kKinesisStream) {
        p = KinesisShardForKey(r.key, info.partitions);
      } else {
        p = KafkaPartitionForKey(r.key, info.partitions);
      }
    }
    out.push_back(state::LogRecord{p, r.has_key, std::move(r.key), std::move(r.value)});
  }
  return out;
}

}  // namespace pinstream::connectors::http
