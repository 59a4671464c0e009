// The daemon's HTTP listener (HttpServer over the real Api: REST Proxy, Kinesis native and
// gateway, a /health route) on a loopback port, for the HTTP fuzz targets: Exchange() sends one
// input's bytes on a fresh connection, half-closes it and reads every byte the server answers
// until it closes. Small limits (body 4096 bytes, record 1024) so that the fuzzer reaches them.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "connectors/http/api.h"
#include "connectors/http/http_server.h"
#include "state/source_log.h"
#include "state/store.h"

namespace pinstream::fuzz {

inline void Require(bool ok) {
  if (!ok) __builtin_trap();
}

class HttpFuzzServer {
 public:
  HttpFuzzServer() {
    // OpenSSL's one-time initialisation keeps the initialising thread's error state until exit:
    // done here, on the main thread, it is not left behind by an I/O thread that ends before
    // LeakSanitizer looks (the first MD5 of the Kinesis partitioner would run it there).
    Require(OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr) == 1);
    char tmpl[] = "/tmp/pinstream-httpfuzz-XXXXXX";
    Require(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    state::StoreOptions o;
    o.data_dir = dir_;
    store_ = std::move(state::Store::Open(o)).value();
    log_ = std::move(state::SourceLog::Open(store_.get(), {})).value();
    cfg_.port = 0;
    cfg_.max_body_bytes = 4096;
    cfg_.max_record_bytes = 1024;
    cfg_.topics = {{"t", 2}};
    cfg_.streams = {{"s", 2}};
    api_ = std::make_unique<connectors::http::Api>(cfg_, log_.get());
    Require(api_->DeclareStreams().ok());
    api_->AddRoute({"health", "admin", true,
                    [](const connectors::http::ApiRequest&, const connectors::http::PathSegments&,
                       connectors::http::Respond respond) {
                      respond(connectors::http::JsonResponse(200, R"({"status":"UP"})"));
                    }});
    server_ = std::make_unique<connectors::http::HttpServer>(cfg_, api_.get());
    Require(server_->Start().ok());
  }
  ~HttpFuzzServer() {
    server_->StopAccepting();
    server_->Stop();
    log_->Shutdown();
    server_.reset();
    api_.reset();
    log_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Everything the server answers to `bytes` (then end of input) until it closes the connection;
  // nullopt when it neither answers nor closes within 10 s (a hang).
  std::optional<std::string> Exchange(const std::string& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    Require(fd >= 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(server_->port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // libFuzzer's -timeout arms a SIGALRM every timeout/2+1 s; its handler interrupts these
    // calls (a socket with SO_RCVTIMEO/SO_SNDTIMEO is never restarted), so EINTR is retried —
    // an interrupted connect() goes on in the background: wait for it to finish.
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      Require(errno == EINTR);
      pollfd p{fd, POLLOUT, 0};
      int r;
      while ((r = ::poll(&p, 1, 10'000)) < 0 && errno == EINTR) {
      }
      int err = 0;
      socklen_t len = sizeof err;
      Require(r == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);
    }
    std::size_t at = 0;
    while (at < bytes.size()) {  // the server may close early (a refused request): stop there
      ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string out;
    char buf[8192];
    std::optional<std::string> result;
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || errno == ECONNRESET) result = std::move(out);
      break;  // n < 0 otherwise: the receive timeout
    }
    ::close(fd);
    return result;
  }

  // The status of the first response in `out` (0 when it does not start with a status line;
  // an HTTP/1.0 request is answered in HTTP/1.0).
  static int FirstStatus(const std::string& out) {
    if (out.size() < 12 ||
        (out.compare(0, 9, "HTTP/1.1 ") != 0 && out.compare(0, 9, "HTTP/1.0 ") != 0))
      return 0;
    int s = 0;
    for (int i = 9; i < 12; ++i) {
      if (out[i] < '0' || out[i] > '9') return 0;
      s = s * 10 + (out[i] - '0');
    }
    return s;
  }

 private:
  std::string dir_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<state::SourceLog> log_;
  connectors::http::HttpConfig cfg_;
  std::unique_ptr<connectors::http::Api> api_;
  std::unique_ptr<connectors::http::HttpServer> server_;
};

}  // namespace pinstream::fuzz
