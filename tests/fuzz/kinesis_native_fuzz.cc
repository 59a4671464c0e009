// libFuzzer target for the native Kinesis API's JSON bodies (connectors/http/kinesis_native.cc
// and the parsers behind it), through the daemon's HTTP listener as boto3 would send them: the
// first byte picks the operation (X-Amz-Target), the rest is the body. Every body must get 200
// or a 4xx in Kinesis' shape ({"__type": ..., "message": ...}) — never a 5xx other than a
// throttle (503), a hang, a crash or UB.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tests/fuzz/http_fuzz_server.h"

using pinstream::fuzz::HttpFuzzServer;
using pinstream::fuzz::Require;

namespace {

HttpFuzzServer* server = nullptr;

const char* const kOperations[] = {"PutRecord",
                                   "PutRecords",
                                   "GetRecords",
                                   "GetShardIterator",
                                   "ListStreams",
                                   "DescribeStream",
                                   "DescribeStreamSummary",
                                   "ListShards",
                                   "CreateStream",
                                   "DeleteStream",
                                   "PutRecord",
                                   "PutRecords"};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  server = new HttpFuzzServer();
  std::atexit([] { delete server; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const char* op = kOperations[data[0] % (sizeof kOperations / sizeof kOperations[0])];
  std::string request = std::string("POST / HTTP/1.1\r\nHost: kinesis.local\r\n") +
                        "Content-Type: application/x-amz-json-1.1\r\n" +
                        "X-Amz-Target: Kinesis_20131202." + op + "\r\n" +
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  auto out = server->Exchange(request);
  Require(out.has_value() && !out->empty());
  int status = HttpFuzzServer::FirstStatus(*out);
  Require(status == 200 || status == 503 || (status >= 400 && status < 500));
  if (status >= 400 && status < 500 && status != 413) {
    Require(out->find("\"__type\"") != std::string::npos);
  }
  return 0;
}
