// Kafka → cleaned delta table (issue "Kafka connector"): records/s of pin records consumed from
// a Kafka topic by pinstream's Kafka source and run through conf/pinterest-kafka.yaml's `pin`
// query (parse_json → null_if → parse_count → strip_prefix → rename → dedup → select → delta
// table, exactly-once commits), beside librdkafka's own raw consume rate of the same topic from
// the same cluster in the same run (a consumer assigned every partition, consume_batch_queue,
// nothing done with the messages). Both read from librdkafka's mock cluster on loopback (the
// only broker this machine has; see connectors/kafka/README.md for its limits).
//
//   kafka_bench [records=1000000] [partitions=64]
//   KAFKA_BENCH_PROPS='queued.min.messages: "2000"' kafka_bench   # extra librdkafka properties for
//                                                                   # pinstream's source (YAML map
//                                                                   body)
//
// The mock keeps about 5 MiB per partition and silently trims older data beyond it: the topic is
// written lz4-compressed and the bench refuses to report if any partition's log start moved.

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "bench/bench_util.h"
#include "connectors/connector_env.h"
#include "connectors/kafka/kafka_client.h"
#include "connectors/kafka/kafka_mock.h"
#include "connectors/kafka/kafka_producer.h"
#include "engine/allocator.h"
#include "state/delta_table.h"
#include "state/store.h"

using namespace pinstream;
namespace fs = std::filesystem;
namespace kafka = pinstream::connectors::kafka;

namespace {

const char* kSources = R"(data_dir: __DIR__/data
sources:
  pins: {kind: kafka, bootstrap_servers: "__SERVERS__", topics: [bench.pin], properties: {__PROPS__}}
)";

void Replace(std::string* s, const std::string& what, const std::string& with) {
  s->replace(s->find(what), what.size(), with);
}

std::vector<std::pair<std::string, int>> TopicPartitions(int partitions) {
  std::vector<std::pair<std::string, int>> out;
  for (int p = 0; p < partitions; ++p) out.emplace_back("bench.pin", p);
  return out;
}

