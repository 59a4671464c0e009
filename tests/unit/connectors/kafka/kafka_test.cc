// The Kafka source and sink against librdkafka's mock cluster (the real wire protocol, in this
// process, on loopback).
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "connectors/kafka/kafka_client.h"
#include "connectors/kafka/kafka_mock.h"
#include "connectors/kafka/kafka_producer.h"
#include "connectors/kafka/kafka_sink.h"
#include "connectors/kafka/kafka_source.h"
#include "engine/config_node.h"
#include "engine/time_util.h"
#include "tests/testing/test_util.h"

namespace pinstream::connectors {
namespace {

using kafka::MockKafkaCluster;

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::move(MockKafkaCluster::Start(1)).value();
    ASSERT_TRUE(cluster_->CreateTopic("t", 2).ok());
  }

  // Produces `n` records "v<i>" with keys "k<i>" to `topic`; returns how many went to each
  // partition.
  void Produce(const std::string& topic, int n, std::size_t value_size = 0, int from = 0) {
    kafka::KafkaProducer::Options o;
    o.bootstrap_servers = cluster_->bootstrap_servers();
    auto p = std::move(kafka::KafkaProducer::Create(o)).value();
    for (int i = from; i < from + n; ++i) {
      std::string key = "k" + std::to_string(i);
      std::string value = "v" + std::to_string(i);
      if (value_size > value.size()) value.resize(value_size, 'x');
      ASSERT_TRUE(p->Produce(topic, &key, value).ok());
    }
    ASSERT_TRUE(p->Flush(std::chrono::seconds(30)).ok());
  }

  std::unique_ptr<Source> MakeSource(const std::string& extra = "") {
    std::string yaml = "kind: kafka\nbootstrap_servers: \"" + cluster_->bootstrap_servers() +
                       "\"\ntopics: [t]\n" + extra;
    auto spec =
        ParseKafkaSource(ConfigNode::LoadString(yaml, "src.yaml").WithImplicitKeys({"kind"}));
    auto src = std::move(spec->Create(SourceCreateContext{"src", "q"})).value();
    EXPECT_TRUE(src->Open().ok());
    return src;
  }

