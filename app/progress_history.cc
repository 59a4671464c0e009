#include "app/progress_history.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/time_util.h"

namespace pinstream::app {

namespace {

constexpr std::size_t kTriggerExecution = ProgressHistory::kDurationParts.size() - 1;

double PerSecond(std::int64_t rows, std::int64_t ms) {
  return ms > 0 ? static_cast<double>(rows) * 1000.0 / static_cast<double>(ms) : 0.0;
}

}  // namespace

void ProgressHistory::Point::Merge(const Point& next) {
  last_ms = next.last_ms;
  last_batch = next.last_batch;
  batches += next.batches;
  input_rows += next.input_rows;
  output_rows += next.output_rows;
  dead_letter_rows += next.dead_letter_rows;
  interval_ms += next.interval_ms;
  interval_rows += next.interval_rows;
  for (std::size_t i = 0; i < duration_ms.size(); ++i) duration_ms[i] += next.duration_ms[i];
  if (next.latency_max_ms >= 0) latency_max_ms = std::max(latency_max_ms, next.latency_max_ms);
  if (next.latency_min_ms >= 0 && (latency_min_ms < 0 || next.latency_min_ms < latency_min_ms))
    latency_min_ms = next.latency_min_ms;
  backlog_records = next.backlog_records;
  if (next.watermark_ms >= 0) watermark_ms = next.watermark_ms;
  std::vector<State> merged = next.state;
  for (auto& s : merged) {
    for (const auto& old : state) {
      if (old.name == s.name) {
        s.rows_updated += old.rows_updated;
        s.rows_removed += old.rows_removed;
        s.rows_dropped_by_watermark += old.rows_dropped_by_watermark;
      }
    }
  }
  state = std::move(merged);
}

void ProgressHistory::Add(const QueryProgress& p) {
  Point pt;
  pt.first_ms = pt.last_ms = p.timestamp_ms;
  pt.first_batch = pt.last_batch = p.batch_id;
  pt.batches = 1;
  pt.input_rows = p.num_input_rows;
  pt.output_rows = p.num_output_rows;
  pt.dead_letter_rows = p.num_dead_letter_rows;
  for (std::size_t i = 0; i < kDurationParts.size(); ++i) {
    auto it = p.duration_ms.find(kDurationParts[i]);
    if (it != p.duration_ms.end()) pt.duration_ms[i] = it->second;
  }
  if (p.committed_at_us > 0 && p.min_arrival_us >= 0 && p.max_arrival_us >= 0) {
    pt.latency_max_ms = (p.committed_at_us - p.min_arrival_us) / 1000;
    pt.latency_min_ms = (p.committed_at_us - p.max_arrival_us) / 1000;
  }
  pt.backlog_records = p.backlog_records;
  if (p.event_time && !p.event_time->watermark.empty()) {
    auto us = ParseTimestamp(p.event_time->watermark);
    if (us.ok()) pt.watermark_ms = *us / 1000;  // (one that does not parse is not charted)
  }
  for (const auto& s : p.state_operators) {
    pt.state.push_back(Point::State{s.operator_name, s.num_rows_total, s.memory_used_bytes,
                                    s.num_rows_updated, s.num_rows_removed,
                                    s.num_rows_dropped_by_watermark});
  }

  std::lock_guard lock(mu_);
  Series& s = series_[p.name];
  if (s.last_trigger_ms >= 0 && p.timestamp_ms >= s.last_trigger_ms) {
    pt.interval_ms = p.timestamp_ms - s.last_trigger_ms;
    pt.interval_rows = p.num_input_rows;
  }
  s.last_trigger_ms = p.timestamp_ms;
  s.recent.push_back(std::move(pt));
  if (s.recent.size() <= kRecent) return;
  Point old = std::move(s.recent.front());
  s.recent.pop_front();
  if (!s.tail.empty() && s.tail.back().last_ms - s.tail.back().first_ms < s.bucket_ms) {
    s.tail.back().Merge(old);
    return;
  }
  s.tail.push_back(std::move(old));
  if (s.tail.size() <= kTail) return;
  std::vector<Point> halved;
  halved.reserve(kTail / 2 + 1);
  for (std::size_t i = 0; i < s.tail.size(); i += 2) {
    halved.push_back(std::move(s.tail[i]));
    if (i + 1 < s.tail.size()) halved.back().Merge(s.tail[i + 1]);
  }
  s.tail = std::move(halved);
  s.bucket_ms *= 2;
}

std::string ProgressHistory::PointJson(const Point& p) {
  nlohmann::ordered_json j;
  j["startMs"] = p.first_ms;
  j["endMs"] = p.last_ms;
  j["batches"] = p.batches;
  j["batchIds"] = {p.first_batch, p.last_batch};
  j["numInputRows"] = p.input_rows;
  j["numOutputRows"] = p.output_rows;
  j["numDeadLetterRows"] = p.dead_letter_rows;
  j["inputRowsPerSecond"] = PerSecond(p.interval_rows, p.interval_ms);
  j["processedRowsPerSecond"] = PerSecond(p.input_rows, p.duration_ms[kTriggerExecution]);
  nlohmann::ordered_json d = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < kDurationParts.size(); ++i) {
    d[kDurationParts[i]] = static_cast<double>(p.duration_ms[i]) /
                           static_cast<double>(std::max<std::int64_t>(p.batches, 1));
  }
  j["durationMs"] = std::move(d);
  if (p.latency_max_ms >= 0) {
    j["ingestToVisibleMs"] = {{"max", p.latency_max_ms}, {"min", p.latency_min_ms}};
  } else {
    j["ingestToVisibleMs"] = nullptr;
  }
  j["backlogRecords"] = p.backlog_records;
  j["watermarkMs"] = p.watermark_ms >= 0 ? nlohmann::ordered_json(p.watermark_ms) : nullptr;
  nlohmann::ordered_json ops = nlohmann::ordered_json::array();
  for (const auto& s : p.state) {
    ops.push_back({{"operatorName", s.name},
                   {"numRowsTotal", s.rows_total},
                   {"memoryUsedBytes", s.memory_bytes},
                   {"numRowsUpdated", s.rows_updated},
                   {"numRowsRemoved", s.rows_removed},
                   {"numRowsDroppedByWatermark", s.rows_dropped_by_watermark}});
  }
  j["stateOperators"] = std::move(ops);
  return j.dump();
}

