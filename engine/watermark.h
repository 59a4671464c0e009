// Event time and watermarks (Spark's semantics).
//
// An input declares `watermark: {column: event_time, delay: 10m}`. The engine observes the event
// times of its rows at one point of the query (a WatermarkObserver slot: after the input's own
// operators, or — for a single-input query — before its first stateful operator, where the
// column exists) and keeps, per input, the maximum event time seen. Batch N runs with
//
//     W_N = max(W_{N-1}, min over inputs that have seen rows of (max event time − delay))
//
// computed from the batches before N (Spark's default "min" policy over several inputs; inputs
// without rows yet do not hold it back), never moving back. An input reading a table written by
// a query whose watermark bounds its output (a join's, which emits rows up to its lag behind its
// watermark — left outer rows with nulls among them) has its term capped by the bound the table's
// versions record (Source::EventTimeFloor): min(max − delay, floor), so rows the writer emitted
// late are never late here, whatever this input's delay (Flink's watermarks carried through
// Kafka do the same). Such a floor holds the watermark back even before the input has rows. W_N is written into offsets/N
// (batchWatermarkMs, and per input the value it came from), so a replayed batch uses the same
// watermark; the running maxima are written into commits/N (eventTimeMax), so a restart continues
// from them, with the inputs' floors. Stateful operators read W_N from OperatorContext::watermark_us: a row whose event
// time is below it is late (dead-letter table, reason "late ..."); a window whose end is at or
// below it is final. When the watermark advanced and the query has stateful operators, the
// engine runs a batch without new data (Spark's no-data micro-batch) so that append-mode results
// are emitted without waiting for more data.
//
// Threading: a WatermarkObserver instance belongs to its shard; the query thread reads its
// statistics between batches (the shards are idle then). WatermarkTracker is the query thread's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/operator.h"

namespace pinstream {

// Event times (µs UTC) seen by a batch: Spark's eventTime progress (min, max, avg).
struct EventTimeStats {
  std::int64_t min = INT64_MAX;
  std::int64_t max = INT64_MIN;
  long double sum = 0;
  std::int64_t count = 0;
  void Add(std::int64_t t) {
    min = std::min(min, t);
    max = std::max(max, t);
    sum += static_cast<long double>(t);
    ++count;
  }
  void Merge(const EventTimeStats& o) {
    min = std::min(min, o.min);
    max = std::max(max, o.max);
    sum += o.sum;
    count += o.count;
  }
};

// The operator of a watermark slot: checks the column (a timestamp) and records the event times
// of the rows passing, per batch. Rows pass unchanged; a null event time is not counted.
class WatermarkObserver : public Operator {
 public:
  WatermarkObserver(std::string column, std::uint16_t tag)
      : column_(std::move(column)), tag_(tag) {}
  [[nodiscard]] Status Process(RecordBatch& batch, OperatorContext& ctx) override;
  std::uint16_t tag() const { return tag_; }
  // This batch's statistics, and a reset for the next one.
  EventTimeStats TakeStats() { return std::exchange(stats_, EventTimeStats()); }

 private:
  std::string column_;
  std::uint16_t tag_;
  EventTimeStats stats_;
};

// The spec of a watermark slot of input `input` (not in the operator registry: the engine adds
// these slots from the config's `watermark:`).
std::shared_ptr<const OperatorSpec> MakeWatermarkObserverSpec(std::string input, std::string column,
                                                              std::int64_t delay_us);

// The query's watermark across its inputs (see the header comment).
class WatermarkTracker {
 public:
  struct Input {
    std::string name;
    bool declared = false;  // the input has a `watermark:`
    std::int64_t delay_us = 0;
  };
  explicit WatermarkTracker(std::vector<Input> inputs) : inputs_(std::move(inputs)) {}

  bool enabled() const;
  // The watermark of the next batch (kNoWatermark before anything was seen).
  std::int64_t watermark() const { return watermark_; }
  // Per input with rows seen: max event time − delay, capped by its floor (what offsets/N records
  // beside W_N).
  std::map<std::string, std::int64_t> InputWatermarks() const;
  // The running maxima (commits/N), by input name.
  const std::map<std::string, std::int64_t>& max_event_times() const { return max_; }
  // The inputs' floors (commits/N): a bound below the event times of every row an input has not
  // read yet (Source::EventTimeFloor), by input name.
  const std::map<std::string, std::int64_t>& floors() const { return floors_; }
  // Sets (nullopt: clears) input `name`'s floor, from its sources after a batch.
  void SetFloor(const std::string& name, std::optional<std::int64_t> floor);

  // Restores the state after a committed batch: its watermark, the maxima and floors after it.
  void Restore(std::int64_t watermark, std::map<std::string, std::int64_t> max_event_times,
               std::map<std::string, std::int64_t> floors = {});
  // Folds a batch's event times of input `tag` into the maxima.
  void Observe(std::uint16_t tag, const EventTimeStats& stats);
  // W for the next batch from the maxima (never below the current one). True if it moved.
  bool Advance();

 private:
  std::vector<Input> inputs_;
  std::int64_t watermark_ = kNoWatermark;
  std::map<std::string, std::int64_t> max_;
  std::map<std::string, std::int64_t> floors_;
  // max − delay of an input with rows seen, capped by its floor.
  std::int64_t Term(const Input& in, std::int64_t max) const;
};

}  // namespace pinstream