  // Reads [start, end) of a partition: (offset, key, value) per record.
  static std::vector<std::tuple<std::int64_t, std::string, std::string>> ReadAll(
      Source& s, const std::string& part, std::int64_t start, std::int64_t end,
      Status* status = nullptr) {
    std::vector<std::tuple<std::int64_t, std::string, std::string>> out;
    Status st = s.Read(ReadRange{part, start, end}, 7, [&](SourceChunk&& c) {
      EXPECT_LE(c.batch.num_rows(), 7u);
      int k = c.batch.FindColumn("key"), v = c.batch.FindColumn("value");
      for (std::size_t r = 0; r < c.batch.num_rows(); ++r) {
        out.emplace_back(c.offsets[r],
                         std::string(c.batch.column(static_cast<std::size_t>(k)).Str(r)),
                         std::string(c.batch.column(static_cast<std::size_t>(v)).Str(r)));
      }
      return Status::Ok();
    });
    if (status != nullptr)
      *status = st;
    else
      EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  std::unique_ptr<MockKafkaCluster> cluster_;
};

TEST_F(KafkaTest, PlansFromWatermarksAndReadsExactRanges) {
  Produce("t", 400);
  auto src = MakeSource();
  auto latest = src->LatestOffsets({}, true);
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ(latest->at("t/0") + latest->at("t/1"), 400);
  EXPECT_EQ(*src->InitialOffset("t/0"), 0);
  auto mid = ReadAll(*src, "t/0", 10, 25);
  ASSERT_EQ(mid.size(), 15u);
  for (std::size_t i = 0; i < mid.size(); ++i)
    EXPECT_EQ(std::get<0>(mid[i]), static_cast<std::int64_t>(10 + i));
  // A replay of the same range reads the same records; all partitions together hold every record
  // once.
  EXPECT_EQ(ReadAll(*src, "t/0", 10, 25), mid);
  std::set<std::string> values;
  for (const auto& part : {"t/0", "t/1"}) {
    for (const auto& [off, key, value] : ReadAll(*src, part, 0, latest->at(part))) {
      EXPECT_EQ(key.substr(1), value.substr(1));
      values.insert(value);
    }
  }
  EXPECT_EQ(values.size(), 400u);
  EXPECT_EQ(src->DescribePosition("t/1", 5), "t/1@5");
  // A batch announces its ranges first (both partitions fetched at once); each reads the same
  // records as alone, and an unannounced range after them still reads.
  std::vector<ReadRange> batch{{"t/1", 3, latest->at("t/1")}, {"t/0", 10, 25}};
  ASSERT_TRUE(src->PrepareRead(batch).ok());
  auto first = ReadAll(*src, "t/1", 3, latest->at("t/1"));
  ASSERT_EQ(first.size(), static_cast<std::size_t>(latest->at("t/1") - 3));
  EXPECT_EQ(std::get<0>(first.front()), 3);
  EXPECT_EQ(ReadAll(*src, "t/0", 10, 25), mid);
  EXPECT_EQ(ReadAll(*src, "t/0", 10, 25), mid);
  // Batch after batch, each range going on where the last stopped (the reader keeps what it
  // fetched past a range's end for the next one), then a replay of an earlier range.
  std::int64_t end0 = latest->at("t/0");
  std::vector<std::int64_t> offsets;
  for (std::int64_t at = 25; at < end0; at += 9) {
    std::int64_t to = std::min(end0, at + 9);
    ASSERT_TRUE(
        src->PrepareRead({{"t/0", at, to}, {"t/1", latest->at("t/1"), latest->at("t/1")}}).ok());
    for (const auto& r : ReadAll(*src, "t/0", at, to)) offsets.push_back(std::get<0>(r));
    ReadAll(*src, "t/1", latest->at("t/1"), latest->at("t/1"));
  }
  ASSERT_EQ(offsets.size(), static_cast<std::size_t>(end0 - 25));
  for (std::size_t i = 0; i < offsets.size(); ++i)
    EXPECT_EQ(offsets[i], static_cast<std::int64_t>(25 + i));
  ASSERT_TRUE(src->PrepareRead({{"t/0", 10, 25}}).ok());
  EXPECT_EQ(ReadAll(*src, "t/0", 10, 25), mid);
  // After a batch commits, its ends go to the group pinstream-<query>-<source> for lag
  // monitoring (nothing reads them back).
  src->OnBatchCommitted({{"t/0", 25}, {"t/1", 7}});
  auto conf = std::move(kafka::MakeConf({{"bootstrap.servers", cluster_->bootstrap_servers()},
                                         {"group.id", "pinstream-q-src"}}))
                  .value();
  auto rk = std::move(kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf))).value();
  std::int64_t c0 = -1, c1 = -1;
  for (auto deadline = MonotonicNanos() + 20'000'000'000LL;
       MonotonicNanos() < deadline && (c0 != 25 || c1 != 7);) {
    kafka::PartitionListPtr parts(rd_kafka_topic_partition_list_new(2));
    rd_kafka_topic_partition_list_add(parts.get(), "t", 0);
    rd_kafka_topic_partition_list_add(parts.get(), "t", 1);
    if (rd_kafka_committed(rk.get(), parts.get(), 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      c0 = parts->elems[0].offset;
      c1 = parts->elems[1].offset;
    }
  }
  EXPECT_EQ(c0, 25);
  EXPECT_EQ(c1, 7);
}

TEST_F(KafkaTest, StartingOffsetsAndTheTriggerCap) {
  Produce("t", 200);
  auto latest_src = MakeSource("starting_offsets: latest\n");
  auto latest = *latest_src->LatestOffsets({}, true);
  EXPECT_EQ(*latest_src->InitialOffset("t/0"), latest.at("t/0"));
  auto json_src = MakeSource("starting_offsets: '{\"t\": {\"0\": 5, \"1\": -1}}'\n");
  EXPECT_EQ(*json_src->InitialOffset("t/0"), 5);
  EXPECT_EQ(*json_src->InitialOffset("t/1"), latest.at("t/1"));
  auto capped = MakeSource("max_offsets_per_trigger: 50\n");
  auto lim = *capped->LatestOffsets({}, true);
  EXPECT_EQ(lim.at("t/0") + lim.at("t/1"), 50);
  auto all = *capped->LatestOffsets({}, false);  // AvailableNow's target ignores the cap
  EXPECT_EQ(all.at("t/0") + all.at("t/1"), 200);
}