// librdkafka alone: every partition assigned from the start, messages counted and dropped.
Result<double> RawConsume(const std::string& servers, int partitions, std::int64_t expected) {
  PS_ASSIGN_OR_RETURN(auto conf, kafka::MakeConf({{"bootstrap.servers", servers},
                                                  {"group.id", "raw-bench"},
                                                  {"enable.auto.commit", "false"},
                                                  {"fetch.wait.max.ms", "10"}}));
  PS_ASSIGN_OR_RETURN(auto rk, kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), "bench.pin", p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  kafka::QueuePtr queue(rd_kafka_queue_get_consumer(rk.get()));
  auto t0 = std::chrono::steady_clock::now();
  PS_RETURN_IF_ERROR(kafka::KafkaStatus(rd_kafka_assign(rk.get(), list.get()), "assigning"));
  std::vector<rd_kafka_message_t*> msgs(4096);
  std::int64_t got = 0, bytes = 0;
  while (got < expected) {
    if (bench::Seconds(t0) > 300)
      return Unavailable("raw consume: not every record arrived in 300 s");
    ssize_t n = rd_kafka_consume_batch_queue(queue.get(), 100, msgs.data(), msgs.size());
    for (ssize_t i = 0; i < n; ++i) {
      kafka::MessagePtr m(msgs[static_cast<std::size_t>(i)]);
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++got;
        bytes += static_cast<std::int64_t>(m->len);
      }
    }
  }
  double secs = bench::Seconds(t0);
  rd_kafka_assign(rk.get(), nullptr);
  if (bytes == 0) return Internal("raw consume read no bytes");
  return static_cast<double>(got) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  TuneAllocatorForBatches();
  spdlog::set_level(spdlog::level::warn);
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  int partitions = argc > 2 ? std::atoi(argv[2]) : 64;
  std::string dir = "/tmp/pinstream-kafka-bench";
  fs::remove_all(dir);
  auto records = bench::PinRecords(n);

  auto cluster = std::move(kafka::MockKafkaCluster::Start()).value();
  if (Status st = cluster->CreateTopic("bench.pin", partitions); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  std::string servers = cluster->bootstrap_servers();
  {  // Produce (not timed): keyed by unique_id, so the partitions fill evenly.
    kafka::KafkaProducer::Options o;
    o.bootstrap_servers = servers;
    o.properties = {{"compression.type", "lz4"}, {"linger.ms", "20"}, {"batch.size", "1000000"}};
    auto producer = std::move(kafka::KafkaProducer::Create(o)).value();
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& r : records) {
      std::size_t at = r.find("\"unique_id\":\"") + 13;
      std::string key = r.substr(at, r.find('"', at) - at);
      if (Status st = producer->Produce("bench.pin", &key, r); !st.ok()) {
        std::fprintf(stderr, "%s\n", st.ToString().c_str());
        return 1;
      }
    }
    if (Status st = producer->Flush(std::chrono::minutes(5)); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    std::printf("produced %zu pin records to %d partitions in %.2fs\n", n, partitions,
                bench::Seconds(t0));
  }
  // Nothing trimmed by the mock's size cap: every record is still there to read.
  {
    auto conf =
        std::move(kafka::MakeConf({{"bootstrap.servers", servers}, {"group.id", "check"}})).value();
    auto rk = std::move(kafka::NewClient(RD_KAFKA_CONSUMER, std::move(conf))).value();
    auto marks = kafka::QueryWatermarks(rk.get(), TopicPartitions(partitions), 10000);
    if (!marks.ok()) {
      std::fprintf(stderr, "%s\n", marks.status().ToString().c_str());
      return 1;
    }
    std::int64_t total = 0;
    for (const auto& w : *marks) {
      if (w.low != 0) {
        std::fprintf(stderr,
                     "the mock cluster trimmed a partition (log start %lld): use more partitions\n",
                     static_cast<long long>(w.low));
        return 1;
      }
      total += w.high;
    }
    if (total != static_cast<std::int64_t>(n)) {
      std::fprintf(stderr, "the topic holds %lld records, not %zu\n", static_cast<long long>(total),
                   n);
      return 1;
    }
  }

  double raw = 0;
  for (int i = 0; i < 3; ++i) {
    auto r = RawConsume(servers, partitions, static_cast<std::int64_t>(n));
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
      return 1;
    }
    raw = std::max(raw, *r);
  }

  state::StoreOptions so;
  so.data_dir = dir + "/data";
  auto store = std::move(state::Store::Open(so)).value();
  connectors::ConnectorEnv env;
  env.store = store.get();
  std::string yaml = std::string(kSources) + bench::PinQueryYaml("pins");
  Replace(&yaml, "__DIR__", dir);
  Replace(&yaml, "__SERVERS__", servers);
  Replace(&yaml, "__PROPS__",
          std::getenv("KAFKA_BENCH_PROPS") != nullptr ? std::getenv("KAFKA_BENCH_PROPS") : "");
  auto run = bench::RunPinQuery(yaml, dir, env);
  int rc = run.exit_code;
  double secs = run.seconds;
  std::int64_t batches = run.batches;
  auto* t = *store->Table("pin", false);
  std::printf(
      "kafka → pin table: %zu records in %.2fs, %lld batches, table pin has %lld rows, exit %d\n",
      n, secs, static_cast<long long>(batches), static_cast<long long>(t->num_rows()), rc);
  if (rc != 0 || t->num_rows() != static_cast<std::int64_t>(n)) {  // every unique_id is distinct
    std::fprintf(stderr, "unexpected result: the table should hold each of the %zu records once\n",
                 n);
    return 1;
  }
  double rate = static_cast<double>(n) / secs;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  bench::Report("kafka_raw_consume_rec_per_s", raw, "rec/s");
  bench::Report("kafka_pin_pipeline_rec_per_s", rate, "rec/s");
  bench::Report("kafka_pin_pipeline_rec_per_s_per_core", rate / cores, "rec/s/core");
  bench::Report("kafka_pin_pipeline_vs_raw_consume_ratio", rate / raw, "x");
  bench::Report("kafka_pin_pipeline_vs_target_300k_ratio", rate / 300000.0, "x");
  fs::remove_all(dir);
  return 0;
}
