#include "connectors/kafka/kafka_range_reader.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/time_util.h"

namespace pinstream::connectors {

using kafka::KafkaStatus;
using kafka::PartitionListPtr;

Status KafkaRangeReader::Open(std::int64_t prefetch_kbytes) {
  if (reader_) return Status::Ok();
  std::map<std::string, std::string> props =
      ConsumerProperties(config_, fmt::format("pinstream-{}", name_));
  // assign() needs a group id. The reader never joins it; without a group_id of the source the
  // committed ends go there after each batch, for lag monitoring only.
  props["group.id"] = monitor_group_;
  props["enable.partition.eof"] = "true";
  props["auto.offset.reset"] = "error";  // offsets deleted by retention are reported, not skipped
  props.emplace("isolation.level", "read_committed");
  // A range is read right after it is assigned: do not let a fetch parked at the previous
  // range's end hold the new one back for the default 500 ms.
  props.emplace("fetch.wait.max.ms", "10");
  // Each partition has its own queue, and librdkafka's prefetch bound applies per queue (its
  // default, 64 MiB, times many partitions would be gigabytes).
  props.emplace("queued.max.messages.kbytes", std::to_string(prefetch_kbytes));
  PS_ASSIGN_OR_RETURN(auto conf, kafka::MakeConf(props));
  PS_ASSIGN_OR_RETURN(reader_, kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
  reader_queue_.reset(rd_kafka_queue_get_consumer(reader_.get()));
  return Status::Ok();
}

bool KafkaRangeReader::Prepared(const ReadRange& range) const {
  auto it = planned_.find(range.partition);
  return it != planned_.end() && it->second.start == range.start;
}

Status KafkaRangeReader::Prepare(const std::vector<ReadRange>& ranges,
                                 const std::vector<std::int64_t>& from) {
  planned_.clear();
  bool continues = true;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    planned_[ranges[i].partition] = Planned{ranges[i].start, from[i]};
    auto f = fetching_.find(ranges[i].partition);
    if (f == fetching_.end() || f->second.next != from[i]) continues = false;
  }
  if (continues) return Status::Ok();
  std::map<std::string, Planned> planned = std::move(planned_);
  Unassign();
  planned_ = std::move(planned);
  PartitionListPtr tpl(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    std::string topic;
    int p = 0;
    if (!kafka::ParsePartitionName(ranges[i].partition, &topic, &p)) {
      return Corruption(fmt::format("'{}' is not a Kafka partition", ranges[i].partition));
    }
    // The partition's queue stops forwarding to the consumer queue BEFORE the assign, or the
    // first fetched messages could land there (librdkafka's documented order).
    kafka::QueuePtr q(rd_kafka_queue_get_partition(reader_.get(), topic.c_str(), p));
    if (!q) {
      return IOError(
          fmt::format("source '{}': librdkafka gave no queue for {}", name_, ranges[i].partition));
    }
    rd_kafka_queue_forward(q.get(), nullptr);
    rd_kafka_topic_partition_list_add(tpl.get(), topic.c_str(), p)->offset = from[i];
    fetching_[ranges[i].partition] = Fetching{std::move(q), from[i], {}};
  }
  assigned_ = true;
  Status st = KafkaStatus(rd_kafka_assign(reader_.get(), tpl.get()),
                          fmt::format("source '{}': assigning the batch's partitions", name_));
  if (!st.ok()) Unassign();
  return st;
}

Status KafkaRangeReader::Read(const ReadRange& range, std::size_t max_chunk_rows,
                              const LogColumns& columns, const Source::ChunkConsumer& emit) {
  std::string topic;
  int p = 0;
  if (!kafka::ParsePartitionName(range.partition, &topic, &p)) {
    return Corruption(fmt::format("'{}' is not a Kafka partition", range.partition));
  }
  auto it = planned_.find(range.partition);
  if (it == planned_.end())
    return Internal(fmt::format("source '{}': {} was read unannounced", name_, range.partition));
  std::int64_t from = it->second.from;
  planned_.erase(it);
  Fetching& f = fetching_.at(range.partition);
  Status st = ConsumeRange(f, topic, p, ReadRange{range.partition, from, range.end}, max_chunk_rows,
                           columns, emit);
  if (st.ok()) {
    f.next = std::max(from, range.end);  // the next batch of this partition reads on from here
  } else {
    Unassign();  // where the queue stands is unknown: the retry assigns afresh
  }
  return st;
}

void KafkaRangeReader::Unassign() {
  planned_.clear();
  fetching_.clear();  // partition queues are released before the unassign
  if (!assigned_) return;
  assigned_ = false;
  rd_kafka_assign(reader_.get(), nullptr);
  while (kafka::MessagePtr m{rd_kafka_consume_queue(reader_queue_.get(), 0)}) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::debug("source '{}': {}", name_, rd_kafka_message_errstr(m.get()));
    }
  }
}

