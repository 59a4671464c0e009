// LogChunkBuilder: source chunks in the shape every log-like source emits — key, value, topic,
// partition, offset, timestamp — as the http (source log) and kafka sources read them, so that
// the same operators (parse_json on `value`) run on either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "engine/record_batch.h"
#include "engine/source.h"

namespace pinstream::connectors {

class LogChunkBuilder {
 public:
  explicit LogChunkBuilder(std::size_t max_rows) : max_rows_(max_rows) {}

  // Appends one record; emits the chunk when it reaches max_rows.
  [[nodiscard]] Status Append(std::optional<std::string_view> key, std::string_view value,
                              std::string_view topic, std::int64_t partition, std::int64_t offset,
                              std::optional<std::int64_t> timestamp_us,
                              const Source::ChunkConsumer& emit) {
    if (key) {
      key_.AppendString(*key);
    } else {
      key_.AppendNull();
    }
    value_.AppendString(value);
    topic_.AppendString(topic);
    partition_.AppendInt(partition);
    offset_.AppendInt(offset);
    if (timestamp_us) {
      ts_.AppendInt(*timestamp_us);
    } else {
      ts_.AppendNull();
    }
    chunk_.offsets.push_back(offset);
    return chunk_.offsets.size() >= max_rows_ ? Flush(emit) : Status::Ok();
  }

  // Emits what has been appended (nothing when empty) and starts a new chunk.
  [[nodiscard]] Status Flush(const Source::ChunkConsumer& emit) {
    if (chunk_.offsets.empty()) return Status::Ok();
    chunk_.batch.row_ids().resize(chunk_.offsets.size());
    chunk_.batch.AddColumn("key", std::exchange(key_, Column(TypeId::kString)));
    chunk_.batch.AddColumn("value", std::exchange(value_, Column(TypeId::kRaw)));
    chunk_.batch.AddColumn("topic", std::exchange(topic_, Column(TypeId::kString)));
    chunk_.batch.AddColumn("partition", std::exchange(partition_, Column(TypeId::kInt64)));
    chunk_.batch.AddColumn("offset", std::exchange(offset_, Column(TypeId::kInt64)));
    chunk_.batch.AddColumn("timestamp", std::exchange(ts_, Column(TypeId::kTimestamp)));
    return emit(std::exchange(chunk_, SourceChunk()));
  }

 private:
  std::size_t max_rows_;
  SourceChunk chunk_;
  Column key_{TypeId::kString}, value_{TypeId::kRaw}, topic_{TypeId::kString},
      partition_{TypeId::kInt64}, offset_{TypeId::kInt64}, ts_{TypeId::kTimestamp};
};

}  // namespace pinstream::connectors
