#include "connectors/http/sigv4.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/testing/test_util.h"

namespace pinstream::connectors::http {
namespace {

namespace fs = std::filesystem;

constexpr const char* kKeyId = "AKIDEXAMPLE";
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr std::int64_t kSuiteTime = 1440938160LL * 1'000'000;  // 2015-08-30T12:36:00Z
constexpr std::int64_t kMinute = 60'000'000;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path VectorDir() {
  return fs::path(pinstream::testing::SourceRoot()) / "tests/unit/connectors/http/sigv4_vectors";
}

// A request of the suite's text form: "METHOD TARGET HTTP/1.1", "Name:value" lines, a blank
// line, the body. Owns the text the ApiRequest views.
struct SuiteRequest {
  explicit SuiteRequest(std::string text) : text_(std::move(text)) {
    std::string_view t = text_;
    std::size_t head_end = t.find("\n\n");
    std::string_view head = t.substr(0, head_end);
    std::string_view body =
        head_end == std::string_view::npos ? std::string_view() : t.substr(head_end + 2);
    std::size_t eol = head.find('\n');
    std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 1);
    std::size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    request.method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t q = target.find('?');
    request.raw_path = request.path = target.substr(0, q);
    if (q != std::string_view::npos) request.query = target.substr(q + 1);
    while (!head.empty()) {
      eol = head.find('\n');
      std::string_view h = head.substr(0, eol);
      head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 1);
      std::size_t colon = h.find(':');
      headers.push_back(ApiHeader{h.substr(0, colon), h.substr(colon + 1)});
    }
    request.headers = headers;
    request.body = body;
  }
  SuiteRequest(const SuiteRequest&) = delete;  // `request` views the members
  SuiteRequest& operator=(const SuiteRequest&) = delete;
  std::string text_;
  std::vector<ApiHeader> headers;
  ApiRequest request;
};

SigV4Config SuiteConfig(std::string secret = kSecret) {
  SigV4Config c;
  c.region = "us-east-1";
  c.access_keys = {{kKeyId, std::move(secret)}};
  return c;
}

