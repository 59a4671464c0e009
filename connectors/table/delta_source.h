// DeltaSource (kind: delta): a delta table read as a stream — the versions committed after the
// one in the query's checkpoint, as Delta Lake's streaming source reads a table.
//
//   sources:
//     pin_clean: {kind: delta, table: pin}
//     geo_new:   {kind: delta, table: geo, starting_version: latest, max_records_per_trigger:
//     50000} agg_feed:  {kind: delta, table: counts, skip_change_commits: true}
//
// starting_version: earliest (default: from version 0; refused with the oldest readable version
//   named when VACUUM removed the first versions), latest (only versions committed after the
//   query first started), or a version number N (versions N, N+1, ...).
// max_records_per_trigger: caps a batch's rows from this source (the query's own cap applies
//   too); a version larger than the cap is read over several batches.
// skip_change_commits: false (default) delivers a version that removed rows (a changes commit,
//   an overwrite) as weighted rows: its removed rows with weight -1, then its added rows (+1)
//   (state/table_changes.h); true skips such versions entirely (Delta's skipChangeCommits).
// Versions that change no data (OPTIMIZE, VACUUM: dataChange false) are always skipped.
//
// The source has one partition, named after the table. Its offsets are positions in the table's
// change stream, (version << 32) | row: the next row to read is row `row` of version `version`'s
// changes, so a planned range reads back the same rows and a version can be split across
// batches. The offsets commit in the query's batch commit with its output, so each link of a
// chain raw → cleaned → aggregated is exactly once.
//
// A table no query of the config writes must exist when the query starts (NotFound naming the
// tables there are); one another query of the config writes is read once it has a version. A
// commit to the table wakes the queries reading it (Store::AddTableCommitListener, wired by the
// daemon). While the query runs, the version of its checkpoint is held in the store's
// TableReaders, which VACUUM keeps; a version removed anyway (while the query was stopped) fails
// the query with the oldest readable version named.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "connectors/connector_env.h"
#include "engine/registry.h"

namespace pinstream::connectors {

std::shared_ptr<const SourceSpec> ParseDeltaSource(const ConfigNode& node, ConnectorEnv* env);
extern const ConfigKeys kDeltaSourceKeys;

// Offsets of the delta source: a position in a table's change stream.
inline std::int64_t DeltaOffset(std::int64_t version, std::int64_t row) {
  return (version << 32) | row;
}
inline std::int64_t DeltaOffsetVersion(std::int64_t offset) { return offset >> 32; }
inline std::int64_t DeltaOffsetRow(std::int64_t offset) { return offset & 0xffffffffLL; }

// The commit-info metric a delta sink records when its query's watermark bounds its output
// (SinkContext::watermark_bounds_output), followed by the event-time column: every row of that
// version and of the writer's later ones holds that column >= the value (µs; INT64_MIN: no bound
// yet, the writer had no watermark). With kEventTimeFloorAfterMetric the bound of the rows of
// the writer's later versions only (its watermark at that version, minus the same lag).
// DeltaSource::EventTimeFloor reads them back for the queries reading the table as a stream.
inline constexpr std::string_view kEventTimeFloorMetric = "eventTimeFloor.";
inline constexpr std::string_view kEventTimeFloorAfterMetric = "eventTimeFloorAfter.";

}  // namespace pinstream::connectors
