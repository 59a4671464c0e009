#include "connectors/http/http_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/bytes.h"
#include "engine/thread_name.h"

namespace pinstream::connectors::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t kHeaderLimit = 64 * 1024;

// Error bodies for failures found before a request reaches the API (size limits, timeouts,
// malformed HTTP), in the shape of the API its path belongs to.
ApiResponse TransportError(std::string_view target, bool amz, int status,
                           const std::string& message) {
  ApiResponse r;
  r.status = status;
  if (target.rfind("/topics", 0) == 0) {
    r.content_type = "application/vnd.kafka.v2+json";
    r.body =
        nlohmann::json{{"error_code", status}, {"message", message}}.dump(-1, ' ', false, kReplace);
  } else if (target.rfind("/streams", 0) == 0 || amz) {
    r.content_type = amz ? "application/x-amz-json-1.1" : "application/json";
    const char* type = status == 413
                           ? "ValidationException"
                           : (status == 408 ? "RequestTimeout" : "SerializationException");
    r.body = nlohmann::json{{"__type", type}, {"message", message}}.dump(-1, ' ', false, kReplace);
  } else {
    r.body = nlohmann::json{{"error", message}}.dump(-1, ' ', false, kReplace);
  }
  return r;
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Deadlines are not Asio timers (arming and cancelling 3–4 timers per request showed in
// profiles): each session publishes the time by which its current read or write must finish,
// and the server's sweeper (every 100 ms) cancels the sessions that are late.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void CloseIfIdle() = 0;
  virtual void OnDeadline() = 0;
  std::atomic<std::int64_t> deadline_ns{0};  // 0: none (e.g. waiting for a durable write)
};

}  // namespace

struct HttpServer::Listener {
  HttpConfig cfg;
  Api* api;
  // One io_context per I/O thread (Asio's io_context-per-core design): a connection lives on
  // one thread, so it needs no strand and the threads share no scheduler lock. Connections are
  // spread round robin; the acceptor and the sweeper live on the first context.
  std::vector<std::unique_ptr<net::io_context>> iocs;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::size_t next_ioc = 0;
  std::unique_ptr<net::ssl::context> ssl;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> draining{false};
  std::atomic<int> active{0};  // sessions alive
  std::mutex sessions_mu;
  std::list<std::weak_ptr<SessionBase>> sessions;
  int bound_port = 0;
  std::unique_ptr<net::steady_timer> sweeper;

  Listener(const HttpConfig& c, Api* a) : cfg(c), api(a) {}
  void Accept();
  void Sweep() {
    sweeper->expires_after(std::chrono::milliseconds(100));
    sweeper->async_wait([this](beast::error_code ec) {
      if (ec) return;
      std::int64_t now = NowNs();
      {
        std::lock_guard lock(sessions_mu);
        for (auto it = sessions.begin(); it != sessions.end();) {
          auto s = it->lock();
          if (!s) {
            it = sessions.erase(it);
            continue;
          }
          std::int64_t d = s->deadline_ns.load(std::memory_order_relaxed);
          if (d != 0 && now > d) s->OnDeadline();
          ++it;
        }
      }
      Sweep();
    });
  }
  void Track(const std::shared_ptr<SessionBase>& s) {
    std::lock_guard lock(sessions_mu);
    for (auto it = sessions.begin(); it != sessions.end();)
      it = it->expired() ? sessions.erase(it) : std::next(it);
    sessions.push_back(s);
  }
};

namespace {

// The Date header's value (RFC 9110 IMF-fixdate, which every 2xx–4xx answer must carry),
// formatted once per second per I/O thread.
std::string_view HttpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local std::time_t formatted = -1;
  thread_local char buf[32];
  thread_local std::size_t len = 0;
  std::time_t now = std::time(nullptr);
  if (now != formatted) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = static_cast<std::size_t>(std::snprintf(
        buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
        kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec));
    formatted = now;
  }
  return {buf, len};
}

