#include "connectors/kafka/kafka_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "connectors/kafka/kafka_client.h"
#include "connectors/kafka/kafka_producer.h"
#include "connectors/log_chunk.h"
#include "engine/metrics.h"
#include "engine/thread_name.h"
#include "engine/time_util.h"

namespace pinstream::connectors {

namespace {

using kafka::KafkaPtr;
using kafka::KafkaStatus;
using kafka::PartitionListPtr;

struct KafkaSourceConfig {
  std::string bootstrap_servers;
  std::vector<std::string> topics;
  std::string topic_pattern;
  std::string starting = "earliest";  // earliest | latest | json
  std::map<std::string, std::map<int, std::int64_t>> starting_json;
  std::int64_t max_offsets_per_trigger = 0;
  bool fail_on_data_loss = true;
  std::string group_id;
  std::map<std::string, std::string> properties;
  std::int64_t read_timeout_us = 60'000'000;
  std::int64_t rebalance_wait_us = 30'000'000;
  int request_timeout_ms = 10'000;  // metadata, watermarks, group offsets
  std::string progress_topic = "pinstream-group-progress";
};

class KafkaSource : public Source {
 public:
  KafkaSource(KafkaSourceConfig c, std::string source_name, const std::string& query_name)
      : c_(std::move(c)),
        name_(std::move(source_name)),
        monitor_group_(fmt::format("pinstream-{}-{}", query_name, name_)) {}

  ~KafkaSource() override { Shutdown(); }

  std::string_view kind() const override { return "kafka"; }
  std::string Describe() const override {
    std::string what = c_.topic_pattern.empty()
                           ? fmt::format("Subscribe[{}]", fmt::join(c_.topics, ","))
                           : fmt::format("SubscribePattern[{}]", c_.topic_pattern);
    return c_.group_id.empty() ? fmt::format("KafkaV2[{}]", what)
                               : fmt::format("KafkaV2[{}, group {}]", what, c_.group_id);
  }

  Status Open() override {
    if (!meta_) {
      PS_ASSIGN_OR_RETURN(meta_, NewConsumer(false, 0));
    }
    // Reachable now? (Unavailable is retried by the query with backoff.)
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(meta_.get(), 1, nullptr, &raw, c_.request_timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaStatus(
          err, fmt::format("source '{}': reaching Kafka at {}", name_, c_.bootstrap_servers));
    }
    kafka::MetadataPtr md(raw);
    if (!reader_) {
      // The reader's prefetch (per partition, each has its own queue): a 256 MiB budget spread
      // over the source's partitions, between 512 KiB and 16 MiB each.
      std::int64_t parts =
          std::max<std::int64_t>(1, static_cast<std::int64_t>(MatchingPartitions(*md).size()));
      std::int64_t kbytes = std::clamp<std::int64_t>(262144 / parts, 512, 16384);
      PS_ASSIGN_OR_RETURN(reader_, NewConsumer(true, kbytes));
      reader_queue_.reset(rd_kafka_queue_get_consumer(reader_.get()));
    }
    if (!c_.group_id.empty() && !group_) PS_RETURN_IF_ERROR(JoinGroup());
    return Status::Ok();
  }

  Result<PartitionOffsets> LatestOffsets(const PartitionOffsets& committed,
                                         bool apply_limits) override {
    PS_ASSIGN_OR_RETURN(auto partitions, Partitions());
    PartitionOffsets latest;
    std::lock_guard lock(mu_);
    committed_ = committed;  // what a revocation hands over if no batch commits before it
    low_.clear();
    std::int64_t behind_max = 0, behind_sum = 0;
    std::vector<std::pair<std::string, int>> list(partitions.begin(), partitions.end());
    auto marks = kafka::QueryWatermarks(meta_.get(), list, c_.request_timeout_ms);
    if (!marks.ok()) return marks.status().WithContext(fmt::format("source '{}'", name_));
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::int64_t lo = (*marks)[i].low, hi = (*marks)[i].high;
      std::string part = kafka::PartitionName(list[i].first, list[i].second);
      low_[part] = lo;
      latest[part] = hi;
      auto c = committed.find(part);
      if (c != committed.end()) {
        if (c->second < lo && c_.fail_on_data_loss) return DataLossError(part, c->second, lo);
        std::int64_t behind = hi - std::max(c->second, lo);
        behind_max = std::max(behind_max, behind);
        behind_sum += behind;
      }
    }
    behind_max_ = behind_max;
    behind_avg_ =
        latest.empty() ? 0 : static_cast<double>(behind_sum) / static_cast<double>(latest.size());
    if (apply_limits && c_.max_offsets_per_trigger > 0) CapByBacklog(committed, &latest);
    // A group member keeps its partitions until a batch planned now commits (nothing new: no
    // batch).
    in_batch_ = false;
    for (const auto& [part, hi] : latest) {
      auto c = committed.find(part);
      if (c == committed.end() || hi > c->second) in_batch_ = true;
    }
    return latest;
  }

