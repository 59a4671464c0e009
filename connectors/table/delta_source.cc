#include "connectors/table/delta_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "engine/config.h"
#include "state/delta_table.h"
#include "state/store.h"
#include "state/table_changes.h"

namespace pinstream::connectors {

namespace {

struct DeltaSourceConfig {
  std::string table;
  enum class Start { kEarliest, kLatest, kVersion };
  Start start = Start::kEarliest;
  std::int64_t starting_version = 0;
  std::int64_t max_records_per_trigger = 0;  // 0 = no cap of its own
  bool skip_change_commits = false;
  bool whole_versions = false;  // a cap never splits a version (live views)
};

class DeltaSource : public Source {
 public:
  DeltaSource(ConnectorEnv* env, DeltaSourceConfig c, const SourceCreateContext& ctx)
      : env_(env),
        config_(std::move(c)),
        source_name_(ctx.source_name),
        query_name_(ctx.query_name),
        holder_(ctx.query_name + "/" + ctx.source_name),
        written_by_config_(ctx.table_written_by_config) {}

  ~DeltaSource() override {
    if (env_->store != nullptr) env_->store->table_readers().Release(config_.table, holder_);
  }

  std::string_view kind() const override { return "delta"; }
  std::string Describe() const override { return fmt::format("DeltaSource[{}]", config_.table); }

  Status Open() override {
    if (env_->store == nullptr) return Internal("delta source opened before the store");
    PS_RETURN_IF_ERROR(FindTable());
    if (table_ == nullptr && !written_by_config_) {
      // Ask the catalog again for its message (it names the tables there are).
      auto t = env_->store->Table(config_.table, /*create=*/false);
      return NotFound(fmt::format(
          "source '{}' reads table '{}', which does not exist and which no query of this config "
          "writes: {}",
          source_name_, config_.table, t.ok() ? "" : t.status().message()));
    }
    return Status::Ok();
  }

  Result<PartitionOffsets> LatestOffsets(const PartitionOffsets& committed,
                                         bool apply_limits) override {
    PS_RETURN_IF_ERROR(FindTable());
    if (table_ == nullptr) return PartitionOffsets{};  // not created yet by its writer
    const std::int64_t latest = table_->latest_version();
    latest_version_ = latest;
    if (latest < 0) return PartitionOffsets{};
    auto cit = committed.find(config_.table);
    if (!recovered_) {
      // The first call's `committed` is durable (what the query recovered): hold it.
      if (cit != committed.end()) PS_RETURN_IF_ERROR(HoldFrom(cit->second));
      recovered_ = true;
    }
    std::int64_t end = DeltaOffset(latest + 1, 0);
    if (apply_limits && config_.max_records_per_trigger > 0) {
      std::int64_t start;
      if (cit != committed.end()) {
        start = cit->second;
      } else {
        PS_ASSIGN_OR_RETURN(start, InitialOffset(config_.table));
      }
      if (start < end) {
        PS_ASSIGN_OR_RETURN(Limited lim, Advance(start, end, config_.max_records_per_trigger));
        end = lim.end;
      }
    }
    return PartitionOffsets{{config_.table, end}};
  }

  Result<std::int64_t> InitialOffset(const std::string& partition) override {
    PS_RETURN_IF_ERROR(RequirePartition(partition));
    if (initial_) return *initial_;
    const state::TableInfo info = table_->info();
    std::int64_t offset = 0;
    switch (config_.start) {
      case DeltaSourceConfig::Start::kEarliest:
        if (info.oldest_readable > 0) {
          return FailedPrecondition(fmt::format(
              "source '{}': table '{}' cannot be read from its beginning: versions before {} were "
              "removed by VACUUM (the oldest readable version is {}); set starting_version: {} "
              "(or latest) to read on from there",
              source_name_, config_.table, info.oldest_readable, info.oldest_readable,
              info.oldest_readable));
        }
        offset = DeltaOffset(0, 0);
        break;
      case DeltaSourceConfig::Start::kLatest:
        // Decided once per process, so that versions committed while a batch is planned are
        // not skipped.
        offset = DeltaOffset(info.version + 1, 0);
        break;
      case DeltaSourceConfig::Start::kVersion:
        PS_RETURN_IF_ERROR(RequireReadable(config_.starting_version, "starting_version"));
        offset = DeltaOffset(config_.starting_version, 0);
        break;
    }
    PS_RETURN_IF_ERROR(HoldFrom(offset));
    initial_ = offset;
    return offset;
  }