TEST_F(KafkaTest, DataLossFailsOrIsSkippedAndCounted) {
  ASSERT_TRUE(cluster_->CreateTopic("big", 1).ok());
  // The mock keeps ~5 MiB per partition: 9 MB pushes the first records out (as retention would).
  kafka::KafkaProducer::Options o;
  o.bootstrap_servers = cluster_->bootstrap_servers();
  o.properties["linger.ms"] = "0";
  o.properties["batch.num.messages"] = "1";
  o.properties["compression.type"] = "none";  // the size limit counts stored bytes
  auto p = std::move(kafka::KafkaProducer::Create(o)).value();
  std::string big(90'000, 'x');
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(p->Produce("big", nullptr, big).ok());
  ASSERT_TRUE(p->Flush(std::chrono::seconds(30)).ok());
  std::string yaml =
      "kind: kafka\nbootstrap_servers: \"" + cluster_->bootstrap_servers() + "\"\ntopics: [big]\n";
  auto make = [&](bool fail) {
    auto spec = ParseKafkaSource(
        ConfigNode::LoadString(yaml + (fail ? "" : "fail_on_data_loss: false\n"), "s.yaml")
            .WithImplicitKeys({"kind"}));
    auto s = std::move(spec->Create(SourceCreateContext{"big", "q"})).value();
    EXPECT_TRUE(s->Open().ok());
    return s;
  };
  PartitionOffsets committed{{"big/0", 0}};
  auto strict = make(true);
  auto r = strict->LatestOffsets(committed, true);
  ASSERT_FALSE(r.ok()) << "the mock did not trim the partition";
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("fail_on_data_loss: false"), std::string::npos);
  auto lenient = make(false);
  auto latest = lenient->LatestOffsets(committed, true);
  ASSERT_TRUE(latest.ok());
  auto resume = lenient->ResumeOffset("big/0", 0);
  ASSERT_TRUE(resume.ok() && resume->has_value());
  EXPECT_GT(**resume, 0);
  EXPECT_EQ(lenient->ProgressMetrics().at("offsetsSkippedByDataLoss"), std::to_string(**resume));
  // Reading from below the log start: the lenient source skips to it, the strict one refuses.
  auto recs = ReadAll(*lenient, "big/0", 0, latest->at("big/0"));
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(std::get<0>(recs.front()), **resume);
  Status st;
  ReadAll(*strict, "big/0", 0, latest->at("big/0"), &st);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
}

TEST_F(KafkaTest, UnavailableBrokersAreRetryableErrors) {
  Produce("t", 10);
  auto src = MakeSource("read_timeout: 1s\nrequest_timeout: 2s\n");
  auto latest = *src->LatestOffsets({}, true);
  ASSERT_TRUE(cluster_->SetBrokersDown().ok());
  Status st;
  ReadAll(*src, "t/0", 0, latest.at("t/0") + latest.at("t/1"),
          &st);  // more than there is: never completes
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(st.retryable()) << st.ToString();
  ASSERT_TRUE(cluster_->SetBrokersUp().ok());
  // Retried as the query would (the client reconnects with backoff): the range reads in full.
  std::size_t got = 0;
  for (auto deadline = MonotonicNanos() + 30'000'000'000LL;
       MonotonicNanos() < deadline && st.retryable();) {
    auto recs = ReadAll(*src, "t/0", 0, latest.at("t/0"), &st);
    got = recs.size();
  }
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got, static_cast<std::size_t>(latest.at("t/0")));
}

RecordBatch Rows(int from, int to) { return pinstream::testing::IdNameRows(from, to); }

// Every message of a topic's partitions (read_committed): key, value and the batch header.
std::vector<std::tuple<std::string, std::string, std::string>> Consume(const std::string& servers,
                                                                       const std::string& topic,
                                                                       int partitions = 2) {
  auto conf = std::move(kafka::MakeConf({{"bootstrap.servers", servers},
                                         {"group.id", "check"},
                                         {"enable.partition.eof", "true"},
                                         {"fetch.wait.max.ms", "10"},
                                         {"isolation.level", "read_committed"}}))
                  .value();
  auto rk = std::move(kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf))).value();
  kafka::PartitionListPtr parts(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk.get(), parts.get());
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  int eofs = 0;
  auto deadline = MonotonicNanos() + 20'000'000'000LL;
  while (eofs < partitions && MonotonicNanos() < deadline) {
    kafka::MessagePtr m(rd_kafka_consumer_poll(rk.get(), 100));
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++eofs;
      continue;
    }
    if (m->err) continue;
    rd_kafka_headers_t* h = nullptr;
    const void* b = nullptr;
    std::size_t bn = 0;
    std::string batch;
    if (rd_kafka_message_headers(m.get(), &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, "pinstream.batch", &b, &bn) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      batch.assign(static_cast<const char*>(b), bn);
    }
    out.emplace_back(m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : "",
                     std::string(static_cast<const char*>(m->payload), m->len), batch);
  }
  rd_kafka_consumer_close(rk.get());
  return out;
}

