// TablesApi: the admin API's read-only views of the daemon's delta tables (app/admin_api.h
// routes them):
//
//   GET /tables                       every table: name, version, oldestReadableVersion, rows,
//                                     bytes, chunks, smallChunks (OPTIMIZE's candidates),
//                                     deletionVectors, updated, writer, deadLetter
//   GET /tables/<t>                   one table: the same, its schema and number of readable
//                                     versions
//   GET /tables/<t>/history           its commits, newest first: version, timestamp, operation,
//       ?limit=50&before=V            mode, dataChange, writer, txn {appId, epoch, batchId},
//                                     rowsAdded/Removed, chunks(Removed), bytes(Removed),
//                                     schemaId, addedColumns (limit ≤ 1000; before: only
//                                     versions below V)
//   GET /tables/<t>/rows              a page of rows of the snapshot at `version` (default the
//       ?version=&limit=50&offset=0   latest), in commit order: {table, version, totalRows,
//                                     offset, columns: [{name, type}], rows: [{col: value}]}
//                                     (limit ≤ 1000; values as `scan --format jsonl` writes them)
//   GET /deadletters?limit=50         the newest rejected rows of every dead-letter table, newest
//                                     first, each with its table, query, batch_id, operator,
//                                     reason, source, partition, offset, position, raw, failed_at
//
// "bytes" and "chunks" are those of the live chunks at the latest version (DeltaTable::info():
// Delta's sizeInBytes and numFiles, compressed as stored). Errors: 404
// for an unknown table or a version that does not exist, 400 for a malformed parameter, 500 with
// the store's message when a read fails — {"error": ...}.
//
// Threading: any number of HTTP threads at once; reads pin a store snapshot and never block the
// writers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/http/api.h"
#include "engine/status.h"

namespace pinstream::state {
class DeltaTable;
class Store;
}  // namespace pinstream::state

namespace pinstream::app {

class TablesApi {
 public:
  // `dead_letter_tables`: the tables the config's queries send rejected rows to.
  TablesApi(state::Store* store, std::vector<std::string> dead_letter_tables)
      : store_(store), dead_letter_tables_(std::move(dead_letter_tables)) {}

  // /tables/...: `seg` are the path's segments (seg[0] == "tables"), `query` the raw query.
  connectors::http::ApiResponse Tables(const connectors::http::PathSegments& seg,
                                       std::string_view query) const;
  connectors::http::ApiResponse DeadLetters(std::string_view query) const;

 private:
  // The /tables entry of a table (and the table, when `table` is given).
  Result<nlohmann::ordered_json> Summary(const std::string& name,
                                         const state::DeltaTable** table) const;
  connectors::http::ApiResponse List() const;
  connectors::http::ApiResponse Describe(const std::string& name) const;
  connectors::http::ApiResponse History(const std::string& name, std::string_view query) const;
  connectors::http::ApiResponse Rows(const std::string& name, std::string_view query) const;
  bool IsDeadLetterTable(const std::string& name) const;

  state::Store* store_;
  std::vector<std::string> dead_letter_tables_;
};

}  // namespace pinstream::app
