// The daemon's admin endpoints and console over a daemon with one query (fake source and sink),
// its store with delta tables, its source log, and the ingest API they are routes of.
#include "app/admin_api.h"

#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "app/console.h"
#include "app/ingest_monitor.h"
#include "app/progress_history.h"
#include "app/progress_waiters.h"
#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/daemon.h"
#include "engine/dead_letter.h"
#include "engine/job_scheduler.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/source_log.h"
#include "state/store.h"
#include "state/table_maintenance.h"
#include "tests/testing/fake_connectors.h"
#include "tests/testing/test_util.h"

namespace pinstream::app {
namespace {

using connectors::http::ApiHeader;
using connectors::http::ApiRequest;
using connectors::http::ApiResponse;
using nlohmann::json;

// A job runner whose runs succeed at once with one result table.
class InstantRunner : public JobRunner {
 public:
  Status Execute(const JobConfig&, JobRun* run) override {
    run->results.push_back(JobRunResult{"daily_result", 0, 1});
    return Status::Ok();
  }
  Status Record(const JobRun&) override { return Status::Ok(); }
  void Cancel() override {}
};

class AdminApiTest : public ::testing::Test {
 protected:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  void SetUp() override {
    state::StoreOptions o;
    o.data_dir = dir_.path();
    store_ = std::move(state::Store::Open(o)).value();
    log_ = std::move(state::SourceLog::Open(store_.get(), {})).value();
    ASSERT_TRUE(log_->Create("t.pin", 2, state::LogApi::kKafkaTopic).ok());
    auto src = std::make_shared<testing::FakeSource::Data>();
    for (int i = 0; i < 2; ++i) testing::FakeSource::Append(*src, "0", "r" + std::to_string(i));
    src->arrival_us_base = NowMicros() - 2'000'000;  // the records arrived 2 s ago
    testing::RegisterFakes(reg_, src, std::make_shared<testing::CollectingSink::Data>());
    cfg_ = LoadConfigFromString(
        "data_dir: /unused\n"
        "sources: {s: {kind: fake}}\n"
        "queries:\n"
        "  - {name: q, source: s, trigger: available_now, max_records_per_trigger: 1, sink: {kind: "
        "collect}}\n",
        "test.yaml", dir_.path(), reg_);
    DaemonParts parts;
    parts.config = &cfg_;
    parts.checkpoints = &checkpoints_;
    parts.on_progress = [this](const QueryProgress& p) {
      history_.Add(p);
      waiters_.Committed(p.name, p.batch_id);
    };
    daemon_ = std::make_unique<Daemon>(std::move(parts));
    ASSERT_TRUE(daemon_->Start().ok());
    ASSERT_EQ(daemon_->Run(), 0);  // two batches of one record each
    admin_.daemon = daemon_.get();
    admin_.ready = [this] { return ready_.load(); };
    admin_.store_failure = [this] { return store_failure_; };
    admin_.store_write_error = [this] { return store_write_error_; };
    admin_.log = log_.get();
    admin_.store = store_.get();
    admin_.history = &history_;
    admin_.waiters = &waiters_;
    admin_.ingest = &ingest_;
    admin_.dead_letter_tables = {"q_errors"};
    maintenance_ = std::make_unique<state::TableMaintenance>(store_.get(), o);
    ASSERT_TRUE(maintenance_->Start().ok());
    admin_.maintenance = maintenance_.get();
    MakeApi();
  }
  // (Re)builds the API with the current http_ config and admin_ parts.
  void MakeApi() {
    admin_api_.reset();
    api_ = std::make_unique<connectors::http::Api>(http_, log_.get());
    admin_api_ = std::make_unique<AdminApi>(admin_);
    admin_api_->Install(*api_);
  }
  ApiResponse Call(const std::string& method, const std::string& target,
                   const Headers& headers = {}, std::string_view body = {}) {
    ApiRequest r;
    r.method = method;
    r.body = body;
    std::size_t q = target.find('?');
    r.path = std::string_view(target).substr(0, q);
    if (q != std::string::npos) r.query = std::string_view(target).substr(q + 1);
    std::vector<ApiHeader> h;
    for (const auto& [k, v] : headers) h.push_back(ApiHeader{k, v});
    r.headers = h;
    std::promise<ApiResponse> p;
    api_->Handle(r, [&p](ApiResponse resp) { p.set_value(std::move(resp)); });
    return p.get_future().get();
  }
  static json J(const ApiResponse& r) { return json::parse(r.body); }
  static std::string Header(const ApiResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return {};
  }
  // Writes rows [from, to) of (id, name) as a new version of `table`.
  void WriteTable(const std::string& table, int from, int to) {
    state::DeltaTable* t = *store_->Table(table, true);
    auto txn = store_->BeginTxn();
    ASSERT_TRUE(t->StageWrite(*txn, testing::IdNameRows(from, to), state::WriteOptions()).ok());
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  }
  // A version of the dead-letter table with `n` rejected rows of batch `batch`.
  void WriteDeadLetters(std::int64_t batch, int n) {
    DeadLetterBuilder b("q", batch, 1'700'000'000'000'000 + batch * 1'000'000);
    for (int i = 0; i < n; ++i) {
      b.Add(DeadLetterRow{"parse_json",
                          "bad JSON #" + std::to_string(batch) + "." + std::to_string(i), "s", "0",
                          batch * 10 + i, "s/0@" + std::to_string(batch * 10 + i), "{oops", false});
    }
    state::DeltaTable* t = *store_->Table("q_errors", true);
    auto txn = store_->BeginTxn();
    ASSERT_TRUE(t->StageWrite(*txn, b.Build(), state::WriteOptions()).ok());
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<state::SourceLog> log_;
  Registries reg_;
  DaemonConfig cfg_;
  InMemoryCheckpointStore checkpoints_;
  ProgressHistory history_;
  ProgressWaiters waiters_;
  IngestMonitor ingest_;
  std::unique_ptr<Daemon> daemon_;
  connectors::http::HttpConfig http_;
  AdminParts admin_;
  std::unique_ptr<connectors::http::Api> api_;
  std::unique_ptr<state::TableMaintenance> maintenance_;
  std::unique_ptr<AdminApi> admin_api_;
  std::atomic<bool> ready_{true};
  std::optional<std::string> store_failure_;
  std::optional<std::string> store_write_error_;
};

TEST_F(AdminApiTest, AdminEndpoints) {
  EXPECT_EQ(J(Call("GET", "/health"))["status"], "UP");
  EXPECT_EQ(J(Call("GET", "/ready"))["status"], "READY");
  auto m = Call("GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.content_type.find("text/plain"), std::string::npos);
  EXPECT_NE(m.body.find("pinstream_source_log_group_commits"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("pinstream_query_backlog_records{query=\"q\"}"), std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("pinstream_http_requests_total{api=\"admin\",status=\"200\"}"),
            std::string::npos)
      << m.body;
  EXPECT_EQ(J(Call("GET", "/queries/q/progress")).size(), 2u);
  EXPECT_EQ(Call("GET", "/queries/zz/progress").status, 404);
  // The age of each batch's oldest and newest record at its commit, as a histogram.
  for (const char* which : {"oldest", "newest"}) {
    std::string labels = std::string("{query=\"q\",record=\"") + which + "\"}";
    auto value = [&](const std::string& series) {
      auto at = m.body.find(series + labels + " ");
      EXPECT_NE(at, std::string::npos) << series << labels << " in " << m.body;
      return at == std::string::npos
                 ? 0.0
                 : std::stod(m.body.substr(at + series.size() + labels.size() + 1));
    };
    double count = value("pinstream_query_record_age_at_commit_seconds_count");
    EXPECT_GE(count, 2);  // two batches (and those of earlier tests in this process)
    EXPECT_GE(value("pinstream_query_record_age_at_commit_seconds_sum"), 2.0 * count);
  }
  json all = J(Call("GET", "/queries"));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["name"], "q");
  EXPECT_EQ(all[0]["batchesCommitted"], 2);
  EXPECT_EQ(J(Call("GET", "/queries/q"))["state"], "finished");
  EXPECT_EQ(Call("GET", "/queries/q/nothing").status, 404);
  EXPECT_EQ(Call("POST", "/health").status, 405);
  EXPECT_EQ(Call("GET", "/nowhere").status, 404);
}

// ?after=N lists the batches after N; &waitMs=M waits for one (a long poll: answered at once when
// there is one, with nothing new after M ms otherwise). Every report says when it was committed.
TEST_F(AdminApiTest, ProgressAfterABatchAndItsLongPoll) {
  json all = J(Call("GET", "/queries/q/progress"));
  ASSERT_EQ(all.size(), 2u);
  for (const auto& r : all) EXPECT_TRUE(ParseTimestamp(r["committedAt"].get<std::string>()).ok());
  json after0 = J(Call("GET", "/queries/q/progress?after=0"));
  ASSERT_EQ(after0.size(), 1u);
  EXPECT_EQ(after0[0]["batchId"], 1);
  EXPECT_EQ(J(Call("GET", "/queries/q/progress?after=-1")).size(), 2u);
  EXPECT_EQ(J(Call("GET", "/queries/q/progress?after=0&waitMs=60000")).size(), 1u);  // at once
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(J(Call("GET", "/queries/q/progress?after=1&waitMs=100")).size(), 0u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  for (const char* bad :
       {"after=x", "after=-2", "waitMs=60001", "waitMs=-1", "after=1&waitMs=1s"}) {
    auto r = Call("GET", std::string("/queries/q/progress?") + bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_TRUE(J(r).contains("error")) << bad;
  }
}

// The overview's numbers come with each query; the charts' from its bounded history.
TEST_F(AdminApiTest, QueriesCarryTheirNewestBatchAndTheirHistory) {
  json q = J(Call("GET", "/queries"))[0];
  for (const char* k : {"lastBatchTime", "inputRowsPerSecond", "processedRowsPerSecond",
                        "batchDurationMs", "recentInputRowsPerSecond"}) {
    EXPECT_TRUE(q.contains(k)) << k << " in " << q.dump();
  }
  EXPECT_TRUE(q["lastBatchTime"].is_string());
  EXPECT_GE(q["ingestToVisibleMs"].get<std::int64_t>(), 2000);  // arrived 2 s before
  EXPECT_FALSE(q.contains("eventTime"));
  json h = J(Call("GET", "/queries/q/history"));
  EXPECT_EQ(h["name"], "q");
  ASSERT_EQ(h["points"].size(), 2u);
  EXPECT_EQ(h["points"][1]["batchIds"], json::array({1, 1}));
  EXPECT_EQ(h["points"][0]["numInputRows"], 1);
  EXPECT_EQ(Call("GET", "/queries/zz/history").status, 404);
  EXPECT_EQ(Call("GET", "/queries/q/history/x").status, 404);
}

TEST_F(AdminApiTest, TablesTheirHistoryRowsAndSchema) {
  WriteTable("t", 0, 5);
  WriteTable("t", 5, 8);
  json list = J(Call("GET", "/tables"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "t");
  EXPECT_EQ(list[0]["version"], 1);
  EXPECT_EQ(list[0]["rows"], 8);
  std::int64_t b0 = (*(*store_->Table("t", false))->History())[1].bytes;
  std::int64_t b1 = (*(*store_->Table("t", false))->History())[0].bytes;
  ASSERT_GT(b0, 0);
  EXPECT_EQ(list[0]["bytes"], b0 + b1);  // the chunks visible at the latest version
  EXPECT_TRUE(list[0]["updated"].is_string());
  EXPECT_EQ(list[0]["deadLetter"], false);

  json t = J(Call("GET", "/tables/t"));
  EXPECT_EQ(t["versions"], 2);
  ASSERT_EQ(t["schema"].size(), 2u);
  EXPECT_EQ(t["schema"][0], json({{"name", "id"}, {"type", "int64"}, {"nullable", true}}));

  json hist = J(Call("GET", "/tables/t/history"));
  ASSERT_EQ(hist.size(), 2u);
  EXPECT_EQ(hist[0]["version"], 1);  // newest first
  EXPECT_EQ(hist[0]["rowsAdded"], 3);
  EXPECT_EQ(hist[0]["operation"], "STREAMING UPDATE");
  EXPECT_EQ(hist[0]["mode"], "Append");
  EXPECT_TRUE(hist[0]["txn"].is_null());
  json older = J(Call("GET", "/tables/t/history?limit=5&before=1"));
  ASSERT_EQ(older.size(), 1u);
  EXPECT_EQ(older[0]["version"], 0);
  EXPECT_EQ(J(Call("GET", "/tables/t/history?limit=1")).size(), 1u);

  json page = J(Call("GET", "/tables/t/rows?limit=2&offset=4"));
  EXPECT_EQ(page["version"], 1);
  EXPECT_EQ(page["totalRows"], 8);
  EXPECT_EQ(page["columns"][1], json({{"name", "name"}, {"type", "string"}}));
  ASSERT_EQ(page["rows"].size(), 2u);
  EXPECT_EQ(page["rows"][0]["id"], 4);  // across the versions' chunks
  EXPECT_EQ(page["rows"][1]["id"], 5);
  json v0 = J(Call("GET", "/tables/t/rows?version=0&offset=3"));
  EXPECT_EQ(v0["totalRows"], 5);
  ASSERT_EQ(v0["rows"].size(), 2u);
  EXPECT_EQ(v0["rows"][1]["id"], 4);
  EXPECT_EQ(J(Call("GET", "/tables/t/rows?offset=100"))["rows"].size(), 0u);

  auto missing_version = Call("GET", "/tables/t/rows?version=9");
  EXPECT_EQ(missing_version.status, 404);
  EXPECT_NE(J(missing_version)["error"].get<std::string>().find("versions 0..1"),
            std::string::npos);
  auto bad = Call("GET", "/tables/t/rows?limit=abc");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(J(bad)["error"].get<std::string>().find("'limit'"), std::string::npos);
  EXPECT_EQ(Call("GET", "/tables/t/rows?limit=5000").status, 400);
  EXPECT_EQ(Call("GET", "/tables/nope").status, 404);
  EXPECT_EQ(Call("GET", "/tables/nope/rows").status, 404);
  EXPECT_EQ(Call("GET", "/tables/t/other").status, 404);
}

// A table's bytes follow its versions: counted once, then from the commits added since; an
// overwrite leaves only its own chunks visible.
TEST_F(AdminApiTest, TableBytesFollowAppendsAndOverwrites) {
  WriteTable("t", 0, 5);
  auto bytes = [&] { return J(Call("GET", "/tables/t"))["bytes"].get<std::int64_t>(); };
  auto commit = [&](std::size_t newest) {
    return (*(*store_->Table("t", false))->History())[newest].bytes;
  };
  EXPECT_EQ(bytes(), commit(0));
  WriteTable("t", 5, 50);
  WriteTable("t", 50, 60);
  EXPECT_EQ(bytes(), commit(0) + commit(1) + commit(2));
  state::DeltaTable* t = *store_->Table("t", false);
  state::WriteOptions overwrite;
  overwrite.operation = "WRITE";
  overwrite.overwrite = true;
  auto txn = store_->BeginTxn();
  ASSERT_TRUE(t->StageWrite(*txn, testing::IdNameRows(0, 2), overwrite).ok());
  ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  WriteTable("t", 2, 4);
  EXPECT_EQ(bytes(), commit(0) + commit(1));
  json hist = J(Call("GET", "/tables/t/history?limit=2"));
  EXPECT_EQ(hist[1]["mode"], "Overwrite");
  EXPECT_EQ(hist[1]["operation"], "WRITE");
}

TEST_F(AdminApiTest, DeadLettersNewestFirstWithReasonAndPosition) {
  EXPECT_EQ(J(Call("GET", "/deadletters"))["rows"].size(), 0u);  // no table yet
  WriteDeadLetters(1, 2);
  WriteDeadLetters(2, 3);
  json dl = J(Call("GET", "/deadletters?limit=4"));
  EXPECT_EQ(dl["tables"], json::array({"q_errors"}));
  ASSERT_EQ(dl["rows"].size(), 4u);
  EXPECT_EQ(dl["rows"][0]["reason"], "bad JSON #2.2");
  EXPECT_EQ(dl["rows"][2]["reason"], "bad JSON #2.0");
  EXPECT_EQ(dl["rows"][3]["reason"], "bad JSON #1.1");
  EXPECT_EQ(dl["rows"][0]["table"], "q_errors");
  EXPECT_EQ(dl["rows"][0]["position"], "s/0@22");
  EXPECT_EQ(dl["rows"][0]["raw"], "{oops");
  EXPECT_EQ(dl["rows"][0]["batch_id"], 2);
  EXPECT_EQ(J(Call("GET", "/tables"))[0]["deadLetter"], true);
  EXPECT_EQ(Call("GET", "/deadletters?limit=0").status, 400);
}

TEST_F(AdminApiTest, StoreHealthAndIngest) {
  WriteTable("t", 0, 100);
  ASSERT_TRUE(store_->Flush().ok());
  json s = J(Call("GET", "/store"));
  EXPECT_EQ(s["status"], "OK");
  EXPECT_EQ(s["dataDir"], dir_.path());
  EXPECT_GT(s["disk"]["capacityBytes"].get<std::uint64_t>(), 0u);
  EXPECT_GT(s["bytes"]["tables"]["sstFiles"].get<std::uint64_t>(), 0u);
  EXPECT_TRUE(s["bytes"]["state"].contains("memtables"));
  ASSERT_EQ(s["sourceLog"]["streams"].size(), 1u);
  EXPECT_EQ(s["sourceLog"]["streams"][0]["name"], "t.pin");
  EXPECT_EQ(s["sourceLog"]["streams"][0]["partitions"], 2);
  store_failure_ = "the store stopped writing";
  s = J(Call("GET", "/store"));
  EXPECT_EQ(s["status"], "FAILED");
  EXPECT_EQ(s["error"], "the store stopped writing");

  ingest_.Sample(1000);
  json in = J(Call("GET", "/ingest"));
  ASSERT_EQ(in["apis"].size(), IngestMonitor::kApis.size());
  EXPECT_EQ(in["apis"][0]["api"], "kafka-rest");
  admin_.ingest = nullptr;
  MakeApi();
  EXPECT_EQ(Call("GET", "/ingest").status, 404);
}

TEST_F(AdminApiTest, TheConsoleIsServedWithItsAssets) {
  auto page = Call("GET", "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>pinstream console</title>"), std::string::npos);
  EXPECT_NE(Header(page, "Content-Security-Policy").find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(Header(page, "X-Frame-Options"), "DENY");
  for (const char* f : {"console.js", "console.css", "dygraph.min.js", "dygraph.css"}) {
    auto r = Call("GET", std::string("/console/") + f);
    EXPECT_EQ(r.status, 200) << f;
    EXPECT_GT(r.body.size(), 100u) << f;
  }
  EXPECT_EQ(Call("GET", "/console/console.js").content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(Call("GET", "/console/dygraph.min.js").body.find("Dygraph"), std::string::npos);
  // Revalidation and compression.
  std::string etag = Header(page, "ETag");
  ASSERT_FALSE(etag.empty());
  auto again = Call("GET", "/", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  auto gz = Call("GET", "/console/dygraph.min.js", {{"Accept-Encoding", "gzip, deflate, br"}});
  EXPECT_EQ(Header(gz, "Content-Encoding"), "gzip");
  ASSERT_GT(gz.body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz.body[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz.body[1]), 0x8b);
  EXPECT_LT(gz.body.size(), Call("GET", "/console/dygraph.min.js").body.size() / 2);
  EXPECT_EQ(Call("GET", "/console/nope.js").status, 404);
  EXPECT_EQ(Call("GET", "/console/a/b").status, 404);
  EXPECT_EQ(Call("POST", "/").status, 405);
}

// With http.auth the page and its assets stay open (they hold no data; the page asks for the
// token), everything with data needs the token.
TEST_F(AdminApiTest, WithAuthTheDataNeedsTheTokenButThePageDoesNot) {
  http_.bearer_tokens = {"s3cret"};
  MakeApi();
  EXPECT_EQ(Call("GET", "/").status, 200);
  EXPECT_EQ(Call("GET", "/console/console.js").status, 200);
  EXPECT_EQ(Call("GET", "/ready").status, 200);
  for (const char* path : {"/queries", "/tables", "/deadletters", "/ingest", "/store", "/jobs",
                           "/queries/q/history"}) {
    EXPECT_EQ(Call("GET", path).status, 401) << path;
  }
  EXPECT_EQ(Call("GET", "/tables", {{"Authorization", "Bearer s3cret"}}).status, 200);
  EXPECT_EQ(Call("GET", "/tables", {{"Authorization", "Bearer wrong"}}).status, 401);
}

TEST_F(AdminApiTest, RequestsThatChangeSomethingAreRefusedWhenTheyMayBeCrossSite) {
  JobConfig job;
  job.name = "daily";
  job.schedule_kind = "every";
  job.every_us = 86'400'000'000LL;
  InstantRunner runner;
  JobScheduler scheduler({job}, &runner);
  ASSERT_TRUE(scheduler.Start().ok());
  admin_.scheduler = &scheduler;
  MakeApi();
  const Headers ok = {{"X-Pinstream-Client", "console"},
                      {"Host", "127.0.0.1:8082"},
                      {"Origin", "http://127.0.0.1:8082"},
                      {"Sec-Fetch-Site", "same-origin"}};
  // A plain form POST from another site: no custom header, a foreign Origin.
  auto form = Call("POST", "/jobs/daily/run",
                   {{"Host", "127.0.0.1:8082"},
                    {"Origin", "http://evil.example"},
                    {"Sec-Fetch-Site", "cross-site"}});
  EXPECT_EQ(form.status, 403);
  EXPECT_NE(J(form)["error"].get<std::string>().find("X-Pinstream-Client"), std::string::npos);
  Headers foreign = ok;
  foreign[2].second = "http://evil.example";
  EXPECT_EQ(Call("POST", "/jobs/daily/run", foreign).status, 403);
  Headers null_origin = ok;
  null_origin[2].second = "null";
  EXPECT_EQ(Call("POST", "/jobs/daily/run", null_origin).status, 403);
  Headers cross = ok;
  cross[3].second = "cross-site";
  EXPECT_EQ(Call("POST", "/jobs/daily/run", cross).status, 403);
  EXPECT_TRUE(J(Call("GET", "/jobs/runs")).empty());  // nothing ran

  auto run = Call("POST", "/jobs/daily/run", ok);
  ASSERT_EQ(run.status, 202) << run.body;
  std::string id = J(run)["runId"];
  ASSERT_TRUE(testing::WaitFor([&] {
    json runs = J(Call("GET", "/jobs/runs"));
    return runs.size() == 1 && runs[0]["status"] == "succeeded";
  }));
  EXPECT_EQ(J(Call("GET", "/jobs/runs"))[0]["runId"], id);
  // The CLI: the header, no Origin (not a browser).
  EXPECT_EQ(Call("POST", "/jobs/daily/run", {{"X-Pinstream-Client", "pinstream-cli"}}).status, 202);
  EXPECT_EQ(Call("POST", "/jobs/nope/run", ok).status, 404);
  EXPECT_EQ(Call("GET", "/jobs/daily/run").status, 405);
  scheduler.StopAccepting();
  scheduler.Stop();
}

TEST_F(AdminApiTest, ReadyReportsAFullDiskUntilTheStoreWritesAgain) {
  store_write_error_ = "disk full: committing: IO error: No space left on device";
  auto r = Call("GET", "/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(J(r)["status"], "DISK_FULL");
  EXPECT_EQ(J(r)["message"], *store_write_error_);
  json s = J(Call("GET", "/store"));
  EXPECT_EQ(s["status"], "RECOVERING");
  EXPECT_EQ(s["error"], *store_write_error_);
  store_write_error_ = "IO error: Input/output error";
  EXPECT_EQ(J(Call("GET", "/ready"))["status"], "STORE_WRITE_ERROR");
  store_write_error_.reset();  // space freed: the store resumed
  EXPECT_EQ(Call("GET", "/ready").status, 200);
  EXPECT_EQ(Call("GET", "/health").status, 200);
}

TEST_F(AdminApiTest, ReadyReportsAStoreThatCannotWriteAnyMore) {
  store_failure_ = "the store stopped writing (...); restart pinstream";
  auto r = Call("GET", "/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(J(r)["status"], "STORE_FAILED");
  EXPECT_NE(J(r)["message"].get<std::string>().find("restart pinstream"), std::string::npos);
  EXPECT_EQ(Call("GET", "/health").status, 200);  // the process itself is up
}

// A query whose checkpoint is damaged does not keep the daemon from starting: it is failed,
// naming what was hit, in /queries and /ready (200 DEGRADED: ingest goes on), and the other query runs.
TEST_F(AdminApiTest, AQueryWithADamagedCheckpointFailsAloneAndReadySaysWhy) {
  Registries reg;  // a sink of its own (the fixture's daemon committed its batches to its own)
  auto src = std::make_shared<testing::FakeSource::Data>();
  for (int i = 0; i < 2; ++i) testing::FakeSource::Append(*src, "0", "r" + std::to_string(i));
  testing::RegisterFakes(reg, src, std::make_shared<testing::CollectingSink::Data>());
  DaemonConfig cfg = LoadConfigFromString(
      "data_dir: /unused\n"
      "sources: {s: {kind: fake}}\n"
      "queries:\n"
      "  - {name: damaged, source: s, trigger: available_now, sink: {kind: collect}}\n"
      "  - {name: intact, source: s, trigger: available_now, max_records_per_trigger: 1, sink: "
      "{kind: collect}}\n",
      "test.yaml", dir_.path(), reg);
  InMemoryCheckpointStore checkpoints;
  checkpoints.DamageCheckpointOf(
      "damaged", Corruption("query 'damaged': checkpoint entry offsets/7 is damaged (block "
                            "checksum mismatch)"));
  DaemonParts parts;
  parts.config = &cfg;
  parts.checkpoints = &checkpoints;
  Daemon daemon(std::move(parts));
  ASSERT_TRUE(daemon.Start().ok());
  EXPECT_EQ(daemon.Run(), 1);  // a query failed
  admin_.daemon = &daemon;
  MakeApi();
  json damaged = J(Call("GET", "/queries/damaged"));
  EXPECT_EQ(damaged["state"], "failed");
  EXPECT_NE(damaged["error"].get<std::string>().find("checkpoint entry offsets/7 is damaged"),
            std::string::npos)
      << damaged.dump();
  json intact = J(Call("GET", "/queries/intact"));
  EXPECT_EQ(intact["state"], "finished") << intact.dump();
  EXPECT_EQ(intact["batchesCommitted"], 2) << intact.dump();
  auto r = Call("GET", "/ready");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(J(r)["status"], "DEGRADED");
  EXPECT_NE(J(r)["message"].get<std::string>().find(
                "query 'damaged' failed: Corruption: query 'damaged': checkpoint entry offsets/7"),
            std::string::npos)
      << r.body;
  ASSERT_EQ(J(r)["queries"].size(), 1u) << r.body;
  EXPECT_EQ(J(r)["queries"][0]["name"], "damaged");
  EXPECT_EQ(Call("GET", "/health").status, 200);
  admin_.daemon = daemon_.get();
  MakeApi();
}

TEST_F(AdminApiTest, UntilTheDaemonIsReadyNoQueryIsListedOrFound) {
  ready_ = false;
  auto r = Call("GET", "/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(J(r)["status"], "RECOVERING");
  EXPECT_EQ(J(Call("GET", "/queries")), json::array());
  EXPECT_EQ(Call("GET", "/queries/q").status, 404);
  EXPECT_EQ(Call("GET", "/queries/q/progress").status, 404);
}

TEST_F(AdminApiTest, WithoutJobsTheJobEndpointsSaySo) {
  auto r = Call("GET", "/jobs");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(J(r)["error"].get<std::string>().find("no jobs"), std::string::npos);
  EXPECT_EQ(Call("POST", "/jobs/daily/run", {{"X-Pinstream-Client", "t"}}).status, 404);
}

TEST_F(AdminApiTest, TablesAreListedMeasuredAndOptimizedOnDemand) {
  state::DeltaTable* t = *store_->Table("geo", true);
  for (int i = 0; i < 5; ++i) {
    auto txn = store_->BeginTxn();
    ASSERT_TRUE(t->StageWrite(*txn, testing::IdNameRows(i, i + 1), {}).ok());
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  }
  json all = J(Call("GET", "/tables"));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["name"], "geo");
  EXPECT_EQ(all[0]["version"], 4);
  EXPECT_EQ(all[0]["chunks"], 5);
  EXPECT_EQ(all[0]["smallChunks"], 5);
  auto m = Call("GET", "/metrics").body;
  EXPECT_NE(m.find("pinstream_table_versions{table=\"geo\"} 5"), std::string::npos) << m;
  EXPECT_NE(m.find("pinstream_table_chunks{table=\"geo\"} 5"), std::string::npos) << m;
  EXPECT_NE(m.find("pinstream_table_rows{table=\"geo\"} 5"), std::string::npos) << m;
  EXPECT_NE(m.find("pinstream_table_bytes{table=\"geo\"}"), std::string::npos) << m;
  // POST /tables/geo/optimize answers once the maintenance thread has compacted the table.
  EXPECT_EQ(Call("GET", "/tables/geo/optimize").status, 405);
  EXPECT_EQ(Call("POST", "/tables/geo/optimize").status, 403);  // without X-Pinstream-Client
  const Headers client = {{"X-Pinstream-Client", "t"}};
  auto r = Call("POST", "/tables/geo/optimize", client);
  ASSERT_EQ(r.status, 200) << r.body;
  json report = J(r);
  ASSERT_EQ(report["commits"].size(), 1u);
  EXPECT_EQ(report["commits"][0]["operation"], "OPTIMIZE");
  EXPECT_EQ(report["commits"][0]["chunksRemoved"], 5);
  EXPECT_EQ(J(Call("GET", "/tables/geo"))["chunks"], 1);
  EXPECT_EQ(J(Call("GET", "/tables/geo"))["rows"], 5);
  EXPECT_EQ(Call("POST", "/tables/nope/optimize", client).status, 404);
  // POST /tables/geo/vacuum: a dry run, then keeping only the latest version.
  EXPECT_EQ(Call("POST", "/tables/geo/vacuum", client, R"({"retainMs": "soon"})").status, 400);
  json dry = J(Call("POST", "/tables/geo/vacuum", client, R"({"retainMs": 0, "dryRun": true})"));
  EXPECT_EQ(dry["outcome"], "dry run");
  EXPECT_EQ(dry["chunksRemoved"], 5);
  EXPECT_EQ(J(Call("GET", "/tables/geo"))["oldestReadableVersion"], 0);
  json vac = J(Call("POST", "/tables/geo/vacuum", client, R"({"retainMs": 0})"));
  EXPECT_EQ(vac["outcome"], "committed");
  EXPECT_EQ(vac["oldestReadable"], 5);
  EXPECT_EQ(vac["commit"]["operation"], "VACUUM");
  EXPECT_EQ(J(Call("GET", "/tables/geo"))["oldestReadableVersion"], 5);
  EXPECT_EQ(J(Call("GET", "/tables/geo"))["rows"], 5);
  m = Call("GET", "/metrics").body;
  EXPECT_NE(m.find("pinstream_table_oldest_readable_version{table=\"geo\"} 5"), std::string::npos)
      << m;
  EXPECT_EQ(Call("GET", "/tables/geo/nothing").status, 404);
}

}  // namespace
}  // namespace pinstream::app
