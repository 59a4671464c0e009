#include "connectors/kafka/kafka_sink.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "connectors/kafka/kafka_client.h"
#include "connectors/kafka/kafka_producer.h"
#include "engine/row_format.h"
#include "engine/time_util.h"

namespace pinstream::connectors {

namespace {

using kafka::KafkaStatus;
using kafka::PartitionListPtr;

constexpr auto kFlushTimeout = std::chrono::seconds(60);
constexpr int kMetadataTimeoutMs = 10'000;
constexpr const char* kQueryHeader = "pinstream.query";
constexpr const char* kBatchHeader = "pinstream.batch";

struct KafkaSinkConfig {
  std::string bootstrap_servers;
  std::string topic;
  std::string key_column;
  bool transactional = false;
  std::map<std::string, std::string> properties;
};

using EpochBatch = std::pair<std::int64_t, std::int64_t>;

bool ParseEpochBatch(std::string_view s, EpochBatch* out) {
  std::size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  auto a = std::from_chars(s.data(), s.data() + colon, out->first);
  auto b = std::from_chars(s.data() + colon + 1, s.data() + s.size(), out->second);
  return a.ec == std::errc() && b.ec == std::errc();
}

class KafkaSink : public Sink {
 public:
  explicit KafkaSink(KafkaSinkConfig c) : config_(std::move(c)) {}

  std::string_view kind() const override { return "kafka"; }
  std::string Describe() const override {
    return fmt::format("KafkaSink[{}{}]", config_.topic,
                       config_.transactional ? ", exactly-once" : "");
  }

  Status Open(const SinkContext& ctx) override {
    ctx_ = ctx;
    PS_RETURN_IF_ERROR(RequireInsertOnly(ctx, Describe()));
    kafka::KafkaProducer::Options o;
    o.bootstrap_servers = config_.bootstrap_servers;
    o.properties = config_.properties;
    if (config_.transactional) o.transactional_id = "pinstream-" + ctx.query_id;
    PS_ASSIGN_OR_RETURN(producer_, kafka::KafkaProducer::Create(o));
    if (config_.transactional) {
      PS_RETURN_IF_ERROR(producer_->InitTransactions(kFlushTimeout).WithContext(Describe()));
      PS_ASSIGN_OR_RETURN(last_written_, LastWrittenBatch());
      if (last_written_.second >= 0) {
        spdlog::info("{}: query '{}' last wrote batch {} (epoch {}) to '{}'", Describe(),
                     ctx.query_name, last_written_.second, last_written_.first, config_.topic);
      }
    }
    return Status::Ok();
  }

  Status Stage(std::int64_t batch_id, const std::vector<RecordBatch>& output, CommitTxn&) override {
    PS_RETURN_IF_ERROR(RefuseRetractions(ctx_, Describe(), output));
    EpochBatch me{ctx_.epoch, batch_id};
    if (config_.transactional && me <= last_written_) {
      spdlog::info("{}: batch {} is already in '{}' (written before a restart); not written again",
                   Describe(), batch_id, config_.topic);
      return Status::Ok();
    }
    std::vector<std::pair<std::string, std::string>> headers{
        {kQueryHeader, ctx_.query_id}, {kBatchHeader, fmt::format("{}:{}", me.first, me.second)}};
    if (config_.transactional)
      PS_RETURN_IF_ERROR(producer_->BeginTransaction().WithContext(Describe()));
    Status st = ProduceAll(output, headers);
    if (st.ok()) st = producer_->Flush(kFlushTimeout);
    if (config_.transactional) {
      if (st.ok()) st = producer_->CommitTransaction(kFlushTimeout);
      if (!st.ok()) {
        Status abort = producer_->AbortTransaction(kFlushTimeout);
        if (!abort.ok())
          spdlog::warn("{}: aborting the failed batch's transaction: {}", Describe(),
                       abort.ToString());
        return st.WithContext(Describe());
      }
      last_written_ = me;
      return Status::Ok();
    }
    return st.WithContext(Describe());
  }

