// CommitTxn: everything one micro-batch makes durable, applied atomically or not at all.
//
// The engine opens one CommitTxn per batch (QueryCheckpoint::BeginCommit) and passes it to the
// keyed state of the query's operators and then to its sinks; each stages its writes into it.
// The checkpoint applies the transaction together with the batch's commit-log entry as ONE
// atomic write with a synced WAL. Either all of a batch's output, operator state changes and its
// commits/N marker are durable, or none.
//
// Writes name what they are for (CommitSpace), not where they go: the storage behind the
// checkpoint places each space (state/ maps them to RocksDB column families).
//
// Lifecycle: filled, then either committed (QueryCheckpoint::Commit/Apply: the OnCommitted hooks
// run, in registration order, on the committing thread) or discarded (destroyed uncommitted:
// nothing of it is written, no hook runs). Either way the locks taken with HoldUntilDone are
// released then.
//
// Threading: filled by the query's thread (operator state) and then by its commit thread (sinks,
// commit); never by two threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace pinstream {

enum class CommitSpace : unsigned char {
  kOperatorState,  // keyed operator state (KeyedStateStore)
  kSinkOutput,     // what a sink commits with the batch (a delta table's log, schemas, rows)
  kCatalog,        // names → ids of what sinks create (a new table's id)
};

class CommitTxn {
 public:
  virtual ~CommitTxn() = default;

  virtual std::int64_t batch_id() const = 0;
  virtual void Put(CommitSpace space, std::string_view key, std::string_view value) = 0;
  virtual void Delete(CommitSpace space, std::string_view key) = 0;
  // Deletes [begin, end) in one space (retention of old entries).
  virtual void DeleteRange(CommitSpace space, std::string_view begin, std::string_view end) = 0;

  // Runs `fn` after the transaction is durable, in registration order, on the committing
  // thread. Used to advance in-memory heads (table versions) only once their writes exist.
  // If the commit fails the hooks never run and the transaction is discarded.
  virtual void OnCommitted(std::function<void()> fn) = 0;

  // Holds `commit_order` from now until the transaction is committed or discarded, so that the
  // writers of a shared output (several queries appending to one table) stage and commit one
  // after the other and allocate its versions in commit order. Idempotent for one mutex.
  virtual void HoldUntilDone(std::mutex& commit_order) = 0;

  // The versioned outputs staged in this transaction, by name → the version staged (a delta
  // table records itself here; a second write of it in the same transaction is refused).
  virtual std::map<std::string, std::int64_t>& staged_versions() = 0;

  // Total bytes staged so far (for metrics and memory bounds).
  virtual std::size_t staged_bytes() const = 0;
};

}  // namespace pinstream
