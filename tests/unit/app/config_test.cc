#include "engine/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "app/commands.h"
#include "connectors/registry.h"
#include "state/store_options.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() : reg_(app::BuildRegistries(&env_)) { dir_.Write("in/.keep", ""); }

  DaemonConfig Load(const std::string& yaml) {
    return LoadConfigFromString(yaml, "test.yaml", dir_.path(), *reg_);
  }
  std::string Error(const std::string& yaml) {
    try {
      Load(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  }

  connectors::ConnectorEnv env_;
  std::unique_ptr<Registries> reg_;
  testing::TempDir dir_;
};

const char* kGood = R"(data_dir: data
sources:
  files: {kind: file, path: in}
queries:
  - name: q
    source: files
    trigger: {processing_time: 2s}
    max_records_per_trigger: 1000
    operators:
      - {kind: parse_json, schema: {a: int64, b: string}}
      - {kind: dedup, keys: [a], ttl: 1h}
    sink: {kind: delta, table: t}
    dead_letter: t_errors
)";

TEST_F(ConfigTest, ParsesATypicalConfigIntoTypedStructs) {
  DaemonConfig c = Load(kGood);
  EXPECT_EQ(c.data_dir, dir_.path() + "/data");
  ASSERT_EQ(c.queries.size(), 1u);
  const QueryConfig& q = c.queries[0];
  EXPECT_EQ(q.trigger.kind, TriggerConfig::Kind::kProcessingTime);
  EXPECT_EQ(q.trigger.interval_us, 2000000);
  EXPECT_EQ(q.max_records_per_trigger, 1000);
  ASSERT_EQ(q.operators.size(), 2u);
  EXPECT_EQ(q.operators[1].spec->KeyColumns(), std::vector<std::string>{"a"});
  EXPECT_TRUE(q.operators[1].spec->stateful());
  EXPECT_EQ(q.sink.spec->TableName(), "t");
  ASSERT_TRUE(q.dead_letter.has_value());
  EXPECT_EQ(q.dead_letter->spec->TableName(), "t_errors");
}

