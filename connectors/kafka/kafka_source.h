// KafkaSource: source kind `kafka` — Spark's Kafka source, with offsets in pinstream's checkpoint.
//
//   sources:
//     pins:
//       kind: kafka
//       bootstrap_servers: "127.0.0.1:9092"
//       topics: [0a1b2c3d4e5f.pin]          # or topic_pattern: "^0a1b2c3d4e5f\\..*"
//       starting_offsets: earliest           # latest, or JSON per partition like Spark:
//                                            #   '{"pin": {"0": 23, "1": -2}}'  (-2 earliest, -1
//                                            latest)
//       max_offsets_per_trigger: 100000      # optional cap per batch, shared by backlog
//       fail_on_data_loss: true              # false: skip offsets deleted by retention, counted
//       group_id: pins                       # optional: consumer group for scale-out (below)
//       properties: {security.protocol: SASL_SSL, sasl.mechanism: PLAIN, ...}   # passed through
//       read_timeout: 60s                    # a planned range not delivered by then → retry
//       request_timeout: 10s                 # metadata/watermark requests (broker down → retry)
//
// Partitions are named "topic/partition"; offsets are Kafka offsets. A batch's ranges are
// planned from the partitions' high watermarks and read exactly: a reader consumer has the
// batch's partitions assigned (each with its own queue, kept from batch to batch while ranges
// follow on) and stops each at its range's end, so a replay reads the same records. The offsets
// live in the checkpoint; after each batch commits they are also committed to the broker, for lag
// monitoring (group `pinstream-<query>-<source>`, never read back) or, with a group_id, to that
// group (where a partition's next owner resumes).
//
// Consumer groups: daemons with the same group_id split the topics' partitions (a subscribed
// group member, paused, so it never fetches — it only receives assignments). A daemon plans only
// the partitions it owns. When partitions are revoked the running batch finishes and commits
// first, then their offsets are committed to the broker; a new owner resumes a partition from
// the later of its own checkpoint and the group's committed offset.
#pragma once

#include <memory>

#include "connectors/connector_env.h"
#include "engine/config_node.h"
#include "engine/registry.h"

namespace pinstream::connectors {

std::shared_ptr<const SourceSpec> ParseKafkaSource(const ConfigNode& node);
extern const ConfigKeys kKafkaSourceKeys;

}  // namespace pinstream::connectors
