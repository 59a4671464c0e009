// MicroBatchPlanner: turns "what the sources have now" into batch N's offset ranges.
//
// For every partition of every source of a query the plan is [start, end), where start is the
// end of the last committed batch (or the source's initial offset for a new partition) and end
// is the source's latest offset, optionally bounded (Trigger.AvailableNow's target) and capped
// by max_records_per_trigger:
//   * sources whose offsets count records share the cap in proportion to their backlog
//     (as Spark's Kafka source does);
//   * other sources (files) are capped in partition order through Source::LimitRange.
// The resulting OffsetLogEntry carries the end of EVERY known partition (carried forward when
// unchanged), so the last committed entry alone tells where each partition stands.
//
// PlanFromLog() rebuilds the ranges of a batch from offsets/N and offsets/N-1 for a replay.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/source.h"

namespace pinstream {

struct PlannedRange {
  std::size_t source_index = 0;
  ReadRange range;
};

struct BatchPlan {
  OffsetLogEntry offsets;            // ends (+ starts of new partitions); written as offsets/N
  std::vector<PlannedRange> ranges;  // non-empty ranges, in read order
  std::map<std::string, PartitionOffsets> starts;  // per source, for progress reports
  std::map<std::string, PartitionOffsets> latest;  // what the sources had when planning
  std::int64_t backlog_records = 0;  // records available beyond this plan (counting sources)
  bool empty() const { return ranges.empty(); }
};

struct NamedSource {
  std::string name;
  Source* source;
};

class MicroBatchPlanner {
 public:
  MicroBatchPlanner(std::vector<NamedSource> sources, std::int64_t max_records_per_trigger)
      : sources_(std::move(sources)), max_records_(max_records_per_trigger) {}

  // `committed`: ends of the last committed batch per source (empty before the first batch).
  // `bound`: if non-null, no partition is planned beyond it and partitions absent from it are
  // not read (AvailableNow). `apply_cap` = false ignores max_records_per_trigger (Once).
  Result<BatchPlan> PlanNext(std::int64_t batch_id, std::int64_t batch_timestamp_ms,
                             const std::map<std::string, PartitionOffsets>& committed,
                             const std::map<std::string, PartitionOffsets>* bound, bool apply_cap);

  // The latest offsets of every source with per-trigger limits lifted (AvailableNow's target).
  Result<std::map<std::string, PartitionOffsets>> LatestUnbounded(
      const std::map<std::string, PartitionOffsets>& committed);

  // Ranges of a logged batch: [previous end or recorded new-partition start, logged end).
  Result<BatchPlan> PlanFromLog(const OffsetLogEntry& entry, const OffsetLogEntry* previous);

  const std::vector<NamedSource>& sources() const { return sources_; }

 private:
  std::vector<NamedSource> sources_;
  std::int64_t max_records_;
};

}  // namespace pinstream
