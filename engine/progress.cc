#include "engine/progress.h"

#include <nlohmann/json.hpp>

#include "engine/time_util.h"

namespace pinstream {

namespace {
nlohmann::json Offsets(const PartitionOffsets& o) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : o) j[k] = v;
  return j;
}
}  // namespace

std::string QueryProgress::ToJson() const {
  using nlohmann::ordered_json;
  ordered_json j;
  j["id"] = id;
  j["runId"] = run_id;
  j["name"] = name;
  j["timestamp"] = FormatTimestamp(timestamp_ms * 1000, TimestampStyle::kIso);
  j["batchId"] = batch_id;
  j["numInputRows"] = num_input_rows;
  j["inputRowsPerSecond"] = input_rows_per_second;
  j["processedRowsPerSecond"] = processed_rows_per_second;
  ordered_json d = ordered_json::object();
  for (const char* k : {"latestOffset", "queryPlanning", "walCommit", "getBatch", "execution",
                        "commitWait", "addBatch", "commitOffsets", "triggerExecution"}) {
    auto it = duration_ms.find(k);
    if (it != duration_ms.end()) d[k] = it->second;
  }
  j["durationMs"] = d;
  ordered_json srcs = ordered_json::array();
  double secs =
      duration_ms.count("triggerExecution") ? duration_ms.at("triggerExecution") / 1000.0 : 0;
  for (const auto& s : sources) {
    ordered_json o;
    o["description"] = s.description;
    o["startOffset"] = Offsets(s.start_offset);
    o["endOffset"] = Offsets(s.end_offset);
    o["latestOffset"] = Offsets(s.latest_offset);
    o["numInputRows"] = s.num_input_rows;
    if (!s.metrics.empty()) o["metrics"] = s.metrics;  // Spark's ReportsSourceMetrics
    o["inputRowsPerSecond"] =
        num_input_rows > 0 ? input_rows_per_second * s.num_input_rows / num_input_rows : 0.0;
    o["processedRowsPerSecond"] = secs > 0 ? s.num_input_rows / secs : 0.0;
    srcs.push_back(std::move(o));
  }
  j["sources"] = srcs;
  ordered_json states = ordered_json::array();
  for (const auto& st : state_operators) {
    ordered_json o;
    o["operatorName"] = st.operator_name;
    o["numRowsTotal"] = st.num_rows_total;
    o["numRowsUpdated"] = st.num_rows_updated;
    o["numRowsRemoved"] = st.num_rows_removed;
    o["memoryUsedBytes"] = st.memory_used_bytes;
    o["numRowsDroppedByWatermark"] = st.num_rows_dropped_by_watermark;
    o["numShufflePartitions"] = st.num_shuffle_partitions;
    o["numStateStoreInstances"] = st.num_shuffle_partitions;  // one store per shard
    if (!st.custom_metrics.empty()) {
      ordered_json cm = ordered_json::object();
      for (const auto& [k, v] : st.custom_metrics) cm[k] = v;
      o["customMetrics"] = std::move(cm);
    }
    states.push_back(std::move(o));
  }
  j["stateOperators"] = states;
  if (event_time) {
    ordered_json et = ordered_json::object();
    if (!event_time->avg.empty()) et["avg"] = event_time->avg;
    if (!event_time->max.empty()) et["max"] = event_time->max;
    if (!event_time->min.empty()) et["min"] = event_time->min;
    if (!event_time->watermark.empty()) et["watermark"] = event_time->watermark;
    j["eventTime"] = std::move(et);
  }
  j["sink"] = {{"description", sink_description}, {"numOutputRows", num_output_rows}};
  if (!dead_letter_description.empty()) {
    j["deadLetter"] = {{"description", dead_letter_description},
                       {"numOutputRows", num_dead_letter_rows}};
  }
  j["backlogRecords"] = backlog_records;
  if (committed_at_us > 0)
    j["committedAt"] = FormatTimestamp(committed_at_us, TimestampStyle::kIsoMicro);
  if (committed_at_us > 0 && min_arrival_us >= 0 && max_arrival_us >= 0) {
    j["ingestToVisibleMs"] = {{"max", (committed_at_us - min_arrival_us) / 1000},
                              {"min", (committed_at_us - max_arrival_us) / 1000}};
  }
  return j.dump();
}

}  // namespace pinstream