  Result<std::int64_t> InitialOffset(const std::string& partition) override {
    std::string topic;
    int p = 0;
    if (!kafka::ParsePartitionName(partition, &topic, &p))
      return Corruption(fmt::format("'{}' is not a Kafka partition", partition));
    {
      std::lock_guard lock(mu_);
      // A consumer group member resumes where the group left the partition.
      auto g = group_committed_.find(partition);
      if (g != group_committed_.end() && g->second >= 0) return g->second;
      auto fixed = initial_.find(partition);
      if (fixed != initial_.end()) return fixed->second;
    }
    PS_ASSIGN_OR_RETURN(kafka::Watermarks w, WatermarksOf(topic, p));
    std::int64_t lo = w.low, hi = w.high;
    std::int64_t start = lo;
    if (c_.starting == "latest") {
      start = hi;
    } else if (c_.starting == "json") {
      auto t = c_.starting_json.find(topic);
      if (t != c_.starting_json.end()) {
        auto o = t->second.find(p);
        if (o != t->second.end()) start = o->second == -2 ? lo : (o->second == -1 ? hi : o->second);
      }
      if (start < lo) {
        if (c_.fail_on_data_loss) return DataLossError(partition, start, lo);
        start = lo;
      }
    }
    // Decided once per process: records arriving while a batch is planned are not skipped.
    std::lock_guard lock(mu_);
    initial_[partition] = start;
    return start;
  }

  Result<std::optional<std::int64_t>> ResumeOffset(const std::string& partition,
                                                   std::int64_t committed_end) override {
    std::lock_guard lock(mu_);
    std::int64_t start = committed_end;
    auto g = group_committed_.find(partition);
    if (g != group_committed_.end() && g->second > start)
      start = g->second;  // another member went further
    auto lo = low_.find(partition);
    if (lo != low_.end() && lo->second > start) {
      if (c_.fail_on_data_loss) return DataLossError(partition, start, lo->second);
      std::int64_t lost = lo->second - start;
      CountSkippedLocked(lost);
      spdlog::warn(
          "source '{}': {} offsets of {} ({}..{}) were deleted by retention before they were read; "
          "skipped "
          "(fail_on_data_loss: false)",
          name_, lost, partition, start, lo->second - 1);
      start = lo->second;
    }
    if (start == committed_end) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(start);
  }

  // A batch's ranges are announced before they are read. The reader keeps its partitions
  // assigned from batch to batch, each with its own queue: when every range starts where the
  // previous read of its partition stopped (the steady state), the records librdkafka has already
  // fetched are read on, with no new assign and no re-fetch. Otherwise (first batch, a replay,
  // a retry, partitions moved) the batch's partitions are assigned afresh at their starts, and
  // librdkafka fetches them concurrently.
  Status PrepareRead(const std::vector<ReadRange>& ranges) override {
    planned_.clear();
    std::vector<std::pair<std::string, int>> parts;
    for (const auto& r : ranges) {
      std::string topic;
      int p = 0;
      if (!kafka::ParsePartitionName(r.partition, &topic, &p)) {
        return Corruption(fmt::format("'{}' is not a Kafka partition", r.partition));
      }
      parts.emplace_back(topic, p);
    }
    auto marks = kafka::QueryWatermarks(meta_.get(), parts, c_.request_timeout_ms);
    if (!marks.ok()) return marks.status().WithContext(fmt::format("source '{}'", name_));
    bool continues = true;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      PS_ASSIGN_OR_RETURN(std::int64_t from, FirstReadable(ranges[i], (*marks)[i].low));
      planned_[ranges[i].partition] = Planned{ranges[i].start, from};
      auto f = fetching_.find(ranges[i].partition);
      if (f == fetching_.end() || f->second.next != from) continues = false;
    }
    if (continues) return Status::Ok();
    std::map<std::string, Planned> planned = std::move(planned_);
    Unassign();
    planned_ = std::move(planned);
    PartitionListPtr tpl(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      std::int64_t from = planned_[ranges[i].partition].from;
      // The partition's queue stops forwarding to the consumer queue BEFORE the assign, or
      // the first fetched messages could land there (librdkafka's documented order).
      kafka::QueuePtr q(
          rd_kafka_queue_get_partition(reader_.get(), parts[i].first.c_str(), parts[i].second));
      if (!q) {
        return IOError(fmt::format("source '{}': librdkafka gave no queue for {}", name_,
                                   ranges[i].partition));
      }
      rd_kafka_queue_forward(q.get(), nullptr);
      rd_kafka_topic_partition_list_add(tpl.get(), parts[i].first.c_str(), parts[i].second)
          ->offset = from;
      fetching_[ranges[i].partition] = Fetching{std::move(q), from, {}};
    }
    reader_assigned_ = true;
    Status st = KafkaStatus(rd_kafka_assign(reader_.get(), tpl.get()),
                            fmt::format("source '{}': assigning the batch's partitions", name_));
    if (!st.ok()) Unassign();
    return st;
  }

  // Offsets deleted by retention and skipped (fail_on_data_loss: false): progress and /metrics.
  void CountSkippedLocked(std::int64_t n) {
    skipped_offsets_ += n;
    Metrics()
        .GetCounter("pinstream_kafka_data_loss_offsets_total",
                    "Kafka offsets skipped because retention deleted them before they were read "
                    "(fail_on_data_loss: false)",
                    {{"source", name_}})
        ->Inc(static_cast<double>(n));
  }

