#include "connectors/http/sigv4.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <utility>

namespace pinstream::connectors::http {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string Hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool Unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// AWS's URI encoding: every byte but the unreserved ones (and '/' when `keep_slash`) as %XX.
void UriEncode(std::string_view s, bool keep_slash, std::string* out) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out->push_back(ch);
    } else {
      out->push_back('%');
      out->push_back(kDigits[c >> 4]);
      out->push_back(kDigits[c & 15]);
    }
  }
}

int HexValue(char h) {
  if (h >= '0' && h <= '9') return h - '0';
  if (h >= 'a' && h <= 'f') return h - 'a' + 10;
  if (h >= 'A' && h <= 'F') return h - 'A' + 10;
  return -1;
}

// %XX escapes decoded; a malformed escape is kept as it is.
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "20150830T123600Z" → microseconds since the epoch.
std::optional<std::int64_t> ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  for (std::size_t i = 0; i < 15; ++i) {
    if (i != 8 && !std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  }
  auto num = [&](std::size_t at, std::size_t len) {
    int v = 0;
    for (std::size_t i = at; i < at + len; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm)) * 1'000'000;
}

std::string FormatAmzDate(std::int64_t us) {
  std::time_t t = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest d{};
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &n, EVP_sha256(), nullptr);
  return d;
}

std::string Sha256Hex(std::string_view data) {
  Sha256Digest d = Sha256(data);
  return Hex(d.data(), d.size());
}

Sha256Digest HmacSha256(std::string_view key, std::string_view data) {
  Sha256Digest d{};
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data(), &n);
  return d;
}

std::string SigV4Authorization::Scope() const {
  return fmt::format("{}/{}/{}/{}", date, region, service, terminator);
}

std::optional<SigV4Authorization> ParseSigV4Authorization(std::string_view header,
                                                          std::string* error) {
  header = Trim(header);
  if (header.rfind(kAlgorithm, 0) != 0 || header.size() == kAlgorithm.size() ||
      header[kAlgorithm.size()] != ' ') {
    *error = fmt::format("the Authorization header must start with '{} '", kAlgorithm);
    return std::nullopt;
  }
  std::string_view rest = header.substr(kAlgorithm.size() + 1);
  std::optional<std::string_view> credential, signed_headers, signature;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view part = Trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = part.substr(0, eq), value = part.substr(eq + 1);
    if (name == "Credential") credential = value;
    if (name == "SignedHeaders") signed_headers = value;
    if (name == "Signature") signature = value;
  }
  std::string missing;
  if (!credential) missing += " Authorization header requires 'Credential' parameter.";
  if (!signed_headers) missing += " Authorization header requires 'SignedHeaders' parameter.";
  if (!signature) missing += " Authorization header requires 'Signature' parameter.";
  if (!missing.empty()) {
    *error = std::string(Trim(missing));
    return std::nullopt;
  }
  SigV4Authorization a;
  // AKID/date/region/service/aws4_request: the last four are fixed, the key id is the rest.
  std::string_view c = *credential;
  std::array<std::string_view, 4> scope;
  for (int i = 3; i >= 0; --i) {
    std::size_t slash = c.rfind('/');
    if (slash == std::string_view::npos) {
      *error = fmt::format(
          "Credential should have 5 parts: AKID/date/region/service/aws4_request, not '{}'",
          *credential);
      return std::nullopt;
    }
    scope[static_cast<std::size_t>(i)] = c.substr(slash + 1);
    c = c.substr(0, slash);
  }
  a.access_key_id = std::string(c);
  a.date = std::string(scope[0]);
  a.region = std::string(scope[1]);
  a.service = std::string(scope[2]);
  a.terminator = std::string(scope[3]);
  std::string_view sh = *signed_headers;
  while (!sh.empty()) {
    std::size_t semi = sh.find(';');
    std::string_view name = sh.substr(0, semi);
    if (!name.empty()) a.signed_headers.push_back(Lower(name));
    sh = semi == std::string_view::npos ? std::string_view() : sh.substr(semi + 1);
  }
  a.signature = std::string(*signature);
  if (a.access_key_id.empty() || a.signed_headers.empty() || a.signature.empty()) {
    *error = "the Authorization header has an empty Credential, SignedHeaders or Signature";
    return std::nullopt;
  }
  return a;
}

