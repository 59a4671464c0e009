#include "connectors/sinks/delta_sink.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "connectors/table/delta_source.h"
#include "engine/config.h"
#include "engine/operator.h"
#include "state/delta_table.h"
#include "state/store.h"

namespace pinstream::connectors {

namespace {

struct DeltaSinkConfig {
  std::string table;
  bool consolidate = false;
  bool record_input_versions = false;
};

// Sums the weights of equal rows (every column equal) across `out` and drops rows whose sum is
// 0: the net change of a batch, each distinct row once with its net weight.
std::vector<RecordBatch> Consolidate(const std::vector<RecordBatch>& out) {
  struct Net {
    std::size_t batch, row;
    std::int64_t weight;
  };
  std::unordered_map<std::string, std::size_t> index;
  std::vector<Net> nets;
  std::vector<std::string> names;
  if (!out.empty()) {
    for (std::size_t c = 0; c < out.front().num_columns(); ++c)
      names.push_back(out.front().name(c));
  }
  std::string key;
  for (std::size_t b = 0; b < out.size(); ++b) {
    std::vector<int> cols;
    for (const auto& n : names) cols.push_back(out[b].FindColumn(n));
    const bool same = cols.size() == out[b].num_columns() &&
                      std::find(cols.begin(), cols.end(), -1) == cols.end();
    for (std::size_t r = 0; r < out[b].num_rows(); ++r) {
      key.clear();
      if (same) {
        EncodeKey(out[b], std::span<const int>(cols), r, &key);
      } else {
        // Batches with other columns never consolidate with the first one's rows.
        key = "\xff" + std::to_string(b) + ":" + std::to_string(r);
      }
      auto [it, fresh] = index.emplace(key, nets.size());
      if (fresh) {
        nets.push_back({b, r, out[b].weight(r)});
      } else {
        nets[it->second].weight += out[b].weight(r);
      }
    }
  }
  std::vector<RecordBatch> result;
  for (std::size_t b = 0; b < out.size(); ++b) {
    std::vector<std::uint32_t> rows;
    std::vector<std::int64_t> weights;
    for (const Net& n : nets) {
      if (n.batch != b || n.weight == 0) continue;
      rows.push_back(static_cast<std::uint32_t>(n.row));
      weights.push_back(n.weight);
    }
    if (rows.empty()) continue;
    RecordBatch taken = out[b].Take(rows);
    taken.SetWeights(std::move(weights));
    result.push_back(std::move(taken));
  }
  return result;
}

class DeltaSink : public Sink {
 public:
  DeltaSink(ConnectorEnv* env, DeltaSinkConfig c)
      : env_(env), table_name_(c.table), config_(std::move(c)) {}
  std::string_view kind() const override { return "delta"; }
  std::string Describe() const override { return fmt::format("DeltaSink[{}]", table_name_); }
  Status Open(const SinkContext& ctx) override {
    if (env_->store == nullptr) return Internal("delta sink opened before the store");
    ctx_ = ctx;
    PS_ASSIGN_OR_RETURN(table_, env_->store->Table(table_name_, /*create=*/true));
    return Status::Ok();
  }
  Status Stage(std::int64_t batch_id, const std::vector<RecordBatch>& out,
               CommitTxn& txn) override {
    return StagePrepared(batch_id, out, nullptr, txn);
  }

  // The chunks are encoded here, while earlier batches may still commit; Stage only adds keys.
  void NoteBatchEnds(std::int64_t batch_id,
                     const std::map<std::string, std::map<std::string, std::int64_t>>& ends)
      override {
    if (!config_.record_input_versions) return;
    ends_batch_ = batch_id;
    input_versions_.clear();
    // A delta source's partition is its table; its end offset is the next change row to read,
    // at the start of a version when the batch consumed whole versions.
    for (const auto& [source, parts] : ends) {
      for (const auto& [table, end] : parts) {
        input_versions_.emplace_back("inputVersion." + table, DeltaOffsetVersion(end) - 1);
        if (DeltaOffsetRow(end) != 0) {
          input_versions_.emplace_back("inputRowsOfNextVersion." + table, DeltaOffsetRow(end));
        }
      }
    }
  }

