// HttpServer: the Boost.Beast (Asio) server that carries the ingest and admin APIs (api.h).
//
// * `io_threads` threads, each running its own io_context (Asio's io_context-per-core design:
//   no scheduler lock shared between threads, no strands); connections are spread over them
//   round robin and stay on one thread. Each connection is handled by a session that reads one
//   request at a time and writes its response before reading the next, so keep-alive and
//   pipelined requests are answered in order.
// * Timeouts: a connection may sit idle between requests for `idle_timeout`; once a request has
//   started it must arrive completely within `request_timeout` (a slowloris client is cut off
//   with 408). Bodies over `max_body_size` get 413, headers over 64 KiB 431, malformed HTTP 400
//   — each in the shape of the API the path belongs to — and the connection is closed.
// * TLS when `tls.cert_file`/`tls.key_file` are set (OpenSSL through Asio).
// * Drain (StopAccepting): the listener closes, idle connections are closed, requests in flight
//   are answered (with `Connection: close`); then Stop() ends the I/O threads.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "connectors/http/api.h"
#include "engine/daemon.h"

namespace pinstream::connectors::http {

class HttpServer : public Service {
 public:
  HttpServer(const HttpConfig& config, Api* api);
  ~HttpServer() override;

  std::string_view name() const override { return "HTTP server"; }
  [[nodiscard]] Status Start() override;
  void SetReady() override { ready_.store(true); }
  void StopAccepting() override;
  void Stop() override;

  bool ready() const { return ready_.load(); }
  // The port actually bound (useful with `listen: 127.0.0.1:0`).
  int port() const;

  struct Listener;  // the I/O threads, acceptor, sessions and sweeper (sessions in the .cc use it)

 private:
  std::unique_ptr<Listener> listener_;
  std::atomic<bool> ready_{false};
};

}  // namespace pinstream::connectors::http
