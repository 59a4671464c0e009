#include "app/console.h"

#include <nlohmann/json.hpp>

namespace pinstream::app {

using connectors::http::ApiResponse;

namespace {

const char* ContentType(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// Whether an Accept-Encoding value allows gzip (not "gzip;q=0").
bool AcceptsGzip(std::string_view accept) {
  std::size_t at = accept.find("gzip");
  if (at == std::string_view::npos) return false;
  std::string_view rest = accept.substr(at + 4, 8);
  return rest.find("q=0") == std::string_view::npos || rest.find("q=0.") != std::string_view::npos;
}

}  // namespace

ApiResponse ConsoleAsset(std::string_view name, std::string_view if_none_match,
                         std::string_view accept_encoding) {
  for (const EmbeddedFile& f : ConsoleFiles()) {
    if (f.name != name) continue;
    ApiResponse r;
    r.headers = {{"ETag", std::string(f.etag)},
                 {"Cache-Control", "no-cache"},
                 {"Vary", "Accept-Encoding"},
                 {"X-Content-Type-Options", "nosniff"}};
    if (name == "index.html") {
      r.headers.push_back(
          {"Content-Security-Policy",
           "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
           "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"});
      r.headers.push_back({"X-Frame-Options", "DENY"});
      r.headers.push_back({"Referrer-Policy", "no-referrer"});
    }
    if (!if_none_match.empty() && if_none_match.find(f.etag) != std::string_view::npos) {
      r.status = 304;
      r.content_type = ContentType(name);
      return r;
    }
    r.status = 200;
    r.content_type = ContentType(name);
    if (AcceptsGzip(accept_encoding)) {
      r.body.assign(reinterpret_cast<const char*>(f.gzip), f.gzip_size);
      r.headers.push_back({"Content-Encoding", "gzip"});
    } else {
      r.body.assign(reinterpret_cast<const char*>(f.data), f.size);
    }
    return r;
  }
  return connectors::http::JsonResponse(
      404, nlohmann::json{{"error", "no console file '" + std::string(name) + "'"}}.dump());
}

}  // namespace pinstream::app
