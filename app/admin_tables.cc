#include "app/admin_tables.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "engine/row_format.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/store.h"

namespace pinstream::app {

using connectors::http::ApiResponse;
using connectors::http::JsonResponse;
using connectors::http::QueryParameter;
using nlohmann::ordered_json;

namespace {

constexpr std::int64_t kDefaultLimit = 50;
constexpr std::int64_t kMaxLimit = 1000;

ApiResponse Error(int status, const std::string& message) {
  return JsonResponse(status, ordered_json{{"error", message}}.dump());
}

// The HTTP status of a failed read: what the caller named does not exist (404), or the store
// failed (500).
ApiResponse ErrorFor(const Status& st) {
  bool missing = st.code() == StatusCode::kNotFound || st.code() == StatusCode::kOutOfRange;
  return Error(missing ? 404 : 500, st.message());
}

// An integer parameter in [min, max] (`fallback` when absent); false with *error set when
// malformed or out of range.
bool IntParameter(std::string_view query, std::string_view name, std::int64_t fallback,
                  std::int64_t min, std::int64_t max, std::int64_t* out, ApiResponse* error) {
  auto text = QueryParameter(query, name);
  if (!text || text->empty()) {
    *out = fallback;
    return true;
  }
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || ptr != text->data() + text->size() || v < min || v > max) {
    *error = Error(400, fmt::format("parameter '{}' must be an integer from {} to {}; got '{}'",
                                    name, min, max, *text));
    return false;
  }
  *out = v;
  return true;
}

std::string Iso(std::int64_t ms) { return FormatTimestamp(ms * 1000, TimestampStyle::kIso); }

ordered_json CommitJson(const state::CommitInfo& c) {
  ordered_json txn;
  if (!c.app_id.empty()) txn = {{"appId", c.app_id}, {"epoch", c.epoch}, {"batchId", c.batch_id}};
  return {{"version", c.version},
          {"timestamp", Iso(c.timestamp_ms)},
          {"operation", c.operation},
          {"mode", state::WriteModeName(c.mode)},
          {"dataChange", c.data_change},
          {"writer", c.query_name},
          {"txn", txn},
          {"rowsAdded", c.rows_added},
          {"rowsRemoved", c.rows_removed},
          {"chunks", c.chunks},
          {"chunksRemoved", c.chunks_removed},
          {"bytes", c.bytes},
          {"bytesRemoved", c.bytes_removed},
          {"schemaId", c.schema_id},
          {"addedColumns", c.added_columns}};
}

}  // namespace

bool TablesApi::IsDeadLetterTable(const std::string& name) const {
  return std::find(dead_letter_tables_.begin(), dead_letter_tables_.end(), name) !=
         dead_letter_tables_.end();
}

ApiResponse TablesApi::Tables(const connectors::http::PathSegments& seg,
                              std::string_view query) const {
  if (seg.size() == 1) return List();
  const std::string name(seg[1]);
  if (seg.size() == 2) return Describe(name);
  if (seg.size() == 3 && seg[2] == "history") return History(name, query);
  if (seg.size() == 3 && seg[2] == "rows") return Rows(name, query);
  return Error(404, "no such endpoint");
}

Result<ordered_json> TablesApi::Summary(const std::string& name,
                                        const state::DeltaTable** table) const {
  PS_ASSIGN_OR_RETURN(state::DeltaTable * t, store_->Table(name, false));
  state::TableInfo info = t->info();
  PS_ASSIGN_OR_RETURN(auto last, t->History(1));
  if (table != nullptr) *table = t;
  return ordered_json{
      {"name", name},
      {"version", info.version},
      {"oldestReadableVersion", info.oldest_readable},
      {"rows", info.rows},
      {"bytes", info.live_bytes},
      {"chunks", info.live_chunks},
      {"smallChunks", info.small_chunks},
      {"deletionVectors", info.deletion_vectors},
      {"updated", info.version >= 0 ? ordered_json(Iso(info.timestamp_ms)) : ordered_json()},
      {"writer", last.empty() ? ordered_json() : ordered_json(last.front().query_name)},
      {"deadLetter", IsDeadLetterTable(name)}};
}

ApiResponse TablesApi::List() const {
  ordered_json out = ordered_json::array();
  for (const auto& name : store_->ListTables()) {
    auto summary = Summary(name, nullptr);
    if (!summary.ok()) return ErrorFor(summary.status());
    out.push_back(std::move(summary).value());
  }
  return JsonResponse(200, out.dump());
}

ApiResponse TablesApi::Describe(const std::string& name) const {
  const state::DeltaTable* table = nullptr;
  auto summary = Summary(name, &table);
  if (!summary.ok()) return ErrorFor(summary.status());
  ordered_json j = std::move(summary).value();
  j["versions"] =
      j["version"].get<std::int64_t>() - j["oldestReadableVersion"].get<std::int64_t>() + 1;
  ordered_json schema = ordered_json::array();
  const Schema fields = table->schema();  // a copy: the table may evolve meanwhile
  for (const auto& f : fields.fields())
    schema.push_back({{"name", f.name}, {"type", TypeName(f.type)}, {"nullable", f.nullable}});
  j["schema"] = std::move(schema);
  return JsonResponse(200, j.dump());
}

