// The engine's config loader with fake plugins: sections owned by plugins are parsed by the
// parsers they register, and the engine's own keys keep their rules.
#include "engine/config.h"

#include <gtest/gtest.h>

#include "tests/testing/fake_connectors.h"

namespace pinstream {
namespace {

struct ListenSection : ConfigSection {
  std::string listen;
  int threads = 1;
};

constexpr KeyDoc kListenerDocs[] = {
    {"listen", KeyType::kString, "", "where"},
    {"threads", KeyType::kInt, "1", "how many"},
};
constexpr ConfigKeys kListenerKeys{"listener", "a plugin's own section", kListenerDocs};

class EngineConfigTest : public ::testing::Test {
 protected:
  EngineConfigTest() {
    testing::RegisterFakes(reg_, std::make_shared<testing::FakeSource::Data>(),
                           std::make_shared<testing::CollectingSink::Data>());
    reg_.sections.Register("listener", "a plugin's own section",
                           [this](const ConfigNode& n) {
                             ++parsed_;
                             n.ExpectKeys(kListenerKeys);
                             auto s = std::make_shared<ListenSection>();
                             s->listen = n.GetString("listen");
                             s->threads = static_cast<int>(n.GetInt("threads", 1));
                             if (s->threads < 1)
                               n.Get("threads").Fail("threads must be at least 1");
                             return s;
                           },
                           {&kListenerKeys});
  }
  DaemonConfig Load(const std::string& extra) {
    return LoadConfigFromString(std::string(kBase) + extra, "test.yaml", "/tmp", reg_);
  }
  std::string Error(const std::string& extra) {
    try {
      Load(extra);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }
  static constexpr const char* kBase =
      "data_dir: /tmp/d\n"
      "sources:\n"
      "  s: {kind: fake}\n"
      "queries:\n"
      "  - {name: q, source: s, sink: {kind: collect}}\n";
  Registries reg_;
  int parsed_ = 0;
};

TEST_F(EngineConfigTest, APluginsSectionIsParsedOnceByItsRegisteredParserAndReadBackTyped) {
  DaemonConfig c = Load("listener: {listen: 'h:1', threads: 3}\n");
  EXPECT_EQ(parsed_, 1);
  const auto* s = c.Section<ListenSection>("listener");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->listen, "h:1");
  EXPECT_EQ(s->threads, 3);
  EXPECT_EQ(c.queries.size(), 1u);
}

TEST_F(EngineConfigTest, AnAbsentSectionIsNotParsedAndReadsAsNull) {
  DaemonConfig c = Load("");
  EXPECT_EQ(parsed_, 0);
  EXPECT_EQ(c.Section<ListenSection>("listener"), nullptr);
  EXPECT_TRUE(c.sections.empty());
}

TEST_F(EngineConfigTest, ASectionsErrorsCarryTheirLocation) {
  std::string e = Error("listener:\n  listen: x\n  threads: 0\n");
  EXPECT_NE(e.find("test.yaml:8:"), std::string::npos) << e;
  EXPECT_NE(e.find("threads must be at least 1"), std::string::npos) << e;
  e = Error("listener: {listen: x, thread: 2}\n");
  EXPECT_NE(e.find("did you mean 'threads'"), std::string::npos) << e;
}

TEST_F(EngineConfigTest, AnUnregisteredTopLevelKeyIsRejectedWithTheNearestKnownOne) {
  std::string e = Error("listenr: {listen: x}\n");
  EXPECT_NE(e.find("listenr"), std::string::npos) << e;
  EXPECT_NE(e.find("listener"), std::string::npos) << e;
  // Without the plugin's registration its section is just an unknown key.
  Registries bare;
  bare.sources = reg_.sources;
  bare.sinks = reg_.sinks;
  try {
    LoadConfigFromString(std::string(kBase) + "listener: {listen: x}\n", "test.yaml", "/tmp", bare);
    ADD_FAILURE() << "an unregistered section was accepted";
  } catch (const ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("listener"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace pinstream