  void Close() override {
    if (producer_) {
      Status st = producer_->Flush(std::chrono::seconds(10));
      if (!st.ok()) spdlog::warn("{}: at close: {}", Describe(), st.ToString());
    }
  }

 private:
  Status ProduceAll(const std::vector<RecordBatch>& output,
                    const std::vector<std::pair<std::string, std::string>>& headers) {
    std::string json;
    for (const auto& b : output) {
      int kc = config_.key_column.empty() ? -1 : b.FindColumn(config_.key_column);
      if (!config_.key_column.empty() && kc < 0 && b.num_rows() > 0) {
        return NotFound(fmt::format("key_column '{}' is not in the query's output (columns: {})",
                                    config_.key_column, fmt::join(b.names(), ", ")));
      }
      for (std::size_t r = 0; r < b.num_rows(); ++r) {
        json.clear();
        AppendJsonRow(b, r, &json);
        std::string key;
        bool has_key = kc >= 0 && !b.column(static_cast<std::size_t>(kc)).IsNull(r);
        if (has_key) key = DisplayValue(b.column(static_cast<std::size_t>(kc)), r);
        PS_RETURN_IF_ERROR(
            producer_->Produce(config_.topic, has_key ? &key : nullptr, json, headers));
      }
    }
    return Status::Ok();
  }

  // The highest (epoch, batch) this query wrote to the topic: the last message carrying its
  // query header, searched backwards from the end of every partition in growing windows.
  Result<EpochBatch> LastWrittenBatch() {
    std::map<std::string, std::string> props = config_.properties;
    props["bootstrap.servers"] = config_.bootstrap_servers;
    props["enable.auto.commit"] = "false";
    props["group.id"] = "pinstream-sink-tail-scan";  // assign() needs one; never joined
    props["enable.partition.eof"] = "true";
    props["isolation.level"] = "read_committed";
    PS_ASSIGN_OR_RETURN(auto conf, kafka::MakeConf(props));
    PS_ASSIGN_OR_RETURN(auto rk, kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), config_.topic.c_str(), nullptr);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 0, rkt, &raw, kMetadataTimeoutMs);
    rd_kafka_topic_destroy(rkt);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return KafkaStatus(err, fmt::format("metadata of '{}'", config_.topic));
    kafka::MetadataPtr md(raw);
    EpochBatch best{-1, -1};
    if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return best;  // no topic yet
    kafka::QueuePtr queue(rd_kafka_queue_get_consumer(rk.get()));
    std::vector<std::pair<std::string, int>> list;
    for (int i = 0; i < md->topics[0].partition_cnt; ++i)
      list.emplace_back(config_.topic, md->topics[0].partitions[i].id);
    auto marks = kafka::QueryWatermarks(rk.get(), list, kMetadataTimeoutMs);
    if (!marks.ok())
      return marks.status().WithContext(fmt::format("sink topic '{}'", config_.topic));
    for (std::size_t i = 0; i < list.size(); ++i) {
      int p = list[i].second;
      std::int64_t lo = (*marks)[i].low, hi = (*marks)[i].high;
      std::int64_t window = 256, end = hi;
      bool found = false;
      while (!found && end > lo) {
        std::int64_t from = std::max(lo, end - window);
        EpochBatch last{-1, -1};
        PS_RETURN_IF_ERROR(ScanForHeader(rk.get(), queue.get(), p, from, end, &last, &found));
        if (found) best = std::max(best, last);
        end = from;
        window *= 8;
      }
      rd_kafka_assign(rk.get(), nullptr);
    }
    rd_kafka_consumer_close(rk.get());
    return best;
  }