TEST(SigV4Test, SigningKeyDerivationMatchesAwsDocumentedExample) {
  // AWS's documentation example: secret wJalr..., 20120215, us-east-1, iam.
  Sha256Digest k = SigV4SigningKey(kSecret, "20120215", "us-east-1", "iam");
  std::string hex;
  for (unsigned char c : k) hex += fmt::format("{:02x}", c);
  EXPECT_EQ(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SigV4Test, EveryPublishedVectorVerifiesAndRebuildsItsCanonicalRequest) {
  SigV4Verifier verifier(SuiteConfig(), "service");
  int cases = 0;
  for (const auto& dir : fs::directory_iterator(VectorDir())) {
    if (!dir.is_directory()) continue;
    SCOPED_TRACE(dir.path().filename().string());
    ++cases;
    SuiteRequest r(ReadFile(dir.path() / "header-signed-request.txt"));
    SigV4Result result = verifier.Verify(r.request, kSuiteTime);
    EXPECT_EQ(result.outcome, SigV4Outcome::kValid) << result.message;
    EXPECT_EQ(result.access_key_id, kKeyId);

    std::string error;
    auto auth = ParseSigV4Authorization(r.request.header("authorization"), &error);
    ASSERT_TRUE(auth) << error;
    std::string canonical =
        SigV4CanonicalRequest(r.request, auth->signed_headers, Sha256Hex(r.request.body));
    EXPECT_EQ(canonical, ReadFile(dir.path() / "header-canonical-request.txt"));
    EXPECT_EQ(SigV4StringToSign(r.request.header("x-amz-date"), auth->Scope(), canonical),
              ReadFile(dir.path() / "header-string-to-sign.txt"));
  }
  EXPECT_GE(cases, 25);
}

class SigV4RejectTest : public ::testing::Test {
 protected:
  SigV4Result Verify(const SuiteRequest& r, SigV4Config c = SuiteConfig(),
                     std::int64_t now = kSuiteTime, std::string service = "service") {
    return SigV4Verifier(std::move(c), std::move(service)).Verify(r.request, now);
  }
  SuiteRequest Vector(const std::string& name) {
    return SuiteRequest(ReadFile(VectorDir() / name / "header-signed-request.txt"));
  }
};

TEST_F(SigV4RejectTest, AWrongSecretIsAnInvalidSignature) {
  auto r = Verify(Vector("get-vanilla"), SuiteConfig("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ"));
  EXPECT_EQ(r.outcome, SigV4Outcome::kInvalid);
  EXPECT_STREQ(KinesisErrorType(r.outcome), "InvalidSignatureException");
  EXPECT_NE(r.message.find("does not match the signature you provided"), std::string::npos);
}

TEST_F(SigV4RejectTest, AnUnknownAccessKeyIsAnUnrecognizedClient) {
  SigV4Config c = SuiteConfig();
  c.access_keys = {{"AKIDOTHER", kSecret}};
  auto r = Verify(Vector("get-vanilla"), c);
  EXPECT_EQ(r.outcome, SigV4Outcome::kUnknownKey);
  EXPECT_STREQ(KinesisErrorType(r.outcome), "UnrecognizedClientException");
  EXPECT_EQ(r.access_key_id, kKeyId);
}

TEST_F(SigV4RejectTest, TimesOutsideTheSkewWindowAreRefused) {
  auto v = Vector("get-vanilla");
  EXPECT_EQ(Verify(v, SuiteConfig(), kSuiteTime + 15 * kMinute).outcome, SigV4Outcome::kValid);
  EXPECT_EQ(Verify(v, SuiteConfig(), kSuiteTime - 15 * kMinute).outcome, SigV4Outcome::kValid);
  auto late = Verify(v, SuiteConfig(), kSuiteTime + 16 * kMinute);
  EXPECT_EQ(late.outcome, SigV4Outcome::kInvalid);
  EXPECT_EQ(late.message,
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z "
            "(20150830T125200Z - 15 min.)");
  auto early = Verify(v, SuiteConfig(), kSuiteTime - 16 * kMinute);
  EXPECT_EQ(early.outcome, SigV4Outcome::kInvalid);
  EXPECT_NE(early.message.find("Signature not yet current"), std::string::npos);
  SigV4Config wide = SuiteConfig();
  wide.max_clock_skew_us = 60 * kMinute;
  EXPECT_EQ(Verify(v, wide, kSuiteTime + 16 * kMinute).outcome, SigV4Outcome::kValid);
}

TEST_F(SigV4RejectTest, AChangedBodyOrHeaderBreaksTheSignature) {
  auto form = Vector("post-x-www-form-urlencoded");
  std::string other = "Param1=value2";
  form.request.body = other;  // x-amz-content-sha256 no longer matches the body
  auto r = Verify(form);
  EXPECT_EQ(r.outcome, SigV4Outcome::kInvalid);
  EXPECT_NE(r.message.find("x-amz-content-sha256"), std::string::npos);

  auto post = Vector("post-vanilla");  // no content hash header: the signature covers the body
  post.request.body = "x";
  EXPECT_EQ(Verify(post).outcome, SigV4Outcome::kInvalid);

  auto get = Vector("get-vanilla");
  for (auto& h : get.headers) {
    if (h.name == "Host") h.value = "other.amazonaws.com";
  }
  EXPECT_EQ(Verify(get).outcome, SigV4Outcome::kInvalid);
}

TEST_F(SigV4RejectTest, ScopeRegionAndServiceMustMatch) {
  SigV4Config eu = SuiteConfig();
  eu.region = "eu-west-1";
  auto r = Verify(Vector("get-vanilla"), eu);
  EXPECT_EQ(r.outcome, SigV4Outcome::kInvalid);
  EXPECT_NE(r.message.find("valid region"), std::string::npos);
  SigV4Config any = SuiteConfig();
  any.region.clear();
  EXPECT_EQ(Verify(Vector("get-vanilla"), any).outcome, SigV4Outcome::kValid);
  auto s = Verify(Vector("get-vanilla"), SuiteConfig(), kSuiteTime, "kinesis");
  EXPECT_EQ(s.outcome, SigV4Outcome::kInvalid);
  EXPECT_NE(s.message.find("correct service: 'kinesis'"), std::string::npos);
}

TEST_F(SigV4RejectTest, MissingOrMalformedAuthorizationIsNamed) {
  auto v = Vector("get-vanilla");
  std::vector<ApiHeader> no_auth;
  for (const auto& h : v.headers) {
    if (h.name != "Authorization") no_auth.push_back(h);
  }
  v.request.headers = no_auth;
  auto missing = Verify(v);
  EXPECT_EQ(missing.outcome, SigV4Outcome::kMissing);
  EXPECT_STREQ(KinesisErrorType(missing.outcome), "MissingAuthenticationTokenException");

  std::string error;
  EXPECT_FALSE(ParseSigV4Authorization(
      "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request", &error));
  EXPECT_NE(error.find("'SignedHeaders'"), std::string::npos);
  EXPECT_NE(error.find("'Signature'"), std::string::npos);
  EXPECT_FALSE(ParseSigV4Authorization(
      "AWS4-HMAC-SHA256 Credential=AKID/us-east-1, SignedHeaders=host, Signature=00", &error));
  EXPECT_NE(error.find("5 parts"), std::string::npos);

  std::vector<ApiHeader> unsigned_host = no_auth;
  std::string header =
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=x-amz-date, Signature=" +
      std::string(64, '0');
  unsigned_host.push_back(ApiHeader{"Authorization", header});
  v.request.headers = unsigned_host;
  auto host = Verify(v);
  EXPECT_EQ(host.outcome, SigV4Outcome::kInvalid);
  EXPECT_NE(host.message.find("'Host'"), std::string::npos);
}

TEST(SigV4CanonicalTest, PathsAndQueriesAreNormalizedAsAwsDoes) {
  EXPECT_EQ(SigV4CanonicalUri(""), "/");
  EXPECT_EQ(SigV4CanonicalUri("//a/./b/../c//"), "/a/c/");
  EXPECT_EQ(SigV4CanonicalUri("/a b"), "/a%20b");
  EXPECT_EQ(SigV4CanonicalUri("/a%20b"), "/a%2520b");  // the path as sent, encoded again
  EXPECT_EQ(SigV4CanonicalQuery("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=");
  EXPECT_EQ(SigV4CanonicalQuery("k=a%2Fb&x=%7e"), "k=a%2Fb&x=~");
}

}  // namespace
}  // namespace pinstream::connectors::http
