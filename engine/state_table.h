// StateTable: the keyed state of one stateful operator on one shard, read and written key by key
// with point reads and ordered range scans — state larger than memory (Spark's RocksDB state
// store provider is the model), not a snapshot loaded at start.
//
// Layers a read goes through, newest first:
//   1. this batch's writes (Put/Delete land here);
//   2. the writes of batches handed to their commit but not yet durable — batch N+1 is processed
//      while N commits (StreamingQuery), so it must see N's writes: each staged batch stays here
//      as an overlay until the checkpoint reports it durable, and is then dropped;
//   3. committed state, through a byte-bounded LRU cache of point reads (config
//      `state: {cache: 64MiB}` per query), then the storage behind the checkpoint (RocksDB's
//      `state` column family in the daemon; InMemoryCheckpointStore in engine tests).
// Scan(begin, end) merges all three in key order.
// In memory the three layers of a key are one node found by one hash look-up: the value below
// this batch (committed and cached, or the newest staged batch's) and this batch's write. A Put
// takes the undo value from that node (the read it made, or one a Get or Prefetch made before),
// with no second look-up. Key order is built only where a Scan needs it (this batch's written
// keys as Scans ask, an overlay's keys sorted by the first Scan that reaches it).
//
// Keys: operators build them as [partition byte][their own layout]; the partition is
// StatePartitionOf(hash of the row's key columns), and a shard owns the partitions p with
// p % shards == shard (ShardOfHash: the exchange routes by the same rule), so its range scans
// (watermark eviction: "every window ending before W", with big-endian times in the key) touch
// only its own keys: one seek per owned partition (partitions()). With 256 partitions the shard
// count may change between runs without moving any state.
//
// Commit: StageBatch(N, txn) stages this batch's writes into the batch's one atomic write (the
// CommitTxn with the output, offsets and commits/N), together with
//   * an undo log entry: the old value (or absence) of every key the batch wrote, kept for
//     storage.checkpoint_retention batches, which is what `pinstream checkpoint rewind` applies
//     (newest first) to put the state back as it was before the batch it rewinds to;
//   * this shard's row count (numRowsTotal survives restarts without a scan).
// and turns them into an in-flight overlay (layer 2). If the commit fails, the engine discards
// every table and rebuilds the operators from committed state.
//
// Index entries: an operator that keeps secondary keys beside its entries (an aggregate's session
// index, a join's eviction index) names their kinds — the byte after the partition byte — in
// `index_kinds`; they are keys like any other, but Stats() counts the entries only (progress'
// numRowsTotal/Updated/Removed: a session window is one row, not its entry and its index entry).
//
// Storage layout (CommitSpace::kOperatorState, ns = "<query>/<operator>"):
//   "<ns>\0K" + key                          → value
//   "<ns>\0U" be64(batch) be32(shard)        → undo entries of that batch and shard
//   "<ns>\0M" be32(shards) be32(shard)       → the shard's key count under that shard count, then
//                                              the count of its index entries (both varints;
//                                              a count without the second, written before index
//                                              kinds existed: Open counts the index keys)
//   "<ns>\0N"                                → be32: the shard count the counts were written by
//                                              (another one: Open counts the shard's keys)
//
// Threading: a table belongs to its shard's worker thread; StageBatch / DiscardBatch / Stats are
// called by the query thread while the shard is idle (after ShardExecutor::Finish). The commit
// hook that marks an overlay durable runs on the commit thread and only stores an atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/commit_txn.h"
#include "engine/keyed_state.h"
#include "engine/status.h"

namespace pinstream {

// What a table reports for progress (Spark's StateOperatorProgress): the batch in progress (read
// between Finish() and StageBatch).
struct StateTableStats {
  std::int64_t rows = 0;          // live keys of this shard (index entries not counted)
  std::int64_t rows_updated = 0;  // keys written by the batch (idem)
  std::int64_t rows_removed = 0;  // keys deleted by the batch (idem)
  std::int64_t memory_bytes = 0;  // cache + this batch's and in-flight writes
  std::int64_t cache_hits = 0, cache_misses = 0;
};

class StateTable {
 public:
  // `storage`: the checkpoint's state reader; `ns`: "<query>/<operator>"; `index_kinds`: the
  // kinds of the operator's index keys (OperatorSpec::state_index_kinds, see above).
  StateTable(StateReader* storage, std::string ns, int shard, int num_shards,
             std::size_t cache_bytes, std::string index_kinds = {});
  ~StateTable();
  StateTable(const StateTable&) = delete;
  StateTable& operator=(const StateTable&) = delete;

