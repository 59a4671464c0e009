#include "engine/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace pinstream {

namespace {
std::string LabelString(const Labels& labels) {
  if (labels.empty()) return "";
  std::string s = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) s += ",";
    s += labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '"' || c == '\\') s.push_back('\\');
      if (c == '\n') {
        s += "\\n";
        continue;
      }
      s.push_back(c);
    }
    s += "\"";
  }
  return s + "}";
}
std::string Num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}
}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) {
  std::size_t i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                           bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(acc);
  }
  s.sum = sum_.load();
  s.count = acc;
  return s;
}

double Histogram::Quantile(double q) const { return SnapshotQuantile(snapshot(), q); }

double SnapshotQuantile(const Histogram::Snapshot& s, double q) {
  if (s.count == 0) return 0;
  double target = q * static_cast<double>(s.count);
  std::uint64_t prev = 0;
  for (std::size_t i = 0; i < s.bounds.size(); ++i) {
    if (static_cast<double>(s.cumulative[i]) >= target) {
      double lo = i == 0 ? 0 : s.bounds[i - 1];
      double in_bucket = static_cast<double>(s.cumulative[i] - prev);
      double frac = in_bucket > 0 ? (target - static_cast<double>(prev)) / in_bucket : 1;
      return lo + (s.bounds[i] - lo) * frac;
    }
    prev = s.cumulative[i];
  }
  return s.bounds.empty() ? 0 : s.bounds.back();
}

Histogram::Snapshot SnapshotDelta(const Histogram::Snapshot& later,
                                  const Histogram::Snapshot& earlier) {
  Histogram::Snapshot d = later;
  if (earlier.cumulative.size() != later.cumulative.size()) return d;
  for (std::size_t i = 0; i < d.cumulative.size(); ++i) d.cumulative[i] -= earlier.cumulative[i];
  d.sum -= earlier.sum;
  d.count -= earlier.count;
  return d;
}

MetricsRegistry::Family& MetricsRegistry::GetFamily(const std::string& name,
                                                    const std::string& help, const char* type) {
  Family& f = families_[name];
  if (f.type.empty()) {
    f.help = help;
    f.type = type;
  }
  return f;
}

Counter* MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = GetFamily(name, help, "counter");
  std::string key = LabelString(labels);
  auto& slot = f.counters[key];
  if (!slot) {
    slot = std::make_unique<Counter>();
    f.labels[key] = labels;
  }
  return slot.get();
}

std::vector<std::pair<Labels, std::uint64_t>> MetricsRegistry::CounterValues(
    const std::string& name) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<Labels, std::uint64_t>> out;
  auto it = families_.find(name);
  if (it == families_.end()) return out;
  for (const auto& [key, counter] : it->second.counters)
    out.emplace_back(it->second.labels[key], counter->value());
  return out;
}

Gauge* MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, help, "gauge").gauges[LabelString(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const Labels& labels, const std::vector<double>& bounds) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, help, "histogram").histograms[LabelString(labels)];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return slot.get();
}

void MetricsRegistry::AddCollector(Collector c) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(c));
}

std::string MetricsRegistry::RenderPrometheus() {
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c(*this);
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
    for (const auto& [labels, c] : f.counters)
      out += fmt::format("{}{} {}\n", name, labels, c->value());
    for (const auto& [labels, g] : f.gauges)
      out += fmt::format("{}{} {}\n", name, labels, Num(g->value()));
    for (const auto& [labels, h] : f.histograms) {
      auto s = h->snapshot();
      std::string inner = labels.empty() ? "" : labels.substr(1, labels.size() - 2) + ",";
      for (std::size_t i = 0; i < s.bounds.size(); ++i) {
        out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, inner, Num(s.bounds[i]),
                           s.cumulative[i]);
      }
      out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, inner, s.count);
      out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, labels, Num(s.sum), name, labels,
                         s.count);
    }
  }
  return out;
}

MetricsRegistry& Metrics() {
  static MetricsRegistry* r = new MetricsRegistry();
  return *r;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> b{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return b;
}

}  // namespace pinstream
