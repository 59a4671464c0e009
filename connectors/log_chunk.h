// LogChunkBuilder: source chunks in the shape every log-like source emits — key, value, topic,
// partition, offset, timestamp — as the http (source log) and kafka sources read them, so that
// the same operators (parse_json on `value`) run on either. LogColumns names the columns a
// query reads (Source::PruneColumns); the others are left out of the chunks. `value`, the raw
// record, is always built, and so are the chunk's oldest and newest record timestamps
// (SourceChunk::min_arrival_us / max_arrival_us), whether or not `timestamp` is a column.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/record_batch.h"
#include "engine/source.h"
#include "engine/stream_schema.h"

namespace pinstream::connectors {

// Which of a log chunk's columns to build (besides `value`, always built).
struct LogColumns {
  bool key = true, topic = true, partition = true, offset = true, timestamp = true;
  // Only the columns named in `required` (unknown names are ignored: operators report them).
  static LogColumns Only(const std::vector<std::string>& required) {
    auto has = [&](std::string_view n) {
      return std::find(required.begin(), required.end(), n) != required.end();
    };
    return LogColumns{has("key"), has("topic"), has("partition"), has("offset"), has("timestamp")};
  }
};

// The columns of a log chunk (before pruning): what http and kafka sources declare
// (SourceSpec::DeclaredSchema).
inline StreamSchema LogChunkSchema() {
  StreamSchema s;
  s.schema =
      Schema({Field{"key", TypeId::kString, true}, Field{"value", TypeId::kRaw, true},
              Field{"topic", TypeId::kString, true}, Field{"partition", TypeId::kInt64, true},
              Field{"offset", TypeId::kInt64, true}, Field{"timestamp", TypeId::kTimestamp, true}});
  s.complete = true;
  return s;
}

class LogChunkBuilder {
 public:
  // `expected_rows`: how many records the caller means to append (0 = unknown).
  explicit LogChunkBuilder(std::size_t max_rows, std::size_t expected_rows = 0,
                           LogColumns columns = {})
      : max_rows_(max_rows), expected_rows_(expected_rows), cols_(columns) {
    ReserveColumns();
  }

  // Appends one record; emits the chunk when it reaches max_rows.
  [[nodiscard]] Status Append(std::optional<std::string_view> key, std::string_view value,
                              std::string_view topic, std::int64_t partition, std::int64_t offset,
                              std::optional<std::int64_t> timestamp_us,
                              const Source::ChunkConsumer& emit) {
    if (cols_.key) {
      if (key) {
        key_.AppendString(*key);
      } else {
        key_.AppendNull();
      }
    }
    value_.AppendString(value);
    if (cols_.topic) topic_.AppendString(topic);
    if (cols_.partition) partition_.AppendInt(partition);
    if (cols_.offset) offset_.AppendInt(offset);
    if (timestamp_us) {
      if (chunk_.min_arrival_us < 0 || *timestamp_us < chunk_.min_arrival_us)
        chunk_.min_arrival_us = *timestamp_us;
      chunk_.max_arrival_us = std::max(chunk_.max_arrival_us, *timestamp_us);
    }
    if (cols_.timestamp) {
      if (timestamp_us) {
        ts_.AppendInt(*timestamp_us);
      } else {
        ts_.AppendNull();
      }
    }
    chunk_.offsets.push_back(offset);
    return chunk_.offsets.size() >= max_rows_ ? Flush(emit) : Status::Ok();
  }

  // Emits what has been appended (nothing when empty) and starts a new chunk.
  [[nodiscard]] Status Flush(const Source::ChunkConsumer& emit) {
    if (chunk_.offsets.empty()) return Status::Ok();
    last_rows_ = chunk_.offsets.size();
    appended_ += last_rows_;
    last_value_bytes_ = value_.bytes().size();
    last_key_bytes_ = key_.bytes().size();
    chunk_.batch.row_ids().resize(chunk_.offsets.size());
    if (cols_.key) chunk_.batch.AddColumn("key", std::exchange(key_, Column(TypeId::kString)));
    chunk_.batch.AddColumn("value", std::exchange(value_, Column(TypeId::kRaw)));
    if (cols_.topic)
      chunk_.batch.AddColumn("topic", std::exchange(topic_, Column(TypeId::kString)));
    if (cols_.partition)
      chunk_.batch.AddColumn("partition", std::exchange(partition_, Column(TypeId::kInt64)));
    if (cols_.offset)
      chunk_.batch.AddColumn("offset", std::exchange(offset_, Column(TypeId::kInt64)));
    if (cols_.timestamp)
      chunk_.batch.AddColumn("timestamp", std::exchange(ts_, Column(TypeId::kTimestamp)));
    Status st = emit(std::exchange(chunk_, SourceChunk()));
    ReserveColumns();
    return st;
  }

 private:
  // Sizes the next chunk's columns like the last full one, so that a chunk's values are copied
  // once instead of again by every doubling of the column buffers.
  void ReserveColumns() {
    std::size_t rows = std::min<std::size_t>(max_rows_, 1 << 16);
    if (expected_rows_ > 0)
      rows = std::min(rows, expected_rows_ - std::min(expected_rows_, appended_));
    if (rows == 0) return;
    // Before the first chunk, guess a typical JSON event (512 bytes): a guess too high costs
    // only address space, one too low a few copies.
    std::size_t value_per_row = last_rows_ > 0 ? last_value_bytes_ / last_rows_ + 8 : 512;
    std::size_t key_per_row = last_rows_ > 0 ? last_key_bytes_ / last_rows_ + 1 : 0;
    value_.Reserve(rows, value_per_row * rows);
    if (cols_.key) key_.Reserve(rows, key_per_row * rows);
    if (cols_.topic) topic_.Reserve(rows);
    if (cols_.partition) partition_.Reserve(rows);
    if (cols_.offset) offset_.Reserve(rows);
    if (cols_.timestamp) ts_.Reserve(rows);
    chunk_.offsets.reserve(rows);
  }

  std::size_t max_rows_;
  std::size_t expected_rows_;
  LogColumns cols_;
  std::size_t appended_ = 0;
  std::size_t last_rows_ = 0, last_value_bytes_ = 0, last_key_bytes_ = 0;
  SourceChunk chunk_;
  Column key_{TypeId::kString}, value_{TypeId::kRaw}, topic_{TypeId::kString},
      partition_{TypeId::kInt64}, offset_{TypeId::kInt64}, ts_{TypeId::kTimestamp};
};

}  // namespace pinstream::connectors
