// DiffConfigs: what a reload would change, by name, from the configs' fingerprints.
#include "engine/config_diff.h"

#include <gtest/gtest.h>

#include "tests/testing/fake_connectors.h"

namespace pinstream {
namespace {

using Names = std::vector<std::string>;

struct Section : ConfigSection {};
constexpr KeyDoc kSectionDocs[] = {{"x", KeyType::kInt, "0", "a number"}};
constexpr ConfigKeys kSectionKeys{"plug", "a plugin's section", kSectionDocs};

class ConfigDiffTest : public ::testing::Test {
 protected:
  ConfigDiffTest() {
    testing::RegisterFakes(reg_, std::make_shared<testing::FakeSource::Data>(),
                           std::make_shared<testing::CollectingSink::Data>());
    reg_.sections.Register("plug", "a plugin's section",
                           [](const ConfigNode& n) {
                             n.ExpectKeys(kSectionKeys);
                             n.GetInt("x", 0);
                             return std::make_shared<Section>();
                           },
                           {&kSectionKeys});
  }
  DaemonConfig Load(const std::string& yaml) {
    return LoadConfigFromString(yaml, "test.yaml", "/tmp", reg_);
  }
  Registries reg_;
};

constexpr const char* kOld = R"(data_dir: /tmp/d
log: {level: info}
plug: {x: 1}
sources:
  a: {kind: fake}
  b: {kind: fake, note: one}
queries:
  - {name: same, source: a, sink: {kind: collect}}
  - {name: reads_b, source: b, sink: {kind: collect}}
  - {name: edited, source: a, max_records_per_trigger: 10, sink: {kind: collect}}
  - {name: gone, source: a, sink: {kind: collect}}
)";

TEST_F(ConfigDiffTest, AnIdenticalConfigChangesNothingWhateverItsLayout) {
  // The same content in block style, keys reordered, with comments.
  ConfigDiff d = DiffConfigs(Load(kOld), Load(R"(# a comment
plug:
  x: 1
log: {level: info}
data_dir: /tmp/d
sources:
  b: {note: one, kind: fake}
  a: {kind: fake}
queries:
  - name: same
    sink: {kind: collect}
    source: a
  - {name: reads_b, source: b, sink: {kind: collect}}
  - {name: edited, source: a, max_records_per_trigger: 10, sink: {kind: collect}}
  - {name: gone, source: a, sink: {kind: collect}}
)"));
  EXPECT_EQ(d.queries_unchanged, (Names{"same", "reads_b", "edited", "gone"}));
  EXPECT_TRUE(d.queries_added.empty());
  EXPECT_TRUE(d.queries_changed.empty());
  EXPECT_TRUE(d.queries_removed.empty());
  EXPECT_TRUE(d.sections_changed.empty());
  EXPECT_FALSE(d.log_level_changed || d.data_dir_changed || d.log_format_changed);
}

TEST_F(ConfigDiffTest, QueriesAddedRemovedAndChangedByTheirOwnConfigOrTheirSources) {
  ConfigDiff d = DiffConfigs(Load(kOld), Load(R"(data_dir: /tmp/d
log: {level: debug}
plug: {x: 2}
sources:
  a: {kind: fake}
  b: {kind: fake, note: two}
queries:
  - {name: new, source: a, sink: {kind: collect}}
  - {name: same, source: a, sink: {kind: collect}}
  - {name: reads_b, source: b, sink: {kind: collect}}
  - {name: edited, source: a, max_records_per_trigger: 20, sink: {kind: collect}}
)"));
  EXPECT_EQ(d.queries_added, Names{"new"});
  EXPECT_EQ(d.queries_removed, Names{"gone"});
  EXPECT_EQ(d.queries_changed, (Names{"reads_b", "edited"}));  // its source; its own key
  EXPECT_EQ(d.queries_unchanged, Names{"same"});
  EXPECT_EQ(d.sections_changed, Names{"plug"});
  EXPECT_TRUE(d.section_changed("plug"));
  EXPECT_TRUE(d.log_level_changed);
  EXPECT_FALSE(d.data_dir_changed);
}

TEST_F(ConfigDiffTest, ASectionAddedOrRemovedAndTheDataDirCount) {
  ConfigDiff d = DiffConfigs(Load(kOld), Load(R"(data_dir: /tmp/other
sources: {a: {kind: fake}}
queries:
  - {name: same, source: a, sink: {kind: collect}}
)"));
  EXPECT_EQ(d.sections_changed, Names{"plug"});
  EXPECT_TRUE(d.data_dir_changed);
  EXPECT_TRUE(d.log_level_changed == false);  // absent = the default, info
  EXPECT_EQ(d.queries_removed, (Names{"reads_b", "edited", "gone"}));
}

}  // namespace
}  // namespace pinstream