class NoTxn : public CommitTxn {
 public:
  std::int64_t batch_id() const override { return 0; }
  void Put(CommitSpace, std::string_view, std::string_view) override {}
  void Delete(CommitSpace, std::string_view) override {}
  void DeleteRange(CommitSpace, std::string_view, std::string_view) override {}
  void OnCommitted(std::function<void()>) override {}
  void HoldUntilDone(std::mutex&) override {}
  std::map<std::string, std::int64_t>& staged_versions() override { return staged_versions_; }
  std::size_t staged_bytes() const override { return 0; }

 private:
  std::map<std::string, std::int64_t> staged_versions_;
};

std::unique_ptr<Sink> MakeSink(const std::string& servers, const std::string& topic, bool txn) {
  std::string yaml = "kind: kafka\nbootstrap_servers: \"" + servers + "\"\ntopic: " + topic +
                     "\nkey_column: id\n" + (txn ? "transactional: true\n" : "");
  auto spec = ParseKafkaSink(ConfigNode::LoadString(yaml, "sink.yaml").WithImplicitKeys({"kind"}));
  auto sink = std::move(spec->Create(SinkCreateContext{"q"})).value();
  Status st = sink->Open(SinkContext{"q", "query-id-1", 0});
  EXPECT_TRUE(st.ok()) << st.ToString();
  return sink;
}

TEST_F(KafkaTest, SinkWritesJsonRowsWithKeysAndBatchHeaders) {
  ASSERT_TRUE(cluster_->CreateTopic("out", 2).ok());
  auto sink = MakeSink(cluster_->bootstrap_servers(), "out", false);
  NoTxn txn;
  ASSERT_TRUE(sink->Stage(0, {Rows(0, 5), Rows(5, 8)}, txn).ok());
  auto msgs = Consume(cluster_->bootstrap_servers(), "out");
  ASSERT_EQ(msgs.size(), 8u);
  std::set<int> ids;
  for (const auto& [key, value, batch] : msgs) {
    auto j = nlohmann::json::parse(value);
    EXPECT_EQ(key, std::to_string(j["id"].get<int>()));
    EXPECT_EQ(j["name"], "n" + key);
    EXPECT_EQ(batch, "0:0");
    ids.insert(j["id"].get<int>());
  }
  EXPECT_EQ(ids.size(), 8u);
}

TEST_F(KafkaTest, TransactionalSinkWritesAReplayedBatchOnce) {
  ASSERT_TRUE(cluster_->CreateTopic("exact", 2).ok());
  NoTxn txn;
  {
    auto sink = MakeSink(cluster_->bootstrap_servers(), "exact", true);
    ASSERT_TRUE(sink->Stage(0, {Rows(0, 4)}, txn).ok());
    ASSERT_TRUE(sink->Stage(1, {Rows(4, 6)}, txn).ok());
    // pinstream stops here, after the Kafka commit of batch 1 but before its checkpoint commit.
  }
  auto again = MakeSink(cluster_->bootstrap_servers(), "exact", true);
  ASSERT_TRUE(again->Stage(1, {Rows(4, 6)}, txn).ok());  // the replay: already there
  ASSERT_TRUE(again->Stage(2, {Rows(6, 9)}, txn).ok());
  auto msgs = Consume(cluster_->bootstrap_servers(), "exact");
  std::multiset<std::string> batches;
  for (const auto& m : msgs) batches.insert(std::get<2>(m));
  EXPECT_EQ(msgs.size(), 9u);
  EXPECT_EQ(batches.count("0:1"), 2u);
  EXPECT_EQ(batches.count("0:2"), 3u);
}

