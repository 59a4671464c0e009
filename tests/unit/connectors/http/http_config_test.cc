#include "connectors/http/http_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/testing/test_util.h"

namespace pinstream::connectors::http {
namespace {

std::shared_ptr<const HttpConfig> Parse(const std::string& yaml) {
  return ParseHttpConfig(ConfigNode::LoadString(yaml, "http.yaml"));
}

std::string Error(const std::string& yaml) {
  try {
    Parse(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(HttpConfigTest, TheSectionParsesIntoTypedSettingsWithDefaults) {
  auto c = Parse(
      "listen: 0.0.0.0:9000\n"
      "io_threads: 4\n"
      "max_body_size: 2MiB\n"
      "auth: {bearer_tokens: [t1], api_keys: [k1, k2]}\n"
      "topics: [a.pin, {name: b.geo, partitions: 3}]\n"
      "streams: [{name: s, shards: 2}]\n"
      "retention: {max_age: 1h, max_bytes: 1GiB}\n");
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_EQ(c->port, 9000);
  EXPECT_EQ(c->io_threads, 4);
  EXPECT_EQ(c->max_body_bytes, 2 << 20);
  EXPECT_EQ(c->max_record_bytes, 1 << 20);  // default
  EXPECT_EQ(c->bearer_tokens, std::vector<std::string>{"t1"});
  EXPECT_EQ(c->api_keys.size(), 2u);
  ASSERT_EQ(c->topics.size(), 2u);
  EXPECT_EQ(c->topics[0].partitions, 1);
  EXPECT_EQ(c->topics[1].name, "b.geo");
  EXPECT_EQ(c->topics[1].partitions, 3);
  EXPECT_EQ(c->streams[0].partitions, 2);
  EXPECT_EQ(c->retention_age_us, 3'600'000'000LL);
  EXPECT_EQ(c->retention_bytes, 1LL << 30);
  EXPECT_FALSE(c->auto_create);
}

TEST(HttpConfigTest, BadValuesNameTheirLineAndWhatIsWrong) {
  EXPECT_NE(Error("listen: localhost").find("expected host:port"), std::string::npos);
  EXPECT_NE(Error("listen: 127.0.0.1:99999").find("port must be 0..65535"), std::string::npos);
  EXPECT_NE(Error("io_threads: 0").find("io_threads must be 1..64"), std::string::npos);
  EXPECT_NE(
      Error("topics: [{name: a, partitions: 0}]").find("partitions must be between 1 and 1024"),
      std::string::npos);
  EXPECT_NE(Error("topics: [a, a]").find("topic 'a' is declared twice"), std::string::npos);
  EXPECT_NE(Error("topics: [a]\nstreams: [a]").find("'a' is declared twice"), std::string::npos);
  EXPECT_NE(Error("topics: ['../x']").find("invalid topic/stream name"), std::string::npos);
  EXPECT_NE(Error("verify_signatures: true").find("unknown key"), std::string::npos);
  std::string e = Error("listen: 127.0.0.1:1\nlisen: x\n");
  EXPECT_NE(e.find("http.yaml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("listen"), std::string::npos) << e;
}

TEST(HttpConfigTest, TokensAndAwsSecretsAlsoComeFromFiles) {
  pinstream::testing::TempDir dir;
  std::ofstream(dir.path() + "/tokens") << "# operators\n  t-file-1  \n\nt-file-2\n";
  std::ofstream(dir.path() + "/keys") << "k-file\n";
  std::ofstream(dir.path() + "/aws") << "s3cr3t/KEY\n";
  auto c = ParseHttpConfig(ConfigNode::LoadString(
      "auth:\n"
      "  bearer_tokens: [inline]\n"
      "  bearer_tokens_file: tokens\n"  // relative to the config's folder
      "  api_keys_file: keys\n"
      "  aws_sigv4:\n"
      "    region: eu-west-1\n"
      "    access_keys: [{id: AKID1, secret_file: aws}, {id: AKID2, secret: inline-secret}]\n",
      "http.yaml", dir.path()));
  EXPECT_EQ(c->bearer_tokens, (std::vector<std::string>{"inline", "t-file-1", "t-file-2"}));
  EXPECT_EQ(c->api_keys, std::vector<std::string>{"k-file"});
  ASSERT_TRUE(c->aws_sigv4.enabled());
  EXPECT_EQ(c->aws_sigv4.region, "eu-west-1");
  ASSERT_EQ(c->aws_sigv4.access_keys.size(), 2u);
  EXPECT_EQ(c->aws_sigv4.access_keys[0].id, "AKID1");
  EXPECT_EQ(c->aws_sigv4.access_keys[0].secret, "s3cr3t/KEY");  // the newline trimmed
  EXPECT_EQ(c->aws_sigv4.access_keys[1].secret, "inline-secret");
  EXPECT_EQ(c->aws_sigv4.max_clock_skew_us, 15LL * 60 * 1'000'000);
}

TEST(HttpConfigTest, AuthMistakesAreConfigErrorsNotOpenDoors) {
  pinstream::testing::TempDir dir;
  std::ofstream(dir.path() + "/empty") << "# nothing yet\n";
  auto error = [&](const std::string& yaml) {
    try {
      ParseHttpConfig(ConfigNode::LoadString(yaml, "http.yaml", dir.path()));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // A tokens file that holds no token would leave every API open: refused.
  EXPECT_NE(error("auth: {bearer_tokens_file: empty}").find("holds no token"), std::string::npos);
  EXPECT_NE(error("auth: {api_keys_file: missing}").find("cannot read"), std::string::npos);
  EXPECT_NE(error("auth: {bearer_tokens: ['']}").find("empty"), std::string::npos);
  EXPECT_NE(error("auth: {aws_sigv4: {access_keys: []}}").find("at least one access key"),
            std::string::npos);
  EXPECT_NE(error("auth: {aws_sigv4: {access_keys: [{id: A}]}}").find("secret or secret_file"),
            std::string::npos);
  EXPECT_NE(error("auth: {aws_sigv4: {access_keys: [{id: A, secret: x}, {id: A, secret: y}]}}")
                .find("listed twice"),
            std::string::npos);
  std::string e = error("auth: {aws_sigv4: {regoin: x, access_keys: [{id: A, secret: x}]}}");
  EXPECT_NE(e.find("did you mean 'region'"), std::string::npos) << e;
}

}  // namespace
}  // namespace pinstream::connectors::http