  // Where a range can start reading: its start, or — records below it deleted by retention, with
  // fail_on_data_loss off — the log start (counted as skipped).
  Result<std::int64_t> FirstReadable(const ReadRange& r, std::int64_t lo) {
    if (lo <= r.start) return r.start;
    if (c_.fail_on_data_loss) return DataLossError(r.partition, r.start, lo);
    std::int64_t start = std::min(lo, r.end);
    {
      std::lock_guard lock(mu_);
      CountSkippedLocked(start - r.start);
    }
    spdlog::warn(
        "source '{}': offsets {}..{} of {} were deleted (retention) before they were read; skipped "
        "(fail_on_data_loss: false)",
        name_, r.start, start - 1, r.partition);
    return start;
  }

  Status Read(const ReadRange& range, std::size_t max_chunk_rows,
              const ChunkConsumer& emit) override {
    std::string topic;
    int p = 0;
    if (!kafka::ParsePartitionName(range.partition, &topic, &p)) {
      return Corruption(fmt::format("'{}' is not a Kafka partition", range.partition));
    }
    auto it = planned_.find(range.partition);
    if (it == planned_.end() || it->second.start != range.start) {
      // A range nobody announced (a dead-letter row's raw record, a test): on its own.
      PS_RETURN_IF_ERROR(PrepareRead({range}));
      it = planned_.find(range.partition);
    }
    std::int64_t from = it->second.from;
    planned_.erase(it);
    Fetching& f = fetching_.at(range.partition);
    Status st = ConsumeRange(f.queue.get(), &f.carry, topic, p,
                             ReadRange{range.partition, from, range.end}, max_chunk_rows, emit);
    if (st.ok()) {
      f.next = std::max(from, range.end);  // the next batch of this partition reads on from here
    } else {
      Unassign();  // where the queue stands is unknown: the retry assigns afresh
    }
    return st;
  }