std::string SigV4CanonicalUri(std::string_view raw_path) {
  // Dot segments and empty segments (repeated slashes) removed, as AWS normalizes paths for
  // every service but S3.
  std::vector<std::string_view> segments;
  std::string_view p = raw_path;
  while (!p.empty()) {
    std::size_t slash = p.find('/');
    std::string_view seg = p.substr(0, slash);
    p = slash == std::string_view::npos ? std::string_view() : p.substr(slash + 1);
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(seg);
  }
  std::string normalized = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) normalized += '/';
    normalized += segments[i];
  }
  bool trailing = !segments.empty() && !raw_path.empty() && raw_path.back() == '/';
  if (trailing) normalized += '/';
  std::string out;
  UriEncode(normalized, true, &out);
  return out;
}

std::string SigV4CanonicalQuery(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!raw_query.empty()) {
    std::size_t amp = raw_query.find('&');
    std::string_view part = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    std::string name, value;
    UriEncode(PercentDecode(part.substr(0, eq)), false, &name);
    if (eq != std::string_view::npos) UriEncode(PercentDecode(part.substr(eq + 1)), false, &value);
    params.emplace_back(std::move(name), std::move(value));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string SigV4CanonicalRequest(const ApiRequest& request,
                                  const std::vector<std::string>& signed_headers,
                                  std::string_view payload_hash) {
  std::string out(request.method);
  out += '\n';
  out += SigV4CanonicalUri(request.raw_path.empty() ? request.path : request.raw_path);
  out += '\n';
  out += SigV4CanonicalQuery(request.query);
  out += '\n';
  for (const std::string& name : signed_headers) {
    out += name;
    out += ':';
    bool first = true;
    for (const ApiHeader& h : request.headers) {
      if (!EqualsIgnoreCase(h.name, name)) continue;
      if (!first) out += ',';
      first = false;
      // Trimmed, runs of spaces inside the value collapsed to one.
      std::string_view v = Trim(h.value);
      bool space = false;
      for (char c : v) {
        bool is_space = c == ' ' || c == '\t';
        if (is_space && space) continue;
        out += is_space ? ' ' : c;
        space = is_space;
      }
    }
    out += '\n';
  }
  out += '\n';
  for (std::size_t i = 0; i < signed_headers.size(); ++i) {
    if (i > 0) out += ';';
    out += signed_headers[i];
  }
  out += '\n';
  out += payload_hash;
  return out;
}

std::string SigV4StringToSign(std::string_view amz_date, std::string_view scope,
                              std::string_view canonical_request) {
  return fmt::format("{}\n{}\n{}\n{}", kAlgorithm, amz_date, scope, Sha256Hex(canonical_request));
}

Sha256Digest SigV4SigningKey(std::string_view secret, std::string_view date,
                             std::string_view region, std::string_view service) {
  auto view = [](const Sha256Digest& d) {
    return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
  };
  Sha256Digest k = HmacSha256("AWS4" + std::string(secret), date);
  k = HmacSha256(view(k), region);
  k = HmacSha256(view(k), service);
  return HmacSha256(view(k), "aws4_request");
}

std::string SigV4Signature(const Sha256Digest& signing_key, std::string_view string_to_sign) {
  Sha256Digest sig = HmacSha256(
      std::string_view(reinterpret_cast<const char*>(signing_key.data()), signing_key.size()),
      string_to_sign);
  return Hex(sig.data(), sig.size());
}

const char* KinesisErrorType(SigV4Outcome outcome) {
  switch (outcome) {
    case SigV4Outcome::kValid:
      return "";
    case SigV4Outcome::kMissing:
      return "MissingAuthenticationTokenException";
    case SigV4Outcome::kIncomplete:
      return "IncompleteSignatureException";
    case SigV4Outcome::kUnknownKey:
      return "UnrecognizedClientException";
    case SigV4Outcome::kInvalid:
      return "InvalidSignatureException";
  }
  return "InvalidSignatureException";
}

SigV4Verifier::SigV4Verifier(SigV4Config config, std::string service)
    : config_(std::move(config)), service_(std::move(service)) {}

SigV4Result SigV4Verifier::Verify(const ApiRequest& request, std::int64_t now_us) const {
  auto fail = [](SigV4Outcome o, std::string message, std::string key = {}) {
    return SigV4Result{o, std::move(message), std::move(key)};
  };
  std::string_view header = request.header("authorization");
  if (header.empty()) return fail(SigV4Outcome::kMissing, "Missing Authentication Token");
  std::string error;
  auto auth = ParseSigV4Authorization(header, &error);
  if (!auth) return fail(SigV4Outcome::kIncomplete, error);
  const AwsAccessKey* key = nullptr;
  for (const auto& k : config_.access_keys) {
    if (k.id == auth->access_key_id) key = &k;
  }
  if (key == nullptr) {
    return fail(SigV4Outcome::kUnknownKey, "The security token included in the request is invalid.",
                auth->access_key_id);
  }
  auto invalid = [&](std::string message) {
    return fail(SigV4Outcome::kInvalid, std::move(message), auth->access_key_id);
  };
  if (auth->terminator != "aws4_request")
    return invalid("Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                   auth->terminator + "'.");
  if (auth->service != service_)
    return invalid(fmt::format("Credential should be scoped to correct service: '{}'.", service_));
  if (!config_.region.empty() && auth->region != config_.region)
    return invalid(
        fmt::format("Credential should be scoped to a valid region, not '{}'.", auth->region));
  auto is_signed = [&](std::string_view name) {
    return std::find(auth->signed_headers.begin(), auth->signed_headers.end(), name) !=
           auth->signed_headers.end();
  };
  if (!is_signed("host"))
    return invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  std::string_view amz_date = request.header("x-amz-date");
  if (amz_date.empty()) {
    return fail(SigV4Outcome::kIncomplete,
                "Authorization header requires existence of a 'X-Amz-Date' header (a 'Date' "
                "header is not accepted here).",
                auth->access_key_id);
  }
  if (!is_signed("x-amz-date")) return invalid("'X-Amz-Date' must be a 'SignedHeader'.");
  auto time_us = ParseAmzDate(amz_date);
  if (!time_us) {
    return fail(SigV4Outcome::kIncomplete,
                fmt::format("X-Amz-Date must be in the ISO8601 Long Format "
                            "\"yyyyMMdd'T'HHmmss'Z'\", not '{}'.",
                            amz_date),
                auth->access_key_id);
  }
  if (auth->date != amz_date.substr(0, 8)) {
    return invalid(fmt::format(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '{}' != '{}', from '{}'.",
        auth->date, amz_date.substr(0, 8), amz_date));
  }
  std::int64_t skew = config_.max_clock_skew_us;
  std::string skew_text = fmt::format("{} min.", skew / 60'000'000);
  if (*time_us < now_us - skew) {
    return invalid(fmt::format("Signature expired: {} is now earlier than {} ({} - {})", amz_date,
                               FormatAmzDate(now_us - skew), FormatAmzDate(now_us), skew_text));
  }
  if (*time_us > now_us + skew) {
    return invalid(fmt::format("Signature not yet current: {} is still later than {} ({} + {})",
                               amz_date, FormatAmzDate(now_us + skew), FormatAmzDate(now_us),
                               skew_text));
  }
  std::string payload_hash = Sha256Hex(request.body);
  std::string_view declared = request.header("x-amz-content-sha256");
  if (!declared.empty() && Lower(Trim(declared)) != payload_hash)
    return invalid("The provided 'x-amz-content-sha256' header does not match what was computed.");
  std::string canonical = SigV4CanonicalRequest(request, auth->signed_headers, payload_hash);
  std::string expected =
      SigV4Signature(SigV4SigningKey(key->secret, auth->date, auth->region, auth->service),
                     SigV4StringToSign(amz_date, auth->Scope(), canonical));
  std::string given = Lower(auth->signature);
  if (given.size() != expected.size() ||
      CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    return invalid(
        "The request signature we calculated does not match the signature you provided. Check "
        "your AWS Secret Access Key and signing method. Consult the service documentation for "
        "details.");
  }
  return SigV4Result{SigV4Outcome::kValid, {}, auth->access_key_id};
}

}  // namespace pinstream::connectors::http
