// dedup: keeps the first row of every key and drops later ones (Spark's dropDuplicates on a
// stream, with keyed state in the checkpoint).
//
//   - kind: dedup
//     keys: [unique_id]
//     ttl: 30d          # optional: a key not seen for this long may be admitted again
//
// Keyed: the engine routes every row of a key to the same shard. "First" is the first in source
// order: earlier batches first; within a batch, rows in RowId order (source partition order,
// then offset). Nulls in key columns compare equal to each other.
//
// State: every admitted key is stored in the query's keyed state (value: the batch timestamp it
// was first seen), committed atomically with the batch's output; each shard keeps the keys it
// owns in an in-memory KeyIndex rebuilt from that state at start-up. So the state must fit in
// memory (use `ttl` to bound it), like Spark's default state store: ~100–200 bytes per key of up
// to 48 encoded bytes (a 64-byte slot at 37–75 % fill; bench/dedup_bench prints it), plus the
// key's bytes for longer keys. With a TTL, expiry is by
// batch timestamp (from the offset log), so a replayed batch expires exactly what the first
// attempt expired.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"

namespace pinstream::ops {

struct DedupConfig {
  std::vector<std::string> keys;
  std::int64_t ttl_us = 0;  // 0 = keep forever
};

std::shared_ptr<const OperatorSpec> DedupFromConfig(const ConfigNode& node);
extern const ConfigKeys kDedupKeys;
std::shared_ptr<const OperatorSpec> MakeDedupSpec(const DedupConfig& config);

}  // namespace pinstream::ops