  Result<std::optional<std::int64_t>> ResumeOffset(const std::string& partition,
                                                   std::int64_t committed_end) override {
    PS_RETURN_IF_ERROR(RequirePartition(partition));
    PS_RETURN_IF_ERROR(
        RequireReadable(DeltaOffsetVersion(committed_end), "the version its checkpoint is at"));
    return std::optional<std::int64_t>();
  }

  bool OffsetsCountRecords() const override { return false; }

  Result<Limited> LimitRange(const std::string& partition, std::int64_t start, std::int64_t end,
                             std::int64_t max_records) override {
    PS_RETURN_IF_ERROR(RequirePartition(partition));
    return Advance(start, end, max_records);
  }

  void PruneColumns(const std::vector<std::string>& required) override { columns_ = required; }

  Status Read(const ReadRange& range, std::size_t max_chunk_rows,
              const ChunkConsumer& emit) override {
    PS_RETURN_IF_ERROR(RequirePartition(range.partition));
    SourceChunk pending;
    auto flush = [&]() -> Status {
      if (pending.offsets.empty()) return Status::Ok();
      SourceChunk out = std::move(pending);
      pending = SourceChunk();
      return emit(std::move(out));
    };
    const std::int64_t last_v = DeltaOffsetVersion(range.end);
    for (std::int64_t v = DeltaOffsetVersion(range.start); DeltaOffset(v, 0) < range.end; ++v) {
      PS_ASSIGN_OR_RETURN(std::int64_t n, ChangeRows(v));
      const std::int64_t lo =
          v == DeltaOffsetVersion(range.start) ? DeltaOffsetRow(range.start) : 0;
      const std::int64_t hi = std::min(n, v == last_v ? DeltaOffsetRow(range.end) : n);
      if (lo >= hi) continue;
      PS_ASSIGN_OR_RETURN(state::CommitInfo commit, table_->Commit(v));
      std::int64_t at = 0;  // index of the next change row of version v
      bool done = false;    // past the range: the rest of the version is not decoded
      Status st =
          state::ScanVersionChanges(*table_, commit, columns_, [&](RecordBatch&& rows) -> Status {
            const std::int64_t first = at, count = static_cast<std::int64_t>(rows.num_rows());
            at += count;
            const std::int64_t from = std::max(lo, first), to = std::min(hi, at);
            // Rows [from, to) of the version are in this batch; they go out in chunks of at
            // most max_chunk_rows.
            for (std::int64_t i = from; i < to;) {
              const std::int64_t room = static_cast<std::int64_t>(max_chunk_rows) -
                                        static_cast<std::int64_t>(pending.offsets.size());
              const std::int64_t n_take = std::min(to - i, std::max<std::int64_t>(room, 1));
              RecordBatch part;
              if (i == first && n_take == count) {
                part = std::move(rows);
              } else {
                std::vector<std::uint32_t> keep(static_cast<std::size_t>(n_take));
                for (std::int64_t k = 0; k < n_take; ++k)
                  keep[static_cast<std::size_t>(k)] = static_cast<std::uint32_t>(i - first + k);
                part = rows.Take(keep);
              }
              if (pending.offsets.empty()) {
                pending.batch = std::move(part);
              } else {
                PS_RETURN_IF_ERROR(pending.batch.Append(part).WithContext(
                    fmt::format("table '{}' version {}", config_.table, v)));
              }
              for (std::int64_t k = 0; k < n_take; ++k)
                pending.offsets.push_back(DeltaOffset(v, i + k));
              i += n_take;
              if (pending.offsets.size() >= max_chunk_rows) PS_RETURN_IF_ERROR(flush());
            }
            if (at < hi) return Status::Ok();
            done = true;
            return Cancelled("the range is read");  // stops the scan of the version
          });
      if (!st.ok() && !done) {
        return st.WithContext(
            fmt::format("source '{}' table '{}' version {}", source_name_, config_.table, v));
      }
      if (at < hi) {
        return Internal(fmt::format(
            "source '{}': table '{}' version {} has {} change rows, its log entry says {}",
            source_name_, config_.table, v, at, n));
      }
    }
    return flush();
  }

