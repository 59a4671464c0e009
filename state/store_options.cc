#include "state/store_options.h"

namespace pinstream::state {

std::shared_ptr<const StoreOptions> ParseStoreOptions(const ConfigNode& n) {
  auto options = std::make_shared<StoreOptions>();
  StoreOptions& o = *options;
  n.ExpectKeys({"block_cache", "write_buffer", "compression", "source_log_compression",
                "table_compression", "checkpoint_retention", "ingest_min_bytes",
                "table_checkpoint_interval"});
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
  if (o.checkpoint_retention < 2)
    n.Get("checkpoint_retention").Fail("checkpoint_retention must be at least 2");
  return options;
}

}  // namespace pinstream::state