// Reads [range.start, range.end) of a partition from its queue. Messages taken past the end
// (possible when offsets in the range hold no record: transaction markers, compaction) are kept
// in the partition's carry for its next range, never dropped.
Status KafkaRangeReader::ConsumeRange(Fetching& f, const std::string& topic, int p,
                                      const ReadRange& range, std::size_t max_chunk_rows,
                                      const LogColumns& columns,
                                      const Source::ChunkConsumer& emit) {
  // Offsets in the range may hold no record (markers, compaction): the count is an upper bound.
  LogChunkBuilder chunk(
      max_chunk_rows, static_cast<std::size_t>(std::max<std::int64_t>(range.end - range.start, 0)),
      columns);
  std::int64_t next = range.start;  // the next offset we expect
  // One record: appended when in the range, carried when past it (the range is then complete:
  // every offset before it has been seen or holds no record).
  auto take = [&](kafka::MessagePtr m) -> Status {
    if (m->offset < next) return Status::Ok();
    if (m->offset >= range.end) {
      next = range.end;
      f.carry.push_back(std::move(m));
      return Status::Ok();
    }
    rd_kafka_timestamp_type_t tstype;
    std::int64_t ms = rd_kafka_message_timestamp(m.get(), &tstype);
    std::int64_t offset = m->offset;
    next = offset + 1;
    return chunk.Append(
        m->key != nullptr ? std::optional<std::string_view>(
                                std::string_view(static_cast<const char*>(m->key), m->key_len))
                          : std::nullopt,
        std::string_view(static_cast<const char*>(m->payload), m->payload ? m->len : 0), topic, p,
        offset,
        tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ms < 0
            ? std::nullopt
            : std::optional<std::int64_t>(ms * 1000),
        emit);
  };
  std::vector<kafka::MessagePtr> carried = std::move(f.carry);
  f.carry.clear();
  for (auto& m : carried) PS_RETURN_IF_ERROR(take(std::move(m)));
  auto deadline = MonotonicNanos() + config_.read_timeout_us * 1000;
  std::vector<rd_kafka_message_t*> msgs(4096);
  while (next < range.end) {
    if (MonotonicNanos() > deadline) {
      return Unavailable(
          fmt::format("source '{}': {} delivered offsets {}..{} of the planned {}..{} within {} "
                      "(broker down, or an open "
                      "transaction holds them back); the batch is retried",
                      name_, range.partition, range.start, next - 1, range.start, range.end - 1,
                      FormatDurationMicros(config_.read_timeout_us)));
    }
    // Take what is queued without waiting; when nothing is, wait for the next message (the batch
    // call would wait for a full batch or the whole timeout). Never more than the range still
    // needs: what follows stays queued for the next batch.
    std::size_t want = static_cast<std::size_t>(
        std::min<std::int64_t>(static_cast<std::int64_t>(msgs.size()), range.end - next));
    ssize_t n = rd_kafka_consume_batch_queue(f.queue.get(), 0, msgs.data(), want);
    if (n < 0) return KafkaStatus(rd_kafka_last_error(), "consuming " + range.partition);
    if (n == 0) {
      rd_kafka_message_t* one = rd_kafka_consume_queue(f.queue.get(), 100);
      if (one != nullptr) {
        msgs[0] = one;
        n = 1;
      }
    }
    Status st;
    for (ssize_t i = 0; i < n; ++i) {
      kafka::MessagePtr m(msgs[static_cast<std::size_t>(i)]);
      if (!st.ok()) continue;  // destroy the rest
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
          m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        st = HandleOutOfRange(topic, p, range, &next);
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Transient consumer errors (broker down): librdkafka reconnects; the deadline bounds it.
        spdlog::debug("source '{}': {}: {}", name_, range.partition,
                      rd_kafka_message_errstr(m.get()));
        continue;
      }
      st = take(std::move(m));
    }
    PS_RETURN_IF_ERROR(st);
    // Offsets with no record (transaction markers, compacted away) advance the position only.
    if (next < range.end) {
      PartitionListPtr pos(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(pos.get(), topic.c_str(), p);
      if (rd_kafka_position(reader_.get(), pos.get()) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          pos->elems[0].offset > next) {
        next = std::min(pos->elems[0].offset, range.end);
      }
    }
  }
  return chunk.Flush(emit);
}

Status KafkaRangeReader::HandleOutOfRange(const std::string& topic, int p, const ReadRange& range,
                                          std::int64_t* next) {
  auto marks = kafka::QueryWatermarks(meta_, {{topic, p}}, config_.request_timeout_ms);
  if (!marks.ok()) return marks.status().WithContext(fmt::format("source '{}'", name_));
  std::int64_t lo = (*marks)[0].low;
  if (lo <= *next) return Status::Ok();  // not below the start after all (transient)
  if (config_.fail_on_data_loss) return KafkaDataLossError(name_, range.partition, *next, lo);
  return Unavailable(
      fmt::format("source '{}': offsets from {} of {} were deleted while being read; the batch is "
                  "retried from the new log start {}",
                  name_, *next, range.partition, lo));
}

void KafkaRangeReader::CommitForMonitoring(const PartitionOffsets& committed) {
  if (!reader_ || committed.empty()) return;
  PartitionListPtr tpl = kafka::OffsetList(committed);
  if (!commit_queue_) commit_queue_.reset(rd_kafka_queue_new(reader_.get()));
  while (rd_kafka_queue_poll_callback(commit_queue_.get(), 0) > 0) {
  }  // the previous commits' results (logged by OnMonitorCommit)
  rd_kafka_resp_err_t err =
      rd_kafka_commit_queue(reader_.get(), tpl.get(), commit_queue_.get(), &OnMonitorCommit, this);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) OnMonitorCommit(reader_.get(), err, nullptr, this);
}

void KafkaRangeReader::OnMonitorCommit(rd_kafka_t*, rd_kafka_resp_err_t err,
                                       rd_kafka_topic_partition_list_t*, void* opaque) {
  auto* self = static_cast<KafkaRangeReader*>(opaque);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    spdlog::debug("source '{}': committing offsets to '{}' (lag monitoring): {}", self->name_,
                  self->monitor_group_, rd_kafka_err2str(err));
  }
}

void KafkaRangeReader::Close() {
  if (!reader_) return;
  Unassign();  // the queues go before their handle
  if (commit_queue_) {
    while (rd_kafka_queue_poll_callback(commit_queue_.get(), 0) > 0) {
    }
    commit_queue_.reset();
  }
  rd_kafka_consumer_close(reader_.get());
  reader_queue_.reset();
  reader_.reset();
}

}  // namespace pinstream::connectors
