// VACUUM (DeltaTable::Vacuum): deletes what no retained version of a table needs.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/bytes.h"
#include "engine/kill_point.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/store.h"

namespace pinstream::state {

namespace {

std::int64_t VersionOfKey(std::string_view key) {
  return static_cast<std::int64_t>(GetBigEndian64(key.data() + 5));
}

// The versions in [0, keep) outside `live`: the ones whose chunks go.
std::vector<VersionRange> DeadRanges(const std::vector<VersionRange>& live, std::int64_t keep) {
  std::vector<VersionRange> out;
  std::int64_t next = 0;
  for (const auto& r : live) {
    if (r.first >= keep) break;
    if (r.first > next) out.push_back({next, r.first - 1});
    next = r.last + 1;
  }
  if (next < keep) out.push_back({next, keep - 1});
  return out;
}

bool InRanges(const std::vector<VersionRange>& ranges, std::int64_t v) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [v](const VersionRange& r) { return r.Contains(v); });
}

}  // namespace

std::string VacuumResult::ToJson() const {
  const char* outcome_name = outcome == MaintenanceOutcome::kCommitted  ? "committed"
                             : outcome == MaintenanceOutcome::kDryRun   ? "dry run"
                             : outcome == MaintenanceOutcome::kConflict ? "conflict"
                                                                        : "nothing to do";
  nlohmann::ordered_json j{{"table", table},
                           {"outcome", outcome_name},
                           {"detail", detail},
                           {"oldestReadableBefore", oldest_readable_before},
                           {"oldestReadable", oldest_readable},
                           {"heldFrom", held_from},
                           {"versionsRemoved", versions_removed},
                           {"chunksRemoved", chunks_removed},
                           {"bytesRemoved", bytes_removed},
                           {"logEntriesRemoved", log_entries_removed},
                           {"deletionVectorsRemoved", deletion_vectors_removed}};
  if (outcome == MaintenanceOutcome::kCommitted)
    j["commit"] = nlohmann::ordered_json::parse(commit.ToJson());
  return j.dump();
}

Result<VacuumResult> VacuumResult::FromJson(std::string_view text) {
  VacuumResult r;
  try {
    auto j = nlohmann::json::parse(text);
    r.table = j.at("table").get<std::string>();
    const std::string o = j.at("outcome").get<std::string>();
    r.outcome = o == "committed"  ? MaintenanceOutcome::kCommitted
                : o == "dry run"  ? MaintenanceOutcome::kDryRun
                : o == "conflict" ? MaintenanceOutcome::kConflict
                                  : MaintenanceOutcome::kNothingToDo;
    r.detail = j.value("detail", "");
    r.oldest_readable_before = j.at("oldestReadableBefore").get<std::int64_t>();
    r.oldest_readable = j.at("oldestReadable").get<std::int64_t>();
    r.held_from = j.value("heldFrom", std::int64_t{-1});
    r.versions_removed = j.at("versionsRemoved").get<std::int64_t>();
    r.chunks_removed = j.at("chunksRemoved").get<std::int64_t>();
    r.bytes_removed = j.at("bytesRemoved").get<std::int64_t>();
    r.log_entries_removed = j.at("logEntriesRemoved").get<std::int64_t>();
    r.deletion_vectors_removed = j.at("deletionVectorsRemoved").get<std::int64_t>();
    if (j.contains("commit")) {
      PS_ASSIGN_OR_RETURN(r.commit, CommitInfo::Parse(j["commit"].dump()));
    }
  } catch (const nlohmann::json::exception& e) {
    return Corruption(fmt::format("not a VACUUM report: {}", e.what()));
  }
  return r;
}

