#include "app/admin_client.h"

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace pinstream::app {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

Result<AdminReply> CallAdmin(const connectors::http::HttpConfig& http, const std::string& method,
                             const std::string& target, std::chrono::seconds timeout,
                             const std::string& json_body) {
  if (!http.tls_cert_file.empty()) {
    return FailedPrecondition(fmt::format(
        "the daemon serves HTTPS on {}:{}; call https://{}:{}{} with curl and its certificate",
        http.host, http.port, http.host, http.port, target));
  }
  // A daemon listening on every interface is reached on loopback.
  std::string host = http.host == "0.0.0.0" || http.host.empty()
                         ? "127.0.0.1"
                         : (http.host == "::" ? "::1" : http.host);
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto endpoints = resolver.resolve(host, std::to_string(http.port), ec);
  if (ec) return Unavailable(fmt::format("cannot resolve {}: {}", host, ec.message()));
  stream.expires_after(timeout);
  stream.connect(endpoints, ec);
  if (ec)
    return Unavailable(
        fmt::format("cannot reach the daemon at {}:{}: {}", host, http.port, ec.message()));
  bhttp::request<bhttp::string_body> req{method == "POST" ? bhttp::verb::post : bhttp::verb::get,
                                         target, 11};
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "pinstream-cli");
  // What the admin API asks of requests that change something (admin_api.h: cross-site).
  req.set("X-Pinstream-Client", "pinstream-cli");
  if (!http.bearer_tokens.empty())
    req.set(bhttp::field::authorization, "Bearer " + http.bearer_tokens.front());
  if (!http.api_keys.empty()) req.set("x-api-key", http.api_keys.front());
  if (!json_body.empty()) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = json_body;
  }
  req.prepare_payload();
  bhttp::write(stream, req, ec);
  if (ec) return Unavailable(fmt::format("sending to the daemon: {}", ec.message()));
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buf, res, ec);
  if (ec) return Unavailable(fmt::format("reading the daemon's answer: {}", ec.message()));
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return AdminReply{static_cast<int>(res.result_int()), std::move(res.body())};
}

Result<AdminReply> CallDaemon(const DaemonConfig& config, const std::string& method,
                              const std::string& target, const std::string& what,
                              std::chrono::seconds timeout, const std::string& json_body) {
  const auto* http = config.Section<connectors::http::HttpConfig>(connectors::http::kHttpSection);
  if (http == nullptr) {
    return FailedPrecondition(fmt::format(
        "a daemon holds the data dir and its config has no `http:` listener to ask it to {}; add "
        "`http:` to the config, or stop the daemon",
        what));
  }
  return CallAdmin(*http, method, target, timeout, json_body);
}

std::string AdminErrorMessage(const AdminReply& reply) {
  std::string msg = reply.body;
  try {
    msg = nlohmann::json::parse(reply.body).value("error", reply.body);
  } catch (const nlohmann::json::exception&) {
    // not a JSON error body: show it as it came
  }
  return fmt::format("{} (HTTP {})", msg, reply.status);
}

}  // namespace pinstream::app
