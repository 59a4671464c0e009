// The config reference is made of the key tables the parsers accept (engine/config_keys.h):
// every registered kind and section documents its keys, every table a parser used while loading
// is printed, and the parsers' reads agree with the tables (types, defaults, enum choices — a
// disagreement is an "internal error" ConfigError, which loading every config here would raise).
#include "engine/config_reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "app/commands.h"
#include "connectors/http/http_config.h"
#include "engine/config.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

// Every kind and section, with (between them) every key table the parsers have.
const char* kEverything = R"yaml(data_dir: data
log: {level: debug, format: json}
http:
  listen: 127.0.0.1:0
  io_threads: 2
  max_body_size: 8MiB
  max_record_size: 1MiB
  request_timeout: 30s
  idle_timeout: 60s
  auth:
    bearer_tokens: [t1]
    bearer_tokens_file: tokens
    api_keys: [k1]
    api_keys_file: tokens
    aws_sigv4:
      region: us-east-1
      max_clock_skew: 15m
      access_keys: [{id: AKID1, secret: s1}, {id: AKID2, secret_file: secret}]
  tls: {cert_file: cert.pem, key_file: key.pem}
  auto_create: true
  default_partitions: 1
  topics: [plain, {name: t, partitions: 2}]
  streams: [{name: s, shards: 2}]
  retention: {max_age: 7d, max_bytes: 0}
  max_backlog_records: 1000
  group_commit_max_records: 4096
storage:
  block_cache: 64MiB
  write_buffer: 64MiB
  compression: lz4
  source_log_compression: none
  table_compression: zstd
  checkpoint_retention: 100
  ingest_min_bytes: 4MiB
  table_checkpoint_interval: 100
  optimize: {auto: true, min_small_chunks: 64, max_bytes: 64MiB}
  vacuum: {auto: true, retain: 168h, interval: 1h}
  maintenance_interval: 10s
  tables: {out: {auto_optimize: false, min_small_chunks: 16, auto_vacuum: true, retain: 24h}}
views:
  - {name: v, sql: view.sql}
sources:
  files: {kind: file, path: in, pattern: "*.csv", format: csv, max_files_per_trigger: 0,
          csv: {header: true, delimiter: ",", quote: "\"", empty_as_null: true}}
  topic: {kind: http, topic: t, starting_offsets: earliest}
  stream: {kind: http, stream: s}
  kafka: {kind: kafka, bootstrap_servers: "127.0.0.1:9", topics: [a], starting_offsets: latest,
          max_offsets_per_trigger: 0, fail_on_data_loss: true, group_id: g,
          properties: {client.id: x}, read_timeout: 60s, rebalance_wait: 30s,
          request_timeout: 10s, group_progress_topic: p}
  table: {kind: delta, table: out, starting_version: 0, max_records_per_trigger: 0,
          skip_change_commits: false}
queries:
  - name: q
    source: files
    watermark: {column: ts, delay: 10m}
    trigger: {processing_time: 1s}
    max_records_per_trigger: 1000
    shards: 1
    chunk_rows: 4096
    queue_capacity: 64
    state: {cache: 64MiB}
    operators:
      - {kind: parse_count, columns: [n]}
      - {kind: cast, columns: {n: int64, ts: timestamp, lat: double, lon: double}}
      - {kind: null_if, columns: {s: ["none"]}, empty_strings: true}
      - {kind: strip_prefix, column: s, prefix: "x ", required: false}
      - {kind: regex_extract, column: s, pattern: "(a)", group: 1, into: s2, required: false}
      - {kind: rename, columns: {s2: s3}}
      - {kind: concat, columns: [s, s3], separator: " ", into: s4, skip_nulls: true}
      - {kind: make_array, columns: [lat, lon], into: coords}
      - {kind: filter, where: {column: n, op: ">", value: "0"}}
      - {kind: filter, all: [{any: [{column: s, op: in, values: [a]}]}, {not: {column: s, op: is_null}}]}
      - {kind: dedup, keys: [s], ttl: 1h}
      - {kind: drop, columns: [s4]}
      - {kind: select, columns: [s, n, ts, coords]}
      - kind: aggregate
        group_by: [s]
        window: {column: ts, size: 10m, slide: 5m}
        aggregates: [{fn: count}, {fn: percentile, column: n, p: 0.5, as: p50}]
        output_mode: append
    sink: {kind: delta, table: out}
    dead_letter: {kind: jsonl, path: errors}
  - name: j
    inputs:
      pins: {source: topic, operators: [{kind: parse_json, column: value, schema: {a: int64}, keep: [key]}]}
      geos: {sources: [stream]}
    operators:
      - {kind: join, left: pins, right: geos, on: [key], how: inner, ttl: 1h}
    sink: {kind: console, format: jsonl, max_rows: 20}
  - name: k
    source: kafka
    sink: {kind: kafka, bootstrap_servers: "127.0.0.1:9", topic: o, key_column: key,
           transactional: false, properties: {client.id: y}}
  - name: t
    source: table
    sink: {kind: jsonl, path: out}
