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
#include "connectors/kafka/kafka_group_member.h"
#include "connectors/kafka/kafka_range_reader.h"
#include "connectors/kafka/kafka_source_config.h"
#include "connectors/log_chunk.h"
#include "engine/metrics.h"

namespace pinstream::connectors {

namespace {

using kafka::KafkaStatus;

class KafkaSource : public Source {
 public:
  KafkaSource(KafkaSourceConfig c, std::string source_name, const std::string& query_name)
      : config_(std::move(c)),
        name_(std::move(source_name)),
        monitor_group_(fmt::format("pinstream-{}-{}", query_name, name_)) {}

  ~KafkaSource() override { Shutdown(); }

  std::string_view kind() const override { return "kafka"; }
  std::string Describe() const override {
    std::string what = config_.topic_pattern.empty()
                           ? fmt::format("Subscribe[{}]", fmt::join(config_.topics, ","))
                           : fmt::format("SubscribePattern[{}]", config_.topic_pattern);
    return config_.group_id.empty() ? fmt::format("KafkaV2[{}]", what)
                                    : fmt::format("KafkaV2[{}, group {}]", what, config_.group_id);
  }

  Status Open() override {
    if (!meta_) {
      PS_ASSIGN_OR_RETURN(auto conf, kafka::MakeConf(ConsumerProperties(
                                         config_, fmt::format("pinstream-{}", name_))));
      PS_ASSIGN_OR_RETURN(meta_, kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
      reader_ = std::make_unique<KafkaRangeReader>(config_, name_, monitor_group_, meta_.get());
      if (!config_.group_id.empty())
        member_ = std::make_unique<KafkaGroupMember>(config_, name_, meta_.get());
    }
    // Reachable now? (Unavailable is retried by the query with backoff.)
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(meta_.get(), 1, nullptr, &raw, config_.request_timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaStatus(
          err, fmt::format("source '{}': reaching Kafka at {}", name_, config_.bootstrap_servers));
    }
    kafka::MetadataPtr md(raw);
    if (!reader_->opened()) {
      // The reader's prefetch (per partition, each has its own queue): a 256 MiB budget spread
      // over the source's partitions, between 512 KiB and 16 MiB each.
      std::int64_t parts =
          std::max<std::int64_t>(1, static_cast<std::int64_t>(MatchingPartitions(*md).size()));
      std::int64_t kbytes = std::clamp<std::int64_t>(262144 / parts, 512, 16384);
      PS_RETURN_IF_ERROR(reader_->Open(kbytes));
    }
    if (member_ && !member_->joined()) PS_RETURN_IF_ERROR(member_->Join());
    return Status::Ok();
  }

  Result<PartitionOffsets> LatestOffsets(const PartitionOffsets& committed,
                                         bool apply_limits) override {
    PS_ASSIGN_OR_RETURN(auto partitions, Partitions());
    PartitionOffsets latest;
    std::lock_guard lock(mu_);
    low_.clear();
    std::int64_t behind_max = 0, behind_sum = 0;
    std::vector<std::pair<std::string, int>> list(partitions.begin(), partitions.end());
    auto marks = kafka::QueryWatermarks(meta_.get(), list, config_.request_timeout_ms);
    if (!marks.ok()) return marks.status().WithContext(fmt::format("source '{}'", name_));
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::int64_t lo = (*marks)[i].low, hi = (*marks)[i].high;
      std::string part = kafka::PartitionName(list[i].first, list[i].second);
      low_[part] = lo;
      latest[part] = hi;
      auto c = committed.find(part);
      if (c != committed.end()) {
        if (c->second < lo && config_.fail_on_data_loss)
          return KafkaDataLossError(name_, part, c->second, lo);
        std::int64_t behind = hi - std::max(c->second, lo);
        behind_max = std::max(behind_max, behind);
        behind_sum += behind;
      }
    }
    behind_max_ = behind_max;
    behind_avg_ =
        latest.empty() ? 0 : static_cast<double>(behind_sum) / static_cast<double>(latest.size());
    if (apply_limits && config_.max_offsets_per_trigger > 0) CapByBacklog(committed, &latest);
    if (member_) {
      // A group member keeps its partitions until a batch planned now commits (nothing new: no
      // batch).
      bool reads = false;
      for (const auto& [part, hi] : latest) {
        auto c = committed.find(part);
        if (c == committed.end() || hi > c->second) reads = true;
      }
      member_->BatchPlanned(committed, reads);
    }
    return latest;
  }

