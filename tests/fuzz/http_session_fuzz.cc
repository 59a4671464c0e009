// libFuzzer target for HTTP request framing as a connection's session parses it
// (connectors/http/http_server.cc: Beast's parser fed from the session's buffer, keep-alive and
// pipelining, chunked bodies and trailers, Expect: 100-continue, the header (64 KiB) and body
// limits, HEAD, malformed requests) and the APIs behind it. The input is the raw bytes of one
// connection. Every connection must be answered and closed — never a hang, a crash or UB — and
// whatever comes back must start with an HTTP/1.x status line that is not a 500 (bad input is
// the client's fault: 4xx in the API's shape).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tests/fuzz/http_fuzz_server.h"

using pinstream::fuzz::HttpFuzzServer;
using pinstream::fuzz::Require;

namespace {
HttpFuzzServer* server = nullptr;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  server = new HttpFuzzServer();
  std::atexit([] { delete server; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto out = server->Exchange(bytes);
  Require(out.has_value());  // answered and closed within 10 s
  if (!out->empty()) {
    int status = HttpFuzzServer::FirstStatus(*out);
    Require(status >= 100 && status != 500);
  }
  return 0;
}
