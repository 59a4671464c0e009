// KafkaSink: sink kind `kafka` — a query's rows as JSON messages on a topic.
//
//   sink:
//     kind: kafka
//     bootstrap_servers: "127.0.0.1:9092"
//     topic: pin.cleaned
//     key_column: unique_id          # optional: the message key (same key → same partition)
//     transactional: false           # true: exactly-once (below)
//     properties: {...}              # producer properties, passed through
//
// Every message carries the headers pinstream.query (query id) and pinstream.batch
// ("epoch:batch"). The producer is idempotent (retries are deduplicated by the broker).
//
// At-least-once (default): the batch's messages are produced and every delivery report is
// checked before the batch commits; a failure fails the batch, and its retry may write some
// messages twice.
//
// Exactly-once (transactional: true): each batch is one Kafka transaction (transactional.id =
// pinstream-<query id>), committed before the batch's checkpoint commit. If pinstream stops
// between the two, the replayed batch finds its (epoch, batch) already in the topic — the sink
// reads the last batch header its query wrote from the tail of every partition when it opens —
// and does not write it again. Readers must use isolation.level=read_committed (kcat:
// -X isolation.level=read_committed).
#pragma once

#include <memory>

#include "engine/config_node.h"
#include "engine/registry.h"

namespace pinstream::connectors {

std::shared_ptr<const SinkSpec> ParseKafkaSink(const ConfigNode& node);
extern const ConfigKeys kKafkaSinkKeys;

}  // namespace pinstream::connectors
