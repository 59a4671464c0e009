#include "connectors/sinks/delta_sink.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/config.h"
#include "state/delta_table.h"
#include "state/store.h"

namespace pinstream::connectors {

namespace {

class DeltaSink : public Sink {
 public:
  DeltaSink(ConnectorEnv* env, std::string table) : env_(env), table_name_(std::move(table)) {}
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
    if (IsChanges(out)) {
      // One changes commit from the rows' weights (-n deletes n live rows equal on the key
      // columns, +n inserts n copies).
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
    if (ctx_.changes == ChangeKind::kChanges) return true;
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
  SinkContext ctx_;
  state::DeltaTable* table_ = nullptr;
};

class DeltaSpec : public SinkSpec {
 public:
  DeltaSpec(ConnectorEnv* env, std::string table) : env_(env), table_(std::move(table)) {}
  std::string_view kind() const override { return "delta"; }
  std::string Descriptor() const override { return table_; }
  std::string TableName() const override { return table_; }
  Result<std::unique_ptr<Sink>> Create(const SinkCreateContext&) const override {
    return std::unique_ptr<Sink>(std::make_unique<DeltaSink>(env_, table_));
  }

 private:
  ConnectorEnv* env_;
  std::string table_;
};

}  // namespace

namespace {
constexpr KeyDoc kDeltaSinkDocs[] = {
    {"table", KeyType::kString, "",
     "Required. The table (created on first write); each batch is one version."},
};
}  // namespace
constexpr ConfigKeys kDeltaSinkKeys{
    "sinks (kind: delta)",
    "An append-only versioned table in the store, committed with the query's checkpoint (exactly "
    "once).",
    kDeltaSinkDocs};

std::shared_ptr<const SinkSpec> ParseDeltaSink(const ConfigNode& n, ConnectorEnv* env) {
  n.ExpectKeys(kDeltaSinkKeys);
  std::string table = n.GetString("table");
  if (!IsValidName(table)) {
    n.Get("table").Fail(
        fmt::format("invalid table name '{}': use letters, digits, '_', '.', '-'", table));
  }
  return std::make_shared<DeltaSpec>(env, table);
}

}  // namespace pinstream::connectors