  // Drops every assigned partition: queues released, fetching stopped, and anything librdkafka
  // put on the consumer queue (errors, events) drained.
  void Unassign() {
    planned_.clear();
    fetching_.clear();  // partition queues are released before the unassign
    if (!reader_assigned_) return;
    reader_assigned_ = false;
    rd_kafka_assign(reader_.get(), nullptr);
    while (kafka::MessagePtr m{rd_kafka_consume_queue(reader_queue_.get(), 0)}) {
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::debug("source '{}': {}", name_, rd_kafka_message_errstr(m.get()));
      }
    }
  }

  // Reads [range.start, range.end) of a partition from its queue. Messages taken past the end
  // (possible when offsets in the range hold no record: transaction markers, compaction) are
  // kept in `carry` for the next range of the partition, never dropped.
  Status ConsumeRange(rd_kafka_queue_t* queue, std::vector<kafka::MessagePtr>* carry,
                      const std::string& topic, int p, const ReadRange& range,
                      std::size_t max_chunk_rows, const ChunkConsumer& emit) {
    // Offsets in the range may hold no record (markers, compaction): the count is an upper bound.
    LogChunkBuilder chunk(
        max_chunk_rows,
        static_cast<std::size_t>(std::max<std::int64_t>(range.end - range.start, 0)), columns_);
    std::int64_t next = range.start;  // the next offset we expect
    // One record: appended when in the range, carried when past it (the range is then complete:
    // every offset before it has been seen or holds no record).
    auto take = [&](kafka::MessagePtr m) -> Status {
      if (m->offset < next) return Status::Ok();
      if (m->offset >= range.end) {
        next = range.end;
        carry->push_back(std::move(m));
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
    std::vector<kafka::MessagePtr> carried = std::move(*carry);
    carry->clear();
    for (auto& m : carried) PS_RETURN_IF_ERROR(take(std::move(m)));
    auto deadline = MonotonicNanos() + c_.read_timeout_us * 1000;
    std::vector<rd_kafka_message_t*> msgs(4096);
    while (next < range.end) {
      if (MonotonicNanos() > deadline) {
        return Unavailable(
            fmt::format("source '{}': {} delivered offsets {}..{} of the planned {}..{} within {} "
                        "(broker down, or an open "
                        "transaction holds them back); the batch is retried",
                        name_, range.partition, range.start, next - 1, range.start, range.end - 1,
                        FormatDurationMicros(c_.read_timeout_us)));
      }
      // Take what is queued without waiting; when nothing is, wait for the next message (the
      // batch call would wait for a full batch or the whole timeout).
      // Never more than the range still needs: what follows stays queued for the next batch.
      std::size_t want = static_cast<std::size_t>(
          std::min<std::int64_t>(static_cast<std::int64_t>(msgs.size()), range.end - next));
      ssize_t n = rd_kafka_consume_batch_queue(queue, 0, msgs.data(), want);
      if (n < 0) return KafkaStatus(rd_kafka_last_error(), "consuming " + range.partition);
      if (n == 0) {
        rd_kafka_message_t* one = rd_kafka_consume_queue(queue, 100);
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

  void PruneColumns(const std::vector<std::string>& required) override {
    columns_ = LogColumns::Only(required);
  }

  std::string DescribePosition(const std::string& partition, std::int64_t offset) const override {
    return fmt::format("{}@{}", partition, offset);
  }

  // A consumer-group member hands its committed ends to the next owner when partitions are
  // revoked; it must not have read past them into a batch that is not committed yet.
  bool AllowsReadAheadOfCommit() const override { return c_.group_id.empty(); }

  void OnBatchCommitted(const PartitionOffsets& committed) override {
    std::unique_lock lock(mu_);
    committed_ = committed;
    in_batch_ = false;
    cv_.notify_all();
    if (!group_) {
      lock.unlock();
      CommitForMonitoring(committed);
      return;
    }
    PartitionOffsets mine;
    for (const auto& [partition, end] : committed) {
      if (assigned_.count(partition)) {
        mine[partition] = end;
        group_committed_[partition] = end;
      }
    }
    lock.unlock();
    if (mine.empty()) return;
    // The group's progress record (what a partition's next owner starts from), then the
    // broker's offsets for lag monitoring (refused while the group rebalances: harmless).
    if (Status st = PublishProgress(mine); !st.ok()) {
      spdlog::warn("source '{}': recording group progress on '{}': {}", name_, c_.progress_topic,
                   st.ToString());
    }
    PartitionListPtr tpl = kafka::OffsetList(mine);
    rd_kafka_resp_err_t err = rd_kafka_commit(group_.get(), tpl.get(), /*async=*/1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::debug("source '{}': committing offsets to group '{}' (lag monitoring): {}", name_,
                    c_.group_id, rd_kafka_err2str(err));
    }
  }

  // Without a group_id: the batch's ends committed to the group `pinstream-<query>-<source>`
  // (asynchronously; `kafka-consumer-groups --describe` shows the lag). Never read back.
  void CommitForMonitoring(const PartitionOffsets& committed) {
    if (!reader_ || committed.empty()) return;
    PartitionListPtr tpl = kafka::OffsetList(committed);
    if (!commit_queue_) commit_queue_.reset(rd_kafka_queue_new(reader_.get()));
    while (rd_kafka_queue_poll_callback(commit_queue_.get(), 0) > 0) {
    }  // the previous commits' results (logged by OnMonitorCommit)
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(reader_.get(), tpl.get(), commit_queue_.get(),
                                                    &OnMonitorCommit, this);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) OnMonitorCommit(reader_.get(), err, nullptr, this);
  }

  static void OnMonitorCommit(rd_kafka_t*, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t*, void* opaque) {
    auto* self = static_cast<KafkaSource*>(opaque);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      spdlog::debug("source '{}': committing offsets to '{}' (lag monitoring): {}", self->name_,
                    self->monitor_group_, rd_kafka_err2str(err));
    }
  }

  std::map<std::string, std::string> ProgressMetrics() const override {
    std::lock_guard lock(mu_);
    std::map<std::string, std::string> m{
        {"maxOffsetsBehindLatest", std::to_string(behind_max_)},
        {"avgOffsetsBehindLatest", fmt::format("{:.1f}", behind_avg_)},
        {"offsetsSkippedByDataLoss", std::to_string(skipped_offsets_)}};
    if (group_) m["assignedPartitions"] = std::to_string(assigned_.size());
    return m;
  }

 private:
  Result<KafkaPtr> NewConsumer(bool reader, std::int64_t prefetch_kbytes) {
    std::map<std::string, std::string> props = c_.properties;
    props["bootstrap.servers"] = c_.bootstrap_servers;
    props["enable.auto.commit"] = "false";
    props["enable.auto.offset.store"] = "false";
    props["client.id"] = fmt::format("pinstream-{}", name_);
    if (reader) {
      // assign() needs a group id. The reader never joins it; without a group_id of the source
      // the committed ends go there after each batch, for lag monitoring only.
      props["group.id"] = monitor_group_;
      props["enable.partition.eof"] = "true";
      props["auto.offset.reset"] =
          "error";  // offsets deleted by retention are reported, not skipped
      props.emplace("isolation.level", "read_committed");
      // A range is read right after it is assigned: do not let a fetch parked at the previous
      // range's end hold the new one back for the default 500 ms.
      props.emplace("fetch.wait.max.ms", "10");
      // Each partition has its own queue, and librdkafka's prefetch bound applies per queue
      // (its default, 64 MiB, times many partitions would be gigabytes).
      props.emplace("queued.max.messages.kbytes", std::to_string(prefetch_kbytes));
    }
    PS_ASSIGN_OR_RETURN(auto conf, kafka::MakeConf(props));
    return kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf));
  }

  Result<kafka::Watermarks> WatermarksOf(const std::string& topic, int p) {
    auto marks = kafka::QueryWatermarks(meta_.get(), {{topic, p}}, c_.request_timeout_ms);
    if (!marks.ok()) return marks.status().WithContext(fmt::format("source '{}'", name_));
    return (*marks)[0];
  }

  Status DataLossError(const std::string& partition, std::int64_t from, std::int64_t lo) const {
    return DataLoss(
        fmt::format("source '{}': offsets {}..{} of {} were deleted (retention) before pinstream "
                    "read them; set "
                    "fail_on_data_loss: false on the source to skip them and go on",
                    name_, from, lo - 1, partition));
  }

  // Records deleted by retention while the range was being read: fail (fail_on_data_loss), or
  // retry the batch — the retry starts at the new log start.
  Status HandleOutOfRange(const std::string& topic, int p, const ReadRange& range,
                          std::int64_t* next) {
    PS_ASSIGN_OR_RETURN(kafka::Watermarks w, WatermarksOf(topic, p));
    std::int64_t lo = w.low;
    if (lo <= *next) return Status::Ok();  // not below the start after all (transient)
    if (c_.fail_on_data_loss) return DataLossError(range.partition, *next, lo);
    return Unavailable(fmt::format(
        "source '{}': offsets from {} of {} were deleted while being read; the batch is "
        "retried from the new log start {}",
        name_, *next, range.partition, lo));
  }

  // Topic partitions to plan: every partition of the matching topics, or (in a group) the ones
  // this member owns.
  Result<std::vector<std::pair<std::string, int>>> Partitions() {
    std::vector<std::pair<std::string, int>> out;
    if (group_) {
      std::lock_guard lock(mu_);
      for (const auto& name : assigned_) {
        std::string topic;
        int p = 0;
        if (kafka::ParsePartitionName(name, &topic, &p)) out.emplace_back(topic, p);
      }
      return out;
    }
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(meta_.get(), 1, nullptr, &raw, c_.request_timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return KafkaStatus(err, fmt::format("source '{}': topic metadata", name_));
    kafka::MetadataPtr md(raw);
    return MatchingPartitions(*md);
  }

  // The partitions of the topics this source reads (its list, or its pattern), sorted.
  std::vector<std::pair<std::string, int>> MatchingPartitions(const rd_kafka_metadata_t& md) const {
    std::vector<std::pair<std::string, int>> out;
    std::optional<std::regex> pattern;
    if (!c_.topic_pattern.empty()) pattern.emplace(c_.topic_pattern);
    std::set<std::string> wanted(c_.topics.begin(), c_.topics.end());
    for (int t = 0; t < md.topic_cnt; ++t) {
      const auto& tm = md.topics[t];
      std::string name = tm.topic;
      bool match = pattern ? (name.rfind("__", 0) != 0 && std::regex_search(name, *pattern))
                           : wanted.count(name) > 0;
      if (!match || tm.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      for (int i = 0; i < tm.partition_cnt; ++i) out.emplace_back(name, tm.partitions[i].id);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // max_offsets_per_trigger: each partition gets a share of the cap in proportion to its backlog
  // (Spark's rate limit), the rounding remainder going to the first partitions with room.
  void CapByBacklog(const PartitionOffsets& committed, PartitionOffsets* latest) {
    std::map<std::string, std::int64_t> start, backlog;
    std::int64_t total = 0;
    for (const auto& [part, hi] : *latest) {
      auto c = committed.find(part);
      auto i = initial_.find(part);
      std::int64_t s =
          c != committed.end() ? c->second : (i != initial_.end() ? i->second : low_[part]);
      s = std::max(s, low_[part]);
      start[part] = s;
      backlog[part] = std::max<std::int64_t>(0, hi - s);
      total += backlog[part];
    }
    if (total <= c_.max_offsets_per_trigger) return;
    std::int64_t given = 0;
    for (auto& [part, hi] : *latest) {
      auto share = static_cast<std::int64_t>(static_cast<long double>(backlog[part]) *
                                             c_.max_offsets_per_trigger / total);
      hi = start[part] + share;
      given += share;
    }
    for (auto& [part, hi] : *latest) {
      if (given >= c_.max_offsets_per_trigger) break;
      if (hi < start[part] + backlog[part]) {
        ++hi;
        ++given;
      }
    }
  }

  // ---- consumer group membership ----------------------------------------------------------------
  Status JoinGroup() {
    std::map<std::string, std::string> props = c_.properties;
    props["bootstrap.servers"] = c_.bootstrap_servers;
    props["group.id"] = c_.group_id;
    props["enable.auto.commit"] = "false";
    props["enable.auto.offset.store"] = "false";
    props["client.id"] = fmt::format("pinstream-{}-member", name_);
    // A member that vanishes (kill -9) gives its partitions up after 10 s, not Kafka's 45 s.
    props.emplace("session.timeout.ms", "10000");
    props.emplace("heartbeat.interval.ms", "1000");
    {
      kafka::KafkaProducer::Options po;
      po.bootstrap_servers = c_.bootstrap_servers;
      po.properties = c_.properties;
      PS_ASSIGN_OR_RETURN(progress_producer_, kafka::KafkaProducer::Create(po));
    }
    PS_ASSIGN_OR_RETURN(auto conf, kafka::MakeConf(props));
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaSource::OnRebalance);
    PS_ASSIGN_OR_RETURN(group_, kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
    PartitionListPtr subs(rd_kafka_topic_partition_list_new(1));
    if (!c_.topic_pattern.empty()) {
      std::string re = c_.topic_pattern[0] == '^'
                           ? c_.topic_pattern
                           : "^.*" + c_.topic_pattern;  // librdkafka: regex topics start with ^
      rd_kafka_topic_partition_list_add(subs.get(), re.c_str(), RD_KAFKA_PARTITION_UA);
    } else {
      for (const auto& t : c_.topics)
        rd_kafka_topic_partition_list_add(subs.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    PS_RETURN_IF_ERROR(
        KafkaStatus(rd_kafka_subscribe(group_.get(), subs.get()),
                    fmt::format("source '{}': joining consumer group '{}'", name_, c_.group_id)));
    polling_ = true;
    poller_ = std::thread([this] {
      SetThreadName("kafka-poll");
      while (polling_) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(group_.get(), 100);
        if (m != nullptr) rd_kafka_message_destroy(m);  // paused: only errors and events arrive
      }
    });
    return Status::Ok();
  }

  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<KafkaSource*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->Assigned(rk, parts);
    } else {
      self->Revoked(rk, parts);
    }
  }

  void Assigned(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
    // Where the group left each partition: the broker's committed offset, or the group progress
    // record (written after every batch even while the group rebalances), whichever is later.
    PartitionListPtr copy(rd_kafka_topic_partition_list_copy(parts));
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, copy.get(), c_.request_timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn("source '{}': reading group '{}' offsets: {}", name_, c_.group_id,
                   rd_kafka_err2str(err));
    }
    auto progress = ReadProgress();
    if (!progress.ok()) {
      spdlog::warn("source '{}': reading group progress from '{}': {}", name_, c_.progress_topic,
                   progress.status().ToString());
    }
    rd_kafka_assign(rk, parts);
    rd_kafka_pause_partitions(rk, parts);  // the member never fetches; the reader does
    std::lock_guard lock(mu_);
    std::vector<std::string> names;
    for (int i = 0; i < copy->cnt; ++i) {
      std::string part = kafka::PartitionName(copy->elems[i].topic, copy->elems[i].partition);
      std::int64_t at = copy->elems[i].offset >= 0 ? copy->elems[i].offset : -1;
      if (progress.ok()) {
        auto pr = progress->find(part);
        if (pr != progress->end()) at = std::max(at, pr->second);
      }
      assigned_.insert(part);
      group_committed_[part] = at;
      names.push_back(at >= 0 ? fmt::format("{}@{}", part, at) : part);
    }
    spdlog::info("source '{}': group '{}' assigned {}", name_, c_.group_id, fmt::join(names, ", "));
  }

  // Progress records: key "<group>/<topic>/<partition>", value the next offset to read.
  Status PublishProgress(const PartitionOffsets& ends) {
    for (const auto& [partition, end] : ends) {
      std::string key = c_.group_id + "/" + partition;
      PS_RETURN_IF_ERROR(progress_producer_->Produce(c_.progress_topic, &key, std::to_string(end)));
    }
    return progress_producer_->Flush(std::chrono::milliseconds(c_.request_timeout_ms));
  }

  // The latest progress record of every partition of this group.
  Result<PartitionOffsets> ReadProgress() {
    PartitionOffsets out;
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(meta_.get(), c_.progress_topic.c_str(), nullptr);
    rd_kafka_resp_err_t err = rd_kafka_metadata(meta_.get(), 0, rkt, &raw, c_.request_timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return KafkaStatus(err, "metadata of " + c_.progress_topic);
    kafka::MetadataPtr md(raw);
    if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return out;  // nothing recorded yet
    std::map<std::string, std::string> props = c_.properties;
    props["bootstrap.servers"] = c_.bootstrap_servers;
    props["group.id"] = "pinstream-progress-reader";  // assign() needs one; never joined
    props["enable.auto.commit"] = "false";
    props["enable.partition.eof"] = "true";
    props["fetch.wait.max.ms"] = "10";
    PS_ASSIGN_OR_RETURN(auto conf, kafka::MakeConf(props));
    PS_ASSIGN_OR_RETURN(auto rk, kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
    PartitionListPtr tpl(rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt));
    int pending = 0;
    std::vector<std::pair<std::string, int>> list;
    for (int i = 0; i < md->topics[0].partition_cnt; ++i)
      list.emplace_back(c_.progress_topic, md->topics[0].partitions[i].id);
    auto marks = kafka::QueryWatermarks(rk.get(), list, c_.request_timeout_ms);
    if (!marks.ok()) return marks.status().WithContext("reading " + c_.progress_topic);
    for (std::size_t i = 0; i < list.size(); ++i) {
      int p = list[i].second;
      std::int64_t lo = (*marks)[i].low, hi = (*marks)[i].high;
      if (hi > lo) {
        rd_kafka_topic_partition_list_add(tpl.get(), c_.progress_topic.c_str(), p)->offset = lo;
        ++pending;
      }
    }
    if (pending == 0) return out;
    PS_RETURN_IF_ERROR(
        KafkaStatus(rd_kafka_assign(rk.get(), tpl.get()), "assigning " + c_.progress_topic));
    std::string prefix = c_.group_id + "/";
    std::int64_t deadline =
        MonotonicNanos() + static_cast<std::int64_t>(c_.request_timeout_ms) * 1'000'000;
    while (pending > 0) {
      if (MonotonicNanos() > deadline)
        return Unavailable("reading " + c_.progress_topic + " timed out");
      kafka::MessagePtr m(rd_kafka_consumer_poll(rk.get(), 100));
      if (!m) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        --pending;
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR || m->key == nullptr || m->payload == nullptr)
        continue;
      std::string_view key(static_cast<const char*>(m->key), m->key_len);
      if (key.substr(0, prefix.size()) != prefix) continue;
      std::int64_t v = 0;
      std::string_view val(static_cast<const char*>(m->payload), m->len);
      if (std::from_chars(val.data(), val.data() + val.size(), v).ec != std::errc()) continue;
      out[std::string(key.substr(prefix.size()))] = v;  // later records win
    }
    rd_kafka_consumer_close(rk.get());
    return out;
  }

  void Revoked(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
    std::unique_lock lock(mu_);
    // Let the running batch finish and commit before the partitions go to another member.
    if (!cv_.wait_for(lock, std::chrono::microseconds(c_.rebalance_wait_us),
                      [&] { return !in_batch_; })) {
      spdlog::warn(
          "source '{}': partitions revoked while a batch was still running after {}; giving them "
          "up "
          "(the batch's records may be read again by their next owner)",
          name_, FormatDurationMicros(c_.rebalance_wait_us));
    }
    PartitionListPtr tpl(rd_kafka_topic_partition_list_new(parts->cnt));
    PartitionOffsets ends;
    std::vector<std::string> names;
    for (int i = 0; i < parts->cnt; ++i) {
      std::string part = kafka::PartitionName(parts->elems[i].topic, parts->elems[i].partition);
      names.push_back(part);
      assigned_.erase(part);
      auto c = committed_.find(part);
      if (c != committed_.end()) {
        ends[part] = c->second;
        rd_kafka_topic_partition_list_add(tpl.get(), parts->elems[i].topic,
                                          parts->elems[i].partition)
            ->offset = c->second;
      }
    }
    lock.unlock();
    if (!ends.empty()) {
      if (Status st = PublishProgress(ends); !st.ok()) {
        spdlog::warn("source '{}': recording group progress of revoked partitions: {}", name_,
                     st.ToString());
      }
      // Asynchronous: the next owner starts from the later of this commit and the progress
      // record flushed above, and a synchronous commit racing a rebalance can wait for
      // socket.timeout.ms (60 s) — inside the callback that leaving the group waits for.
      rd_kafka_resp_err_t err = rd_kafka_commit(rk, tpl.get(), /*async=*/1);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::debug("source '{}': committing revoked partitions' offsets: {}", name_,
                      rd_kafka_err2str(err));
      }
    }
    rd_kafka_assign(rk, nullptr);
    spdlog::info("source '{}': group '{}' revoked {}", name_, c_.group_id, fmt::join(names, ", "));
    cv_.notify_all();  // Shutdown waits for the revocation
  }

  void Shutdown() {
    {
      std::lock_guard lock(mu_);
      in_batch_ = false;  // nothing more will commit: let a revocation go
      cv_.notify_all();
    }
    if (group_) {
      // Leave the group (revokes: commits this member's offsets so the next owner starts there).
      // Logged before and after: librdkafka's leave can block when it races a rebalance (the
      // daemon's exit watchdog bounds that).
      spdlog::info("source '{}': leaving consumer group '{}'", name_, c_.group_id);
      // Unsubscribe first and let the poller serve the revocation, then close a member that holds
      // nothing: closing while an assignment or revocation is still pending is where librdkafka's
      // close can hang (confluentinc/librdkafka#4527, #4884).
      rd_kafka_resp_err_t err = rd_kafka_unsubscribe(group_.get());
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::warn("source '{}': unsubscribing from group '{}': {}", name_, c_.group_id,
                     rd_kafka_err2str(err));
      } else {
        std::unique_lock lock(mu_);
        if (!cv_.wait_for(lock, std::chrono::milliseconds(c_.request_timeout_ms),
                          [&] { return assigned_.empty(); })) {
          spdlog::warn("source '{}': group '{}' did not revoke {} partition(s) within {} ms; "
                       "closing anyway",
                       name_, c_.group_id, assigned_.size(), c_.request_timeout_ms);
        }
      }
      polling_ = false;
      if (poller_.joinable()) poller_.join();
      rd_kafka_consumer_close(group_.get());
      spdlog::info("source '{}': left consumer group '{}'", name_, c_.group_id);
    }
    if (reader_) {
      Unassign();  // the queues go before their handle
      if (commit_queue_) {
        while (rd_kafka_queue_poll_callback(commit_queue_.get(), 0) > 0) {
        }
        commit_queue_.reset();
      }
      rd_kafka_consumer_close(reader_.get());
    }
  }

  KafkaSourceConfig c_;
  std::string name_;
  std::string monitor_group_;     // the reader's group id: lag monitoring without a group_id
  kafka::QueuePtr commit_queue_;  // results of those commits
  struct Planned {
    std::int64_t start = 0;  // the planned start (what Read is called with)
    std::int64_t from = 0;   // where reading starts (past records deleted by retention)
  };
  struct Fetching {
    kafka::QueuePtr queue;  // the partition's own queue (not forwarded to the consumer queue)
    std::int64_t next = 0;  // the offset reading goes on from (where the last read stopped)
    std::vector<kafka::MessagePtr> carry;  // records taken past the last range's end
  };
  std::map<std::string, Planned> planned_;    // the batch's ranges not read yet
  std::map<std::string, Fetching> fetching_;  // the reader's assigned partitions
  bool reader_assigned_ = false;
  KafkaPtr meta_, reader_, group_;
  std::unique_ptr<kafka::KafkaProducer> progress_producer_;
  kafka::QueuePtr reader_queue_;
  std::thread poller_;
  std::atomic<bool> polling_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::int64_t> low_;              // log start offsets at the last planning
  std::map<std::string, std::int64_t> initial_;          // starts of new partitions, fixed once
  std::map<std::string, std::int64_t> group_committed_;  // the group's offsets (group mode)
  std::set<std::string> assigned_;
  PartitionOffsets committed_;
  bool in_batch_ = false;
  std::int64_t behind_max_ = 0, skipped_offsets_ = 0;
  double behind_avg_ = 0;
  LogColumns columns_;  // the chunk columns the query reads (PruneColumns)
};