  Status StageReset(CommitTxn& txn) override {
    if (table_->latest_version() < 0) return Status::Ok();  // never written
    // The table keeps its columns (and its key index on them) through the reset: a view whose
    // statement now gives other columns would write rows the table does not take.
    Schema have = table_->schema();
    const Schema& want = ctx_.schema.schema;
    bool same = have.size() == want.size();
    for (std::size_t i = 0; same && i < have.size(); ++i) {
      same = have.field(i).name == want.field(i).name &&
             (want.field(i).type == TypeId::kNull || have.field(i).type == TypeId::kNull ||
              have.field(i).type == want.field(i).type);
    }
    if (!same) {
      return FailedPrecondition(fmt::format(
          "table '{}' has the columns ({}) and the view's statement now gives ({}): a view's table "
          "keeps its columns through a reset; give the view another name for a new table (the "
          "old table stays)",
          table_name_, have.ToString(), want.ToString()));
    }
    state::WriteOptions opt = Options(-1);
    opt.operation = "VIEW RESET";
    opt.app_id.clear();
    opt.overwrite = true;
    return table_->StageWrite(txn, std::span<const RecordBatch>(), opt);
  }

  void NoteOutputBound(std::int64_t batch_id, std::int64_t previous_watermark_us,
                       std::int64_t watermark_us) override {
    watermark_batch_ = batch_id;
    previous_watermark_us_ = previous_watermark_us;
    watermark_us_ = watermark_us;
  }

  Result<std::unique_ptr<Prepared>> Prepare(std::int64_t batch_id,
                                            const std::vector<RecordBatch>& out) override {
    if (NumRows(out) == 0 || IsChanges(out)) return std::unique_ptr<Prepared>();
    auto p = std::make_unique<Encoded>();
    PS_ASSIGN_OR_RETURN(p->write, state::DeltaTable::Encode(out, Options(batch_id)));
    return std::unique_ptr<Prepared>(std::move(p));
  }

  Status StagePrepared(std::int64_t batch_id, const std::vector<RecordBatch>& out,
                       std::unique_ptr<Prepared> prepared, CommitTxn& txn) override {
    if (NumRows(out) == 0) return Status::Ok();
    state::WriteOptions opt = Options(batch_id);
    if (config_.record_input_versions && ends_batch_ == batch_id) opt.metrics = input_versions_;
    // A query whose watermark bounds its output: this batch's rows and those of its later
    // batches hold the watermark column >= the previous batch's watermark - the output's lag,
    // the later batches' >= this batch's watermark - the lag (SinkContext::
    // watermark_bounds_output; kNoWatermark before the query has one: no bound yet). Recorded for
    // the queries reading this table as a stream (DeltaSource::EventTimeFloor caps their
    // watermark with it).
    if (ctx_.watermark_bounds_output && watermark_batch_ == batch_id) {
      auto bound = [this](std::int64_t w) {
        if (w == kNoWatermark) return kNoWatermark;
        return static_cast<std::int64_t>(std::max<__int128>(
            static_cast<__int128>(w) - ctx_.schema.watermark_lag_us, INT64_MIN));
      };
      const std::string& column = ctx_.schema.watermark_column;
      opt.metrics.emplace_back(std::string(kEventTimeFloorMetric) + column,
                               bound(previous_watermark_us_));
      opt.metrics.emplace_back(std::string(kEventTimeFloorAfterMetric) + column,
                               bound(watermark_us_));
    }
    if (IsChanges(out)) {
      // One changes commit from the rows' weights (-n deletes n live rows equal on the key
      // columns, +n inserts n copies).
      if (config_.consolidate) {
        std::vector<RecordBatch> net = Consolidate(out);
        if (net.empty()) return Status::Ok();  // the changes cancel: the table is unchanged
        return table_->StageChanges(txn, net, ctx_.key_columns, opt);
      }
      return table_->StageChanges(txn, out, ctx_.key_columns, opt);
    }
    auto* encoded = dynamic_cast<Encoded*>(prepared.get());
    if (encoded == nullptr) return table_->StageWrite(txn, out, opt);
    return table_->StageEncoded(txn, out, std::move(encoded->write), opt);
  }

