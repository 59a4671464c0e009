// Table maintenance: OPTIMIZE (DeltaTable::Optimize) and the daemon's service that runs it.
#include "state/table_maintenance.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "engine/bytes.h"
#include "engine/kill_point.h"
#include "engine/thread_name.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/store.h"

namespace pinstream::state {

// A run of consecutive live versions to rewrite: versions first..last of the live set.
struct DeltaTable::Run {
  std::int64_t first = -1, last = -1;
  std::int64_t versions = 0, chunks = 0, bytes = 0, small = 0, dv_chunks = 0;
  // Each version of the run, oldest first (for OptimizeOptions::tiered).
  struct Version {
    std::int64_t v = 0, chunks = 0, bytes = 0, small = 0, dv_chunks = 0;
  };
  std::vector<Version> each;
  bool empty() const { return first < 0; }
  std::int64_t weight() const { return small + dv_chunks; }
  // Tiered: the oldest version leaves the run while it holds more bytes than the rest together
  // (and has no deleted rows to drop).
  void TrimDominantFront() {
    std::size_t i = 0;
    while (each.size() - i >= 2 && each[i].dv_chunks == 0 && each[i].bytes > bytes - each[i].bytes) {
      --versions;
      chunks -= each[i].chunks;
      bytes -= each[i].bytes;
      small -= each[i].small;
      ++i;
    }
    each.erase(each.begin(), each.begin() + static_cast<std::ptrdiff_t>(i));
    first = each.empty() ? -1 : each.front().v;
    if (each.empty()) last = -1;
  }
};

// The rewritten rows: the new chunks, and where each input row went.
struct DeltaTable::Rewrite {
  std::vector<std::string> chunks;
  std::vector<std::uint32_t> chunk_rows;
  std::vector<ColumnStats> stats;
  std::int64_t rows = 0, bytes = 0;
  std::int64_t per_chunk = 1;
  // Input chunk → (row in the input chunk, row number in the output), in input row order.
  std::map<ChunkId, std::vector<std::pair<std::uint32_t, std::uint64_t>>> moved;
  std::vector<std::string> keys;  // keyed tables: each output row's key bytes
};

namespace {

// Rows of one batch built from `parts` (same columns), in order.
Result<RecordBatch> Concat(std::vector<RecordBatch>* parts) {
  RecordBatch all = std::move(parts->front());
  for (std::size_t i = 1; i < parts->size(); ++i) PS_RETURN_IF_ERROR(all.Append((*parts)[i]));
  parts->clear();
  return all;
}

}  // namespace

Result<DeltaTable::Run> DeltaTable::ChooseRun(const TableSnapshot& snap,
                                              const OptimizeOptions& opt) const {
  const TableState& st = snap.state();
  Run best, cur;
  auto close = [&] {
    if (opt.tiered && !cur.empty()) cur.TrimDominantFront();
    if (!cur.empty() && cur.weight() > best.weight()) best = cur;
    cur = Run();
  };
  auto it = store_->NewIterator(KeySpace::kTables, Prefix('T'), snap.snap_.get());
  for (const VersionRange& range : st.live) {
    for (it->Seek(TableVersionKey(id_, 'T', range.first));
         it->Valid() &&
         static_cast<std::int64_t>(GetBigEndian64(it->key().data() + 5)) <= range.last;
         it->Next()) {
      const auto v = static_cast<std::int64_t>(GetBigEndian64(it->key().data() + 5));
      PS_ASSIGN_OR_RETURN(VersionStats vs, VersionStats::Decode(v, it->value()));
      std::int64_t dv_chunks = static_cast<std::int64_t>(
          std::distance(st.dvs.lower_bound(ChunkId{v, 0}), st.dvs.lower_bound(ChunkId{v + 1, 0})));
      if (vs.chunks == 0 && vs.rows > 0) {  // a statistics key without chunk counts
        vs.chunks = 1;
        vs.small_chunks = vs.rows < opt.rows_per_chunk / 2 ? 1 : 0;
      }
      const bool candidate = (vs.chunks > 0 && vs.small_chunks == vs.chunks) || dv_chunks > 0;
      if (!candidate) {
        close();
        continue;
      }
      if (!cur.empty() && cur.chunks >= 2 && cur.bytes + vs.bytes > opt.max_bytes) close();
      if (cur.empty()) cur.first = v;
      cur.last = v;
      ++cur.versions;
      cur.chunks += vs.chunks;
      cur.bytes += vs.bytes;
      cur.small += vs.small_chunks;
      cur.dv_chunks += dv_chunks;
      cur.each.push_back(Run::Version{v, vs.chunks, vs.bytes, vs.small_chunks, dv_chunks});
    }
    PS_RETURN_IF_ERROR(it->status());
  }
  close();
  if (best.empty() || best.weight() < std::max<std::int64_t>(1, opt.min_small_chunks) ||
      (best.chunks < 2 && best.dv_chunks == 0))
    return Run();
  return best;
}

Result<DeltaTable::Rewrite> DeltaTable::RewriteRun(const TableSnapshot& snap, const Run& run,
                                                   const OptimizeOptions& opt) const {
  Rewrite out;
  out.per_chunk = std::max<std::int64_t>(1, opt.rows_per_chunk);
  const auto per_chunk = static_cast<std::size_t>(out.per_chunk);
  const TableState& st = snap.state();
  const bool keyed = !st.key_columns.empty();
  std::vector<std::string> names;
  for (const auto& f : snap.schema().fields()) names.push_back(f.name);
  const ChunkCodec codec = store_->table_codec();
  std::vector<RecordBatch> pending;
  std::size_t pending_rows = 0;
  // Encodes whole chunks of the pending rows (all of them when `last`).
  auto flush = [&](bool last) -> Status {
    if (pending_rows == 0 || (!last && pending_rows < per_chunk)) return Status::Ok();
    PS_ASSIGN_OR_RETURN(RecordBatch all, Concat(&pending));
    std::size_t begin = 0;
    for (; begin + per_chunk <= all.num_rows() || (last && begin < all.num_rows());
         begin += per_chunk) {
      std::size_t end = std::min(all.num_rows(), begin + per_chunk);
      out.chunks.push_back(EncodeChunk(all, begin, end, codec));
      out.chunk_rows.push_back(static_cast<std::uint32_t>(end - begin));
      out.bytes += static_cast<std::int64_t>(out.chunks.back().size());
    }
    pending_rows = 0;
    if (begin < all.num_rows()) {
      std::vector<std::uint32_t> rest;
      for (std::size_t r = begin; r < all.num_rows(); ++r)
        rest.push_back(static_cast<std::uint32_t>(r));
      pending.push_back(all.Take(rest));
      pending_rows = rest.size();
    }
    return Status::Ok();
  };
  std::vector<VersionRange> ranges = Intersect(st.live, VersionRange{run.first, run.last});
  auto cursor = snap.OpenCursor(nullptr, &ranges);
  std::string key;
  for (;;) {
    PS_ASSIGN_OR_RETURN(ScanStep step, cursor->NextChunk());
    if (step == ScanStep::kFinished) break;
    PS_ASSIGN_OR_RETURN(RecordBatch rows, cursor->Decode(names));
    auto& moved = out.moved[cursor->chunk()];
    moved.reserve(rows.num_rows());
    std::vector<int> key_cols;
    if (keyed) {
      for (const auto& k : st.key_columns) key_cols.push_back(rows.FindColumn(k));
    }
    for (std::size_t r = 0; r < rows.num_rows(); ++r) {
      moved.emplace_back(static_cast<std::uint32_t>(rows.row_ids()[r]),
                         static_cast<std::uint64_t>(out.rows + static_cast<std::int64_t>(r)));
      if (keyed) {
        key.clear();
        for (int c : key_cols) {
          if (c < 0)
            key.push_back('\0');
          else
            EncodeKey(rows, std::span<const int>(&c, 1), r, &key);
        }
        out.keys.push_back(key);
      }
    }
    out.rows += static_cast<std::int64_t>(rows.num_rows());
    MergeStats(&out.stats, ComputeStats(rows));
    pending_rows += rows.num_rows();
    pending.push_back(std::move(rows));
    PS_RETURN_IF_ERROR(flush(false));
  }
  PS_RETURN_IF_ERROR(flush(true));
  return out;
}

Result<OptimizeResult> DeltaTable::Optimize(const OptimizeOptions& opt) {
  if (store_->read_only()) return FailedPrecondition("the store is open read-only");
  const std::int64_t started = NowMicros();
  std::lock_guard maintenance(maintenance_mu_);
  OptimizeResult result;
  if (latest_version() < 0) {
    result.detail = "the table has no version yet";
    return result;
  }
  PS_ASSIGN_OR_RETURN(auto snap, Snapshot());
  const TableState& st = snap->state();
  PS_ASSIGN_OR_RETURN(Run run, ChooseRun(*snap, opt));
  if (run.empty()) {
    result.detail = fmt::format("no run of small versions with {} or more small chunks",
                                std::max<std::int64_t>(2, opt.min_small_chunks));
    return result;
  }
  PS_ASSIGN_OR_RETURN(Rewrite rw, RewriteRun(*snap, run, opt));
  const auto per_chunk = static_cast<std::uint64_t>(rw.per_chunk);
  if (opt.before_commit) opt.before_commit();

  // Commit: under the table-commit lock, against the head as it is now.
  auto txn = store_->BeginTxn();
  txn->HoldUntilDone(store_->table_commit_mutex());
  {
    std::lock_guard lock(mu_);
    std::shared_ptr<const TableState> head = head_;
    const std::vector<VersionRange> removed = Intersect(st.live, VersionRange{run.first, run.last});
    for (const auto& r : removed) {
      if (Intersect(head->live, r) != std::vector<VersionRange>{r}) {
        result.outcome = MaintenanceOutcome::kConflict;
        result.detail = fmt::format(
            "versions {}..{} left the live set while OPTIMIZE read them (version {} of the table "
            "came after)",
            r.first, r.last, head->version);
        return result;
      }
    }
    const std::int64_t version = head->version + 1;
    // Rows deleted by changes commits made since the snapshot: the same rows of the new chunks
    // get deletion vectors, and keep no key-index entry (the commit that deleted them removed it).
    std::map<std::uint32_t, std::vector<std::uint32_t>> out_deleted;
    std::vector<std::uint8_t> gone(static_cast<std::size_t>(rw.rows), 0);
    std::int64_t rebased = 0;
    for (const auto& [chunk, moved] : rw.moved) {
      auto now = head->dvs.find(chunk);
      auto then = st.dvs.find(chunk);
      if (now == head->dvs.end() ||
          (then != st.dvs.end() && then->second.dv_version == now->second.dv_version))
        continue;
      std::string bytes;
      PS_RETURN_IF_ERROR(store_->Get(
          KeySpace::kTables, DeletionVectorKey(id_, chunk, now->second.dv_version), &bytes));
      PS_ASSIGN_OR_RETURN(std::vector<std::uint32_t> deleted, DecodeDeletionVector(bytes));
      for (std::uint32_t row : deleted) {
        auto m = std::lower_bound(moved.begin(), moved.end(), row,
                                  [](const std::pair<std::uint32_t, std::uint64_t>& a,
                                     std::uint32_t r) { return a.first < r; });
        if (m == moved.end() || m->first != row) continue;  // already deleted when read
        gone[m->second] = 1;
        out_deleted[static_cast<std::uint32_t>(m->second / per_chunk)].push_back(
            static_cast<std::uint32_t>(m->second % per_chunk));
        ++rebased;
      }
    }
    PS_RETURN_IF_ERROR(StageChunks(*txn, version, rw.chunks));
    CommitInfo info;
    info.version = version;
    info.timestamp_ms = std::max(NowMicros() / 1000, head->timestamp_ms);
    info.operation = "OPTIMIZE";
    info.data_change = false;
    info.query_name = opt.writer;
    info.rows_added = rw.rows;
    info.rows_removed = rw.rows;
    info.chunks = static_cast<std::int64_t>(rw.chunks.size());
    info.bytes = rw.bytes;
    info.small_chunks = CountSmallChunks(rw.chunk_rows, rw.per_chunk);
    info.chunks_removed = run.chunks;
    info.bytes_removed = run.bytes;
    info.small_chunks_removed = run.small;
    info.schema_id = head->schema_id;
    info.stats = rw.stats;
    info.removed = removed;
    for (auto& [out_chunk, rows] : out_deleted) {
      std::sort(rows.begin(), rows.end());
      ChunkId id{version, out_chunk};
      txn->Put(KeySpace::kTables, DeletionVectorKey(id_, id, version), EncodeDeletionVector(rows));
      info.dv_updates.push_back(DvUpdate{id, static_cast<std::int64_t>(rows.size())});
    }
    if (!rw.keys.empty()) {
      // The key index follows the rows to their new chunks.
      for (const auto& [chunk, moved] : rw.moved) {
        for (const auto& [row, out_row] : moved) {
          if (gone[out_row]) continue;
          const std::string& key = rw.keys[out_row];
          txn->Delete(KeySpace::kTables, KeyIndexEntry(id_, key, chunk, row));
          txn->Put(KeySpace::kTables,
                   KeyIndexEntry(id_, key,
                                 ChunkId{version, static_cast<std::uint32_t>(out_row / per_chunk)},
                                 static_cast<std::uint32_t>(out_row % per_chunk)),
                   std::string_view());
        }
      }
    }
    std::int64_t dropped = 0;  // rows deleted before the snapshot: not rewritten
    for (const auto& r : removed) {
      for (auto d = st.dvs.lower_bound(ChunkId{r.first, 0});
           d != st.dvs.end() && d->first.version <= r.last; ++d)
        dropped += d->second.deleted;
    }
    info.metrics = {{"versionsRewritten", run.versions},
                    {"deletedRowsDropped", dropped},
                    {"rowsDeletedWhileRunning", rebased},
                    {"durationMs", (NowMicros() - started) / 1000}};
    PS_RETURN_IF_ERROR(StageCommit(*txn, info, nullptr, &rw.stats));
    result.commit = std::move(info);
  }
  KillPoint("optimize_before_commit");
  PS_RETURN_IF_ERROR(store_->Commit(std::move(txn), /*sync=*/true));
  KillPoint("optimize_after_commit");
  result.outcome = MaintenanceOutcome::kCommitted;
  spdlog::info(
      "table '{}': OPTIMIZE version {} rewrote versions {}..{} ({} chunks, {} bytes) into {} "
      "chunks ({} bytes), {} rows",
      name_, result.commit.version, run.first, run.last, run.chunks, run.bytes,
      result.commit.chunks, result.commit.bytes, rw.rows);
  return result;
}

// ---------------------------------------------------------------------------------------------
// On demand, and the service

std::string OptimizeReport::ToJson() const {
  nlohmann::ordered_json commits_json = nlohmann::ordered_json::array();
  for (const auto& c : commits) commits_json.push_back(nlohmann::ordered_json::parse(c.ToJson()));
  nlohmann::ordered_json j{{"table", table}, {"commits", commits_json}, {"detail", detail}};
  return j.dump();
}

Result<OptimizeReport> OptimizeTable(DeltaTable* table, const OptimizeOptions& options,
                                     int max_commits) {
  OptimizeReport report;
  report.table = table->name();
  for (int i = 0; i < max_commits; ++i) {
    PS_ASSIGN_OR_RETURN(OptimizeResult r, table->Optimize(options));
    if (r.outcome != MaintenanceOutcome::kCommitted) {
      report.detail = r.detail;
      return report;
    }
    report.commits.push_back(std::move(r.commit));
  }
  report.detail = fmt::format("stopped after {} commits", max_commits);
  return report;
}

TableMaintenance::TableMaintenance(Store* store, StoreOptions options)
    : store_(store), options_(std::move(options)) {}

TableMaintenance::~TableMaintenance() { Stop(); }

Status TableMaintenance::Start() {
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void TableMaintenance::SetReady() {
  std::lock_guard lock(mu_);
  ready_ = true;
  cv_.notify_all();
}

void TableMaintenance::StopAccepting() {
  std::lock_guard lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

void TableMaintenance::Stop() {
  StopAccepting();
  if (thread_.joinable()) thread_.join();
}

TableMaintenance::Counters TableMaintenance::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

bool TableMaintenance::Enqueue(std::function<void(bool cancelled)> run) {
  std::lock_guard lock(mu_);
  if (stop_) return false;
  requests_.push_back(std::move(run));
  cv_.notify_all();
  return true;
}

void TableMaintenance::Optimize(const std::string& table,
                                std::function<void(Result<OptimizeReport>)> done) {
  auto run = [this, table, done](bool cancelled) {
    if (cancelled) return done(Cancelled("the daemon is stopping"));
    auto t = store_->Table(table, false);
    if (!t.ok()) return done(t.status());
    OptimizeOptions o;
    o.writer = "pinstream optimize";
    o.max_bytes = options_.MaintenanceFor(table).optimize_max_bytes;
    auto report = OptimizeTable(*t, o);
    if (report.ok()) {
      std::lock_guard lock(mu_);
      counters_.optimize_commits += static_cast<std::int64_t>(report->commits.size());
    }
    done(std::move(report));
  };
  if (!Enqueue(run)) done(Cancelled("the daemon is stopping"));
}

void TableMaintenance::Vacuum(const std::string& table, VacuumOptions options,
                              std::function<void(Result<VacuumResult>)> done) {
  auto run = [this, table, options, done](bool cancelled) {
    if (cancelled) return done(Cancelled("the daemon is stopping"));
    auto t = store_->Table(table, false);
    if (!t.ok()) return done(t.status());
    VacuumOptions o = options;
    o.writer = "pinstream vacuum";
    auto r = (*t)->Vacuum(o);
    if (r.ok() && r->outcome == MaintenanceOutcome::kCommitted) {
      std::lock_guard lock(mu_);
      ++counters_.vacuum_commits;
    }
    done(std::move(r));
  };
  if (!Enqueue(run)) done(Cancelled("the daemon is stopping"));
}

void TableMaintenance::PolicyVacuum(const std::string& table) {
  const TableMaintenanceOptions& policy = options_.MaintenanceFor(table);
  if (!policy.auto_vacuum) return;
  const auto now = std::chrono::steady_clock::now();
  auto last = last_vacuum_.find(table);
  if (last != last_vacuum_.end() &&
      now - last->second < std::chrono::microseconds(options_.vacuum_interval_us))
    return;
  last_vacuum_[table] = now;
  auto t = store_->Table(table, false);
  Result<VacuumResult> r = t.status();
  if (t.ok()) {
    VacuumOptions o;
    o.writer = "auto vacuum";
    o.retain_us = policy.vacuum_retain_us;
    r = (*t)->Vacuum(o);
  }
  std::lock_guard lock(mu_);
  if (!r.ok()) {
    spdlog::warn("table '{}': automatic VACUUM failed: {}", table, r.status().message());
    ++counters_.errors;
  } else if (r->outcome == MaintenanceOutcome::kCommitted) {
    ++counters_.vacuum_commits;
  }
}

void TableMaintenance::PolicyOptimize(const std::string& table) {
  const TableMaintenanceOptions& policy = options_.MaintenanceFor(table);
  if (!policy.auto_optimize) return;
  auto t = store_->Table(table, false);
  if (!t.ok()) {
    spdlog::warn("table maintenance: {}", t.status().message());
    std::lock_guard lock(mu_);
    ++counters_.errors;
    return;
  }
  TableInfo info = (*t)->info();
  if (info.small_chunks + info.deletion_vectors < policy.min_small_chunks) return;
  OptimizeOptions o;
  o.writer = "auto compaction";
  o.min_small_chunks = policy.min_small_chunks;
  o.max_bytes = policy.optimize_max_bytes;
  o.tiered = true;
  auto r = (*t)->Optimize(o);
  std::lock_guard lock(mu_);
  if (!r.ok()) {
    spdlog::warn("table '{}': automatic OPTIMIZE failed: {}", table, r.status().message());
    ++counters_.errors;
  } else if (r->outcome == MaintenanceOutcome::kCommitted) {
    ++counters_.optimize_commits;
  } else if (r->outcome == MaintenanceOutcome::kConflict) {
    spdlog::info(
        "table '{}': automatic OPTIMIZE gave way to a concurrent commit ({}); it runs "
        "again at the next check",
        table, r->detail);
    ++counters_.conflicts;
  }
}

void TableMaintenance::RunPolicyOnce() {
  for (const auto& table : store_->ListTables()) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    PolicyOptimize(table);
    PolicyVacuum(table);
  }
  std::lock_guard lock(mu_);
  ++counters_.passes;
}

void TableMaintenance::Loop() {
  SetThreadName("table-maint");
  auto next_pass = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (!requests_.empty()) {
      auto request = std::move(requests_.front());
      requests_.pop_front();
      lock.unlock();
      request(/*cancelled=*/false);
      lock.lock();
      continue;
    }
    if (ready_ && std::chrono::steady_clock::now() >= next_pass) {
      lock.unlock();
      RunPolicyOnce();
      lock.lock();
      next_pass = std::chrono::steady_clock::now() +
                  std::chrono::microseconds(options_.maintenance_interval_us);
      continue;
    }
    if (ready_)
      cv_.wait_until(lock, next_pass);
    else
      cv_.wait(lock);
  }
  // Requests that came too late are answered, not dropped.
  auto left = std::move(requests_);
  lock.unlock();
  for (auto& request : left) request(/*cancelled=*/true);
}

}  // namespace pinstream::state
