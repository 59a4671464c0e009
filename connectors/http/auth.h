// Authenticator: who may call the HTTP APIs, from the `http.auth` section (http_config.h).
//
//   tokens     `Authorization: Bearer <token>` or `x-api-key: <key>` against the configured bearer
//              tokens and API keys (inline or from files). Compared in constant time: the
//              SHA-256 digests of the presented and of every configured token are compared with
//              CRYPTO_memcmp, all of them, so neither the position of a mismatch nor which token
//              matched shows in the time taken.
//   AWS SigV4  the native Kinesis API (AWS SDKs, the AWS CLI) checks the request's signature with
//              the configured access keys (sigv4.h).
//
// What each API needs (README "Security" has the table):
//   REST Proxy, API Gateway → Kinesis, admin routes that are not open: a token, when tokens are
//     configured; otherwise nothing.
//   native Kinesis: with aws_sigv4, a valid signature (or a token, for clients that are not AWS
//     SDKs); without it, a token when tokens are configured, otherwise nothing (any signature
//     is accepted unchecked).
//   /health and /ready: nothing.
//
// Threading: immutable once constructed; every method is safe from any thread at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "connectors/http/api.h"
#include "connectors/http/http_config.h"
#include "connectors/http/sigv4.h"

namespace pinstream::connectors::http {

class Authenticator {
 public:
  explicit Authenticator(const HttpConfig& config);

  // Whether bearer tokens or API keys are configured (the token APIs are then closed).
  bool tokens_required() const { return !token_digests_.empty() || !api_key_digests_.empty(); }
  bool sigv4_enabled() const { return sigv4_ != nullptr; }

  // True when the token APIs may serve `request`: no tokens are configured, or it carries one.
  bool TokenAllowed(const ApiRequest& request) const;

  // For the native Kinesis API at `now_us`: nullopt when the request may be served, else the
  // Kinesis error to answer (400 with {"__type", "message"}).
  std::optional<ApiResponse> CheckKinesisNative(const ApiRequest& request,
                                                std::int64_t now_us) const;

 private:
  // Whether `presented` is one of `digests`, in time independent of the contents.
  static bool Matches(const std::vector<Sha256Digest>& digests, std::string_view presented);

  std::vector<Sha256Digest> token_digests_;
  std::vector<Sha256Digest> api_key_digests_;
  std::unique_ptr<SigV4Verifier> sigv4_;
};

}  // namespace pinstream::connectors::http
