// libFuzzer target for the HTTP request-body parsers (connectors/http/request_parsers.h): every
// input must come back as records or a classified BodyError — never a crash, hang, leak or
// undefined behaviour (built with AddressSanitizer and UBSan). The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "connectors/http/request_parsers.h"

using namespace pinstream::connectors::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  ParseLimits limits;
  limits.max_record_bytes = 4096;
  ParseResult r;
  switch (data[0] % 6) {
    case 0:
      r = ParseRestProduce(body, RestEmbeddedFormat::kJson, limits);
      break;
    case 1:
      r = ParseRestProduce(body, RestEmbeddedFormat::kBinary, limits);
      break;
    case 2:
      r = ParseGatewayPutRecord(body, limits);
      break;
    case 3:
      r = ParseGatewayPutRecords(body, limits);
      break;
    case 4:
      r = ParseNativePutRecord(body, limits);
      break;
    default:
      r = ParseNativePutRecords(body, limits);
      break;
  }
  if (auto* ok = std::get_if<ParsedRecords>(&r)) {
    // Invariants of a successful parse.
    if (ok->records.empty()) __builtin_trap();
    for (const auto& rec : ok->records) {
      if (rec.value.size() + rec.key.size() > static_cast<std::size_t>(limits.max_record_bytes))
        __builtin_trap();
    }
  } else if (std::get<BodyError>(r).message.empty()) {
    __builtin_trap();
  }
  return 0;
}
