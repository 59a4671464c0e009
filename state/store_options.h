// StoreOptions: how the store opens its RocksDB database — and the `storage:` section of a
// daemon config, parsed straight into it (registered by state/registry.cc):
//
//   storage:
//     block_cache: 64MiB            # RocksDB block cache, shared by every column family
//     write_buffer: 64MiB           # memtable size per column family
//     compression: lz4              # none, lz4, zstd, snappy: checkpoints, state, catalog
//     source_log_compression: none  # the same choices, for the source log's partitions
//     table_compression: lz4        # none, lz4, zstd: delta-table chunks (state/chunk_codec.h)
//     checkpoint_retention: 100     # offsets/commits entries kept per query (at least 2)
//     ingest_min_bytes: 4MiB        # table versions this large are ingested as SST files
//     table_checkpoint_interval: 100   # a delta table's state is saved every N versions
//     optimize:                     # automatic compaction (Delta's autoOptimize.autoCompact)
//       auto: true
//       min_small_chunks: 64        # compact a run of versions with this many small chunks
//       max_bytes: 64MiB            # stored bytes one OPTIMIZE rewrites at most
//     vacuum:                       # automatic VACUUM (deletes what old versions alone need)
//       auto: true
//       retain: 168h                # versions of the last 7 days stay readable
//       interval: 1h                # each table is vacuumed at most this often
//     maintenance_interval: 10s     # how often the table-maint thread looks at every table
//     tables:                       # per-table overrides of the table settings above
//       geo: {auto_optimize: false, min_small_chunks: 16, auto_vacuum: true, retain: 24h}
//
// Parsing throws ConfigError (file:line:col) on bad values.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "engine/config_node.h"
#include "engine/registry.h"

namespace rocksdb {
class Env;
}

namespace pinstream::state {

// What the daemon's table maintenance does to one table (the defaults, or a table's overrides).
struct TableMaintenanceOptions {
  bool auto_optimize = true;
  std::int64_t min_small_chunks = 64;
  std::int64_t optimize_max_bytes = 64LL << 20;
  bool auto_vacuum = true;
  std::int64_t vacuum_retain_us = 7LL * 24 * 3600 * 1'000'000;  // VACUUM's retention window
};

struct StoreOptions : ConfigSection {
  std::string data_dir;  // the config's data_dir, not part of the section
  std::int64_t block_cache_bytes = 64LL << 20;
  std::int64_t write_buffer_bytes = 64LL << 20;
  std::string compression = "lz4";  // state, checkpoints, catalog (RocksDB block compression)
  // The source log's blocks: none by default (the log is a short-lived buffer each query reads
  // once). With a codec, the young levels stay uncompressed and the older ones are compressed.
  std::string source_log_compression = "none";
  // Delta-table chunks, per column segment: lz4 (default), zstd (level 1: fewer bytes, more CPU)
  // or none (more bytes, less CPU). Applies to versions written from now on; a table may hold
  // chunks of every codec.
  std::string table_compression = "lz4";
  int checkpoint_retention = 100;
  // A delta-table version whose chunks reach this many bytes is written as an SST file of its
  // own and ingested (each byte written once) instead of going through the WAL and a flush.
  std::int64_t ingest_min_bytes = 4LL << 20;
  // Every this many versions a delta table's commit also saves the table's whole state (a log
  // checkpoint, like Delta's checkpointInterval): opening a table or reading an old version reads
  // at most this many log entries after the newest checkpoint.
  std::int64_t table_checkpoint_interval = 100;
  // Table maintenance (state/table_maintenance.h): defaults, overrides by table name, and how
  // often the maintenance thread checks every table.
  TableMaintenanceOptions maintenance;
  std::map<std::string, TableMaintenanceOptions> table_maintenance;
  std::int64_t maintenance_interval_us = 10'000'000;
  std::int64_t vacuum_interval_us = 3600LL * 1'000'000;  // automatic VACUUM of a table at most
  const TableMaintenanceOptions& MaintenanceFor(const std::string& table) const {
    auto it = table_maintenance.find(table);
    return it == table_maintenance.end() ? maintenance : it->second;
  }
  // Tests: the RocksDB environment to use (a file system with injected faults); default when null.
  rocksdb::Env* env = nullptr;
};

// The section's key in a daemon config.
inline constexpr const char* kStorageSection = "storage";

// Parses the `storage:` section (data_dir and env stay unset); throws ConfigError on bad input.
std::shared_ptr<const StoreOptions> ParseStoreOptions(const ConfigNode& node);
extern const ConfigKeys kStorageKeys;
extern const ConfigKeys kStorageOptimizeKeys;
extern const ConfigKeys kStorageVacuumKeys;
extern const ConfigKeys kStorageTableKeys;

}  // namespace pinstream::state
