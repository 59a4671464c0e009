// SigV4Verifier: checks AWS Signature Version 4, the signature every AWS SDK and the AWS CLI put
// on a request —
//   Authorization: AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kinesis/aws4_request,
//                  SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=<64 hex>
// — for the native Kinesis API (`http.auth.aws_sigv4`, http_config.h). It recomputes the
// signature with the configured secret of the access key the request names, as AWS documents it:
//   1. the canonical request: method; the path as sent, dot segments and repeated slashes
//      removed, URI-encoded; the query, names and values decoded, re-encoded and sorted; every
//      signed header as `lowercase-name:value` (trimmed, inner spaces collapsed, repeated headers
//      joined with ','); the signed header names; the hex SHA-256 of the body;
//   2. the string to sign: AWS4-HMAC-SHA256, the X-Amz-Date time, the credential scope
//      (date/region/service/aws4_request), the hex SHA-256 of the canonical request;
//   3. the signing key: HMAC-SHA256 chained over "AWS4" + secret, date, region, service,
//      "aws4_request" (OpenSSL);
//   4. the signature: hex HMAC-SHA256(signing key, string to sign), compared in constant time.
// X-Amz-Date must be signed and within max_clock_skew of now (AWS's 15 minutes by default); an
// x-amz-content-sha256 header must equal the body's hash; `host` must be signed. Not supported
// (Kinesis clients use neither): presigned URLs (the signature in the query string) and S3's
// chunked payload signing.
//
// The steps are exposed for tests against AWS's published test vectors.
//
// Threading: a verifier is immutable once constructed; Verify may run on any thread at once.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/http/api.h"
#include "connectors/http/http_config.h"

namespace pinstream::connectors::http {

using Sha256Digest = std::array<unsigned char, 32>;

Sha256Digest Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);
Sha256Digest HmacSha256(std::string_view key, std::string_view data);

// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct SigV4Authorization {
  std::string access_key_id;
  std::string date;  // YYYYMMDD of the credential scope
  std::string region;
  std::string service;
  std::string terminator;                   // "aws4_request"
  std::vector<std::string> signed_headers;  // lowercase, in the order given
  std::string signature;                    // hex
  std::string Scope() const;                // date/region/service/aws4_request
};

// Parses the header; nullopt with *error (what is missing or malformed) otherwise.
std::optional<SigV4Authorization> ParseSigV4Authorization(std::string_view header,
                                                          std::string* error);

std::string SigV4CanonicalUri(std::string_view raw_path);
std::string SigV4CanonicalQuery(std::string_view raw_query);
std::string SigV4CanonicalRequest(const ApiRequest& request,
                                  const std::vector<std::string>& signed_headers,
                                  std::string_view payload_hash);
std::string SigV4StringToSign(std::string_view amz_date, std::string_view scope,
                              std::string_view canonical_request);
Sha256Digest SigV4SigningKey(std::string_view secret, std::string_view date,
                             std::string_view region, std::string_view service);
std::string SigV4Signature(const Sha256Digest& signing_key, std::string_view string_to_sign);

// What a verification found. Each outcome is one Kinesis error type (KinesisErrorType).
enum class SigV4Outcome {
  kValid,
  kMissing,     // no Authorization header: MissingAuthenticationTokenException
  kIncomplete,  // a malformed header or a missing part: IncompleteSignatureException
  kUnknownKey,  // an access key id that is not configured: UnrecognizedClientException
  kInvalid,     // a wrong signature, an expired time, a wrong scope: InvalidSignatureException
};
const char* KinesisErrorType(SigV4Outcome outcome);

struct SigV4Result {
  SigV4Outcome outcome = SigV4Outcome::kValid;
  std::string message;        // AWS's wording where it has one
  std::string access_key_id;  // the key the request named, when it could be read
};

class SigV4Verifier {
 public:
  // `service`: the signing name clients use ("kinesis").
  SigV4Verifier(SigV4Config config, std::string service);

  // Checks `request`'s signature at time `now_us` (microseconds since the epoch, UTC).
  SigV4Result Verify(const ApiRequest& request, std::int64_t now_us) const;

 private:
  SigV4Config config_;
  std::string service_;
};

}  // namespace pinstream::connectors::http