// The parts of one request, kept in buffers a connection reuses from request to request: the
// start line and fields back to back in `head`, the body in `body`. Once they have grown to its
// requests' size, a keep-alive connection parses every further request without allocating.
class RequestParts {
 public:
  struct Span {
    std::uint32_t at = 0, len = 0;
  };
  void Clear() {
    head_.clear();
    fields_.clear();
    body.clear();
    verb = bhttp::verb::unknown;
    version = 11;
    method = target = {};
  }
  Span Keep(std::string_view s) {
    Span span{static_cast<std::uint32_t>(head_.size()), static_cast<std::uint32_t>(s.size())};
    head_.append(s.data(), s.size());
    return span;
  }
  void AddField(std::string_view name, std::string_view value) {
    fields_.push_back({Keep(name), Keep(value)});
  }
  std::string_view View(Span s) const { return {head_.data() + s.at, s.len}; }
  // The first field called `name` (case-insensitively).
  std::optional<std::string_view> Field(std::string_view name) const {
    for (const auto& [n, v] : fields_) {
      if (EqualsIgnoreCase(View(n), name)) return View(v);
    }
    return std::nullopt;
  }
  std::size_t fields() const { return fields_.size(); }
  std::string_view FieldName(std::size_t i) const { return View(fields_[i].first); }
  std::string_view FieldValue(std::size_t i) const { return View(fields_[i].second); }

  bhttp::verb verb = bhttp::verb::unknown;
  unsigned version = 11;
  Span method, target;
  std::string body;

 private:
  std::string head_;
  std::vector<std::pair<Span, Span>> fields_;
};

// Beast's HTTP/1 parser (basic_parser: framing, limits, chunked bodies, keep-alive rules) with
// the parts stored into a connection's RequestParts instead of a message of its own, whose
// fields and body would be allocated anew for every request.
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  explicit RequestParser(RequestParts* parts) : parts_(parts) { parts_->Clear(); }

 private:
  void on_request_impl(bhttp::verb method, beast::string_view method_str, beast::string_view target,
                       int version, beast::error_code&) override {
    parts_->verb = method;
    parts_->version = static_cast<unsigned>(version);
    parts_->method = parts_->Keep({method_str.data(), method_str.size()});
    parts_->target = parts_->Keep({target.data(), target.size()});
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = bhttp::error::bad_version;  // a request parser never sees a status line
  }
  void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    parts_->AddField({name.data(), name.size()}, {value.data(), value.size()});
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    if (length) parts_->body.reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    parts_->body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    parts_->body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  RequestParts* parts_;
};

// A connection's socket, bound to its I/O thread's io_context by type: no type-erased executor
// to copy on every operation, and no beast::tcp_stream layer (its timeouts are unused here: one
// sweeper checks every session's deadline).
using Socket = tcp::socket::rebind_executor<net::io_context::executor_type>::other;