  // Reads the shard's row count (counting its keys if it was written with another shard count).
  [[nodiscard]] Status Open();

  // The partitions this shard owns (ascending).
  const std::vector<std::uint8_t>& partitions() const { return partitions_; }

  // The newest value of `key` (see the layers above). *found = false when absent.
  [[nodiscard]] Status Get(std::string_view key, std::string* value, bool* found);
  // Batched point reads ahead of the Gets and Puts of a batch: the committed values of those of
  // `keys` that are not in this batch's writes, an in-flight overlay or the cache are read from
  // storage at once (StateReader::MultiGetState: RocksDB's MultiGet, in key order) into the
  // cache, so the Gets and Puts that follow are served from memory. Stops adding once the keys
  // read would fill half the cache (the rest are read one by one when asked for).
  [[nodiscard]] Status Prefetch(std::vector<std::string_view> keys);
  // A write reads the key's value below this batch first (for the undo log and the row count);
  // that read can fail.
  [[nodiscard]] Status Put(std::string_view key, std::string_view value);
  [[nodiscard]] Status Delete(std::string_view key);

  // Visits the live keys in [begin, end) in key order with their newest values; the visitor
  // returns false to stop. It must not write to the table (collect, then write).
  using ScanVisitor = std::function<bool(std::string_view key, std::string_view value)>;
  [[nodiscard]] Status Scan(std::string_view begin, std::string_view end, const ScanVisitor& visit);

  // Engine side (see the header comment).
  void StageBatch(std::int64_t batch_id, CommitTxn& txn);
  void DiscardBatch();
  StateTableStats Stats() const;
  const std::string& ns() const { return ns_; }

  // For `checkpoint rewind QUERY --to-batch N`: stages into `txn` the undo logs of namespace `ns`
  // for batches >= N, newest first (so the value a key had before batch N wins), and their
  // removal. *restored counts the keys put back.
  static Status Rewind(StateReader* storage, std::string_view ns, std::int64_t to_batch,
                       CommitTxn& txn, std::int64_t* restored);

  // The live keys of namespace `ns` as its shards last stored them (`checkpoint show`); nullopt
  // when `ns` holds no StateTable counts.
  static Result<std::optional<std::int64_t>> StoredRows(StateReader* storage, std::string_view ns);

  // Storage keys (for the checkpoint's rewind and `checkpoint show`).
  static std::string DataPrefix(std::string_view ns);  // "<ns>\0K"
  static std::string UndoPrefix(std::string_view ns);  // "<ns>\0U"
  static std::string UndoKey(std::string_view ns, std::int64_t batch, std::uint32_t shard);
  static std::string MetaKey(std::string_view ns, std::uint32_t shards, std::uint32_t shard);
  static std::string ShardsKey(std::string_view ns);  // "<ns>\0N"

 private:
  // One key the table knows: its value below this batch — committed (then the node is in the
  // point-read cache, in LRU order, unless this batch wrote it) or written by the newest staged
  // batch not yet durable — and this batch's write. Every layer of a key is this one node, found
  // by one hash look-up (NodeIndex); ordered structures are built only for Scan.
  struct Node {
    std::string key;
    std::string below;      // the value below this batch (when has_below)
    std::string value;      // this batch's write (when written and has_value; else deleted)
    std::int64_t in_flight = -1;  // the newest staged batch that wrote it; -1: below is committed
    std::uint64_t hash = 0;
    Node* prev = nullptr;  // LRU links (in_lru)
    Node* next = nullptr;
    bool has_below = false, written = false, has_value = false, in_lru = false;
  };
  // Open addressing (linear probing, backward-shift deletion) from a key to its node.
  class NodeIndex {
   public:
    Node* Find(std::string_view key, std::uint64_t hash) const;
    void Insert(Node* n);  // n->key absent
    void Erase(const Node* n);
    std::size_t size() const { return size_; }

