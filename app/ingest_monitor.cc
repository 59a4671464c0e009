#include "app/ingest_monitor.h"

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "engine/thread_name.h"
#include "engine/time_util.h"

namespace pinstream::app {

namespace {

// The ingest API's acknowledgement-latency histogram (connectors/http/ingest_context.cc names it
// with the same help text).
Histogram* AckLatency() {
  return Metrics().GetHistogram(
      "pinstream_http_ack_latency_seconds",
      "Time from a produce request's arrival to its durable acknowledgement", {}, LatencyBuckets());
}

std::string LabelValue(const Labels& labels, std::string_view name) {
  for (const auto& [k, v] : labels) {
    if (k == name) return v;
  }
  return {};
}

double Rate(std::uint64_t later, std::uint64_t earlier, std::int64_t ms) {
  return ms > 0 && later >= earlier
             ? static_cast<double>(later - earlier) * 1000.0 / static_cast<double>(ms)
             : 0.0;
}

}  // namespace

IngestMonitor::~IngestMonitor() { Stop(); }

Status IngestMonitor::Start() {
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void IngestMonitor::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void IngestMonitor::Loop() {
  SetThreadName("ingest-monitor");
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    Sample(NowMicros() / 1000);
    lock.lock();
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
  }
}

void IngestMonitor::Sample(std::int64_t now_ms) {
  RawSample s;
  s.time_ms = now_ms;
  auto index_of = [](const std::string& api) -> int {
    for (std::size_t i = 0; i < kApis.size(); ++i) {
      if (api == kApis[i]) return static_cast<int>(i);
    }
    return -1;
  };
  for (const auto& [labels, value] : Metrics().CounterValues("pinstream_http_requests_total")) {
    int i = index_of(LabelValue(labels, "api"));
    std::string status_text = LabelValue(labels, "status");
    int status = 0;
    std::from_chars(status_text.data(), status_text.data() + status_text.size(), status);
    if (i < 0) continue;
    Totals& t = s.apis[static_cast<std::size_t>(i)];
    t.requests += value;
    if (status == 429 || status == 503) {
      t.refused += value;
    } else if (status >= 400) {
      t.errors += value;
    }
    s.by_status[static_cast<std::size_t>(i)][status] += value;
  }
  for (const auto& [labels, value] : Metrics().CounterValues("pinstream_http_records_total")) {
    int i = index_of(LabelValue(labels, "api"));
    if (i >= 0 && LabelValue(labels, "status") == "200")
      s.apis[static_cast<std::size_t>(i)].records += value;
  }
  s.ack = AckLatency()->snapshot();

  std::lock_guard lock(mu_);
  if (!raw_.empty() && now_ms > raw_.back().time_ms) {
    const RawSample& prev = raw_.back();
    std::int64_t ms = now_ms - prev.time_ms;
    HistoryPoint h;
    h.time_ms = now_ms;
    for (std::size_t i = 0; i < kApis.size(); ++i) {
      h.requests += Rate(s.apis[i].requests, prev.apis[i].requests, ms);
      h.refused += Rate(s.apis[i].refused, prev.apis[i].refused, ms);
      h.errors += Rate(s.apis[i].errors, prev.apis[i].errors, ms);
      h.records += Rate(s.apis[i].records, prev.apis[i].records, ms);
    }
    Histogram::Snapshot d = SnapshotDelta(s.ack, prev.ack);
    if (d.count > 0) {
      h.ack_p50_ms = SnapshotQuantile(d, 0.5) * 1000.0;
      h.ack_p99_ms = SnapshotQuantile(d, 0.99) * 1000.0;
    }
    history_.push_back(h);
    while (history_.size() > kHistory) history_.pop_front();
  }
  raw_.push_back(std::move(s));
  while (raw_.size() > kRawSamples) raw_.pop_front();
}

std::string IngestMonitor::Json() const {
  using nlohmann::ordered_json;
  std::lock_guard lock(mu_);
  ordered_json j;
  j["windowSeconds"] = kWindowSeconds;
  ordered_json apis = ordered_json::array();
  // The newest sample and the oldest within the window.
  const RawSample* last = raw_.empty() ? nullptr : &raw_.back();
  const RawSample* first = last;
  for (const auto& r : raw_) {
    if (last != nullptr && r.time_ms >= last->time_ms - kWindowSeconds * 1000 - 500) {
      first = &r;
      break;
    }
  }
  std::int64_t ms = last != nullptr ? last->time_ms - first->time_ms : 0;
  Totals sum_last, sum_first;
  auto counts = [&](const Totals& a, const Totals& b) {
    return ordered_json{
        {"requests", a.requests}, {"requestsPerSecond", Rate(a.requests, b.requests, ms)},
        {"refused", a.refused},   {"refusedPerSecond", Rate(a.refused, b.refused, ms)},
        {"errors", a.errors},     {"errorsPerSecond", Rate(a.errors, b.errors, ms)},
        {"records", a.records},   {"recordsPerSecond", Rate(a.records, b.records, ms)}};
  };
  for (std::size_t i = 0; i < kApis.size(); ++i) {
    Totals a = last != nullptr ? last->apis[i] : Totals();
    Totals b = first != nullptr ? first->apis[i] : Totals();
    ordered_json o{{"api", kApis[i]}};
    o.update(counts(a, b));
    ordered_json by_status = ordered_json::object();
    if (last != nullptr) {
      for (const auto& [status, n] : last->by_status[i]) by_status[std::to_string(status)] = n;
    }
    o["byStatus"] = std::move(by_status);
    apis.push_back(std::move(o));
    sum_last += a;
    sum_first += b;
  }
  j["apis"] = std::move(apis);
  j["total"] = counts(sum_last, sum_first);
  Histogram::Snapshot d =
      last != nullptr ? SnapshotDelta(last->ack, first->ack) : Histogram::Snapshot{};
  j["ackLatencyMs"] = {{"p50", SnapshotQuantile(d, 0.5) * 1000.0},
                       {"p99", SnapshotQuantile(d, 0.99) * 1000.0},
                       {"count", d.count}};
  ordered_json hist = ordered_json::array();
  for (const auto& h : history_) {
    hist.push_back({{"timeMs", h.time_ms},
                    {"requestsPerSecond", h.requests},
                    {"refusedPerSecond", h.refused},
                    {"errorsPerSecond", h.errors},
                    {"recordsPerSecond", h.records},
                    {"ackP50Ms", h.ack_p50_ms >= 0 ? ordered_json(h.ack_p50_ms) : ordered_json()},
                    {"ackP99Ms", h.ack_p99_ms >= 0 ? ordered_json(h.ack_p99_ms) : ordered_json()}});
  }
  j["history"] = std::move(hist);
  return j.dump();
}

}  // namespace pinstream::app
