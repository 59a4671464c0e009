// `pinstream kafka-mock`: librdkafka's mock cluster on loopback, for trying the Kafka path with no
// broker installed. Prints `bootstrap.servers=HOST:PORT` on standard output, then runs until
// SIGINT/SIGTERM. Lines on standard input control it (tests use them to take brokers away):
//   down | up                  every broker refuses connections / accepts them again
//   topic NAME PARTITIONS      create a topic
// Limits (librdkafka 2.0's mock): each partition keeps ~5 MiB or 100k message sets and drops the
// oldest beyond that; no persistence; topics also appear when first produced to.

#include <signal.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "app/commands.h"
#include "connectors/kafka/kafka_mock.h"
#include "engine/daemon.h"

namespace pinstream::app {

namespace {

struct MockOptions {
  int brokers = 1;
  std::vector<std::string> topics;  // NAME or NAME:PARTITIONS
  bool pinterest = false;
  std::string user_id = "0a1b2c3d4e5f";
  int partitions = 2;
};

int RunMock(const MockOptions& o) {
  BlockTerminationSignals();
  auto cluster = connectors::kafka::MockKafkaCluster::Start(o.brokers);
  if (!cluster.ok()) return Fail(cluster.status());
  std::vector<std::pair<std::string, int>> topics;
  for (const auto& t : o.topics) {
    auto colon = t.rfind(':');
    if (colon == std::string::npos) {
      topics.emplace_back(t, o.partitions);
    } else {
      int n = std::atoi(t.c_str() + colon + 1);
      if (n < 1) {
        std::fprintf(stderr, "pinstream: --topic %s: partitions must be a positive number\n",
                     t.c_str());
        return kExitConfig;
      }
      topics.emplace_back(t.substr(0, colon), n);
    }
  }
  if (o.pinterest) {
    for (const char* kind : {"pin", "geo", "user"})
      topics.emplace_back(o.user_id + "." + kind, o.partitions);
  }
  for (const auto& [name, n] : topics) {
    if (Status st = (*cluster)->CreateTopic(name, n); !st.ok()) return Fail(st);
  }
  std::printf("bootstrap.servers=%s\n", (*cluster)->bootstrap_servers().c_str());
  std::fflush(stdout);
  std::fprintf(stderr,
               "pinstream kafka-mock: %d broker(s) at %s, %zu topic(s). librdkafka's mock cluster "
               "keeps ~5 MiB or "
               "100k message sets per partition (older data is dropped) and nothing on disk. "
               "Ctrl-C stops it.\n",
               o.brokers, (*cluster)->bootstrap_servers().c_str(), topics.size());
  // Commands from standard input; EOF just ends the commands (the cluster keeps running).
  std::thread commands([c = cluster->get()] {
    std::string line;
    while (std::getline(std::cin, line)) {
      std::istringstream in(line);
      std::string cmd, name;
      int n = 1;
      in >> cmd;
      Status st;
      if (cmd == "down") {
        st = c->SetBrokersDown();
      } else if (cmd == "up") {
        st = c->SetBrokersUp();
      } else if (cmd == "topic" && (in >> name >> n) && n > 0) {
        st = c->CreateTopic(name, n);
      } else if (!cmd.empty()) {
        st = InvalidArgument("commands: down | up | topic NAME PARTITIONS");
      }
      std::printf("%s\n", st.ok() ? "ok" : st.ToString().c_str());
      std::fflush(stdout);
    }
  });
  commands.detach();  // blocked in getline until the process ends
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return kExitOk;
}

}  // namespace

void AddKafkaMockCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<MockOptions>();
  auto* cmd = app.add_subcommand(
      "kafka-mock", "run librdkafka's mock Kafka cluster on loopback (no broker needed)");
  cmd->add_option("--brokers", o->brokers, "number of brokers")
      ->capture_default_str()
      ->check(CLI::Range(1, 9));
  cmd->add_option("--topic,-t", o->topics,
                  "a topic to create: NAME or NAME:PARTITIONS (repeatable)");
  cmd->add_flag("--pinterest", o->pinterest,
                "create the Pinterest topics <user id>.pin|.geo|.user");
  const char* uid = std::getenv("PIN_USER_ID");
  if (uid && *uid) o->user_id = uid;
  cmd->add_option("--user-id", o->user_id,
                  "the user id of --pinterest's topics (default $PIN_USER_ID)")
      ->capture_default_str();
  cmd->add_option("--partitions", o->partitions, "partitions of topics given without a count")
      ->capture_default_str();
  cmd->callback([o, exit_code] { *exit_code = RunMock(*o); });
}

}  // namespace pinstream::app
