// `pinstream emulate`: the user-posting emulator (connectors/http/emulator.h).

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "app/commands.h"
#include "app/emulator.h"
#include "connectors/kafka/kafka_producer.h"

namespace pinstream::app {

void AddEmulateCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "emulate", "send random Pinterest posts (pin + geo + user) to a running pinstream");
  auto o = std::make_shared<EmulatorOptions>();
  // The data set: $PINSTREAM_DATA, else a checkout's (run from its root), else the installed one.
  const char* data = std::getenv("PINSTREAM_DATA");
  o->data_dir = data                                              ? data
                : std::filesystem::exists("tests/data/pinterest") ? "tests/data/pinterest"
                                                                  : PINSTREAM_INSTALLED_DATA;
  const char* uid = std::getenv("PIN_USER_ID");
  if (uid && *uid) o->user_id = uid;
  cmd->add_option("--base-url,-u", o->base_url, "pinstream's HTTP address")->capture_default_str();
  cmd->add_option("--mode,-m", o->mode,
                  "kafka-rest, kinesis, both (HTTP) or kafka (straight to Kafka topics)")
      ->capture_default_str();
  auto bootstrap = std::make_shared<std::string>();
  cmd->add_option("--bootstrap-servers", *bootstrap,
                  "--mode kafka: the Kafka cluster (e.g. from `pinstream kafka-mock`)");
  cmd->add_option("--user-id", o->user_id,
                  "names the topics <id>.pin|geo|user and streams streaming-<id>-pin|geo|user "
                  "(default $PIN_USER_ID)")
      ->capture_default_str();
  cmd->add_option("--posts,-n", o->posts, "posts to send (3 records each)")->capture_default_str();
  cmd->add_option("--rate,-r", o->rate, "posts per second (0 = as fast as possible)")
      ->capture_default_str();
  cmd->add_option("--batch,-b", o->batch, "records per request (1 as the original)")
      ->capture_default_str();
  cmd->add_option("--concurrency,-c", o->concurrency, "parallel connections")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "random seed (the original used 100)")->capture_default_str();
  cmd->add_option(
      "--data", o->data_dir,
      "the data set directory (default $PINSTREAM_DATA, else a checkout's tests/data/pinterest, "
      "else the installed " PINSTREAM_INSTALLED_DATA ")");
  cmd->add_flag("--mixed-formats", o->mixed_formats,
                "vary timestamp formats and Kinesis Data encodings like different clients");
  cmd->add_option("--bad-fraction", o->bad_fraction,
                  "fraction of posts with a malformed timestamp (they reach dead-letter tables)");
  cmd->add_option("--bearer-token", o->bearer_token, "send Authorization: Bearer <token>");
  cmd->add_option("--api-key", o->api_key, "send x-api-key: <key>");
  cmd->add_option("--max-retries", o->max_retries,
                  "retries of a request answered 429/503 or cut off")
      ->capture_default_str();
  cmd->add_option("--record-posts", o->record_posts,
                  "write the index of every post (one per line) to this file");
  auto quiet = std::make_shared<bool>(false);
  cmd->add_flag("--quiet,-q", *quiet, "no progress output");
  cmd->callback([=] {
    o->progress = !*quiet;
    std::shared_ptr<connectors::kafka::KafkaProducer> producer;
    if (o->mode == "kafka" && !bootstrap->empty()) {
      connectors::kafka::KafkaProducer::Options po;
      po.bootstrap_servers = *bootstrap;
      auto p = connectors::kafka::KafkaProducer::Create(po);
      if (!p.ok()) {
        *exit_code = Fail(p.status());
        return;
      }
      producer = std::move(p).value();
      o->produce = [producer](const std::string& topic, const std::string& key,
                              const std::string& value) {
        return producer->Produce(topic, &key, value);
      };
      o->flush = [producer] { return producer->FlushCountingFailures(std::chrono::seconds(120)); };
    }
    auto r = RunEmulator(*o);
    if (!r.ok()) {
      *exit_code =
          r.status().code() == StatusCode::kInvalidArgument ? kExitConfig : Fail(r.status());
      if (*exit_code == kExitConfig)
        std::fprintf(stderr, "pinstream: %s\n", r.status().message().c_str());
      return;
    }
    std::printf(
        "emulate: %lld posts, %lld records in %lld requests in %.2fs (%.0f records/s), %lld "
        "retries, %lld not delivered\n",
        static_cast<long long>(r->posts), static_cast<long long>(r->records_sent),
        static_cast<long long>(r->requests), r->seconds,
        r->seconds > 0 ? static_cast<double>(r->records_sent) / r->seconds : 0.0,
        static_cast<long long>(r->retries), static_cast<long long>(r->errors));
    if (r->errors > 0) {
      std::fprintf(stderr, "pinstream: %lld records were not delivered; first error: %s\n",
                   static_cast<long long>(r->errors), r->first_error.c_str());
      *exit_code = kExitError;
      return;
    }
    *exit_code = kExitOk;
  });
}

}  // namespace pinstream::app
