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

std::shared_ptr<const StoreOptions> ParseStoreOptions(const ConfigNode& n) {
  auto options = std::make_shared<StoreOptions>();
  StoreOptions& o = *options;
  n.ExpectKeys({"block_cache", "write_buffer", "compression", "source_log_compression",
                "table_compression", "checkpoint_retention", "ingest_min_bytes",
                "table_checkpoint_interval", "optimize", "vacuum", "maintenance_interval",
                "tables"});
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
    opt->ExpectKeys({"auto", "min_small_chunks", "max_bytes"});
    o.maintenance.auto_optimize = opt->GetBool("auto", o.maintenance.auto_optimize);
    o.maintenance.min_small_chunks = MinSmallChunks(*opt, o.maintenance.min_small_chunks);
    o.maintenance.optimize_max_bytes =
        opt->GetByteSize("max_bytes", o.maintenance.optimize_max_bytes);
    if (o.maintenance.optimize_max_bytes < (1 << 20))
      opt->Get("max_bytes").Fail("optimize.max_bytes must be at least 1MiB");
  }
  if (auto vac = n.Find("vacuum")) {
    vac->ExpectKeys({"auto", "retain", "interval"});
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
      t.ExpectKeys({"auto_optimize", "min_small_chunks", "auto_vacuum", "retain"});
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
