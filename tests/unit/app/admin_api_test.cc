// The daemon's admin endpoints over a daemon with one query (fake source and sink), its source
// log, and the ingest API they are routes of.
#include "app/admin_api.h"

#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/daemon.h"
#include "state/source_log.h"
#include "state/store.h"
#include "tests/testing/fake_connectors.h"
#include "tests/testing/test_util.h"

namespace pinstream::app {
namespace {

using connectors::http::ApiRequest;
using connectors::http::ApiResponse;
using nlohmann::json;

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state::StoreOptions o;
    o.data_dir = dir_.path();
    store_ = std::move(state::Store::Open(o)).value();
    log_ = std::move(state::SourceLog::Open(store_.get(), {})).value();
    auto src = std::make_shared<testing::FakeSource::Data>();
    for (int i = 0; i < 2; ++i) testing::FakeSource::Append(*src, "0", "r" + std::to_string(i));
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
    daemon_ = std::make_unique<Daemon>(std::move(parts));
    ASSERT_TRUE(daemon_->Start().ok());
    ASSERT_EQ(daemon_->Run(), 0);  // two batches of one record each
    api_ = std::make_unique<connectors::http::Api>(http_, log_.get());
    AdminParts admin;
    admin.daemon = daemon_.get();
    admin.ready = [this] { return ready_.load(); };
    admin.store_failure = [this] { return store_failure_; };
    admin.log = log_.get();
    admin_ = std::make_unique<AdminApi>(std::move(admin));
    admin_->Install(*api_);
  }
  ApiResponse Call(const std::string& method, const std::string& path) {
    ApiRequest r;
    r.method = method;
    r.path = path;
    std::promise<ApiResponse> p;
    api_->Handle(r, [&p](ApiResponse resp) { p.set_value(std::move(resp)); });
    return p.get_future().get();
  }
  static json J(const ApiResponse& r) { return json::parse(r.body); }

  testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<state::SourceLog> log_;
  Registries reg_;
  DaemonConfig cfg_;
  InMemoryCheckpointStore checkpoints_;
  std::unique_ptr<Daemon> daemon_;
  connectors::http::HttpConfig http_;
  std::unique_ptr<connectors::http::Api> api_;
  std::unique_ptr<AdminApi> admin_;
  std::atomic<bool> ready_{true};
  std::optional<std::string> store_failure_;
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
  json all = J(Call("GET", "/queries"));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["name"], "q");
  EXPECT_EQ(all[0]["batchesCommitted"], 2);
  EXPECT_EQ(J(Call("GET", "/queries/q"))["state"], "finished");
  EXPECT_EQ(Call("GET", "/queries/q/nothing").status, 404);
  EXPECT_EQ(Call("POST", "/health").status, 405);
  EXPECT_EQ(Call("GET", "/nowhere").status, 404);
}

TEST_F(AdminApiTest, ReadyReportsAStoreThatCannotWriteAnyMore) {
  store_failure_ = "the store stopped writing (...); restart pinstream";
  auto r = Call("GET", "/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(J(r)["status"], "STORE_FAILED");
  EXPECT_NE(J(r)["message"].get<std::string>().find("restart pinstream"), std::string::npos);
  EXPECT_EQ(Call("GET", "/health").status, 200);  // the process itself is up
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
  EXPECT_EQ(Call("POST", "/jobs/daily/run").status, 404);
}

}  // namespace
}  // namespace pinstream::app
