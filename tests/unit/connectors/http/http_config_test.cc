#include "connectors/http/http_config.h"

#include <gtest/gtest.h>

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
  EXPECT_NE(Error("verify_signatures: true").find("not supported"), std::string::npos);
  std::string e = Error("listen: 127.0.0.1:1\nlisen: x\n");
  EXPECT_NE(e.find("http.yaml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("listen"), std::string::npos) << e;
}

}  // namespace
}  // namespace pinstream::connectors::http