 private:
  struct Encoded : Prepared {
    state::EncodedWrite write;
  };
  // A query whose output carries changes writes changes commits (also batches that happen to
  // hold inserts only, so that the table keeps its key index from the first one on); an
  // insert-only query's batch with a retraction (a table source's changes arriving where none
  // were declared) does too.
  bool IsChanges(const std::vector<RecordBatch>& out) const {
    if (ctx_.changes == ChangeKind::kChanges || config_.consolidate) return true;
    return std::any_of(out.begin(), out.end(),
                       [](const RecordBatch& b) { return b.HasRetractionsOrMultiples(); });
  }
  static std::size_t NumRows(const std::vector<RecordBatch>& out) {
    std::size_t rows = 0;
    for (const auto& b : out) rows += b.num_rows();
    return rows;
  }
  state::WriteOptions Options(std::int64_t batch_id) const {
    state::WriteOptions opt;
    opt.operation = "STREAMING UPDATE";
    opt.writer = ctx_.query_name;
    opt.app_id = ctx_.query_id;
    opt.epoch = ctx_.epoch;
    opt.batch_id = batch_id;
    opt.codec = env_->store->table_codec();
    // Complete mode: each batch's output is the whole result and replaces the table.
    opt.overwrite = ctx_.changes == ChangeKind::kSnapshot;
    return opt;
  }

  ConnectorEnv* env_;
  std::string table_name_;
  DeltaSinkConfig config_;
  SinkContext ctx_;
  state::DeltaTable* table_ = nullptr;
  // NoteBatchEnds' record for batch ends_batch_ (the commit thread's; one batch at a time).
  std::int64_t ends_batch_ = -1;
  // NoteOutputBound's (the commit thread's too).
  std::int64_t watermark_batch_ = -1, previous_watermark_us_ = kNoWatermark,
               watermark_us_ = kNoWatermark;
  std::vector<std::pair<std::string, std::int64_t>> input_versions_;
};

class DeltaSpec : public SinkSpec {
 public:
  DeltaSpec(ConnectorEnv* env, DeltaSinkConfig c) : env_(env), config_(std::move(c)) {}
  std::string_view kind() const override { return "delta"; }
  std::string Descriptor() const override { return config_.table; }
  std::string TableName() const override { return config_.table; }
  Result<std::unique_ptr<Sink>> Create(const SinkCreateContext&) const override {
    return std::unique_ptr<Sink>(std::make_unique<DeltaSink>(env_, config_));
  }

 private:
  ConnectorEnv* env_;
  DeltaSinkConfig config_;
};

}  // namespace

namespace {
constexpr KeyDoc kDeltaSinkDocs[] = {
    {"table", KeyType::kString, "",
     "Required. The table (created on first write); each batch is one version."},
    {"consolidate", KeyType::kBool, "false",
     "true: a batch of changes is summed per row (rows equal on every column) before it is "
     "written, so changes that cancel write no version (live views)."},
    {"record_input_versions", KeyType::kBool, "false",
     "true: each version records, in its commit info's operationMetrics, the version of every "
     "table the batch read to the end (`inputVersion.<table>`; delta sources; live views)."},
};
}  // namespace
constexpr ConfigKeys kDeltaSinkKeys{
    "sinks (kind: delta)",
    "An append-only versioned table in the store, committed with the query's checkpoint (exactly "
    "once).",
    kDeltaSinkDocs};

std::shared_ptr<const SinkSpec> ParseDeltaSink(const ConfigNode& n, ConnectorEnv* env) {
  n.ExpectKeys(kDeltaSinkKeys);
  DeltaSinkConfig c;
  c.table = n.GetString("table");
  if (!IsValidName(c.table)) {
    n.Get("table").Fail(
        fmt::format("invalid table name '{}': use letters, digits, '_', '.', '-'", c.table));
  }
  c.consolidate = n.GetBool("consolidate", false);
  c.record_input_versions = n.GetBool("record_input_versions", false);
  return std::make_shared<DeltaSpec>(env, std::move(c));
}

}  // namespace pinstream::connectors
