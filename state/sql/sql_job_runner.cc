#include "state/sql/sql_job_runner.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/sql/sql_session.h"
#include "state/store.h"

namespace pinstream::state::sql {
namespace {

RecordBatch HistoryRow(const JobRun& run) {
  RecordBatch b;
  b.row_ids().push_back(0);
  auto str = [&](const char* name, const std::string& v, bool null_if_empty = false) {
    Column c(TypeId::kString);
    if (null_if_empty && v.empty())
      c.AppendNull();
    else
      c.AppendString(v);
    b.AddColumn(name, std::move(c));
  };
  auto ts = [&](const char* name, std::int64_t us) {
    Column c(TypeId::kTimestamp);
    if (us == 0)
      c.AppendNull();
    else
      c.AppendInt(us);
    b.AddColumn(name, std::move(c));
  };
  str("job", run.job);
  str("run_id", run.run_id);
  str("trigger", run.trigger);
  str("status", run.status);
  ts("scheduled_time", run.scheduled_us);
  ts("start_time", run.started_us);
  ts("end_time", run.finished_us);
  Column d(TypeId::kInt64);
  d.AppendInt((run.finished_us - run.started_us) / 1000);
  b.AddColumn("duration_ms", std::move(d));
  str("error", run.error, true);
  auto results = nlohmann::json::array();
  for (const auto& r : run.results)
    results.push_back({{"table", r.table}, {"version", r.version}, {"rows", r.rows}});
  str("results", results.dump());
  return b;
}

WriteOptions HistoryWrite(const JobRun& run) {
  WriteOptions w;
  w.operation = "JOB RUN";
  w.writer = run.job;
  return w;
}

// Makes a result's column types fit the existing table where that loses nothing: an all-null
// column takes the table's type, integers go into a double column.
void ConformToTable(const DeltaTable& table, RecordBatch* rows) {
  if (table.latest_version() < 0) return;
  Schema schema = table.schema();
  for (std::size_t c = 0; c < rows->num_columns(); ++c) {
    int fi = schema.FieldIndex(rows->name(c));
    if (fi < 0) continue;
    TypeId want = schema.field(static_cast<std::size_t>(fi)).type;
    Column& col = rows->column(c);
    if (col.type() == want || want == TypeId::kNull) continue;
    if (col.NullCount() == col.size()) {
      col = Column::Nulls(want, col.size());
    } else if (col.type() == TypeId::kInt64 && want == TypeId::kDouble) {
      Column d(TypeId::kDouble);
      d.Reserve(col.size());
      for (std::size_t r = 0; r < col.size(); ++r) {
        if (col.IsNull(r))
          d.AppendNull();
        else
          d.AppendDouble(static_cast<double>(col.Int(r)));
      }
      col = std::move(d);
    }
  }
}

}  // namespace

Status SqlJobRunner::Execute(const JobConfig& job, JobRun* run) {
  if (cancelled_) return Cancelled("the daemon is stopping");
  PS_ASSIGN_OR_RETURN(auto session, SqlSession::Open(store_));
  {
    std::lock_guard lock(mu_);
    active_ = session.get();
  }
  struct Clear {
    SqlJobRunner* r;
    ~Clear() {
      std::lock_guard lock(r->mu_);
      r->active_ = nullptr;
    }
  } clear{this};
  if (cancelled_) return Cancelled("the daemon is stopping");

  std::vector<std::pair<std::string, RecordBatch>> outputs;
  for (const auto& q : job.queries) {
    std::ifstream in(q.sql_file, std::ios::binary);
    if (!in) return NotFound(fmt::format("cannot read SQL file '{}'", q.sql_file));
    std::string sql((std::istreambuf_iterator<char>(in)), {});
    auto results = session->QueryAll(sql);
    if (!results.ok()) {
      return results.status().WithContext(
          fmt::format("{}", std::filesystem::path(q.sql_file).filename().string()));
    }
    for (std::size_t i = 0; i < results->size(); ++i) {
      std::string table = results->size() == 1 ? q.result_table
                                               : fmt::format("{}_{}", q.result_table,
                                                             static_cast<char>('a' + i % 26));
      outputs.emplace_back(std::move(table), std::move((*results)[i].rows));
    }
  }
  if (cancelled_) return Cancelled("the daemon is stopping");

  auto txn = store_->BeginTxn();
  run->results.clear();
  for (auto& [name, rows] : outputs) {
    PS_ASSIGN_OR_RETURN(DeltaTable * t, store_->Table(name, true));
    ConformToTable(*t, &rows);
    WriteOptions w;
    w.operation = "JOB RESULT";
    w.overwrite = true;
    w.writer = job.name;
    PS_RETURN_IF_ERROR(
        t->StageWrite(*txn, rows, w).WithContext(fmt::format("writing result table '{}'", name)));
    run->results.push_back(JobRunResult{name, txn->staged_versions()[name],
                                        static_cast<std::int64_t>(rows.num_rows())});
  }
  JobRun done = *run;
  done.status = "succeeded";
  done.finished_us = NowMicros();
  PS_ASSIGN_OR_RETURN(DeltaTable * history, store_->Table(kJobHistoryTable, true));
  PS_RETURN_IF_ERROR(history->StageWrite(*txn, HistoryRow(done), HistoryWrite(done)));
  return store_->Commit(std::move(txn));
}

Status SqlJobRunner::Record(const JobRun& run) {
  PS_ASSIGN_OR_RETURN(DeltaTable * history, store_->Table(kJobHistoryTable, true));
  auto txn = store_->BeginTxn();
  PS_RETURN_IF_ERROR(history->StageWrite(*txn, HistoryRow(run), HistoryWrite(run)));
  return store_->Commit(std::move(txn));
}

void SqlJobRunner::Cancel() {
  cancelled_ = true;
  std::lock_guard lock(mu_);
  if (active_ != nullptr) active_->Interrupt();
}

}  // namespace pinstream::state::sql