  std::string DescribePosition(const std::string& partition, std::int64_t offset) const override {
    return fmt::format("{} version {} change row {}", partition, DeltaOffsetVersion(offset),
                       DeltaOffsetRow(offset));
  }

  void OnBatchCommitted(const PartitionOffsets& committed_ends) override {
    auto it = committed_ends.find(config_.table);
    if (it == committed_ends.end()) return;
    // Cannot be refused: the hold moves forward from one VACUUM already respects.
    if (Status st = HoldFrom(it->second); !st.ok()) {
      spdlog::error("query '{}' source '{}': {}", query_name_, source_name_, st.message());
    }
  }

  // A restarted query holds where its checkpoint stands before the daemon is ready: table
  // maintenance's first pass could otherwise vacuum what it is about to read. A refused hold
  // (VACUUM removed the version while the query was stopped) is reported when planning starts,
  // by ResumeOffset, naming the oldest readable version.
  // A query that never committed holds where it will start (earliest: version 0; a number: that
  // version; latest is decided when it first plans).
  void OnRecovered(const PartitionOffsets& committed_ends) override {
    if (!FindTable().ok() || table_ == nullptr) return;
    auto it = committed_ends.find(config_.table);
    if (it != committed_ends.end()) {
      (void)HoldFrom(it->second);
    } else if (config_.start == DeltaSourceConfig::Start::kEarliest) {
      (void)HoldFrom(DeltaOffset(0, 0));
    } else if (config_.start == DeltaSourceConfig::Start::kVersion) {
      (void)HoldFrom(DeltaOffset(config_.starting_version, 0));
    }
  }

  std::map<std::string, std::string> ProgressMetrics() const override {
    return {{"latestVersion", std::to_string(latest_version_)}};
  }

  // The bound the table's writer recorded with the version holding the next row to read
  // (kEventTimeFloorMetric: its rows and every later version's hold `column` at or above it), or,
  // when that version is not written yet, the newest version's bound of the versions after it
  // (kEventTimeFloorAfterMetric). Versions that change no data (table maintenance) are passed
  // over; a data version without the bound (a writer that does not bound its output) gives none.
  // A table a query of this config writes that has no version yet gives INT64_MIN: its first
  // rows may be of any time, so the reading query's watermark waits for them (rather than passing
  // them on another input's rows and calling them late).
  std::optional<std::int64_t> EventTimeFloor(const PartitionOffsets& ends,
                                             const std::string& column) override {
    if (!FindTable().ok()) return std::nullopt;
    if (table_ == nullptr || table_->latest_version() < 0) {
      return written_by_config_ ? std::optional<std::int64_t>(INT64_MIN) : std::nullopt;
    }
    auto it = ends.find(config_.table);
    const std::int64_t next = it == ends.end() ? 0 : DeltaOffsetVersion(it->second);
    const std::int64_t from = std::min(next, table_->latest_version());
    if (from == floor_version_ && next == floor_next_ && column == floor_column_) return floor_;
    std::optional<std::int64_t> floor;
    for (std::int64_t v = from, passed = 0; v >= 0 && passed < 1000; --v, ++passed) {
      auto info = table_->Commit(v);
      if (!info.ok()) break;  // vacuumed: no bound known
      if (!info->data_change) continue;
      const std::string metric =
          std::string(v == next ? kEventTimeFloorMetric : kEventTimeFloorAfterMetric) + column;
      for (const auto& [name, value] : info->metrics) {
        if (name == metric) floor = value;
      }
      break;
    }
    floor_version_ = from;
    floor_next_ = next;
    floor_column_ = column;
    floor_ = floor;
    return floor;
  }


 private:
  Status FindTable() {
    if (table_ != nullptr) return Status::Ok();
    auto t = env_->store->Table(config_.table, /*create=*/false);
    if (t.ok()) {
      table_ = *t;
      return Status::Ok();
    }
    return t.status().code() == StatusCode::kNotFound ? Status::Ok() : t.status();
  }

  // The table, for a call about `partition` (a replay after a restart reads before planning).
  Status RequirePartition(const std::string& partition) {
    PS_RETURN_IF_ERROR(FindTable());
    if (partition != config_.table || table_ == nullptr) {
      return Internal(fmt::format("source '{}' has no partition '{}' (it reads table '{}')",
                                  source_name_, partition, config_.table));
    }
    return Status::Ok();
  }