jobs:
  - {name: daily, at: "02:00", sql: [{file: job.sql, result_table: r}], run_on_start: false}
)yaml";

class ConfigReferenceTest : public ::testing::Test {
 protected:
  ConfigReferenceTest() : reg_(app::BuildRegistries(&env_)) {
    dir_.Write("in/.keep", "");
    dir_.Write("tokens", "t2\n");
    dir_.Write("secret", "s2\n");
    dir_.Write("job.sql", "SELECT 1 AS x\n");
    dir_.Write("view.sql", "SELECT * FROM out\n");
  }
  connectors::ConnectorEnv env_;
  std::unique_ptr<Registries> reg_;
  testing::TempDir dir_;
};

TEST_F(ConfigReferenceTest, EveryKindAndSectionDocumentsItsKeys) {
  for (const auto& k : reg_->sources.Kinds()) EXPECT_FALSE(reg_->sources.Docs(k).empty()) << k;
  for (const auto& k : reg_->operators.Kinds()) EXPECT_FALSE(reg_->operators.Docs(k).empty()) << k;
  for (const auto& k : reg_->sinks.Kinds()) EXPECT_FALSE(reg_->sinks.Docs(k).empty()) << k;
  for (const auto& k : reg_->sections.Keys()) EXPECT_FALSE(reg_->sections.Docs(k).empty()) << k;
  for (const ConfigKeys* t : ConfigReferenceTables(*reg_)) {
    EXPECT_FALSE(t->about.empty()) << t->path;
    for (const auto& k : t->keys) {
      EXPECT_FALSE(k.meaning.empty()) << t->path << "." << k.name;
      EXPECT_EQ(k.type == KeyType::kEnum, !k.choices.empty()) << t->path << "." << k.name;
    }
  }
}

// Loading runs every parser's reads against its table, so a key read with another type or
// default than documented fails here; and every table a parser accepted keys with is printed, and
// every printed table is one a parser uses.
TEST_F(ConfigReferenceTest, EveryTableTheLoaderUsesIsInTheReferenceAndAgreesWithItsParser) {
  DaemonConfig cfg = LoadConfigFromString(kEverything, "everything.yaml", dir_.path(), *reg_);
  EXPECT_EQ(cfg.queries.size(), 4u);
  // The repository's own configs too (their parsers' reads are checked the same way).
  std::string src = PINSTREAM_SOURCE_DIR;
  setenv("PINSTREAM_WORK", dir_.path().c_str(), 1);
  setenv("BENCH_DIR", dir_.path().c_str(), 1);
  setenv("BENCH_PORT", "0", 1);
  for (const char* path :
       {"conf/pinterest.yaml", "conf/pinterest-files.yaml", "conf/pinterest-kafka.yaml",
        "conf/examples/files-to-jsonl.yaml", "conf/examples/hourly-posts.yaml",
        "conf/examples/table-chain.yaml", "conf/examples/pin-enriched.yaml",
        "conf/examples/category-hourly.yaml",
        "tests/e2e/window_append/pipeline.yaml", "tests/e2e/delta_chain/pipeline.yaml",
        "tests/e2e/join_outer_chain/pipeline.yaml",
        "tests/e2e/delta_restart/pipeline.yaml", "tests/e2e/drain_on_sigterm/pipeline.yaml",
        "tests/e2e/files_to_jsonl/pipeline.yaml", "bench/http/pinstream.yaml"}) {
    SCOPED_TRACE(path);
    EXPECT_NO_THROW(LoadConfig(src + "/" + path, *reg_));
  }
  std::vector<const ConfigKeys*> printed = ConfigReferenceTables(*reg_);
  std::set<const ConfigKeys*> printed_set(printed.begin(), printed.end());
  EXPECT_EQ(printed_set.size(), printed.size()) << "a table is printed twice";
  std::set<const ConfigKeys*> used;
  for (const ConfigKeys* t : ConfigKeysSeen()) used.insert(t);
  for (const ConfigKeys* t : used) EXPECT_TRUE(printed_set.count(t)) << "not printed: " << t->path;
  for (const ConfigKeys* t : printed) EXPECT_TRUE(used.count(t)) << "never used: " << t->path;
}

