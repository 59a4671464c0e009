#include "connectors/http/http_source.h"

#include <fmt/format.h>

#include <charconv>

#include "connectors/log_chunk.h"
#include "state/source_log.h"

namespace pinstream::connectors {

namespace {

struct HttpSourceConfig {
  std::string name;
  bool is_stream = false;
  bool start_latest = false;
};

class HttpSource : public Source {
 public:
  HttpSource(ConnectorEnv* env, HttpSourceConfig c, std::string source_name)
      : env_(env), config_(std::move(c)), source_name_(std::move(source_name)) {}

  std::string_view kind() const override { return "http"; }
  std::string Describe() const override {
    return fmt::format("{}[{}]", config_.is_stream ? "KinesisStream" : "KafkaRestTopic",
                       config_.name);
  }

  Status Open() override {
    if (env_->source_log == nullptr) {
      return FailedPrecondition(
          fmt::format("source '{}' reads the HTTP source log, but the config has no 'http' section",
                      source_name_));
    }
    if (!env_->source_log->Find(config_.name)) {
      return NotFound(
          fmt::format("{} '{}' does not exist: declare it under http.{} or enable http.auto_create",
                      config_.is_stream ? "stream" : "topic", config_.name,
                      config_.is_stream ? "streams" : "topics"));
    }
    return Status::Ok();
  }

  void SetConsumer(const std::string& query) {
    consumer_ = query;
    env_->source_log->RegisterConsumer(consumer_, config_.name);
  }

  Result<PartitionOffsets> LatestOffsets(const PartitionOffsets& committed, bool) override {
    auto info = env_->source_log->Find(config_.name);
    if (!info) return PartitionOffsets{};  // deleted: its partitions disappear
    // The first call's `committed` is durable (what the query recovered): retention and
    // backpressure count from it. Later ones may belong to a batch still committing, so the
    // consumer's position then moves only in OnBatchCommitted.
    if (!recovered_committed_) {
      if (!consumer_.empty() && !committed.empty())
        env_->source_log->Commit(consumer_, config_.name, committed);
      recovered_committed_ = true;
    }
    PartitionOffsets out;
    for (int p = 0; p < info->partitions; ++p) {
      PS_ASSIGN_OR_RETURN(auto b, env_->source_log->Bounds(config_.name, p));
      out[std::to_string(p)] = b.second;
    }
    return out;
  }

  Result<std::int64_t> InitialOffset(const std::string& partition) override {
    PS_ASSIGN_OR_RETURN(int p, PartitionNumber(partition));
    PS_ASSIGN_OR_RETURN(auto b, env_->source_log->Bounds(config_.name, p));
    if (!config_.start_latest) return b.first;
    // "latest" is decided once per process, so that records arriving while a batch is planned
    // are not skipped.
    auto it = latest_.find(partition);
    if (it == latest_.end()) it = latest_.emplace(partition, b.second).first;
    return it->second;
  }

  Status Read(const ReadRange& range, std::size_t max_chunk_rows,
              const ChunkConsumer& emit) override {
    PS_ASSIGN_OR_RETURN(int p, PartitionNumber(range.partition));
    LogChunkBuilder chunk(
        max_chunk_rows,
        static_cast<std::size_t>(std::max<std::int64_t>(range.end - range.start, 0)), columns_);
    Status st = env_->source_log->Read(
        config_.name, p, range.start, range.end, [&](const state::SourceLog::ReadRecord& r) {
          return chunk.Append(r.has_key ? std::optional<std::string_view>(r.key) : std::nullopt,
                              r.value, config_.name, p, r.offset, r.arrival_us, emit);
        });
    PS_RETURN_IF_ERROR(st);
    return chunk.Flush(emit);
  }

  void PruneColumns(const std::vector<std::string>& required) override {
    columns_ = LogColumns::Only(required);
  }

  std::string DescribePosition(const std::string& partition, std::int64_t offset) const override {
    return fmt::format("{}/{}@{}", config_.name, partition, offset);
  }

  void OnBatchCommitted(const PartitionOffsets& committed) override {
    if (!consumer_.empty()) env_->source_log->Commit(consumer_, config_.name, committed);
  }

 private:
  Result<int> PartitionNumber(const std::string& partition) const {
    int p = -1;
    auto [ptr, ec] = std::from_chars(partition.data(), partition.data() + partition.size(), p);
    if (ec != std::errc() || ptr != partition.data() + partition.size() || p < 0) {
      return Corruption(
          fmt::format("source '{}': '{}' is not a partition number", source_name_, partition));
    }
    return p;
  }

  ConnectorEnv* env_;
  HttpSourceConfig config_;
  std::string source_name_;
  std::string consumer_;
  std::map<std::string, std::int64_t> latest_;
  bool recovered_committed_ = false;
  LogColumns columns_;  // the chunk columns the query reads (PruneColumns)
};

class HttpSourceSpec : public SourceSpec {
 public:
  HttpSourceSpec(ConnectorEnv* env, HttpSourceConfig c) : env_(env), config_(std::move(c)) {}
  std::string_view kind() const override { return "http"; }
  std::string Descriptor() const override {
    return (config_.is_stream ? "stream:" : "topic:") + config_.name;
  }
  Result<std::unique_ptr<Source>> Create(const SourceCreateContext& ctx) const override {
    auto s = std::make_unique<HttpSource>(env_, config_, ctx.source_name);
    if (env_->source_log != nullptr && !ctx.query_name.empty()) s->SetConsumer(ctx.query_name);
    return std::unique_ptr<Source>(std::move(s));
  }
  std::string LogStreamName() const override { return config_.name; }
  StreamSchema DeclaredSchema() const override { return LogChunkSchema(); }

 private:
  ConnectorEnv* env_;
  HttpSourceConfig config_;
};

}  // namespace

namespace {
constexpr KeyDoc kHttpSourceDocs[] = {
    {"topic", KeyType::kString, "",
     "A Kafka REST Proxy topic (declared under http.topics, or auto-created). One of topic, "
     "stream."},
    {"stream", KeyType::kString, "", "A Kinesis stream (declared under http.streams)."},
    {"starting_offsets", KeyType::kEnum, "earliest",
     "Where a query without a checkpoint starts: the oldest retained record or the next one.",
     "earliest|latest"},
};
}  // namespace
constexpr ConfigKeys kHttpSourceKeys{
    "sources.<name> (kind: http)",
    "A topic or stream of the HTTP source log: what the http section's APIs acknowledged.",
    kHttpSourceDocs};

std::shared_ptr<const SourceSpec> ParseHttpSource(const ConfigNode& n, ConnectorEnv* env) {
  n.ExpectKeys(kHttpSourceKeys);
  if (n.Has("topic") == n.Has("stream"))
    n.Fail("an http source needs exactly one of 'topic' (Kafka REST) or 'stream' (Kinesis)");
  HttpSourceConfig c;
  c.is_stream = n.Has("stream");
  c.name = n.GetString(c.is_stream ? "stream" : "topic");
  c.start_latest = n.GetEnum("starting_offsets", {"earliest", "latest"}, "earliest") == "latest";
  return std::make_shared<HttpSourceSpec>(env, std::move(c));
}

}  // namespace pinstream::connectors
