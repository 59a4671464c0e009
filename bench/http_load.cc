// Constant-rate HTTP load generator for the ack-latency benchmark: sends one-record REST Proxy
// produce requests at a fixed total rate over N keep-alive connections and reports the latency
// distribution. Latency is measured from each request's *scheduled* send time, so a slow answer
// that delays later requests is counted against them too (no coordinated omission).
//
//   http_load PORT RATE SECONDS [connections=32]

// clang-format off
#include <utility>  // before Asio: boost 1.74 awaitable.hpp needs std::exchange
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench/bench_util.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: http_load PORT RATE SECONDS [connections]\n");
    return 2;
  }
  std::string port = argv[1];
  double rate = std::atof(argv[2]);
  double seconds = std::atof(argv[3]);
  int conns = argc > 4 ? std::atoi(argv[4]) : 32;
  std::string body = "{\"records\":[{\"value\":" + pinstream::bench::PinRecords(1)[0] + "}]}";
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(conns));
  std::vector<int> errors(static_cast<std::size_t>(conns));
  auto start = Clock::now() + std::chrono::milliseconds(200);
  std::vector<std::thread> ts;
  for (int c = 0; c < conns; ++c) {
    ts.emplace_back([&, c] {
      net::io_context ioc;
      beast::tcp_stream s(ioc);
      tcp::resolver r(ioc);
      s.connect(r.resolve("127.0.0.1", port));
      s.socket().set_option(tcp::no_delay(true));
      beast::flat_buffer buf;
      double per_conn = rate / conns;
      auto n_total = static_cast<long>(per_conn * seconds);
      for (long i = 0; i < n_total; ++i) {
        auto due =
            start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                        (static_cast<double>(i) + static_cast<double>(c) / conns) / per_conn));
        std::this_thread::sleep_until(due);  // pacing of the open-loop schedule
        bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/topics/bench.pin", 11};
        req.set(bhttp::field::host, "127.0.0.1");
        req.set(bhttp::field::content_type, "application/vnd.kafka.json.v2+json");
        req.body() = body;
        req.prepare_payload();
        beast::error_code ec;
        bhttp::write(s, req, ec);
        bhttp::response<bhttp::string_body> res;
        if (!ec) bhttp::read(s, buf, res, ec);
        if (ec || res.result_int() != 200) {
          ++errors[static_cast<std::size_t>(c)];
          continue;
        }
        lat[static_cast<std::size_t>(c)].push_back(
            std::chrono::duration<double>(Clock::now() - due).count());
      }
    });
  }
  for (auto& t : ts) t.join();
  std::vector<double> all;
  int err = 0;
  for (std::size_t c = 0; c < lat.size(); ++c) {
    all.insert(all.end(), lat[c].begin(), lat[c].end());
    err += errors[c];
  }
  std::sort(all.begin(), all.end());
  auto q = [&](double p) {
    return all.empty()
               ? 0.0
               : all[std::min(all.size() - 1,
                              static_cast<std::size_t>(p * static_cast<double>(all.size())))];
  };
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("http_load: %zu answered, %d errors, %.0f req/s achieved\n", all.size(), err,
              static_cast<double>(all.size()) / elapsed);
  pinstream::bench::Report("ack_latency_rate_req_per_s", static_cast<double>(all.size()) / elapsed,
                           "req/s");
  pinstream::bench::Report("ack_latency_p50_ms", q(0.50) * 1e3, "ms");
  pinstream::bench::Report("ack_latency_p99_ms", q(0.99) * 1e3, "ms");
  pinstream::bench::Report("ack_latency_p999_ms", q(0.999) * 1e3, "ms");
  return err > 0 ? 1 : 0;
}
