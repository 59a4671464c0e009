// The HTTP listener on a loopback port, spoken to with raw bytes: keep-alive and pipelining,
// limits, malformed requests, HEAD, Expect: 100-continue, drain.
#include "connectors/http/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "state/source_log.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::connectors::http {
namespace {

// One client connection: blocking, with a 10 s receive timeout (a test fails, never hangs).
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Connection() { ::close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& bytes) {
    std::size_t at = 0;
    while (at < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return;
      at += static_cast<std::size_t>(n);
    }
  }
  struct Response {
    int status = 0;
    std::string head;  // status line and headers
    std::string body;
    std::string Header(const std::string& name) const {
      auto at = head.find("\r\n" + name + ": ");
      if (at == std::string::npos) return "";
      at += name.size() + 4;
      return head.substr(at, head.find("\r\n", at) - at);
    }
  };
  // The next response; `head_only` for the answer to HEAD (no body follows its Content-Length).
  std::optional<Response> Read(bool head_only = false) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    Response r;
    r.head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    r.status = std::stoi(r.head.substr(9, 3));
    std::string cl = r.Header("Content-Length");
    std::size_t length = head_only || cl.empty() ? 0 : std::stoul(cl);
    while (buf_.size() < length) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }
  // True when the server closed the connection (and sent nothing more).
  bool ClosedByServer() { return buf_.empty() && !Fill(); }

 private:
  bool Fill() {
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string Post(const std::string& path, const std::string& body,
                 const std::string& extra_headers = "") {
  return "POST " + path +
         " HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.json.v2+json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state::StoreOptions o;
    o.data_dir = dir_.path();
    store_ = std::move(state::Store::Open(o)).value();
    log_ = std::move(state::SourceLog::Open(store_.get(), {})).value();
    cfg_.port = 0;  // any free port
    cfg_.max_body_bytes = 1000;
    cfg_.topics = {{"t", 1}};
    api_ = std::make_unique<Api>(cfg_, log_.get());
    ASSERT_TRUE(api_->DeclareStreams().ok());
    api_->AddRoute(
        {"health", "admin", true, [](const ApiRequest&, const PathSegments&, Respond respond) {
           respond(JsonResponse(200, R"({"status":"UP"})"));
         }});
    server_ = std::make_unique<HttpServer>(cfg_, api_.get());
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    server_->StopAccepting();
    server_->Stop();
    log_->Shutdown();
  }
  static constexpr const char* kRecord = R"({"records":[{"value":{"a":1}}]})";

  pinstream::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<state::SourceLog> log_;
  HttpConfig cfg_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, PipelinedRequestsOnOneConnectionAreAnsweredInOrder) {
  ASSERT_GT(server_->port(), 0);
  Connection c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + Post("/topics/t", kRecord) +
         Post("/topics/t", kRecord));
  auto health = c.Read();
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, R"({"status":"UP"})");
  EXPECT_EQ(health->Header("Server"), "pinstream");
  EXPECT_NE(health->Header("Date").find("GMT"), std::string::npos) << health->head;
  for (int offset : {0, 1}) {
    auto produced = c.Read();
    ASSERT_TRUE(produced);
    EXPECT_EQ(produced->status, 200) << produced->body;
    EXPECT_EQ(nlohmann::json::parse(produced->body)["offsets"][0]["offset"], offset);
  }
}

TEST_F(HttpServerTest, ABodyOverTheLimitIs413InTheApisShapeAndTheConnectionCloses) {
  Connection c(server_->port());
  c.Send(Post("/topics/t", std::string(2000, ' ')));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(nlohmann::json::parse(r->body)["error_code"], 413);  // the REST Proxy's shape
  EXPECT_TRUE(c.ClosedByServer());
}

TEST_F(HttpServerTest, AMalformedRequestIs400AndTheConnectionCloses) {
  Connection c(server_->port());
  c.Send("THIS IS NOT HTTP\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("malformed HTTP request"), std::string::npos) << r->body;
  EXPECT_TRUE(c.ClosedByServer());
}

TEST_F(HttpServerTest, HeadIsAnsweredAsGetWithoutTheBody) {
  Connection c(server_->port());
  c.Send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = c.Read(/*head_only=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("Content-Length"),
            std::to_string(std::string(R"({"status":"UP"})").size()));
  auto get = c.Read();  // follows at once: HEAD's answer carried no body
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, R"({"status":"UP"})");
}

TEST_F(HttpServerTest, ExpectContinueIsAnsweredOnceTheHeaderIsAcceptable) {
  Connection c(server_->port());
  std::string body = kRecord;
  c.Send(
      "POST /topics/t HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.json.v2+json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  auto go_on = c.Read(/*head_only=*/true);
  ASSERT_TRUE(go_on);
  EXPECT_EQ(go_on->status, 100);
  c.Send(body);
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(HttpServerTest, DrainClosesIdleConnectionsAndRefusesNewOnes) {
  Connection idle(server_->port());
  ASSERT_TRUE(idle.connected());
  idle.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(idle.Read());  // the connection is open and idle now
  server_->StopAccepting();
  EXPECT_TRUE(idle.ClosedByServer());
  // The listener closes (asynchronously, on its I/O thread): new connections are refused.
  int port = server_->port();
  EXPECT_TRUE(pinstream::testing::WaitFor([port] { return !Connection(port).connected(); }));
}

}  // namespace
}  // namespace pinstream::connectors::http