  Result<std::int64_t> InitialOffset(const std::string& partition) override {
    std::string topic;
    int p = 0;
    if (!kafka::ParsePartitionName(partition, &topic, &p))
      return Corruption(fmt::format("'{}' is not a Kafka partition", partition));
    // A consumer group member resumes where the group left the partition.
    if (auto g = GroupOffset(partition); g && *g >= 0) return *g;
    {
      std::lock_guard lock(mu_);
      auto fixed = initial_.find(partition);
      if (fixed != initial_.end()) return fixed->second;
    }
    PS_ASSIGN_OR_RETURN(kafka::Watermarks w, WatermarksOf(topic, p));
    std::int64_t lo = w.low, hi = w.high;
    std::int64_t start = lo;
    if (config_.starting == "latest") {
      start = hi;
    } else if (config_.starting == "json") {
      auto t = config_.starting_json.find(topic);
      if (t != config_.starting_json.end()) {
        auto o = t->second.find(p);
        if (o != t->second.end()) start = o->second == -2 ? lo : (o->second == -1 ? hi : o->second);
      }
      if (start < lo) {
        if (config_.fail_on_data_loss) return KafkaDataLossError(name_, partition, start, lo);
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
    std::int64_t start = committed_end;
    if (auto g = GroupOffset(partition); g && *g > start)
      start = *g;  // another member went further
    std::lock_guard lock(mu_);
    auto lo = low_.find(partition);
    if (lo != low_.end() && lo->second > start) {
      if (config_.fail_on_data_loss) return KafkaDataLossError(name_, partition, start, lo->second);
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

  // A batch's ranges are announced before they are read (KafkaRangeReader: read on from where the
  // previous batch stopped, or assign afresh).
  Status PrepareRead(const std::vector<ReadRange>& ranges) override {
    std::vector<std::pair<std::string, int>> parts;
    for (const auto& r : ranges) {
      std::string topic;
      int p = 0;
      if (!kafka::ParsePartitionName(r.partition, &topic, &p)) {
        return Corruption(fmt::format("'{}' is not a Kafka partition", r.partition));
      }
      parts.emplace_back(topic, p);
    }
    auto marks = kafka::QueryWatermarks(meta_.get(), parts, config_.request_timeout_ms);
    if (!marks.ok()) return marks.status().WithContext(fmt::format("source '{}'", name_));
    std::vector<std::int64_t> from;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      PS_ASSIGN_OR_RETURN(std::int64_t f, FirstReadable(ranges[i], (*marks)[i].low));
      from.push_back(f);
    }
    return reader_->Prepare(ranges, from);
  }

  Status Read(const ReadRange& range, std::size_t max_chunk_rows,
              const ChunkConsumer& emit) override {
    if (!reader_->Prepared(range)) {
      // A range nobody announced (a dead-letter row's raw record, a test): on its own.
      PS_RETURN_IF_ERROR(PrepareRead({range}));
    }
    return reader_->Read(range, max_chunk_rows, columns_, emit);
  }

  void PruneColumns(const std::vector<std::string>& required) override {
    columns_ = LogColumns::Only(required);
  }

  std::string DescribePosition(const std::string& partition, std::int64_t offset) const override {
    return fmt::format("{}@{}", partition, offset);
  }

  // A consumer-group member hands its committed ends to the next owner when partitions are
  // revoked; it must not have read past them into a batch that is not committed yet.
  bool AllowsReadAheadOfCommit() const override { return config_.group_id.empty(); }

  void OnBatchCommitted(const PartitionOffsets& committed) override {
    if (member_) {
      member_->BatchCommitted(committed);
    } else if (reader_) {
      // Without a group_id: the batch's ends committed to the group `pinstream-<query>-<source>`
      // (asynchronously; `kafka-consumer-groups --describe` shows the lag). Never read back.
      reader_->CommitForMonitoring(committed);
    }
  }

  std::map<std::string, std::string> ProgressMetrics() const override {
    std::lock_guard lock(mu_);
    std::map<std::string, std::string> m{
        {"maxOffsetsBehindLatest", std::to_string(behind_max_)},
        {"avgOffsetsBehindLatest", fmt::format("{:.1f}", behind_avg_)},
        {"offsetsSkippedByDataLoss", std::to_string(skipped_offsets_)}};
    if (member_) m["assignedPartitions"] = std::to_string(member_->owned_count());
    return m;
  }

 private:
  std::optional<std::int64_t> GroupOffset(const std::string& partition) const {
    return member_ ? member_->GroupOffset(partition) : std::nullopt;
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
    if (config_.fail_on_data_loss) return KafkaDataLossError(name_, r.partition, r.start, lo);
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

  Result<kafka::Watermarks> WatermarksOf(const std::string& topic, int p) {
    auto marks = kafka::QueryWatermarks(meta_.get(), {{topic, p}}, config_.request_timeout_ms);
    if (!marks.ok()) return marks.status().WithContext(fmt::format("source '{}'", name_));
    return (*marks)[0];
  }

  // Topic partitions to plan: every partition of the matching topics, or (in a group) the ones
  // this member owns.
  Result<std::vector<std::pair<std::string, int>>> Partitions() {
    if (member_) return member_->OwnedPartitions();
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(meta_.get(), 1, nullptr, &raw, config_.request_timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return KafkaStatus(err, fmt::format("source '{}': topic metadata", name_));
    kafka::MetadataPtr md(raw);
    return MatchingPartitions(*md);
  }

  // The partitions of the topics this source reads (its list, or its pattern), sorted.
  std::vector<std::pair<std::string, int>> MatchingPartitions(const rd_kafka_metadata_t& md) const {
    std::vector<std::pair<std::string, int>> out;
    std::optional<std::regex> pattern;
    if (!config_.topic_pattern.empty()) pattern.emplace(config_.topic_pattern);
    std::set<std::string> wanted(config_.topics.begin(), config_.topics.end());
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
    if (total <= config_.max_offsets_per_trigger) return;
    std::int64_t given = 0;
    for (auto& [part, hi] : *latest) {
      auto share = static_cast<std::int64_t>(static_cast<long double>(backlog[part]) *
                                             config_.max_offsets_per_trigger / total);
      hi = start[part] + share;
      given += share;
    }
    for (auto& [part, hi] : *latest) {
      if (given >= config_.max_offsets_per_trigger) break;
      if (hi < start[part] + backlog[part]) {
        ++hi;
        ++given;
      }
    }
  }

  // The group first (leaving hands its partitions over), then the reader.
  void Shutdown() {
    if (member_) member_->Leave();
    if (reader_) reader_->Close();
  }

  KafkaSourceConfig config_;
  std::string name_;
  std::string monitor_group_;  // the reader's group id: lag monitoring without a group_id
  kafka::KafkaPtr meta_;       // metadata and watermarks; outlives the reader and the member
  std::unique_ptr<KafkaRangeReader> reader_;
  std::unique_ptr<KafkaGroupMember> member_;  // with a group_id only

  mutable std::mutex mu_;
  std::map<std::string, std::int64_t> low_;      // log start offsets at the last planning
  std::map<std::string, std::int64_t> initial_;  // starts of new partitions, fixed once
  std::int64_t behind_max_ = 0, skipped_offsets_ = 0;
  double behind_avg_ = 0;
  LogColumns columns_;  // the chunk columns the query reads (PruneColumns)
};

class KafkaSourceSpec : public SourceSpec {
 public:
  explicit KafkaSourceSpec(KafkaSourceConfig c) : config_(std::move(c)) {}
  std::string_view kind() const override { return "kafka"; }
  std::string Descriptor() const override {
    return config_.topic_pattern.empty()
               ? "topics:" + fmt::format("{}", fmt::join(config_.topics, ","))
               : "pattern:" + config_.topic_pattern;
  }
  Result<std::unique_ptr<Source>> Create(const SourceCreateContext& ctx) const override {
    return std::unique_ptr<Source>(new KafkaSource(config_, ctx.source_name, ctx.query_name));
  }
  StreamSchema DeclaredSchema() const override { return LogChunkSchema(); }

 private:
  KafkaSourceConfig config_;
};

}  // namespace

namespace {
constexpr KeyDoc kKafkaSourceDocs[] = {
    {"bootstrap_servers", KeyType::kString, "", "Required. host:port[,host:port...]."},
    {"topics", KeyType::kStringList, "", "The topics read. One of topics, topic_pattern."},
    {"topic_pattern", KeyType::kString, "", "A regular expression of the topics read."},
    {"starting_offsets", KeyType::kString, "earliest",
     "Where a query without a checkpoint starts: earliest, latest, or JSON per partition like "
     "Spark's ('{\"pin\": {\"0\": 23, \"1\": -2}}', -2 = earliest, -1 = latest)."},
    {"max_offsets_per_trigger", KeyType::kInt, "0",
     "Most offsets per batch, shared by the partitions' backlog (0 = unlimited)."},
    {"fail_on_data_loss", KeyType::kBool, "true",
     "false: offsets deleted by retention before they were read are skipped (and counted) "
     "instead of failing the query."},
    {"group_id", KeyType::kString, "",
     "A consumer group: daemons with the same group_id split the partitions."},
    {"properties", KeyType::kMap, "", "librdkafka consumer properties, passed through."},
    {"read_timeout", KeyType::kDuration, "60s",
     "A planned range not delivered by then is retried."},
    {"rebalance_wait", KeyType::kDuration, "30s",
     "How long a revocation waits for the running batch to commit."},
    {"request_timeout", KeyType::kDuration, "10s",
     "Metadata and watermark requests (100ms..10m; a broker down → retry)."},
    {"group_progress_topic", KeyType::kString, "pinstream-group-progress",
     "The compacted topic where group members record their progress."},
};
}  // namespace
constexpr ConfigKeys kKafkaSourceKeys{
    "sources.<name> (kind: kafka)",
    "Kafka topics read like Spark's Kafka source, with the offsets in pinstream's checkpoint.",
    kKafkaSourceDocs};

std::shared_ptr<const SourceSpec> ParseKafkaSource(const ConfigNode& n) {
  n.ExpectKeys(kKafkaSourceKeys);
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