  // OutOfRange naming the oldest readable version when VACUUM removed version `v`.
  Status RequireReadable(std::int64_t v, std::string_view what) const {
    const std::int64_t oldest = table_->info().oldest_readable;
    if (v >= oldest) return Status::Ok();
    return OutOfRange(fmt::format(
        "source '{}' of query '{}': table '{}' version {} ({}) was removed by VACUUM; the oldest "
        "readable version is {}. To read on from there: `pinstream checkpoint reset {}` and "
        "starting_version: {} (the rows of the versions in between are not read)",
        source_name_, query_name_, config_.table, v, what, oldest, query_name_, oldest));
  }

  // Holds what reading on from `offset` needs: its version, and the version before it (a
  // version's deleted rows are read from the one before), unless VACUUM removed that already
  // (then reading a version that deleted rows fails naming the oldest readable version). A hold
  // VACUUM refuses (it is removing the version now) fails like RequireReadable.
  Status HoldFrom(std::int64_t offset) {
    const std::int64_t v = DeltaOffsetVersion(offset);
    std::int64_t hold = std::max<std::int64_t>(0, v - 1);
    if (hold < table_->info().oldest_readable) hold = v;
    Status st = env_->store->table_readers().Hold(config_.table, holder_, hold);
    if (st.ok()) return st;
    return OutOfRange(fmt::format(
        "source '{}' of query '{}': table '{}' version {} (where it reads on) is being removed by "
        "VACUUM: {}. To read on from the oldest readable version: `pinstream checkpoint reset {}` "
        "and starting_version: {} (the rows of the versions in between are not read)",
        source_name_, query_name_, config_.table, hold, st.message(), query_name_,
        env_->store->table_readers().Floor(config_.table)));
  }

  // The change rows this source reads of version v: none for versions it skips.
  Result<std::int64_t> ChangeRows(std::int64_t v) {
    auto it = change_rows_.find(v);
    if (it != change_rows_.end()) return it->second;
    PS_ASSIGN_OR_RETURN(state::CommitInfo c, table_->Commit(v));
    std::int64_t n = state::ChangeRowCount(c);
    if (config_.skip_change_commits && c.rows_removed > 0) n = 0;
    if (n > std::numeric_limits<std::uint32_t>::max()) {
      return FailedPrecondition(
          fmt::format("table '{}' version {} changes {} rows; a delta "
                      "source reads versions of up to 2^32 rows",
                      config_.table, v, n));
    }
    if (change_rows_.size() > 100'000) change_rows_.clear();
    change_rows_.emplace(v, n);
    return n;
  }

  // The position `max_records` change rows after `start`, not beyond `end`.
  Result<Limited> Advance(std::int64_t start, std::int64_t end, std::int64_t max_records) {
    std::int64_t pos = start, records = 0;
    while (pos < end && records < max_records) {
      const std::int64_t v = DeltaOffsetVersion(pos);
      PS_ASSIGN_OR_RETURN(std::int64_t n, ChangeRows(v));
      const std::int64_t hi = v == DeltaOffsetVersion(end) ? std::min(n, DeltaOffsetRow(end)) : n;
      std::int64_t r = DeltaOffsetRow(pos);
      const std::int64_t take = std::max<std::int64_t>(0, std::min(hi - r, max_records - records));
      records += take;
      r += take;
      if (config_.whole_versions && r > 0 && r < n && v < DeltaOffsetVersion(end)) {
        // Read the version to its end: a batch ends only between versions.
        records += n - r;
        r = n;
      }
      if (r >= n && v < DeltaOffsetVersion(end)) {
        pos = DeltaOffset(v + 1, 0);
      } else {
        pos = std::min(end, DeltaOffset(v, r));
        if (v == DeltaOffsetVersion(end)) break;
      }
    }
    return Limited{pos, records};
  }

  ConnectorEnv* env_;
  DeltaSourceConfig config_;
  std::string source_name_;
  std::string query_name_;
  std::string holder_;
  bool written_by_config_ = false;
  state::DeltaTable* table_ = nullptr;
  // EventTimeFloor's last answer: for the version before the next one read, and the metric.
  std::int64_t floor_version_ = -2, floor_next_ = -2;
  std::string floor_column_;
  std::optional<std::int64_t> floor_;
  std::vector<std::string> columns_;  // empty: every column
  std::optional<std::int64_t> initial_;
  bool recovered_ = false;
  std::int64_t latest_version_ = -1;
  std::map<std::int64_t, std::int64_t> change_rows_;  // version → change rows read
};

class DeltaSourceSpec : public SourceSpec {
 public:
  DeltaSourceSpec(ConnectorEnv* env, DeltaSourceConfig c) : env_(env), config_(std::move(c)) {}
  std::string_view kind() const override { return "delta"; }
  std::string Descriptor() const override { return "table:" + config_.table; }
  std::string TableName() const override { return config_.table; }
  Result<std::unique_ptr<Source>> Create(const SourceCreateContext& ctx) const override {
    return std::unique_ptr<Source>(std::make_unique<DeltaSource>(env_, config_, ctx));
  }
  // The table's columns once the store is open and the table has a version. A table that has
  // had changes commits (it keeps a key index) is declared a stream of changes, unless they are
  // skipped; its retractions are matched on every column downstream (a linear chain keeps rows
  // whole, so a retraction equals the row it retracts there too).
  StreamSchema DeclaredSchema() const override {
    if (env_->store == nullptr) return StreamSchema::Unknown();
    auto t = env_->store->Table(config_.table, /*create=*/false);
    if (!t.ok() || (*t)->latest_version() < 0) return StreamSchema::Unknown();
    StreamSchema s;
    s.schema = (*t)->schema();
    s.complete = true;
    if (!config_.skip_change_commits && !(*t)->info().key_columns.empty())
      s.changes = ChangeKind::kChanges;
    return s;
  }