// One connection. `Stream` is Socket or beast::ssl_stream<Socket>.
template <typename Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Listener* srv, Stream stream) : srv_(srv), stream_(std::move(stream)) {
    srv_->active.fetch_add(1);
  }
  ~Session() override { srv_->active.fetch_sub(1); }

  void Run() {
    if constexpr (std::is_same_v<Stream, Socket>) {
      WaitForRequest();
    } else {
      SetDeadline(srv_->api->settings().request_timeout_us);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return;  // bad TLS client: drop the connection
                                self->WaitForRequest();
                              });
    }
  }

  void CloseIfIdle() override {
    net::post(Tcp().get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) self->Cancel();
    });
  }

  void OnDeadline() override {
    net::post(Tcp().get_executor(), [self = this->shared_from_this()] {
      std::int64_t d = self->deadline_ns.load();
      if (d == 0 || NowNs() <= d) return;  // moved on since the sweeper looked
      self->timed_out_ = self->reading_request_;
      self->Cancel();
    });
  }

 private:
  Socket& Tcp() {
    if constexpr (std::is_same_v<Stream, Socket>) {
      return stream_;
    } else {
      return beast::get_lowest_layer(stream_);
    }
  }

  void SetDeadline(std::int64_t micros) {
    deadline_ns.store(NowNs() + micros * 1000, std::memory_order_relaxed);
  }
  void Cancel() {
    beast::error_code ignored;
    Tcp().cancel(ignored);
  }

  // Between requests: wait (idle_timeout) for the first byte of the next one.
  void WaitForRequest() {
    if (srv_->draining.load()) return Close();
    if (buffer_.size() > 0) return ReadRequest();
    idle_ = true;
    reading_request_ = false;
    SetDeadline(srv_->api->settings().idle_timeout_us);
    stream_.async_read_some(buffer_.prepare(16 * 1024),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->idle_ = false;
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadRequest();
                            });
  }

  // The whole request must arrive within request_timeout. When the deadline passes the read is
  // cancelled (not the socket closed), so that the slow client is told 408 before it closes.
  void ReadRequest() {
    parser_.emplace(&parts_);
    parser_->body_limit(static_cast<std::uint64_t>(srv_->api->settings().max_body_bytes));
    parser_->header_limit(kHeaderLimit);
    timed_out_ = false;
    reading_request_ = true;
    SetDeadline(srv_->api->settings().request_timeout_us);
    target_.clear();
    amz_ = false;
    header_seen_ = false;
    ParseBuffered();
  }

  // Parses what is buffered and reads more only when the parser needs it — what Beast's
  // async_read does, without its completion being posted back to the I/O thread when the bytes
  // are already here (a request usually arrives in the read that saw its first byte).
  void ParseBuffered() {
    for (;;) {
      beast::error_code ec;
      if (!parser_->is_done()) {
        std::size_t used = 0;
        if (buffer_.size() > 0) {
          used = parser_->put(buffer_.data(), ec);
          buffer_.consume(used);
        }
        // Nothing buffered, or nothing the parser could use without more bytes.
        if (used == 0 && !ec && !parser_->is_done()) ec = bhttp::error::need_more;
      }
      // The header first, to know the API (for error shapes) before the body is parsed. The start
      // line may be parsed even though the header failed (e.g. a Content-Length over body_limit
      // is refused while the fields are parsed): keep its target for the error shape then too.
      if (!header_seen_ && (parser_->is_header_done() || (ec && ec != bhttp::error::need_more))) {
        header_seen_ = parser_->is_header_done();
        target_ = parts_.View(parts_.target);
        amz_ = parts_.Field("x-amz-target").has_value();
        if (header_seen_) parser_->eager(true);  // the body in as few put() calls as it arrives in
        if (!ec && header_seen_ && buffer_.size() == 0 && !parser_->is_done() &&
            ExpectsContinue()) {
          return SendContinue();  // (a client that sent the body anyway gets no 100)
        }
        if (!ec) continue;
      }
      if (ec == bhttp::error::need_more) return ReadMore();
      if (ec || parser_->is_done()) return OnRead(ec);
    }
  }

  // "Expect: 100-continue" (curl sends it with bodies over 1 MiB, and then waits a second for
  // the answer): the header is acceptable — limits are checked as it is parsed — so say so, then
  // read the body. An HTTP/1.0 client cannot ask for it.
  bool ExpectsContinue() const {
    auto expect = parts_.Field("expect");
    return expect && parts_.version >= 11 && EqualsIgnoreCase(*expect, "100-continue");
  }

  void SendContinue() {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->Close();
                       self->ParseBuffered();
                     });
  }

  void ReadMore() {
    std::size_t size = beast::read_size(buffer_, 64 * 1024);
    if (size == 0) return OnRead(beast::http::error::buffer_overflow);
    stream_.async_read_some(buffer_.prepare(size),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->OnReadMore(ec, n);
                            });
  }

  void OnReadMore(beast::error_code ec, std::size_t n) {
    if (timed_out_) return OnRead(beast::error::timeout);
    if (ec == net::error::eof) {
      // The peer closed: between messages that ends the connection; inside one the parser
      // decides (a body that runs to the end of the stream is complete, anything else is not).
      if (!parser_->got_some()) return OnRead(bhttp::error::end_of_stream);
      ec = {};
      parser_->put_eof(ec);
      if (!ec && !parser_->is_done()) ec = bhttp::error::partial_message;
      return OnRead(ec);
    }
    if (ec) return OnRead(ec);
    buffer_.commit(n);
    ParseBuffered();
  }

  void OnRead(beast::error_code ec) {
    reading_request_ = false;
    deadline_ns.store(0, std::memory_order_relaxed);
    if (ec == bhttp::error::end_of_stream || ec == net::error::connection_reset ||
        ec == net::error::eof)
      return Close();
    if (ec) {
      std::string_view target = target_;
      bool amz = amz_;
      if (ec == beast::error::timeout) {
        return SendAndClose(
            TransportError(target, amz, 408,
                           fmt::format("the request did not arrive within {}s",
                                       srv_->api->settings().request_timeout_us / 1000000)));
      }
      if (ec == bhttp::error::body_limit) {
        return SendAndClose(
            TransportError(target, amz, 413,
                           fmt::format("the request body is larger than max_body_size ({} bytes)",
                                       srv_->api->settings().max_body_bytes)));
      }
      if (ec == bhttp::error::header_limit)
        return SendAndClose(TransportError(target, amz, 431, "request headers are too large"));
      return SendAndClose(
          TransportError(target, amz, 400, "malformed HTTP request: " + ec.message()));
    }
    keep_alive_ = parser_->keep_alive();
    ApiRequest ar;
    ar.method = parts_.View(parts_.method);
    // HEAD is GET without the body (the answer keeps GET's headers and Content-Length).
    head_ = parts_.verb == bhttp::verb::head;
    if (head_) ar.method = "GET";
    std::string_view target = parts_.View(parts_.target);
    std::size_t q = target.find('?');
    std::string_view raw_path = target.substr(0, q);
    ar.raw_path = raw_path;
    if (raw_path.find('%') == std::string_view::npos) {
      ar.path = raw_path;
    } else {
      if (!DecodePath(raw_path, &path_)) {
        return SendAndClose(
            TransportError(target, false, 400, "malformed percent-encoding in the path"));
      }
      ar.path = path_;
    }
    if (q != std::string_view::npos) ar.query = target.substr(q + 1);
    headers_.clear();
    for (std::size_t i = 0; i < parts_.fields(); ++i)
      headers_.push_back(ApiHeader{parts_.FieldName(i), parts_.FieldValue(i)});
    ar.headers = headers_;
    ar.body = parts_.body;
    version_ = parts_.version;  // no deadline while the answer waits for a durable write
    // The API answers exactly once, now or later from another thread (the source log thread for
    // produce requests); until then `answering_` keeps the session alive. The callback holds a
    // plain pointer, which std::function stores without allocating.
    answering_ = this->shared_from_this();
    srv_->api->Handle(ar, [session = this](ApiResponse resp) {
      auto self = std::move(session->answering_);
      net::post(self->Tcp().get_executor(),
                [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp), false); });
    });
  }

  void SendAndClose(ApiResponse r) {
    keep_alive_ = false;
    Write(std::move(r), true);
  }

  // The response as the bytes Beast's serializer wrote for it (status line, Server, Content-Type,
  // the API's own headers, Connection when it differs from the version's default,
  // Content-Length, body) plus the Date header, composed into one buffer the session reuses: the
  // serializer's buffer-sequence machinery cost ~7 % of an I/O thread per one-record request.
  void Write(ApiResponse r, bool close) {
    bool keep = keep_alive_ && !close && !srv_->draining.load();
    unsigned version = version_ ? version_ : 11;
    auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    // Appended piece by piece: fmt's runtime format parsing was ~1 % of the server's CPU here.
    out_.assign("HTTP/");
    out_ += static_cast<char>('0' + version / 10 % 10);
    out_ += '.';
    out_ += static_cast<char>('0' + version % 10);
    out_ += ' ';
    AppendDecimal(&out_, r.status);
    out_ += ' ';
    out_.append(reason.data(), reason.size());
    out_ += "\r\nServer: pinstream\r\nDate: ";
    out_ += HttpDate();
    out_ += "\r\nContent-Type: ";
    out_ += r.content_type;
    out_ += "\r\n";
    for (const auto& [k, v] : r.headers) {
      out_ += k;
      out_ += ": ";
      out_ += v;
      out_ += "\r\n";
    }
    if (version >= 11 && !keep) out_ += "Connection: close\r\n";
    if (version < 11 && keep) out_ += "Connection: keep-alive\r\n";
    out_ += "Content-Length: ";
    AppendDecimal(&out_, r.body.size());
    out_ += "\r\n\r\n";
    if (!head_) out_ += r.body;
    head_ = false;
    SetDeadline(srv_->api->settings().request_timeout_us);
    net::async_write(stream_, net::buffer(out_),
                     [self = this->shared_from_this(), keep](beast::error_code ec, std::size_t) {
                       if (ec || !keep) return self->Close();
                       self->WaitForRequest();
                     });
  }

  void Close() {
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, Socket>) {
      stream_.shutdown(tcp::socket::shutdown_send, ec);
    } else {
      SetDeadline(1'000'000);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    }
  }

  HttpServer::Listener* srv_;
  Stream stream_;
  beast::flat_buffer buffer_;
  RequestParts parts_;  // of the request being read or answered (the API reads views into it)
  std::optional<RequestParser> parser_;
  std::string path_;  // the decoded path, when the target has percent-escapes
  std::vector<ApiHeader> headers_;
  std::shared_ptr<Session> answering_;  // this session, while the API has yet to answer
  bool timed_out_ = false;
  bool reading_request_ = false;
  std::string target_;  // of the request being read, once its header is in
  bool amz_ = false;
  bool header_seen_ = false;
  bool head_ = false;  // the request being answered is a HEAD
  // The response being written; one at a time: the next request is read after it is written.
  std::string out_;
  bool keep_alive_ = true;
  bool idle_ = false;
  unsigned version_ = 11;
};

}  // namespace

