// Metrics: counters, gauges and histograms rendered in the Prometheus text exposition format
// (served at /metrics by the HTTP server).
//
//   Counter* c = Metrics().GetCounter("pinstream_http_requests_total", "HTTP requests",
//                                      {{"api", "kafka-rest"}, {"status", "200"}});
//   c->Inc();
//
// Get* returns a pointer that stays valid for the life of the process; callers on hot paths keep
// it. Increments are lock-free; Get* and Render take a mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pinstream {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf
    double sum;
    std::uint64_t count;
  };
  Snapshot snapshot() const;
  // The value below which fraction q of the observations fall (bucket upper bound, interpolated).
  double Quantile(double q) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

class MetricsRegistry {
 public:
  Counter* GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram* GetHistogram(const std::string& name, const std::string& help, const Labels& labels,
                          const std::vector<double>& bounds);
  // The counters of the family `name` with their labels and values (e.g. HTTP requests by API and
  // status for the admin API's /ingest); empty when there is no such family.
  std::vector<std::pair<Labels, std::uint64_t>> CounterValues(const std::string& name);
  // Values computed when /metrics is scraped (e.g. backlog per query).
  using Collector = std::function<void(MetricsRegistry&)>;
  void AddCollector(Collector c);
  std::string RenderPrometheus();

 private:
  struct Family {
    std::string help, type;
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
    std::map<std::string, Labels> labels;  // label string → labels, of the counters
  };
  Family& GetFamily(const std::string& name, const std::string& help, const char* type);
  std::mutex mu_;
  std::map<std::string, Family> families_;
  std::vector<Collector> collectors_;
};

MetricsRegistry& Metrics();

// The value below which fraction q of the observations of `s` fall (bucket upper bound,
// interpolated); 0 when it has none.
double SnapshotQuantile(const Histogram::Snapshot& s, double q);
// The observations made between two snapshots of one histogram (`later` whole when the
// snapshots' buckets differ).
Histogram::Snapshot SnapshotDelta(const Histogram::Snapshot& later,
                                  const Histogram::Snapshot& earlier);

// Latency buckets in seconds (100 µs … 10 s).
const std::vector<double>& LatencyBuckets();

}  // namespace pinstream
