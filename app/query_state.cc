#include "app/query_state.h"

#include <fmt/format.h>

#include "engine/state_table.h"
#include "state/checkpoint_store.h"

namespace pinstream::app {

Result<nlohmann::ordered_json> QueryStateJson(state::Store* store, const std::string& query) {
  state::RocksCheckpointStore cps(store);
  PS_ASSIGN_OR_RETURN(auto cp, cps.OpenQuery(query));
  PS_ASSIGN_OR_RETURN(auto meta, cp->ReadMetadata());
  if (!meta) return NotFound(fmt::format("query '{}' has no checkpoint yet", query));
  nlohmann::ordered_json ops = nlohmann::ordered_json::array();
  for (const auto& s : meta->stateful_operators) {
    // "<state id>:<kind>:<fingerprint>"; its state lives under "<query>/<state id>".
    const std::size_t colon = s.find(':');
    const std::string id = s.substr(0, colon);
    const std::size_t colon2 = s.find(':', colon + 1);
    const std::string kind = colon == std::string::npos ? "" : s.substr(colon + 1, colon2 - colon - 1);
    std::string ns = query + "/" + id;
    std::string begin = ns + std::string(1, '\0'), end = ns + std::string(1, '\x01');
    std::int64_t bytes = cp->ApproximateStateBytes(begin, end);
    PS_ASSIGN_OR_RETURN(auto rows, StateTable::StoredRows(cp.get(), ns));
    ops.push_back({{"stateId", id},
                   {"kind", kind},
                   {"rows", rows ? nlohmann::ordered_json(*rows) : nlohmann::ordered_json()},
                   {"bytes", bytes}});
  }
  nlohmann::ordered_json out{{"query", query}, {"operators", ops}};
  // Where its inputs stand: the end offsets of its last committed batch (a live view's delta
  // sources: (version << 32) | row per table).
  PS_ASSIGN_OR_RETURN(auto committed, cp->LatestCommittedBatch());
  out["committedBatch"] = committed ? nlohmann::ordered_json(*committed) : nlohmann::ordered_json();
  nlohmann::ordered_json ends = nlohmann::ordered_json::object();
  if (committed) {
    PS_ASSIGN_OR_RETURN(auto offsets, cp->GetOffsets(*committed));
    if (offsets) {
      for (const auto& [source, parts] : offsets->sources) {
        for (const auto& [partition, end] : parts) ends[source][partition] = end;
      }
    }
  }
  out["committedOffsets"] = ends;
  return out;
}

}  // namespace pinstream::app
