// CommitTxn: everything one micro-batch makes durable, applied atomically or not at all.
//
// The engine opens one CommitTxn per batch (QueryCheckpoint::BeginCommit) and passes it to the
// sinks and the keyed state of the query's operators; each stages its writes into it. The
// checkpoint then applies the transaction together with the batch's commit-log entry as ONE
// atomic write with a synced WAL (state/ implements this with a RocksDB WriteBatch). Either all
// of a batch's table rows, operator state changes and commits/N marker are durable, or none.
//
// Keys are grouped in key spaces (RocksDB column families in the RocksDB implementation).
//
// Threading: filled by the query's thread (operator state) and then by its commit thread (sinks,
// commit); never by two threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace pinstream {

enum class KeySpace : unsigned char {
  kCheckpoint = 0,  // offsets / commits logs and query metadata
  kTables = 1,      // delta tables: logs, schemas, row chunks
  kState = 2,       // keyed operator state
  kSourceLog = 3,   // HTTP source log (retention deletes)
  kMeta = 4,        // catalog (table ids, log ids)
};

class CommitTxn {
 public:
  virtual ~CommitTxn() = default;

  virtual std::int64_t batch_id() const = 0;
  virtual void Put(KeySpace space, std::string_view key, std::string_view value) = 0;
  virtual void Delete(KeySpace space, std::string_view key) = 0;
  // Deletes [begin, end) in one space (retention of old log entries).
  virtual void DeleteRange(KeySpace space, std::string_view begin, std::string_view end) = 0;

  // Runs `fn` after the transaction is durable, in registration order, on the committing
  // thread. Used to advance in-memory heads (table versions) only once their writes exist.
  // If the commit fails the hooks never run and the transaction is discarded.
  virtual void OnCommitted(std::function<void()> fn) = 0;

  // Total bytes staged so far (for metrics and memory bounds).
  virtual std::size_t staged_bytes() const = 0;
};

}  // namespace pinstream