TEST_F(ConfigTest, UnknownKeyIsRejectedWithLocationAndSuggestion) {
  std::string e = Error(R"(data_dir: d
sources: {}
queries:
  - name: q
    source: files
    trigerr: once
    sink: {kind: console}
)");
  EXPECT_NE(e.find("test.yaml:6:5"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'trigerr'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'trigger'"), std::string::npos) << e;
}

TEST_F(ConfigTest, UnknownOperatorKindSuggestsTheNearestKind) {
  std::string cfg = kGood;
  cfg.replace(cfg.find("kind: dedup"), 11, "kind: dedupe");
  std::string e = Error(cfg);
  EXPECT_NE(e.find("test.yaml:11:16"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown operator kind 'dedupe'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'dedup'"), std::string::npos) << e;
}

TEST_F(ConfigTest, ReportsUnknownSourceAndBadValues) {
  std::string cfg = kGood;
  cfg.replace(cfg.find("source: files"), 13, "source: filez");
  EXPECT_NE(Error(cfg).find("unknown source 'filez' (did you mean 'files'?)"), std::string::npos);
  cfg = kGood;
  cfg.replace(cfg.find("2s"), 2, "2 seconds");
  EXPECT_NE(Error(cfg).find("invalid duration"), std::string::npos);
  cfg = kGood;
  cfg.replace(cfg.find("a: int64"), 8, "a: integr");
  std::string e = Error(cfg);
  EXPECT_NE(e.find("unknown type 'integr'"), std::string::npos) << e;
  EXPECT_NE(e.find("test.yaml:10:"), std::string::npos) << e;
}

const char* kTwoInputs = R"(data_dir: data
sources:
  pins: {kind: file, path: in, format: jsonl}
  geos: {kind: file, path: in, format: jsonl}
queries:
  - name: q
    inputs:
      pin:
        source: pins
        operators:
          - {kind: parse_json, schema: {ind: int64, ts: timestamp}}
        watermark: {column: ts, delay: 10m}
      geo:
        sources: [geos]
        operators:
          - {kind: parse_json, schema: {ind: int64, country: string}}
    operators:
      - {kind: filter, where: {column: ind, op: ">", value: 0}}
    sink: {kind: console}
)";

TEST_F(ConfigTest, AQueryWithNamedInputsTagsEachInputsOperatorsAndObservesItsWatermark) {
  DaemonConfig c = Load(kTwoInputs);
  const QueryConfig& q = c.queries[0];
  ASSERT_TRUE(q.multi_input);
  ASSERT_EQ(q.inputs.size(), 2u);
  EXPECT_EQ(q.inputs[0].name, "pin");
  EXPECT_EQ(q.inputs[1].name, "geo");
  EXPECT_EQ(q.sources, (std::vector<std::string>{"pins", "geos"}));
  EXPECT_EQ(q.source_tags, (std::vector<std::uint16_t>{0, 1}));
  ASSERT_TRUE(q.inputs[0].watermark.has_value());
  EXPECT_EQ(q.inputs[0].watermark->delay_us, 600'000'000);
  EXPECT_NE(q.inputs[0].watermark->where.find("test.yaml:12:"), std::string::npos);
  // pin's parse_json, pin's watermark observer, geo's parse_json, then the filter on both.
  ASSERT_EQ(q.slots.size(), 4u);
  EXPECT_EQ(q.slots[0].input_tags, std::vector<std::uint16_t>{0});
  EXPECT_EQ(q.slots[0].state_id, "pin.0");
  EXPECT_EQ(q.slots[1].spec->kind(), "watermark");
  EXPECT_EQ(q.slots[2].input_tags, std::vector<std::uint16_t>{1});
  EXPECT_EQ(q.slots[3].input_tags, (std::vector<std::uint16_t>{0, 1}));
  EXPECT_EQ(q.slots[3].state_id, "0");
}

TEST_F(ConfigTest, NamedInputsRejectAQueryLevelWatermarkAndUnknownOrRepeatedSources) {
  std::string cfg = kTwoInputs;
  cfg.replace(cfg.find("    operators:\n      - {kind: filter"), 0,
              "    watermark: {column: ts, delay: 1m}\n");
  EXPECT_NE(Error(cfg).find("with several inputs, declare the watermark per input"),
            std::string::npos)
      << Error(cfg);
  cfg = kTwoInputs;
  cfg.replace(cfg.find("sources: [geos]"), 15, "sources: [pins]");
  EXPECT_NE(Error(cfg).find("source 'pins' is read twice by this query"), std::string::npos);
  cfg = kTwoInputs;
  cfg.replace(cfg.find("source: pins"), 12, "source: pinz");
  EXPECT_NE(Error(cfg).find("unknown source 'pinz'"), std::string::npos);
}

const char* kJoin = R"(data_dir: data
sources:
  pins: {kind: file, path: in, format: jsonl}
  geos: {kind: file, path: in, format: jsonl}
queries:
  - name: q
    inputs:
      pin:
        source: pins
        operators:
          - {kind: parse_json, schema: {ind: int64, title: string}}
      geo:
        source: geos
        operators:
          - {kind: parse_json, schema: {ind: int64, ts: timestamp}}
        watermark: {column: ts, delay: 10m}
    operators:
      - {kind: join, name: pin_geo, left: pin, right: geo, on: [ind]}
    sink: {kind: console}
)";

TEST_F(ConfigTest, AJoinConsumesTwoInputsAndItsBadConfigIsRefusedWithItsLocation) {
  DaemonConfig c = Load(kJoin);
  const QueryConfig& q = c.queries[0];
  // pin's parse_json, geo's parse_json and watermark observer, the join.
  ASSERT_EQ(q.slots.size(), 4u);
  const OperatorSlotConfig& join = q.slots[3];
  EXPECT_TRUE(join.joins_inputs);
  EXPECT_EQ(join.input_tags, (std::vector<std::uint16_t>{0, 1}));
  EXPECT_EQ(join.key_columns, (std::vector<std::vector<std::string>>{{"ind"}, {"ind"}}));
  EXPECT_EQ(join.output_tag, 2);
  EXPECT_EQ(join.spec->kind(), "join");
  // A key one side lacks, at the join's line.
  std::string cfg = kJoin;
  cfg.replace(cfg.find("on: [ind]"), 9, "on: [title]");
  std::string e = Error(cfg);
  EXPECT_NE(e.find("test.yaml:18:9: queries[0].operators[0]: join key of the right input 'geo': "
                   "column 'title' does not exist in its input"),
            std::string::npos)
      << e;
  // Key types that differ.
  cfg = kJoin;
  cfg.replace(cfg.find("{ind: int64, ts"), 11, "{ind: string");
  e = Error(cfg);
  EXPECT_NE(e.find("test.yaml:18:9: queries[0].operators[0]: join: key types differ: pin.ind is "
                   "int64, geo.ind is string"),
            std::string::npos)
      << e;
  // A time range on a column that is no timestamp.
  cfg = kJoin;
  cfg.replace(cfg.find("on: [ind]}"), 10,
              "on: [ind], time_range: geo.ts BETWEEN pin.title AND pin.title}");
  e = Error(cfg);
  EXPECT_NE(e.find("test.yaml:18:9: queries[0].operators[0]: join time_range on input 'pin': "
                   "column 'title' is string, not timestamp"),
            std::string::npos)
      << e;
  // Left outer without a watermark on the right's range column.
  cfg = kJoin;
  cfg.replace(cfg.find("watermark: {column: ts"), 0, "# ");
  cfg.replace(cfg.find("on: [ind]}"), 10,
              "on: [ind], how: left_outer, time_range: geo.ts BETWEEN left.ts AND left.ts}");
  e = Error(cfg);
  EXPECT_NE(e.find("test.yaml:18:9:"), std::string::npos) << e;
  // (pin has no ts: the first complaint is that.)
  EXPECT_NE(e.find("join time_range on input 'pin': column 'ts' does not exist"), std::string::npos)
      << e;
  cfg = kJoin;
  cfg.replace(cfg.find("watermark: {column: ts"), 0, "# ");
  cfg.replace(cfg.find("{ind: int64, title: string}"), 27,
              "{ind: int64, title: string, ts: timestamp}");
  cfg.replace(cfg.find("on: [ind]}"), 10,
              "on: [ind], how: left_outer, time_range: geo.ts BETWEEN pin.ts AND pin.ts}");
  e = Error(cfg);
  EXPECT_NE(e.find("test.yaml:18:9: queries[0].operators[0]: join: a left_outer join needs a "
                   "watermark on the right input 'geo'"),
            std::string::npos)
      << e;
  // An input the query does not have.
  cfg = kJoin;
  cfg.replace(cfg.find("right: geo"), 10, "right: usr");
  EXPECT_NE(Error(cfg).find("join: 'usr' is not an input of query 'q'"), std::string::npos)
      << Error(cfg);
}

TEST_F(ConfigTest, WhatTheOperatorsDeriveFromTheSourcesIsCheckedAtLoadWithTheOperatorsLocation) {
  // select of a column parse_json does not produce.
  std::string e = Error(R"(data_dir: d
sources:
  f: {kind: file, path: in, format: jsonl}
queries:
  - name: q
    source: f
    operators:
      - {kind: parse_json, schema: {a: int64}}
      - {kind: select, columns: [a, b]}
    sink: {kind: console}
)");
  EXPECT_NE(e.find("test.yaml:9:9: queries[0].operators[1]: select: column 'b' does not exist in "
                   "its input (columns: a: int64)"),
            std::string::npos)
      << e;
  // A watermark on a column that is not a timestamp points at `watermark.column`.
  e = Error(R"(data_dir: d
sources:
  f: {kind: file, path: in, format: jsonl}
queries:
  - name: q
    source: f
    watermark: {column: ts, delay: 1m}
    operators:
      - {kind: parse_json, schema: {ts: string}}
    sink: {kind: console}
)");
  EXPECT_NE(e.find("test.yaml:7:25: queries[0].watermark.column: watermark of input 'q': column "
                   "'ts' is string, not timestamp"),
            std::string::npos)
      << e;
  // Unknown columns (untyped CSV files) are not refused at load.
  EXPECT_EQ(Error(R"(data_dir: d
sources:
  f: {kind: file, path: in}
queries:
  - name: q
    source: f
    operators:
      - {kind: select, columns: [whatever]}
    sink: {kind: console}
)"),
            "no error");
}

TEST_F(ConfigTest, StorageSettingsDefaultAndBadOnesNameTheirLine) {
  DaemonConfig c = Load(kGood);
  EXPECT_EQ(c.Section<state::StoreOptions>(state::kStorageSection), nullptr);  // the defaults apply
  state::StoreOptions defaults;
  EXPECT_EQ(defaults.compression, "lz4");
  EXPECT_EQ(defaults.source_log_compression, "none");
  EXPECT_EQ(defaults.table_compression, "lz4");
  EXPECT_EQ(defaults.ingest_min_bytes, 4 << 20);
  c = Load(std::string(kGood) +
           "storage: {compression: zstd, source_log_compression: lz4, table_compression: none, "
           "ingest_min_bytes: 1MiB}\n");
  const auto* storage = c.Section<state::StoreOptions>(state::kStorageSection);
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->table_compression, "none");
  EXPECT_EQ(storage->ingest_min_bytes, 1 << 20);
  EXPECT_EQ(storage->compression, "zstd");
  EXPECT_EQ(storage->source_log_compression, "lz4");
  std::string e = Error(std::string(kGood) + "storage:\n  source_log_compression: gzip\n");
  EXPECT_NE(e.find("test.yaml:15:"), std::string::npos) << e;
  EXPECT_NE(e.find("gzip"), std::string::npos) << e;
  // RocksDB's snappy is a block codec; the table's own chunks offer none, lz4 and zstd.
  e = Error(std::string(kGood) + "storage:\n  table_compression: snappy\n");
  EXPECT_NE(e.find("test.yaml:15:"), std::string::npos) << e;
  EXPECT_NE(e.find("snappy"), std::string::npos) << e;
}

TEST_F(ConfigTest, TableMaintenanceSettingsAndPerTableOverrides) {
  state::StoreOptions defaults;
  EXPECT_EQ(defaults.table_checkpoint_interval, 100);
  EXPECT_TRUE(defaults.maintenance.auto_optimize);
  EXPECT_EQ(defaults.maintenance.min_small_chunks, 64);
  DaemonConfig c = Load(std::string(kGood) +
                        "storage:\n"
                        "  table_checkpoint_interval: 50\n"
                        "  optimize: {min_small_chunks: 16, max_bytes: 8MiB}\n"
                        "  maintenance_interval: 2s\n"
                        "  tables: {geo: {auto_optimize: false}, pin: {min_small_chunks: 4}}\n");
  const auto* s = c.Section<state::StoreOptions>(state::kStorageSection);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->table_checkpoint_interval, 50);
  EXPECT_EQ(s->maintenance_interval_us, 2'000'000);
  EXPECT_EQ(s->MaintenanceFor("user").min_small_chunks, 16);
  EXPECT_EQ(s->MaintenanceFor("user").optimize_max_bytes, 8 << 20);
  EXPECT_FALSE(s->MaintenanceFor("geo").auto_optimize);
  EXPECT_EQ(s->MaintenanceFor("geo").min_small_chunks, 16);  // the defaults under the override
  EXPECT_EQ(s->MaintenanceFor("pin").min_small_chunks, 4);
  std::string e = Error(std::string(kGood) + "storage:\n  optimize: {min_small_chunk: 3}\n");
  EXPECT_NE(e.find("test.yaml:15:"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'min_small_chunks'"), std::string::npos) << e;
  e = Error(std::string(kGood) + "storage:\n  tables: {geo: {min_small_chunks: 1}}\n");
  EXPECT_NE(e.find("at least 2"), std::string::npos) << e;
  e = Error(std::string(kGood) + "storage:\n  table_checkpoint_interval: 0\n");
  EXPECT_NE(e.find("table_checkpoint_interval"), std::string::npos) << e;
  // VACUUM: 7 days by default, a retention and interval, per-table retention.
  EXPECT_TRUE(defaults.maintenance.auto_vacuum);
  EXPECT_EQ(defaults.maintenance.vacuum_retain_us, 7LL * 24 * 3600 * 1'000'000);
  c = Load(std::string(kGood) +
           "storage:\n"
           "  vacuum: {retain: 48h, interval: 5m}\n"
           "  tables: {job_runs: {retain: 720h}, geo: {auto_vacuum: false}}\n");
  s = c.Section<state::StoreOptions>(state::kStorageSection);
  EXPECT_EQ(s->vacuum_interval_us, 300'000'000);
  EXPECT_EQ(s->MaintenanceFor("pin").vacuum_retain_us, 48LL * 3600 * 1'000'000);
  EXPECT_EQ(s->MaintenanceFor("job_runs").vacuum_retain_us, 720LL * 3600 * 1'000'000);
  EXPECT_FALSE(s->MaintenanceFor("geo").auto_vacuum);
  EXPECT_EQ(s->MaintenanceFor("geo").vacuum_retain_us, 48LL * 3600 * 1'000'000);
  e = Error(std::string(kGood) + "storage:\n  vacuum: {retian: 1h}\n");
  EXPECT_NE(e.find("did you mean 'retain'"), std::string::npos) << e;
}

TEST_F(ConfigTest, YamlSyntaxErrorsCarryLineAndColumn) {
  std::string e = Error("data_dir: [unclosed\nqueries: []\n");
  EXPECT_NE(e.find("test.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("YAML syntax error"), std::string::npos) << e;
}

TEST_F(ConfigTest, SubstitutesEnvironmentVariablesWithDefaults) {
  ::setenv("PS_TEST_TABLE", "from_env", 1);
  ::unsetenv("PS_TEST_UNSET");
  std::string cfg = kGood;
  cfg.replace(cfg.find("table: t}"), 9, "table: '${PS_TEST_TABLE}'}");
  cfg.replace(cfg.find("data_dir: data"), 14, "data_dir: ${PS_TEST_UNSET:-/tmp/x}");
  DaemonConfig c = Load(cfg);
  EXPECT_EQ(c.queries[0].sink.spec->TableName(), "from_env");
  EXPECT_EQ(c.data_dir, "/tmp/x");
  cfg = kGood;
  cfg.replace(cfg.find("table: t}"), 9, "table: '${PS_TEST_UNSET}'}");
  std::string e = Error(cfg);
  EXPECT_NE(e.find("environment variable 'PS_TEST_UNSET' is not set"), std::string::npos) << e;
}

TEST_F(ConfigTest, TriggerForms) {
  for (auto [text, kind] : std::vector<std::pair<std::string, TriggerConfig::Kind>>{
           {"once", TriggerConfig::Kind::kOnce},
           {"available_now", TriggerConfig::Kind::kAvailableNow},
           {"continuous", TriggerConfig::Kind::kContinuous}}) {
    std::string cfg = kGood;
    cfg.replace(cfg.find("{processing_time: 2s}"), 21, text);
    EXPECT_EQ(Load(cfg).queries[0].trigger.kind, kind) << text;
  }
  std::string cfg = kGood;
  cfg.replace(cfg.find("{processing_time: 2s}"), 21, "onse");
  EXPECT_NE(Error(cfg).find("did you mean 'once'"), std::string::npos);
}

TEST_F(ConfigTest, DuplicateQueryNamesAndBadNamesAreRejected) {
  std::string cfg = kGood;
  cfg += "  - name: q\n    source: files\n    sink: {kind: console}\n";
  EXPECT_NE(Error(cfg).find("query name 'q' is used twice"), std::string::npos);
  cfg = kGood;
  cfg.replace(cfg.find("name: q"), 7, "name: ../q");
  EXPECT_NE(Error(cfg).find("invalid query name"), std::string::npos);
}

TEST_F(ConfigTest, JobsParseAndScheduleErrorsCarryTheirLocation) {
  dir_.Write("q1.sql", "SELECT 1;");
  std::string base = std::string(kGood) + "jobs:\n";
  DaemonConfig c = Load(base +
                        "  - {name: daily, at: \"02:00\", sql: [q1.sql], run_on_start: true}\n"
                        "  - {name: hourly, cron: \"@hourly\", sql: [{file: q1.sql, result_table: "
                        "hourly_counts}]}\n");
  ASSERT_EQ(c.jobs.size(), 2u);
  EXPECT_EQ(c.jobs[0].queries[0].result_table, "q1_result");
  EXPECT_EQ(c.jobs[0].queries[0].sql_file, dir_.path() + "/q1.sql");
  EXPECT_TRUE(c.jobs[0].run_on_start);
  EXPECT_EQ(c.jobs[1].queries[0].result_table, "hourly_counts");
  EXPECT_NE(
      Error(base + "  - {name: j, cron: \"0 25 * * *\", sql: [q1.sql]}\n").find("test.yaml:15:"),
      std::string::npos);
  EXPECT_NE(Error(base + "  - {name: j, cron: \"0 25 * * *\", sql: [q1.sql]}\n")
                .find("hour 25 is outside 0-23"),
            std::string::npos);
  EXPECT_NE(Error(base + "  - {name: j, at: \"2am\", sql: [q1.sql]}\n").find("not a time of day"),
            std::string::npos);
  EXPECT_NE(Error(base + "  - {name: j, every: 24h, at: \"02:00\", sql: [q1.sql]}\n")
                .find("exactly one schedule"),
            std::string::npos);
  EXPECT_NE(Error(base + "  - {name: j, every: 1h, sql: [nope.sql]}\n").find("does not exist"),
            std::string::npos);
  EXPECT_NE(
      Error(base +
            "  - {name: j, every: 1h, sql: [q1.sql]}\n  - {name: j, every: 2h, sql: [q1.sql]}\n")
          .find("used twice"),
      std::string::npos);
}

}  // namespace
}  // namespace pinstream