TEST_F(ConfigReferenceTest, AParserReadingAKeyOtherwiseThanDocumentedIsAnInternalError) {
  static constexpr KeyDoc kDocs[] = {
      {"n", KeyType::kInt, "3", "a number"},
      {"d", KeyType::kDuration, "10s", "a duration"},
      {"e", KeyType::kEnum, "a", "a choice", "a|b"},
  };
  static constexpr ConfigKeys kKeys{"test", "a test table", kDocs};
  auto internal = [](const std::function<void()>& read) {
    try {
      read();
    } catch (const ConfigError& e) {
      return std::string(e.what()).find("internal error") != std::string::npos;
    }
    return false;
  };
  ConfigNode n = ConfigNode::LoadString("n: 4\n");
  n.ExpectKeys(kKeys);
  EXPECT_EQ(n.GetInt("n", 3), 4);
  EXPECT_EQ(n.GetDurationMicros("d", 10'000'000), 10'000'000);
  EXPECT_EQ(n.GetEnum("e", {"a", "b"}, "a"), "a");
  EXPECT_TRUE(internal([&] { n.GetInt("n", 5); }));                      // another default
  EXPECT_TRUE(internal([&] { n.GetString("n", "3"); }));                 // another type
  EXPECT_TRUE(internal([&] { n.GetDurationMicros("d", 1'000'000); }));   // another default
  EXPECT_TRUE(internal([&] { n.GetEnum("e", {"a", "b", "c"}, "a"); }));  // other choices
  EXPECT_TRUE(internal([&] { n.GetBool("x", false); }));                 // undocumented key
  // A key the table lacks is refused in the file, with the table's keys as the suggestion.
  ConfigNode bad = ConfigNode::LoadString("nn: 1\n", "f.yaml");
  try {
    bad.ExpectKeys(kKeys);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "f.yaml:1:1: unknown key 'nn' (did you mean 'n'?)");
  }
}

TEST_F(ConfigReferenceTest, TheReferenceListsEverySectionAndKeyWithTypeAndDefault) {
  std::string text = ConfigReference(*reg_, ReferenceFormat::kText);
  std::string md = ConfigReference(*reg_, ReferenceFormat::kMarkdown);
  for (const ConfigKeys* t : ConfigReferenceTables(*reg_)) {
    EXPECT_NE(text.find("\n" + std::string(t->path) + "\n"), std::string::npos) << t->path;
    EXPECT_NE(md.find("### `" + std::string(t->path) + "`"), std::string::npos) << t->path;
    for (const auto& k : t->keys)
      EXPECT_NE(md.find("| `" + std::string(k.name) + "` |"), std::string::npos) << k.name;
  }
  EXPECT_NE(md.find("| `max_backlog_records` | integer | `1000000` | live |"), std::string::npos);
  EXPECT_NE(md.find("| `compression` | one of none, lz4, zstd, snappy | `lz4` | restart |"),
            std::string::npos);
  EXPECT_NE(text.find("  retain                     duration, default 168h; reload: restart\n"),
            std::string::npos);
}

// Every key says what a reload does with it (the reference prints it; app/config_reload.cc
// decides with it), the http listener's own settings are the only http keys that need a restart,
// and the README's "Reloading the config" names every key and section that is not applied live.
TEST_F(ConfigReferenceTest, EveryKeySaysWhatAReloadDoesAndTheReadmeNamesWhatNeedsARestart) {
  std::ifstream in(std::string(PINSTREAM_SOURCE_DIR) + "/README.md");
  std::string readme((std::istreambuf_iterator<char>(in)), {});
  auto at = readme.find("## Reloading the config");
  ASSERT_NE(at, std::string::npos);
  std::string section = readme.substr(at, readme.find("\n## ", at + 1) - at);
  for (const ConfigKeys* t : ConfigReferenceTables(*reg_)) {
    for (const auto& k : t->keys) {
      Reload how = t->ReloadOf(k);
      EXPECT_NE(how, Reload::kTable) << t->path << "." << k.name;
      if (k.reload != Reload::kRestart && k.reload != Reload::kRefused) continue;
      std::string name = t->path == "(top level)"
                             ? std::string(k.name)
                             : std::string(t->path) + "." + std::string(k.name);
      EXPECT_NE(section.find("`" + name + "`"), std::string::npos) << name << " needs a restart";
    }
    if (t->reload == Reload::kRestart) {
      std::string top(t->path.substr(0, t->path.find('.')));
      EXPECT_NE(section.find("`" + top + "`"), std::string::npos) << t->path << " needs a restart";
    }
  }
  for (Reload r :
       {Reload::kLive, Reload::kRestarts, Reload::kCreate, Reload::kRestart, Reload::kRefused})
    EXPECT_NE(section.find(std::string(ReloadName(r))), std::string::npos) << ReloadName(r);
  const auto& http = connectors::http::kHttpKeys;
  for (const auto& k : http.keys) {
    Reload how = http.ReloadOf(k);
    if (k.name == "listen" || k.name == "io_threads" || k.name == "tls") {
      EXPECT_EQ(how, Reload::kRestart) << k.name;
    } else if (k.name == "topics" || k.name == "streams") {
      EXPECT_EQ(how, Reload::kCreate) << k.name;
    } else {
      EXPECT_EQ(how, Reload::kLive) << k.name;
    }
  }
}

}  // namespace
}  // namespace pinstream