  Status ScanForHeader(rd_kafka_t* rk, rd_kafka_queue_t* queue, int p, std::int64_t from,
                       std::int64_t end, EpochBatch* last, bool* found) {
    PartitionListPtr tpl(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(tpl.get(), config_.topic.c_str(), p)->offset = from;
    PS_RETURN_IF_ERROR(KafkaStatus(rd_kafka_assign(rk, tpl.get()), "assigning for the tail scan"));
    std::int64_t deadline = MonotonicNanos() + 60'000'000'000LL;
    std::int64_t next = from;
    while (next < end) {
      if (MonotonicNanos() > deadline) {
        return Unavailable(
            fmt::format("reading the tail of '{}' partition {} to find the last batch written",
                        config_.topic, p));
      }
      rd_kafka_message_t* raw = rd_kafka_consume_queue(queue, 100);
      if (raw == nullptr) {
        PartitionListPtr pos(rd_kafka_topic_partition_list_new(1));
        rd_kafka_topic_partition_list_add(pos.get(), config_.topic.c_str(), p);
        if (rd_kafka_position(rk, pos.get()) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            pos->elems[0].offset >= end)
          break;
        continue;
      }
      kafka::MessagePtr m(raw);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) break;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      next = m->offset + 1;
      if (m->offset >= end) break;
      rd_kafka_headers_t* h = nullptr;
      if (rd_kafka_message_headers(m.get(), &h) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      const void* q = nullptr;
      const void* b = nullptr;
      std::size_t qn = 0, bn = 0;
      if (rd_kafka_header_get_last(h, kQueryHeader, &q, &qn) != RD_KAFKA_RESP_ERR_NO_ERROR ||
          std::string_view(static_cast<const char*>(q), qn) != ctx_.query_id)
        continue;
      EpochBatch eb;
      if (rd_kafka_header_get_last(h, kBatchHeader, &b, &bn) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          ParseEpochBatch(std::string_view(static_cast<const char*>(b), bn), &eb)) {
        *last = std::max(*last, eb);
        *found = true;
      }
    }
    return Status::Ok();
  }

  KafkaSinkConfig config_;
  SinkContext ctx_;
  std::unique_ptr<kafka::KafkaProducer> producer_;
  EpochBatch last_written_{-1, -1};
};

class KafkaSinkSpec : public SinkSpec {
 public:
  explicit KafkaSinkSpec(KafkaSinkConfig c) : config_(std::move(c)) {}
  std::string_view kind() const override { return "kafka"; }
  std::string Descriptor() const override { return "kafka:" + config_.topic; }
  Result<std::unique_ptr<Sink>> Create(const SinkCreateContext&) const override {
    return std::unique_ptr<Sink>(new KafkaSink(config_));
  }

 private:
  KafkaSinkConfig config_;
};

}  // namespace

namespace {
constexpr KeyDoc kKafkaSinkDocs[] = {
    {"bootstrap_servers", KeyType::kString, "", "Required. host:port[,host:port...]."},
    {"topic", KeyType::kString, "", "Required. The topic written."},
    {"key_column", KeyType::kString, "", "The column used as the message key (default: none)."},
    {"transactional", KeyType::kBool, "false",
     "true: exactly-once, one Kafka transaction per batch (readers use "
     "isolation.level=read_committed); false: at-least-once."},
    {"properties", KeyType::kMap, "", "librdkafka producer properties, passed through."},
};
}  // namespace
constexpr ConfigKeys kKafkaSinkKeys{
    "sinks (kind: kafka)",
    "The rows as JSON messages on a Kafka topic, with headers pinstream.query and pinstream.batch.",
    kKafkaSinkDocs};

std::shared_ptr<const SinkSpec> ParseKafkaSink(const ConfigNode& n) {
  n.ExpectKeys(kKafkaSinkKeys);
  KafkaSinkConfig c;
  c.bootstrap_servers = n.GetString("bootstrap_servers");
  c.topic = n.GetString("topic");
  c.key_column = n.GetString("key_column", "");
  c.transactional = n.GetBool("transactional", false);
  if (auto props = n.Find("properties")) {
    for (const auto& [k, v] : props->Entries()) {
      if (k == "bootstrap.servers" || k == "transactional.id") {
        v.Fail(fmt::format("'{}' is set by pinstream", k));
      }
      c.properties[k] = v.AsString();
    }
    auto conf = kafka::MakeConf(c.properties);
    if (!conf.ok()) props->Fail(conf.status().message());
  }
  return std::make_shared<KafkaSinkSpec>(std::move(c));
}

}  // namespace pinstream::connectors