std::optional<std::string> ProgressHistory::Json(const std::string& query) const {
  std::lock_guard lock(mu_);
  auto it = series_.find(query);
  if (it == series_.end()) return std::nullopt;
  const Series& s = it->second;
  std::string out = nlohmann::ordered_json{
      {"name", query},
      {"recentPoints", s.recent.size()},
      {"tailPoints", s.tail.size()},
      {"tailBucketMs",
       s.bucket_ms}}.dump();
  out.pop_back();  // the closing brace: the points follow
  out += ",\"points\":[";
  bool first = true;
  auto add = [&](const Point& p) {
    if (!first) out += ",";
    first = false;
    out += PointJson(p);
  };
  for (const auto& p : s.tail) add(p);
  for (const auto& p : s.recent) add(p);
  return out + "]}";
}

std::optional<ProgressHistory::Summary> ProgressHistory::Summarize(const std::string& query,
                                                                   std::int64_t now_ms,
                                                                   std::int64_t window_ms) const {
  std::lock_guard lock(mu_);
  auto it = series_.find(query);
  if (it == series_.end() || it->second.recent.empty()) return std::nullopt;
  const Series& s = it->second;
  const Point& last = s.recent.back();
  Summary out;
  out.last_batch_ms = last.last_ms;
  out.input_rows_per_second = PerSecond(last.interval_rows, last.interval_ms);
  out.processed_rows_per_second = PerSecond(last.input_rows, last.duration_ms[kTriggerExecution]);
  out.batch_duration_ms = last.duration_ms[kTriggerExecution];
  out.latency_max_ms = last.latency_max_ms;
  std::int64_t rows = 0;
  for (auto p = s.recent.rbegin(); p != s.recent.rend() && p->first_ms > now_ms - window_ms; ++p)
    rows += p->input_rows;
  out.recent_input_rows_per_second = PerSecond(rows, window_ms);
  return out;
}

std::size_t ProgressHistory::size(const std::string& query) const {
  std::lock_guard lock(mu_);
  auto it = series_.find(query);
  return it == series_.end() ? 0 : it->second.recent.size() + it->second.tail.size();
}

}  // namespace pinstream::app
