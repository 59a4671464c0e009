// The web console's files, built into the binary: app/console/ (index.html, console.css,
// console.js) and the chart library dygraphs as Debian's libjs-dygraphs installs it, embedded
// by app/console/embed_assets.cmake at build time (raw and gzip-compressed). AdminApi serves
// them at "/" (index.html) and "/console/<name>" without authentication — they hold no data;
// the page reads the JSON endpoints with the token it asks for.
//
// Responses carry an ETag (the file's SHA-1) and `Cache-Control: no-cache`, so a browser
// revalidates and gets 304 for an unchanged file; the gzip form goes to clients that accept it.
// The page's Content-Security-Policy allows scripts, styles and connections to this origin only.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "connectors/http/api.h"

namespace pinstream::app {

struct EmbeddedFile {
  std::string_view name;  // "index.html", "dygraph.min.js", ...
  std::string_view etag;  // quoted SHA-1 of the contents
  const unsigned char* data;
  std::size_t size;
  const unsigned char* gzip;  // the same, gzip-compressed
  std::size_t gzip_size;
};

// Every embedded file (console_assets.cc, generated).
std::span<const EmbeddedFile> ConsoleFiles();

// The answer to GET of console file `name`: 200 with the file (gzip-encoded when
// `accept_encoding` allows it), 304 when `if_none_match` names its ETag, 404 when there is no
// such file.
connectors::http::ApiResponse ConsoleAsset(std::string_view name, std::string_view if_none_match,
                                           std::string_view accept_encoding);

}  // namespace pinstream::app
