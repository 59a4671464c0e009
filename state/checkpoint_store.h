// RocksCheckpointStore: the checkpoints of every query in the store's `checkpoint` family — the
// offset log, the commit log and the metadata of engine/checkpoint.h — with the admin
// operations of `pinstream checkpoint` (rewind, reset).
//
// Key layout: "<query>\0" + kind byte ('M' metadata, 'O' offsets/N, 'C' commits/N) + be64(N).
// A batch commit writes commits/N in the same atomic write as the batch's output and state
// (the CommitTxn is a StoreTxn), and drops offsets/commits entries older than
// storage.checkpoint_retention batches.
//
// Threading: a query's checkpoint is used by its query's thread; Rewind and Reset only while no
// daemon runs on the data dir (the store is opened for writing by the command).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/status.h"

namespace pinstream::state {

class Store;

// The RocksDB-backed checkpoint of all queries (KeySpace::kCheckpoint).
class RocksCheckpointStore : public CheckpointStore {
 public:
  explicit RocksCheckpointStore(Store* store) : store_(store) {}
  Result<std::unique_ptr<QueryCheckpoint>> OpenQuery(const std::string& query_name) override;

  // Admin operations (CLI; the daemon must not be running for the writes).
  Result<std::vector<std::string>> ListQueries();
  // Drops offsets/commits after batch N-1 and state written by batches >= N; bumps the epoch so
  // that sinks accept the replayed batches as new table versions.
  [[nodiscard]] Status Rewind(const std::string& query, std::int64_t to_batch, std::string* report);
  // Deletes everything the checkpoint holds for a query (its tables are kept).
  [[nodiscard]] Status Reset(const std::string& query);

 private:
  Store* store_;
};

// Checkpoint key layout: "<query>\0" + kind byte + [big-endian batch id].
std::string CheckpointKey(std::string_view query, char kind, std::int64_t batch = -1);

}  // namespace pinstream::state