   private:
    struct Slot {
      std::uint64_t hash = 0;
      Node* node = nullptr;
    };
    void Grow();
    std::vector<Slot> slots_;
    std::size_t size_ = 0;
  };
  // A staged batch's written keys (their newest staged value is in their node).
  struct Overlay {
    std::int64_t batch = 0;
    std::vector<Node*> nodes;
    bool sorted = false;  // nodes in key order (sorted by the first Scan that needs it)
    std::size_t bytes = 0;
  };

  // Drops overlays of batches the checkpoint reported durable (their keys join the cache).
  void PruneDurable();
  // The node of `key` with its value below this batch known: found, or read from storage into
  // the cache (a miss). Counts a hit when a committed value was served from the cache.
  Status Load(std::string_view key, Node** out);
  Node* NewNode(std::string_view key, std::uint64_t hash);
  void FreeNode(Node* n);
  void LruLink(Node* n);  // at the front (most recent); counts its bytes in the cache
  void LruUnlink(Node* n);
  void LruTouch(Node* n);
  // Evicts least recently used entries until the cache fits (never `keep`).
  void CacheEvict(const Node* keep = nullptr);
  // The first write of `n` in this batch: out of the cache, into this batch's writes.
  void BeginWrite(Node* n);
  std::size_t CachedBytes(const Node* n) const {
    return n->key.size() + (n->has_below ? n->below.size() : 0) + kNodeOverhead;
  }
  std::string Physical(std::string_view key) const { return data_prefix_ + std::string(key); }
  bool IsIndex(std::string_view key) const {
    return key.size() > 1 && index_kinds_.find(key[1]) != std::string::npos;
  }
  // Counts one key more (+1) or less (-1), its index count too when it is an index key.
  void CountKey(std::string_view key, int delta) {
    rows_ += delta;
    if (IsIndex(key)) index_rows_ += delta;
  }
  // The meta value of a count (see the storage layout).
  static std::string MetaValue(std::int64_t rows, std::int64_t index_rows);

  // Memory per node beyond its key and values: the node and its index slots.
  static constexpr std::size_t kNodeOverhead = sizeof(Node) + 2 * 16;

  StateReader* storage_;
  std::string ns_;
  std::string data_prefix_;
  int shard_, num_shards_;
  std::vector<std::uint8_t> partitions_;
  std::size_t cache_capacity_;
  std::string index_kinds_;

  NodeIndex index_;
  std::deque<Node> pool_;    // every node (stable addresses)
  std::vector<Node*> free_;  // pool_ nodes not in use

  std::vector<Node*> written_;  // this batch's written keys, in first-write order
  // written_[0, ordered_upto_) in key order, kept for Scan only (filled by the Scans).
  std::map<std::string_view, Node*> ordered_;
  std::size_t ordered_upto_ = 0;
  std::size_t current_bytes_ = 0;
  std::deque<Overlay> in_flight_;
  std::shared_ptr<std::atomic<std::int64_t>> durable_;  // newest durable batch (commit hook)

  Node* lru_head_ = nullptr;  // most recent
  Node* lru_tail_ = nullptr;
  std::size_t cache_bytes_ = 0;

  std::int64_t rows_ = 0;                                     // live keys
  std::int64_t index_rows_ = 0;                               // of which index keys
  std::int64_t rows_at_start_ = 0, index_rows_at_start_ = 0;  // when this batch started
  bool meta_dirty_ = false;  // counted at Open: store the counts in the next StageBatch
  std::optional<std::string> shards_entry_;             // the "N" entry below this batch (undo)
  std::int64_t batch_updated_ = 0, batch_removed_ = 0;  // this batch's writes (Stats)
  std::int64_t hits_ = 0, misses_ = 0;
};

}  // namespace pinstream