// Transactions leave offsets with no record (commit/abort markers) and aborted records that
// read_committed hides: ranges ending anywhere read every committed record exactly once, batch
// after batch and in one go (a record taken past a range's end is kept for the next range).
TEST_F(KafkaTest, ReadsTransactionalTopicsAcrossMarkersAndAborts) {
  ASSERT_TRUE(cluster_->CreateTopic("tx", 1).ok());
  kafka::KafkaProducer::Options o;
  o.bootstrap_servers = cluster_->bootstrap_servers();
  o.transactional_id = "tx-test";
  auto producer = std::move(kafka::KafkaProducer::Create(o)).value();
  ASSERT_TRUE(producer->InitTransactions(std::chrono::seconds(30)).ok());
  std::set<std::string> committed;
  for (int t = 0; t < 4; ++t) {
    ASSERT_TRUE(producer->BeginTransaction().ok());
    for (int i = 0; i < 5; ++i) {
      std::string v = "t" + std::to_string(t) + "-" + std::to_string(i);
      ASSERT_TRUE(producer->Produce("tx", nullptr, v).ok());
      if (t != 2) committed.insert(v);
    }
    if (t == 2) {
      ASSERT_TRUE(producer->AbortTransaction(std::chrono::seconds(30)).ok());
    } else {
      ASSERT_TRUE(producer->CommitTransaction(std::chrono::seconds(30)).ok());
    }
  }
  std::string yaml = "kind: kafka\nbootstrap_servers: \"" + cluster_->bootstrap_servers() +
                     "\"\ntopics: [tx]\nread_timeout: 10s\n";
  auto spec = ParseKafkaSource(ConfigNode::LoadString(yaml, "s.yaml").WithImplicitKeys({"kind"}));
  auto src = std::move(spec->Create(SourceCreateContext{"tx", "q"})).value();
  ASSERT_TRUE(src->Open().ok());
  std::int64_t high = src->LatestOffsets({}, false)->at("tx/0");
  // A broker writes 4 × (5 records + 1 marker) = 24 offsets; librdkafka 2.0's mock writes no
  // markers (and keeps no aborted records visible), so there the ranges meet no gaps.
  ASSERT_GE(high, 15);
  for (std::int64_t step : {1, 3, 4, 6, 7, 24}) {
    std::vector<std::string> got;
    std::int64_t last = -1;
    for (std::int64_t at = 0; at < high; at += step) {
      std::int64_t to = std::min(high, at + step);
      ASSERT_TRUE(src->PrepareRead({{"tx/0", at, to}}).ok());
      Status st;
      for (const auto& [off, key, value] : ReadAll(*src, "tx/0", at, to, &st)) {
        EXPECT_GE(off, at);
        EXPECT_LT(off, to);
        EXPECT_GT(off, last);
        last = off;
        got.push_back(value);
      }
      ASSERT_TRUE(st.ok()) << "step " << step << " range " << at << ".." << to << ": "
                           << st.ToString();
    }
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), committed) << "step " << step;
    EXPECT_EQ(got.size(), committed.size()) << "step " << step;
  }
}

TEST(KafkaConfigTest, ErrorsNameTheKey) {
  auto err = [](const std::string& yaml) {
    try {
      ParseKafkaSource(ConfigNode::LoadString(yaml, "s.yaml").WithImplicitKeys({"kind"}));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(
      err("kind: kafka\nbootstrap_servers: x\n").find("exactly one of 'topics' or 'topic_pattern'"),
      std::string::npos);
  EXPECT_NE(err("kind: kafka\nbootstrap_servers: x\ntopic_pattern: '(['\n")
                .find("not a valid regular expression"),
            std::string::npos);
  EXPECT_NE(err("kind: kafka\nbootstrap_servers: x\ntopics: [t]\nstarting_offsets: sometime\n")
                .find("starting_offsets must be"),
            std::string::npos);
  EXPECT_NE(
      err("kind: kafka\nbootstrap_servers: x\ntopics: [t]\nproperties: {no.such.property: 1}\n")
          .find("no.such.property"),
      std::string::npos);
  EXPECT_NE(err("kind: kafka\nbootstrap_servers: x\ntopics: [t]\nproperties: {group.id: g}\n")
                .find("set by pinstream"),
            std::string::npos);
}

}  // namespace
}  // namespace pinstream::connectors