 private:
  ConnectorEnv* env_;
  DeltaSourceConfig config_;
};

}  // namespace

namespace {
constexpr KeyDoc kDeltaSourceDocs[] = {
    {"table", KeyType::kString, "", "Required. The table read."},
    {"starting_version", KeyType::kAny, "earliest",
     "Where a query without a checkpoint starts: earliest (version 0), latest (the next "
     "version) or a version number."},
    {"max_records_per_trigger", KeyType::kInt, "0",
     "Most rows per batch from this source (0 = no cap; a larger version is read over several "
     "batches)."},
    {"skip_change_commits", KeyType::kBool, "false",
     "true: versions that removed rows (an overwrite, a changes commit) are skipped; false: "
     "their removed rows arrive with weight -1, then the added rows."},
    {"whole_versions", KeyType::kBool, "false",
     "true: a batch always ends between two versions (a cap is rounded up to the end of the "
     "version it falls in), so each batch consumes whole versions — what a live view needs to "
     "say which input versions its result is of."},
};
}  // namespace
constexpr ConfigKeys kDeltaSourceKeys{
    "sources.<name> (kind: delta)",
    "A delta table read as a stream: the versions committed after the checkpoint.",
    kDeltaSourceDocs};

std::shared_ptr<const SourceSpec> ParseDeltaSource(const ConfigNode& n, ConnectorEnv* env) {
  n.ExpectKeys(kDeltaSourceKeys);
  DeltaSourceConfig c;
  c.table = n.GetString("table");
  if (!IsValidName(c.table)) {
    n.Get("table").Fail(
        fmt::format("invalid table name '{}': use letters, digits, '_', '.', '-'", c.table));
  }
  if (auto sv = n.Find("starting_version")) {
    std::string text = sv->AsString();
    if (text == "earliest") {
      c.start = DeltaSourceConfig::Start::kEarliest;
    } else if (text == "latest") {
      c.start = DeltaSourceConfig::Start::kLatest;
    } else {
      std::int64_t v = -1;
      try {
        std::size_t used = 0;
        v = std::stoll(text, &used);
        if (used != text.size()) v = -1;
      } catch (const std::exception&) {
        v = -1;
      }
      if (v < 0)
        sv->Fail(fmt::format("must be earliest, latest or a version number >= 0, not '{}'", text));
      c.start = DeltaSourceConfig::Start::kVersion;
      c.starting_version = v;
    }
  }
  c.max_records_per_trigger = n.GetInt("max_records_per_trigger", 0);
  if (c.max_records_per_trigger < 0)
    n.Get("max_records_per_trigger").Fail("must be 0 (no cap) or more");
  c.skip_change_commits = n.GetBool("skip_change_commits", false);
  c.whole_versions = n.GetBool("whole_versions", false);
  return std::make_shared<DeltaSourceSpec>(env, std::move(c));
}

}  // namespace pinstream::connectors