void HttpServer::Listener::Accept() {
  net::io_context& target = *iocs[next_ioc++ % iocs.size()];
  acceptor->async_accept(target, [this, &target](beast::error_code ec, Socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      spdlog::warn("HTTP accept failed: {}", ec.message());
    } else if (!draining.load()) {
      socket.set_option(tcp::no_delay(true), ec);
      if (ssl) {
        auto s = std::make_shared<Session<beast::ssl_stream<Socket>>>(
            this, beast::ssl_stream<Socket>(std::move(socket), *ssl));
        Track(s);
        net::post(target, [s] { s->Run(); });  // on the connection's thread
      } else {
        auto s = std::make_shared<Session<Socket>>(this, std::move(socket));
        Track(s);
        net::post(target, [s] { s->Run(); });
      }
    }
    if (acceptor->is_open()) Accept();
  });
}

HttpServer::HttpServer(const HttpConfig& config, Api* api)
    : listener_(std::make_unique<Listener>(config, api)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  Listener& m = *listener_;
  beast::error_code ec;
  if (!m.cfg.tls_cert_file.empty()) {
    m.ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    m.ssl->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1);
    m.ssl->use_certificate_chain_file(m.cfg.tls_cert_file, ec);
    if (ec)
      return InvalidArgument(
          fmt::format("TLS certificate '{}': {}", m.cfg.tls_cert_file, ec.message()));
    m.ssl->use_private_key_file(m.cfg.tls_key_file, net::ssl::context::pem, ec);
    if (ec)
      return InvalidArgument(fmt::format("TLS key '{}': {}", m.cfg.tls_key_file, ec.message()));
  }
  auto addr = net::ip::make_address(m.cfg.host, ec);
  if (ec) return InvalidArgument(fmt::format("http.listen: '{}' is not an IP address", m.cfg.host));
  tcp::endpoint ep(addr, static_cast<unsigned short>(m.cfg.port));
  int threads = std::max(1, m.cfg.io_threads);
  for (int i = 0; i < threads; ++i) m.iocs.push_back(std::make_unique<net::io_context>(1));
  m.acceptor = std::make_unique<tcp::acceptor>(*m.iocs[0]);
  m.acceptor->open(ep.protocol(), ec);
  if (!ec) m.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) m.acceptor->bind(ep, ec);
  if (!ec) m.acceptor->listen(1024, ec);
  if (ec) {
    return Unavailable(fmt::format(
        "cannot listen on {}:{}: {}{}", m.cfg.host, m.cfg.port, ec.message(),
        ec == net::error::address_in_use ? " (another process uses the port; change http.listen)"
                                         : ""));
  }
  m.bound_port = m.acceptor->local_endpoint().port();
  for (auto& ioc : m.iocs) m.work.push_back(net::make_work_guard(*ioc));
  m.sweeper = std::make_unique<net::steady_timer>(*m.iocs[0]);
  m.Sweep();
  m.Accept();
  for (std::size_t i = 0; i < m.iocs.size(); ++i) {
    m.threads.emplace_back([io = m.iocs[i].get(), i] {
      SetThreadName(fmt::format("http-io-{}", i));
      io->run();
    });
  }
  spdlog::info("HTTP server listening on {}{}:{} ({} I/O threads)", m.ssl ? "https://" : "http://",
               m.cfg.host, m.bound_port, m.cfg.io_threads);
  return Status::Ok();
}

int HttpServer::port() const { return listener_->bound_port; }

void HttpServer::StopAccepting() {
  Listener& m = *listener_;
  if (!m.acceptor || m.draining.exchange(true)) return;
  net::post(*m.iocs[0], [&m] {
    beast::error_code ec;
    m.acceptor->close(ec);
  });
  {
    std::lock_guard lock(m.sessions_mu);
    for (auto& w : m.sessions) {
      if (auto s = w.lock()) s->CloseIfIdle();
    }
  }
  // Requests in flight are answered; wait for their sessions to end (bounded).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (m.active.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (m.active.load() > 0)
    spdlog::warn("HTTP drain: {} connections still open after 10s; closing them", m.active.load());
}

void HttpServer::Stop() {
  Listener& m = *listener_;
  if (m.threads.empty()) return;
  m.work.clear();
  for (auto& ioc : m.iocs) ioc->stop();
  for (auto& t : m.threads) {
    if (t.joinable()) t.join();
  }
  m.threads.clear();
}

}  // namespace pinstream::connectors::http
