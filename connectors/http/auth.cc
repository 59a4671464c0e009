#include "connectors/http/auth.h"

#include <openssl/crypto.h>

#include "connectors/http/kinesis_streams.h"

namespace pinstream::connectors::http {

namespace {
constexpr std::string_view kBearer = "Bearer ";
}  // namespace

Authenticator::Authenticator(const HttpConfig& config) {
  for (const auto& t : config.bearer_tokens) token_digests_.push_back(Sha256(t));
  for (const auto& k : config.api_keys) api_key_digests_.push_back(Sha256(k));
  if (config.aws_sigv4.enabled())
    sigv4_ = std::make_unique<SigV4Verifier>(config.aws_sigv4, "kinesis");
}

bool Authenticator::Matches(const std::vector<Sha256Digest>& digests, std::string_view presented) {
  Sha256Digest d = Sha256(presented);
  int matched = 0;
  for (const Sha256Digest& want : digests)
    matched |= static_cast<int>(CRYPTO_memcmp(d.data(), want.data(), d.size()) == 0);
  return matched != 0;
}

bool Authenticator::TokenAllowed(const ApiRequest& request) const {
  if (!tokens_required()) return true;
  bool ok = false;
  std::string_view auth = request.header("authorization");
  if (auth.size() > kBearer.size() && EqualsIgnoreCase(auth.substr(0, kBearer.size()), kBearer))
    ok |= Matches(token_digests_, auth.substr(kBearer.size()));
  std::string_view key = request.header("x-api-key");
  if (!key.empty()) ok |= Matches(api_key_digests_, key);
  return ok;
}

std::optional<ApiResponse> Authenticator::CheckKinesisNative(const ApiRequest& request,
                                                             std::int64_t now_us) const {
  std::string_view auth = request.header("authorization");
  if (sigv4_ && auth.rfind("AWS4-", 0) == 0) {
    SigV4Result r = sigv4_->Verify(request, now_us);
    if (r.outcome == SigV4Outcome::kValid) return std::nullopt;
    return KinesisError(KinesisErrorType(r.outcome), r.message);
  }
  if (!sigv4_ && !tokens_required()) return std::nullopt;
  if (tokens_required() && TokenAllowed(request)) return std::nullopt;
  if (auth.empty() && request.header("x-api-key").empty())
    return KinesisError("MissingAuthenticationTokenException", "Missing Authentication Token");
  return KinesisError("UnrecognizedClientException",
                      "The security token included in the request is invalid.");
}

}  // namespace pinstream::connectors::http