Result<VacuumResult> DeltaTable::Vacuum(const VacuumOptions& opt) {
  if (store_->read_only() && !opt.dry_run) return FailedPrecondition("the store is open read-only");
  const std::int64_t started = NowMicros();
  std::lock_guard maintenance(maintenance_mu_);
  VacuumResult result;
  result.table = name_;
  std::shared_ptr<const TableState> head;
  {
    std::lock_guard lock(mu_);
    head = head_;
  }
  result.oldest_readable_before = result.oldest_readable = head->oldest_readable;
  if (head->version < 0) {
    result.detail = "the table has no version yet";
    return result;
  }
  if (opt.retain_us < 0) return InvalidArgument("VACUUM's retention cannot be negative");

  // The oldest version to keep: the one in force when the window starts, or an older one held.
  const std::int64_t now = opt.now_us != 0 ? opt.now_us : NowMicros();
  std::int64_t wanted = head->oldest_readable;
  auto at_start = VersionAsOf(now - opt.retain_us);
  if (at_start.ok()) {
    wanted = *at_start;
  } else if (at_start.status().code() != StatusCode::kOutOfRange) {
    return at_start.status();
  }
  // Running streaming readers hold the versions they will still read (TableReaders).
  const std::optional<std::int64_t> held = store_->table_readers().OldestHeld(name_);
  result.held_from = held.value_or(-1);
  std::int64_t keep = held ? std::min(wanted, *held) : wanted;
  keep = std::clamp(keep, head->oldest_readable, head->version);

  // A VACUUM that committed but crashed before deleting left log entries below the floor.
  bool leftovers = false;
  {
    auto log = store_->NewIterator(KeySpace::kTables, Prefix('L'));
    log->Seek(Prefix('L'));
    PS_RETURN_IF_ERROR(log->status());
    leftovers = log->Valid() && VersionOfKey(log->key()) < head->oldest_readable;
  }
  if (keep == head->oldest_readable && !leftovers) {
    result.detail = fmt::format(
        "nothing older than the retention window ({}) to delete: the oldest readable version is "
        "{}{}",
        FormatDurationMicros(opt.retain_us), head->oldest_readable,
        result.held_from >= 0 && result.held_from < wanted
            ? fmt::format(", and a reader holds version {}", result.held_from)
            : std::string());
    return result;
  }

  // What goes: versions below `keep` outside its live set, their statistics and deletion
  // vectors; deletion vectors of kept chunks that `keep` no longer uses; log entries and
  // checkpoints below `keep`. Counted from a snapshot at `keep`.
  PS_ASSIGN_OR_RETURN(auto at_keep, Snapshot(keep));
  const TableState& ks = at_keep->state();
  const StoreSnapshot* snap = at_keep->snap_.get();
  const std::vector<VersionRange> dead = DeadRanges(ks.live, keep);
  {
    auto it = store_->NewIterator(KeySpace::kTables, Prefix('T'), snap);
    for (it->Seek(Prefix('T')); it->Valid() && VersionOfKey(it->key()) < keep; it->Next()) {
      const std::int64_t v = VersionOfKey(it->key());
      if (!InRanges(dead, v)) continue;
      PS_ASSIGN_OR_RETURN(VersionStats vs, VersionStats::Decode(v, it->value()));
      result.chunks_removed += vs.chunks;
      result.bytes_removed += vs.bytes;
    }
    PS_RETURN_IF_ERROR(it->status());
  }
  std::vector<std::string> dv_deletes;  // of kept chunks (the others go by range)
  {
    auto it = store_->NewIterator(KeySpace::kTables, Prefix('D'), snap);
    for (it->Seek(Prefix('D')); it->Valid() && VersionOfKey(it->key()) < keep; it->Next()) {
      const std::string_view k = it->key();
      const ChunkId chunk{VersionOfKey(k), GetBigEndian32(k.data() + 13)};
      const auto w = static_cast<std::int64_t>(GetBigEndian64(k.data() + 17));
      if (InRanges(dead, chunk.version)) {
        ++result.deletion_vectors_removed;
        continue;
      }
      auto in_force = ks.dvs.find(chunk);
      if (w < keep && (in_force == ks.dvs.end() || in_force->second.dv_version != w)) {
        dv_deletes.emplace_back(k);
        ++result.deletion_vectors_removed;
      }
    }
    PS_RETURN_IF_ERROR(it->status());
  }
  {
    auto it = store_->NewIterator(KeySpace::kTables, Prefix('L'), snap);
    for (it->Seek(Prefix('L')); it->Valid() && VersionOfKey(it->key()) < keep; it->Next())
      ++result.log_entries_removed;
    PS_RETURN_IF_ERROR(it->status());
  }
  for (const auto& r : dead) result.versions_removed += r.last - r.first + 1;
  // A VACUUM that would only drop a few log entries is not worth a version of its own (else
  // every run would commit, its own previous commit being older than the window by then).
  const std::int64_t interval =
      std::max<std::int64_t>(1, store_->options().table_checkpoint_interval);
  if (!leftovers && result.chunks_removed == 0 && result.deletion_vectors_removed == 0 &&
      result.log_entries_removed < interval) {
    result.detail = fmt::format(
        "only {} log entries would go (fewer than storage.table_checkpoint_interval, {}); the "
        "oldest readable version stays {}",
        result.log_entries_removed, interval, head->oldest_readable);
    result.versions_removed = result.chunks_removed = result.bytes_removed = 0;
    result.log_entries_removed = 0;
    result.oldest_readable = head->oldest_readable;
    return result;
  }
  result.oldest_readable = keep;
  if (opt.dry_run) {
    result.outcome = MaintenanceOutcome::kDryRun;
    return result;
  }

  // (1) The commit: the floor moves, with a checkpoint at it (the log before it goes).
  if (keep > head->oldest_readable) {
    auto txn = store_->BeginTxn();
    txn->HoldUntilDone(store_->table_commit_mutex());
    // The floor rises before the commit, atomically with readers' holds: a reader that started
    // since (it holds from before `keep`) makes VACUUM leave it all for now; one that comes from
    // here on is refused a hold below `keep` (TableReaders).
    if (auto now_held = store_->table_readers().RaiseFloor(name_, keep)) {
      result.outcome = MaintenanceOutcome::kConflict;
      result.detail = fmt::format(
          "a streaming reader started meanwhile and holds version {}; VACUUM runs again later",
          *now_held);
      return result;
    }
    // Until the commit lands, the floor stands above the oldest readable version; it goes back
    // if the commit fails.
    struct FloorGuard {
      TableReaders& readers;
      const std::string& table;
      std::int64_t old_floor;
      bool committed = false;
      ~FloorGuard() {
        if (!committed) readers.ResetFloor(table, old_floor);
      }
    } floor_guard{store_->table_readers(), name_, head->oldest_readable};
    if (opt.before_commit) opt.before_commit();
    {
      std::lock_guard lock(mu_);
      const std::shared_ptr<const TableState> now_head = head_;
      TableState checkpoint = ks;
      checkpoint.oldest_readable = keep;
      txn->Put(KeySpace::kTables, TableVersionKey(id_, 'K', keep), checkpoint.ToCheckpointJson());
      CommitInfo info;
      info.version = now_head->version + 1;
      info.timestamp_ms = std::max(NowMicros() / 1000, now_head->timestamp_ms);
      info.operation = "VACUUM";
      info.data_change = false;
      info.query_name = opt.writer;
      info.schema_id = now_head->schema_id;
      info.oldest_readable = keep;
      info.metrics = {{"retainMs", opt.retain_us / 1000},
                      {"oldestReadableBefore", head->oldest_readable},
                      {"versionsRemoved", result.versions_removed},
                      {"numDeletedChunks", result.chunks_removed},
                      {"numDeletedBytes", result.bytes_removed},
                      {"logEntriesRemoved", result.log_entries_removed},
                      {"deletionVectorsRemoved", result.deletion_vectors_removed},
                      {"durationMs", (NowMicros() - started) / 1000}};
      PS_RETURN_IF_ERROR(StageCommit(*txn, info, nullptr, nullptr));
      result.commit = std::move(info);
    }
    KillPoint("vacuum_before_commit");
    PS_RETURN_IF_ERROR(store_->Commit(std::move(txn), /*sync=*/true));
    floor_guard.committed = true;
    KillPoint("vacuum_after_commit");
    result.outcome = MaintenanceOutcome::kCommitted;
  } else {
    result.detail = "deleted what an interrupted VACUUM left";
  }

  // (2) The deletes, in one write; the log entries are what the next VACUUM looks for.
  auto del = store_->BeginTxn();
  for (const auto& r : dead) {
    for (char kind : {'C', 'T', 'D'}) {
      del->DeleteRange(KeySpace::kTables, TableVersionKey(id_, kind, r.first),
                       TableVersionKey(id_, kind, r.last + 1));
    }
  }
  for (const auto& k : dv_deletes) del->Delete(KeySpace::kTables, k);
  del->DeleteRange(KeySpace::kTables, TableVersionKey(id_, 'K', 0),
                   TableVersionKey(id_, 'K', keep));
  del->DeleteRange(KeySpace::kTables, TableVersionKey(id_, 'L', 0),
                   TableVersionKey(id_, 'L', keep));
  PS_RETURN_IF_ERROR(store_->Commit(std::move(del), /*sync=*/true));
  KillPoint("vacuum_after_delete");
  spdlog::info(
      "table '{}': VACUUM{} — oldest readable version {} (was {}): {} versions, {} chunks ({} "
      "bytes), {} log entries, {} deletion vectors deleted",
      name_,
      result.outcome == MaintenanceOutcome::kCommitted
          ? fmt::format(" version {}", result.commit.version)
          : std::string(),
      keep, head->oldest_readable, result.versions_removed, result.chunks_removed,
      result.bytes_removed, result.log_entries_removed, result.deletion_vectors_removed);
  return result;
}

}  // namespace pinstream::state
