#include "state/store_options.h"

namespace pinstream::state {

namespace {
std::int64_t MinSmallChunks(const ConfigNode& n, std::int64_t def) {
  std::int64_t v = n.GetInt("min_small_chunks", def);
  if (v < 2) n.Get("min_small_chunks").Fail("min_small_chunks must be at least 2");
  return v;
}
std::int64_t Retain(const ConfigNode& n, std::int64_t def) {
  std::int64_t v = n.GetDurationMicros("retain", def);
  if (v < 0) n.Get("retain").Fail("retain must not be negative");
  return v;
}
}  // namespace

namespace {
constexpr KeyDoc kStorageDocs[] = {
    {"block_cache", KeyType::kByteSize, "64MiB",
     "RocksDB block cache, shared by every column family."},
    {"write_buffer", KeyType::kByteSize, "64MiB", "Memtable size per column family."},
    {"compression", KeyType::kEnum, "lz4",
     "Block compression of checkpoints, state and the catalog.", "none|lz4|zstd|snappy"},
    {"source_log_compression", KeyType::kEnum, "none",
     "Compression of the source log's older levels (the young ones stay uncompressed).",
     "none|lz4|zstd|snappy"},
    {"table_compression", KeyType::kEnum, "lz4",
     "Delta-table chunks, per column segment (zstd: fewer bytes, more CPU); applies to versions "
     "written from then on.",
     "none|lz4|zstd"},
    {"checkpoint_retention", KeyType::kInt, "100",
     "Offset-log and commit-log entries kept per query (at least 2)."},
    {"ingest_min_bytes", KeyType::kByteSize, "4MiB",
     "A table version this large is written as its own SST file and ingested (no WAL)."},
    {"table_checkpoint_interval", KeyType::kInt, "100",
     "Every N versions a table's commit also saves its whole state (Delta's checkpointInterval; "
     "1..100000)."},
    {"optimize", KeyType::kMap, "", "Automatic OPTIMIZE (see storage.optimize)."},
    {"vacuum", KeyType::kMap, "", "Automatic VACUUM (see storage.vacuum)."},
    {"maintenance_interval", KeyType::kDuration, "10s",
     "How often the maintenance thread looks at every table (at least 1ms)."},
    {"tables", KeyType::kMap, "",
     "Per-table overrides: table name → settings (see storage.tables.<table>)."},
};
constexpr KeyDoc kStorageOptimizeDocs[] = {
    {"auto", KeyType::kBool, "true",
     "Compact small chunks automatically (Delta's autoOptimize.autoCompact)."},
    {"min_small_chunks", KeyType::kInt, "64",
     "Compact a run of versions once it holds this many small chunks (at least 2)."},
    {"max_bytes", KeyType::kByteSize, "64MiB",
     "Stored bytes one OPTIMIZE rewrites at most (>= 1MiB)."},
};
constexpr KeyDoc kStorageVacuumDocs[] = {
    {"auto", KeyType::kBool, "true",
     "VACUUM automatically: delete what only versions older than retain need."},
    {"retain", KeyType::kDuration, "168h", "Versions this recent stay readable (time travel)."},
    {"interval", KeyType::kDuration, "1h", "Each table is vacuumed at most this often."},
};
constexpr KeyDoc kStorageTableDocs[] = {
    {"auto_optimize", KeyType::kBool, "(optimize.auto)", "Automatic OPTIMIZE of this table."},
    {"min_small_chunks", KeyType::kInt, "(optimize.min_small_chunks)",
     "Small chunks that trigger OPTIMIZE of this table."},
    {"auto_vacuum", KeyType::kBool, "(vacuum.auto)", "Automatic VACUUM of this table."},
    {"retain", KeyType::kDuration, "(vacuum.retain)", "VACUUM's retention window for this table."},
};
}  // namespace
constexpr ConfigKeys kStorageKeys{
    "storage", "The RocksDB store: caches, compression, checkpoint retention, table maintenance.",
    kStorageDocs, Reload::kRestart};
constexpr ConfigKeys kStorageOptimizeKeys{"storage.optimize",
                                          "Automatic compaction of small chunks (OPTIMIZE).",
                                          kStorageOptimizeDocs, Reload::kRestart};
constexpr ConfigKeys kStorageVacuumKeys{
    "storage.vacuum",
    "Automatic VACUUM: deletes the chunks only versions older than the window need.",
    kStorageVacuumDocs, Reload::kRestart};
constexpr ConfigKeys kStorageTableKeys{"storage.tables.<table>",
                                       "One table's maintenance, overriding the defaults above.",
                                       kStorageTableDocs, Reload::kRestart};

std::shared_ptr<const StoreOptions> ParseStoreOptions(const ConfigNode& n) {
  auto options = std::make_shared<StoreOptions>();
  StoreOptions& o = *options;
  n.ExpectKeys(kStorageKeys);
  o.block_cache_bytes = n.GetByteSize("block_cache", o.block_cache_bytes);
  o.write_buffer_bytes = n.GetByteSize("write_buffer", o.write_buffer_bytes);
  o.compression = n.GetEnum("compression", {"none", "lz4", "zstd", "snappy"}, "lz4");
  o.source_log_compression =
      n.GetEnum("source_log_compression", {"none", "lz4", "zstd", "snappy"}, "none");
  o.table_compression = n.GetEnum("table_compression", {"none", "lz4", "zstd"}, "lz4");
  o.checkpoint_retention = static_cast<int>(n.GetInt("checkpoint_retention", 100));
  o.ingest_min_bytes = n.GetByteSize("ingest_min_bytes", o.ingest_min_bytes);
  o.table_checkpoint_interval = n.GetInt("table_checkpoint_interval", o.table_checkpoint_interval);
  if (o.table_checkpoint_interval < 1 || o.table_checkpoint_interval > 100000)
    n.Get("table_checkpoint_interval").Fail("table_checkpoint_interval must be 1..100000");
  if (auto opt = n.Find("optimize")) {
    opt->ExpectKeys(kStorageOptimizeKeys);
    o.maintenance.auto_optimize = opt->GetBool("auto", o.maintenance.auto_optimize);
    o.maintenance.min_small_chunks = MinSmallChunks(*opt, o.maintenance.min_small_chunks);
    o.maintenance.optimize_max_bytes =
        opt->GetByteSize("max_bytes", o.maintenance.optimize_max_bytes);
    if (o.maintenance.optimize_max_bytes < (1 << 20))
      opt->Get("max_bytes").Fail("optimize.max_bytes must be at least 1MiB");
  }
  if (auto vac = n.Find("vacuum")) {
    vac->ExpectKeys(kStorageVacuumKeys);
    o.maintenance.auto_vacuum = vac->GetBool("auto", o.maintenance.auto_vacuum);
    o.maintenance.vacuum_retain_us = Retain(*vac, o.maintenance.vacuum_retain_us);
    o.vacuum_interval_us = vac->GetDurationMicros("interval", o.vacuum_interval_us);
    if (o.vacuum_interval_us < 1000)
      vac->Get("interval").Fail("vacuum.interval must be at least 1ms");
  }
  o.maintenance_interval_us =
      n.GetDurationMicros("maintenance_interval", o.maintenance_interval_us);
  if (o.maintenance_interval_us < 1000)
    n.Get("maintenance_interval").Fail("maintenance_interval must be at least 1ms");
  if (auto tables = n.Find("tables")) {
    if (!tables->IsMap()) tables->Fail("tables: a map of table name → settings");
    for (const auto& [name, t] : tables->Entries()) {
      t.ExpectKeys(kStorageTableKeys);
      TableMaintenanceOptions m = o.maintenance;
      m.auto_optimize = t.GetBool("auto_optimize", m.auto_optimize);
      m.min_small_chunks = MinSmallChunks(t, m.min_small_chunks);
      m.auto_vacuum = t.GetBool("auto_vacuum", m.auto_vacuum);
      m.vacuum_retain_us = Retain(t, m.vacuum_retain_us);
      o.table_maintenance[name] = m;
    }
  }
  if (o.checkpoint_retention < 2)
    n.Get("checkpoint_retention").Fail("checkpoint_retention must be at least 2");
  return options;
}

}  // namespace pinstream::state
