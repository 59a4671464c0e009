#include "connectors/kafka/kafka_group_member.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "engine/thread_name.h"
#include "engine/time_util.h"

namespace pinstream::connectors {

using kafka::KafkaStatus;
using kafka::PartitionListPtr;

Status KafkaGroupMember::Join() {
  if (group_) return Status::Ok();
  std::map<std::string, std::string> props =
      ConsumerProperties(config_, fmt::format("pinstream-{}-member", name_));
  props["group.id"] = config_.group_id;
  // A member that vanishes (kill -9) gives its partitions up after 10 s, not Kafka's 45 s.
  props.emplace("session.timeout.ms", "10000");
  props.emplace("heartbeat.interval.ms", "1000");
  {
    kafka::KafkaProducer::Options po;
    po.bootstrap_servers = config_.bootstrap_servers;
    po.properties = config_.properties;
    PS_ASSIGN_OR_RETURN(progress_producer_, kafka::KafkaProducer::Create(po));
  }
  PS_ASSIGN_OR_RETURN(auto conf, kafka::MakeConf(props));
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaGroupMember::OnRebalance);
  PS_ASSIGN_OR_RETURN(group_, kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
  PartitionListPtr subs(rd_kafka_topic_partition_list_new(1));
  if (!config_.topic_pattern.empty()) {
    // librdkafka: regex topics start with ^
    std::string re =
        config_.topic_pattern[0] == '^' ? config_.topic_pattern : "^.*" + config_.topic_pattern;
    rd_kafka_topic_partition_list_add(subs.get(), re.c_str(), RD_KAFKA_PARTITION_UA);
  } else {
    for (const auto& t : config_.topics)
      rd_kafka_topic_partition_list_add(subs.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  PS_RETURN_IF_ERROR(KafkaStatus(
      rd_kafka_subscribe(group_.get(), subs.get()),
      fmt::format("source '{}': joining consumer group '{}'", name_, config_.group_id)));
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

std::vector<std::pair<std::string, int>> KafkaGroupMember::OwnedPartitions() const {
  std::vector<std::pair<std::string, int>> out;
  std::lock_guard lock(mu_);
  for (const auto& name : assigned_) {
    std::string topic;
    int p = 0;
    if (kafka::ParsePartitionName(name, &topic, &p)) out.emplace_back(topic, p);
  }
  return out;
}

std::size_t KafkaGroupMember::owned_count() const {
  std::lock_guard lock(mu_);
  return assigned_.size();
}

std::optional<std::int64_t> KafkaGroupMember::GroupOffset(const std::string& partition) const {
  std::lock_guard lock(mu_);
  auto g = group_offsets_.find(partition);
  if (g == group_offsets_.end()) return std::nullopt;
  return g->second;
}

void KafkaGroupMember::BatchPlanned(const PartitionOffsets& committed, bool reads) {
  std::lock_guard lock(mu_);
  committed_ = committed;  // what a revocation hands over if no batch commits before it
  in_batch_ = reads;
}

void KafkaGroupMember::BatchCommitted(const PartitionOffsets& committed) {
  PartitionOffsets mine;
  {
    std::lock_guard lock(mu_);
    committed_ = committed;
    in_batch_ = false;
    cv_.notify_all();
    for (const auto& [partition, end] : committed) {
      if (assigned_.count(partition)) {
        mine[partition] = end;
        group_offsets_[partition] = end;
      }
    }
  }
  if (mine.empty()) return;
  // The group's progress record (what a partition's next owner starts from), then the broker's
  // offsets for lag monitoring (refused while the group rebalances: harmless).
  if (Status st = PublishProgress(mine); !st.ok()) {
    spdlog::warn("source '{}': recording group progress on '{}': {}", name_, config_.progress_topic,
                 st.ToString());
  }
  PartitionListPtr tpl = kafka::OffsetList(mine);
  rd_kafka_resp_err_t err = rd_kafka_commit(group_.get(), tpl.get(), /*async=*/1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::debug("source '{}': committing offsets to group '{}' (lag monitoring): {}", name_,
                  config_.group_id, rd_kafka_err2str(err));
  }
}

void KafkaGroupMember::NoMoreBatches() {
  std::lock_guard lock(mu_);
  in_batch_ = false;
  cv_.notify_all();
}

void KafkaGroupMember::OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<KafkaGroupMember*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->Assigned(rk, parts);
  } else {
    self->Revoked(rk, parts);
  }
}

void KafkaGroupMember::Assigned(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
  // Where the group left each partition: the broker's committed offset, or the group progress
  // record (written after every batch even while the group rebalances), whichever is later.
  PartitionListPtr copy(rd_kafka_topic_partition_list_copy(parts));
  rd_kafka_resp_err_t err = rd_kafka_committed(rk, copy.get(), config_.request_timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("source '{}': reading group '{}' offsets: {}", name_, config_.group_id,
                 rd_kafka_err2str(err));
  }
  auto progress = ReadProgress();
  if (!progress.ok()) {
    spdlog::warn("source '{}': reading group progress from '{}': {}", name_, config_.progress_topic,
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
    group_offsets_[part] = at;
    names.push_back(at >= 0 ? fmt::format("{}@{}", part, at) : part);
  }
  spdlog::info("source '{}': group '{}' assigned {}", name_, config_.group_id,
               fmt::join(names, ", "));
}

void KafkaGroupMember::Revoked(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
  std::unique_lock lock(mu_);
  // Let the running batch finish and commit before the partitions go to another member.
  if (!cv_.wait_for(lock, std::chrono::microseconds(config_.rebalance_wait_us),
                    [&] { return !in_batch_; })) {
    spdlog::warn(
        "source '{}': partitions revoked while a batch was still running after {}; giving them "
        "up "
        "(the batch's records may be read again by their next owner)",
        name_, FormatDurationMicros(config_.rebalance_wait_us));
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
      rd_kafka_topic_partition_list_add(tpl.get(), parts->elems[i].topic, parts->elems[i].partition)
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
  spdlog::info("source '{}': group '{}' revoked {}", name_, config_.group_id,
               fmt::join(names, ", "));
  cv_.notify_all();  // Leave waits for the revocation
}

Status KafkaGroupMember::PublishProgress(const PartitionOffsets& ends) {
  for (const auto& [partition, end] : ends) {
    std::string key = config_.group_id + "/" + partition;
    PS_RETURN_IF_ERROR(
        progress_producer_->Produce(config_.progress_topic, &key, std::to_string(end)));
  }
  return progress_producer_->Flush(std::chrono::milliseconds(config_.request_timeout_ms));
}

Result<PartitionOffsets> KafkaGroupMember::ReadProgress() {
  PartitionOffsets out;
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(meta_, config_.progress_topic.c_str(), nullptr);
  rd_kafka_resp_err_t err = rd_kafka_metadata(meta_, 0, rkt, &raw, config_.request_timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return KafkaStatus(err, "metadata of " + config_.progress_topic);
  kafka::MetadataPtr md(raw);
  if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return out;  // nothing recorded yet
  std::map<std::string, std::string> props = config_.properties;
  props["bootstrap.servers"] = config_.bootstrap_servers;
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
    list.emplace_back(config_.progress_topic, md->topics[0].partitions[i].id);
  auto marks = kafka::QueryWatermarks(rk.get(), list, config_.request_timeout_ms);
  if (!marks.ok()) return marks.status().WithContext("reading " + config_.progress_topic);
  for (std::size_t i = 0; i < list.size(); ++i) {
    int p = list[i].second;
    std::int64_t lo = (*marks)[i].low, hi = (*marks)[i].high;
    if (hi > lo) {
      rd_kafka_topic_partition_list_add(tpl.get(), config_.progress_topic.c_str(), p)->offset = lo;
      ++pending;
    }
  }
  if (pending == 0) return out;
  PS_RETURN_IF_ERROR(
      KafkaStatus(rd_kafka_assign(rk.get(), tpl.get()), "assigning " + config_.progress_topic));
  std::string prefix = config_.group_id + "/";
  std::int64_t deadline =
      MonotonicNanos() + static_cast<std::int64_t>(config_.request_timeout_ms) * 1'000'000;
  while (pending > 0) {
    if (MonotonicNanos() > deadline)
      return Unavailable("reading " + config_.progress_topic + " timed out");
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

void KafkaGroupMember::Leave() {
  NoMoreBatches();  // nothing more will commit: let a revocation go
  if (!group_) return;
  // Leave the group (revokes: commits this member's offsets so the next owner starts there).
  // Logged before and after: librdkafka's leave can block when it races a rebalance (the
  // daemon's exit watchdog bounds that).
  spdlog::info("source '{}': leaving consumer group '{}'", name_, config_.group_id);
  // Unsubscribe first and let the poller serve the revocation, then close a member that holds
  // nothing: closing while an assignment or revocation is still pending is where librdkafka's
  // close can hang (confluentinc/librdkafka#4527, #4884).
  rd_kafka_resp_err_t err = rd_kafka_unsubscribe(group_.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("source '{}': unsubscribing from group '{}': {}", name_, config_.group_id,
                 rd_kafka_err2str(err));
  } else {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::milliseconds(config_.request_timeout_ms),
                      [&] { return assigned_.empty(); })) {
      spdlog::warn(
          "source '{}': group '{}' did not revoke {} partition(s) within {} ms; "
          "closing anyway",
          name_, config_.group_id, assigned_.size(), config_.request_timeout_ms);
    }
  }
  polling_ = false;
  if (poller_.joinable()) poller_.join();
  rd_kafka_consumer_close(group_.get());
  spdlog::info("source '{}': left consumer group '{}'", name_, config_.group_id);
  group_.reset();
}

}  // namespace pinstream::connectors
