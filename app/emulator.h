// The user-posting emulator (`pinstream emulate`): the original project's
// user_posting_emulation.py in C++. It reads the bundled data set, picks posts at random with a
// seeded generator — one index, the same in pin, geo and user, as the original selected the
// same row number of the three tables — and sends each post's three records through
//   kafka-rest  POST {base}/topics/{user_id}.pin|.geo|.user   (REST Proxy v2, json embedded)
//   kinesis     PUT  {base}/streams/streaming-{user_id}-pin|-geo|-user/record(s)
//   kafka       produced straight to the Kafka topics {user_id}.pin|.geo|.user (the MSK path of
//               the original), through the `produce` callback the caller wires to a producer
// one record per request (as the original) or --batch N per request, at a target rate or as fast
// as possible, over --concurrency keep-alive connections. 429/503 answers and broken
// connections are retried (honouring Retry-After); anything else is an error, and the run exits
// non-zero if any record could not be delivered.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "engine/status.h"

namespace pinstream::app {

struct EmulatorOptions {
  std::string base_url = "http://127.0.0.1:8082";
  std::string mode = "kafka-rest";  // kafka-rest | kinesis | both (alternating per post)
  std::string user_id = "0a1b2c3d4e5f";
  std::string data_dir;  // the bundled data set
  std::int64_t posts = 1000;
  double rate = 0;  // posts per second; 0 = as fast as possible
  int batch = 1;    // records per request
  int concurrency = 4;
  std::uint64_t seed = 100;  // the original used random.seed(100)
  // Vary encodings the way different clients do (ISO timestamps, Kinesis Data as a JSON string
  // or base64); bad_fraction of posts get a malformed timestamp ("2020:08:28 03:52:47").
  bool mixed_formats = false;
  double bad_fraction = 0;
  std::string bearer_token;
  std::string api_key;
  int max_retries = 8;
  std::string
      record_posts;      // if set: the index of every post, one per line, written before sending
  bool progress = true;  // a live progress bar on a terminal, plain lines otherwise
  // --mode kafka: queues one record (topic, key = the post's index, JSON value); thread-safe.
  std::function<Status(const std::string& topic, const std::string& key, const std::string& value)>
      produce;
  // --mode kafka: waits for every delivery report; the number of records not delivered.
  std::function<Result<std::int64_t>()> flush;
};

struct EmulatorReport {
  std::int64_t posts = 0;
  std::int64_t records_sent = 0;
  std::int64_t requests = 0;
  std::int64_t retries = 0;
  std::int64_t errors = 0;  // records not delivered
  std::string first_error;
  double seconds = 0;
};

Result<EmulatorReport> RunEmulator(const EmulatorOptions& options);

}  // namespace pinstream::app