class KafkaSourceSpec : public SourceSpec {
 public:
  explicit KafkaSourceSpec(KafkaSourceConfig c) : c_(std::move(c)) {}
  std::string_view kind() const override { return "kafka"; }
  std::string Descriptor() const override {
    return c_.topic_pattern.empty() ? "topics:" + fmt::format("{}", fmt::join(c_.topics, ","))
                                    : "pattern:" + c_.topic_pattern;
  }
  Result<std::unique_ptr<Source>> Create(const SourceCreateContext& ctx) const override {
    return std::unique_ptr<Source>(new KafkaSource(c_, ctx.source_name, ctx.query_name));
  }

 private:
  KafkaSourceConfig c_;
};

}  // namespace

std::shared_ptr<const SourceSpec> ParseKafkaSource(const ConfigNode& n) {
  n.ExpectKeys({"bootstrap_servers", "topics", "topic_pattern", "starting_offsets",
                "max_offsets_per_trigger", "fail_on_data_loss", "group_id", "properties",
                "read_timeout", "rebalance_wait", "request_timeout", "group_progress_topic"});
  KafkaSourceConfig c;
  c.bootstrap_servers = n.GetString("bootstrap_servers");
  if (n.Has("topics") == n.Has("topic_pattern"))
    n.Fail("a kafka source needs exactly one of 'topics' or 'topic_pattern'");
  if (n.Has("topics")) {
    c.topics = n.GetStringList("topics");
    if (c.topics.empty()) n.Get("topics").Fail("no topics given");
  } else {
    c.topic_pattern = n.GetString("topic_pattern");
    try {
      std::regex check(c.topic_pattern);
    } catch (const std::regex_error& e) {
      n.Get("topic_pattern")
          .Fail(
              fmt::format("'{}' is not a valid regular expression: {}", c.topic_pattern, e.what()));
    }
  }
  std::string so = n.GetString("starting_offsets", "earliest");
  if (so == "earliest" || so == "latest") {
    c.starting = so;
  } else {
    c.starting = "json";
    try {
      auto j = nlohmann::json::parse(so);
      if (!j.is_object()) throw nlohmann::json::type_error::create(302, "not an object", nullptr);
      for (const auto& [topic, parts] : j.items()) {
        for (const auto& [p, off] : parts.items())
          c.starting_json[topic][std::stoi(p)] = off.get<std::int64_t>();
      }
    } catch (const std::exception&) {
      n.Get("starting_offsets")
          .Fail(
              "starting_offsets must be earliest, latest, or JSON like '{\"topic\": {\"0\": 23, "
              "\"1\": -2}}' "
              "(-2 = earliest, -1 = latest)");
    }
  }
  c.max_offsets_per_trigger = n.GetInt("max_offsets_per_trigger", 0);
  if (c.max_offsets_per_trigger < 0) n.Get("max_offsets_per_trigger").Fail("must be positive");
  c.fail_on_data_loss = n.GetBool("fail_on_data_loss", true);
  c.group_id = n.GetString("group_id", "");
  if (auto props = n.Find("properties")) {
    for (const auto& [k, v] : props->Entries()) {
      if (k == "bootstrap.servers" || k == "group.id" || k == "enable.auto.commit") {
        v.Fail(fmt::format("'{}' is set by pinstream (use bootstrap_servers / group_id)", k));
      }
      c.properties[k] = v.AsString();
    }
    // Validate the properties now (file:line), not when the query starts.
    auto conf = kafka::MakeConf(c.properties);
    if (!conf.ok()) props->Fail(conf.status().message());
  }
  c.read_timeout_us = n.GetDurationMicros("read_timeout", c.read_timeout_us);
  c.rebalance_wait_us = n.GetDurationMicros("rebalance_wait", c.rebalance_wait_us);
  std::int64_t rt = n.GetDurationMicros("request_timeout", 10'000'000);
  if (rt < 100'000 || rt > 600'000'000)
    n.Get("request_timeout").Fail("request_timeout must be between 100ms and 10m");
  c.request_timeout_ms = static_cast<int>(rt / 1000);
  c.progress_topic = n.GetString("group_progress_topic", c.progress_topic);
  return std::make_shared<KafkaSourceSpec>(std::move(c));
}

}  // namespace pinstream::connectors
