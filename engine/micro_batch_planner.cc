#include "engine/micro_batch_planner.h"

#include <fmt/format.h>

#include <algorithm>

namespace pinstream {

Result<std::map<std::string, PartitionOffsets>> MicroBatchPlanner::LatestUnbounded(
    const std::map<std::string, PartitionOffsets>& committed) {
  std::map<std::string, PartitionOffsets> out;
  static const PartitionOffsets kEmpty;
  for (const auto& ns : sources_) {
    auto it = committed.find(ns.name);
    auto latest = ns.source->LatestOffsets(it == committed.end() ? kEmpty : it->second, false);
    if (!latest.ok()) return latest.status().WithContext(fmt::format("source '{}'", ns.name));
    out[ns.name] = std::move(latest).value();
  }
  return out;
}

Result<BatchPlan> MicroBatchPlanner::PlanNext(
    std::int64_t batch_id, std::int64_t ts_ms,
    const std::map<std::string, PartitionOffsets>& committed,
    const std::map<std::string, PartitionOffsets>* bound, bool apply_cap) {
  BatchPlan plan;
  plan.offsets.batch_id = batch_id;
  plan.offsets.batch_timestamp_ms = ts_ms;
  static const PartitionOffsets kEmpty;

  struct Candidate {
    std::size_t source;
    std::string partition;
    std::int64_t start, end;
  };
  std::vector<Candidate> counting, limited;

  for (std::size_t si = 0; si < sources_.size(); ++si) {
    const auto& ns = sources_[si];
    auto cit = committed.find(ns.name);
    const PartitionOffsets& done = cit == committed.end() ? kEmpty : cit->second;
    auto latest_r = ns.source->LatestOffsets(done, apply_cap);
    if (!latest_r.ok()) return latest_r.status().WithContext(fmt::format("source '{}'", ns.name));
    PartitionOffsets latest = std::move(latest_r).value();
    plan.latest[ns.name] = latest;
    PartitionOffsets& ends = plan.offsets.sources[ns.name];
    ends = done;  // carry forward partitions that have nothing new
    for (const auto& [part, latest_end] : latest) {
      std::int64_t start;
      auto d = done.find(part);
      if (d != done.end()) {
        start = d->second;
        // The source may resume elsewhere (a consumer group hands the partition back after
        // another member advanced it; records deleted by retention are skipped). Recorded like a
        // new partition's start, so that a replay of this batch starts there too.
        auto resume = ns.source->ResumeOffset(part, start);
        if (!resume.ok())
          return resume.status().WithContext(
              fmt::format("source '{}' partition '{}'", ns.name, part));
        if (resume->has_value() && **resume != start) {
          start = **resume;
          plan.offsets.new_partition_starts[ns.name][part] = start;
        }
      } else {
        auto init = ns.source->InitialOffset(part);
        if (!init.ok())
          return init.status().WithContext(
              fmt::format("source '{}' partition '{}'", ns.name, part));
        start = *init;
        plan.offsets.new_partition_starts[ns.name][part] = start;
      }
      std::int64_t end = latest_end;
      if (bound != nullptr) {
        auto bs = bound->find(ns.name);
        if (bs == bound->end()) {
          end = start;
        } else {
          auto bp = bs->second.find(part);
          end = bp == bs->second.end() ? start : std::min(end, bp->second);
        }
      }
      if (end < start) {
        // The source went backwards (e.g. a recreated topic): never re-read, never skip silently.
        return DataLoss(fmt::format(
            "source '{}' partition '{}': latest offset {} is below the committed offset {}; the "
            "source lost data or was recreated",
            ns.name, part, end, start));
      }
      ends[part] = start;
      plan.starts[ns.name][part] = start;
      if (end == start) continue;
      (ns.source->OffsetsCountRecords() ? counting : limited).push_back({si, part, start, end});
    }
  }

  std::int64_t budget = (apply_cap && max_records_ > 0) ? max_records_ : INT64_MAX;
  // Counting sources: proportional share of the budget.
  std::int64_t total = 0;
  for (const auto& c : counting) total += c.end - c.start;
  if (total > budget) {
    std::int64_t assigned = 0;
    std::vector<std::int64_t> share(counting.size());
    for (std::size_t i = 0; i < counting.size(); ++i) {
      long double avail = static_cast<long double>(counting[i].end - counting[i].start);
      share[i] = static_cast<std::int64_t>(avail * budget / total);
      assigned += share[i];
    }
    for (std::size_t i = 0; assigned < budget && i < counting.size(); ++i) {
      std::int64_t room = counting[i].end - counting[i].start - share[i];
      std::int64_t add = std::min(room, budget - assigned);
      share[i] += add;
      assigned += add;
    }
    for (std::size_t i = 0; i < counting.size(); ++i) {
      plan.backlog_records += counting[i].end - counting[i].start - share[i];
      counting[i].end = counting[i].start + share[i];
    }
    budget = 0;
  } else if (budget != INT64_MAX) {
    budget -= total;
  }
  for (const auto& c : counting) {
    if (c.end == c.start) continue;
    plan.offsets.sources[sources_[c.source].name][c.partition] = c.end;
    plan.ranges.push_back(PlannedRange{c.source, ReadRange{c.partition, c.start, c.end}});
  }
  // Other sources: partitions in order until the budget is spent.
  for (const auto& c : limited) {
    if (budget <= 0) break;
    std::int64_t end = c.end;
    if (budget != INT64_MAX) {
      auto lim = sources_[c.source].source->LimitRange(c.partition, c.start, c.end, budget);
      if (!lim.ok())
        return lim.status().WithContext(fmt::format("source '{}'", sources_[c.source].name));
      end = lim->end;
      budget -= lim->records;
    }
    if (end == c.start) continue;
    plan.offsets.sources[sources_[c.source].name][c.partition] = end;
    plan.ranges.push_back(PlannedRange{c.source, ReadRange{c.partition, c.start, end}});
  }
  // New partitions that got no range this time are not "started" yet: forget their start so that
  // they are planned afresh (and recorded) when they are read.
  for (auto& [name, starts] : plan.offsets.new_partition_starts) {
    auto cit = committed.find(name);
    for (auto it = starts.begin(); it != starts.end();) {
      // A moved start of a partition read before stays recorded (its end moved with it).
      if (cit != committed.end() && cit->second.count(it->first)) {
        ++it;
        continue;
      }
      const std::string& source = name;  // (clang 14 cannot capture a structured binding)
      bool planned =
          std::any_of(plan.ranges.begin(), plan.ranges.end(), [&](const PlannedRange& r) {
            return sources_[r.source_index].name == source && r.range.partition == it->first;
          });
      if (!planned) {
        plan.offsets.sources[name].erase(it->first);
        it = starts.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto it = plan.offsets.new_partition_starts.begin();
       it != plan.offsets.new_partition_starts.end();) {
    it = it->second.empty() ? plan.offsets.new_partition_starts.erase(it) : std::next(it);
  }
  return plan;
}

Result<BatchPlan> MicroBatchPlanner::PlanFromLog(const OffsetLogEntry& entry,
                                                 const OffsetLogEntry* previous) {
  BatchPlan plan;
  plan.offsets = entry;
  for (std::size_t si = 0; si < sources_.size(); ++si) {
    const auto& ns = sources_[si];
    auto eit = entry.sources.find(ns.name);
    if (eit == entry.sources.end()) continue;
    for (const auto& [part, end] : eit->second) {
      std::int64_t start;
      bool found = false;
      // An explicitly recorded start (a new partition, or a moved one) wins over the previous end.
      auto ns_it = entry.new_partition_starts.find(ns.name);
      if (ns_it != entry.new_partition_starts.end() && ns_it->second.count(part)) {
        start = ns_it->second.at(part);
        found = true;
      }
      if (!found && previous != nullptr) {
        auto ps = previous->sources.find(ns.name);
        if (ps != previous->sources.end()) {
          auto pp = ps->second.find(part);
          if (pp != ps->second.end()) {
            start = pp->second;
            found = true;
          }
        }
      }
      if (!found) {
        if (previous != nullptr || entry.batch_id == 0) {
          auto init = ns.source->InitialOffset(part);
          if (!init.ok()) return init.status();
          start = *init;
        } else {
          return DataLoss(
              fmt::format("cannot replay batch {}: offsets/{} is missing (removed by retention?), "
                          "so the start of "
                          "source '{}' partition '{}' is unknown",
                          entry.batch_id, entry.batch_id - 1, ns.name, part));
        }
      }
      plan.starts[ns.name][part] = start;
      if (end > start) plan.ranges.push_back(PlannedRange{si, ReadRange{part, start, end}});
      if (end < start) {
        return Corruption(
            fmt::format("offsets/{}: source '{}' partition '{}' ends at {} before its start {}",
                        entry.batch_id, ns.name, part, end, start));
      }
    }
  }
  return plan;
}

}  // namespace pinstream