ApiResponse TablesApi::History(const std::string& name, std::string_view query) const {
  auto table = store_->Table(name, false);
  if (!table.ok()) return ErrorFor(table.status());
  state::TableInfo info = (*table)->info();
  ApiResponse error;
  std::int64_t limit = 0, before = 0;
  if (!IntParameter(query, "limit", kDefaultLimit, 1, kMaxLimit, &limit, &error) ||
      !IntParameter(query, "before", info.version + 1, 0, INT64_MAX, &before, &error)) {
    return error;
  }
  // Newest first: the versions below `before`, down to the oldest readable one.
  ordered_json out = ordered_json::array();
  std::int64_t from = std::min(before, info.version + 1) - 1;
  for (std::int64_t v = from; v >= std::max(info.oldest_readable, from - limit + 1); --v) {
    auto c = (*table)->Commit(v);
    if (!c.ok()) return ErrorFor(c.status());
    out.push_back(CommitJson(*c));
  }
  return JsonResponse(200, out.dump());
}

ApiResponse TablesApi::Rows(const std::string& name, std::string_view query) const {
  auto table = store_->Table(name, false);
  if (!table.ok()) return ErrorFor(table.status());
  ApiResponse error;
  std::int64_t version = -1, limit = 0, offset = 0;
  if (!IntParameter(query, "version", -1, 0, INT64_MAX, &version, &error) ||
      !IntParameter(query, "limit", kDefaultLimit, 1, kMaxLimit, &limit, &error) ||
      !IntParameter(query, "offset", 0, 0, INT64_MAX, &offset, &error)) {
    return error;
  }
  auto snap =
      (*table)->Snapshot(version >= 0 ? std::optional<std::int64_t>(version) : std::nullopt);
  if (!snap.ok()) return ErrorFor(snap.status());
  const Schema& schema = (*snap)->schema();
  std::vector<std::string> columns;
  ordered_json cols = ordered_json::array();
  for (const auto& f : schema.fields()) {
    columns.push_back(f.name);
    cols.push_back({{"name", f.name}, {"type", TypeName(f.type)}});
  }
  std::string rows = "[";
  std::int64_t skipped = 0, taken = 0;
  auto cursor = (*snap)->OpenCursor();
  while (taken < limit) {
    auto step = cursor->NextChunk();
    if (!step.ok()) return ErrorFor(step.status());
    if (*step == state::ScanStep::kFinished) break;
    auto n = static_cast<std::int64_t>(cursor->chunk_rows());
    if (skipped + n <= offset) {  // the whole chunk lies before the page: not decoded
      skipped += n;
      continue;
    }
    auto batch = cursor->Decode(columns);
    if (!batch.ok()) return ErrorFor(batch.status());
    for (std::int64_t r = std::max<std::int64_t>(offset - skipped, 0); r < n && taken < limit;
         ++r, ++taken) {
      if (taken > 0) rows += ",";
      AppendJsonRow(*batch, static_cast<std::size_t>(r), &rows);
    }
    skipped += n;
  }
  rows += "]";
  std::string head = ordered_json{
      {"table", name},
      {"version", (*snap)->version()},
      {"totalRows", (*snap)->num_rows()},
      {"offset", offset},
      {"limit", limit},
      {"columns", cols}}.dump();
  head.pop_back();  // the closing brace: the rows follow
  return JsonResponse(200, head + ",\"rows\":" + rows + "}");
}

ApiResponse TablesApi::DeadLetters(std::string_view query) const {
  ApiResponse error;
  std::int64_t limit = 0;
  if (!IntParameter(query, "limit", kDefaultLimit, 1, kMaxLimit, &limit, &error)) return error;
  std::vector<ordered_json> rows;
  ordered_json tables = ordered_json::array();
  for (const auto& name : dead_letter_tables_) {
    auto table = store_->Table(name, false);
    if (!table.ok()) {
      if (table.status().code() == StatusCode::kNotFound) continue;  // nothing rejected yet
      return ErrorFor(table.status());
    }
    tables.push_back(name);
    // Every dead-letter version holds at least one row: the newest `limit` versions hold the
    // newest `limit` rows.
    auto hist = (*table)->History(static_cast<std::size_t>(limit));
    if (!hist.ok()) return ErrorFor(hist.status());
    if (hist->empty()) continue;
    std::int64_t from = hist->back().version;
    auto snap = (*table)->Snapshot();
    if (!snap.ok()) return ErrorFor(snap.status());
    std::vector<ordered_json> mine;
    Status st = (*snap)->ScanVersions(
        nullptr, [from](const state::VersionStats& v) { return v.version >= from; },
        [&](RecordBatch&& b) -> Status {
          for (std::size_t r = 0; r < b.num_rows(); ++r) {
            std::string row;
            AppendJsonRow(b, r, &row);
            ordered_json j{{"table", name}};
            j.update(ordered_json::parse(row));
            mine.push_back(std::move(j));
          }
          return Status::Ok();
        });
    if (!st.ok()) return ErrorFor(st);
    // The newest `limit` of them, newest first (commit order is oldest first).
    std::size_t keep = std::min(mine.size(), static_cast<std::size_t>(limit));
    rows.insert(rows.end(), std::make_move_iterator(mine.rbegin()),
                std::make_move_iterator(mine.rbegin() + static_cast<std::ptrdiff_t>(keep)));
  }
  // Newest first across the tables (failed_at is ISO-8601 UTC: its text sorts by time).
  std::stable_sort(rows.begin(), rows.end(), [](const ordered_json& a, const ordered_json& b) {
    std::string ta = a.value("failed_at", ""), tb = b.value("failed_at", "");
    return ta > tb;
  });
  if (rows.size() > static_cast<std::size_t>(limit)) rows.resize(static_cast<std::size_t>(limit));
  ordered_json out{{"tables", tables}, {"rows", rows}};
  return JsonResponse(200, out.dump());
}

}  // namespace pinstream::app
