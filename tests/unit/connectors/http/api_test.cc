#include "connectors/http/api.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <future>
#include <nlohmann/json.hpp>

#include "connectors/http/kinesis_streams.h"
#include "connectors/http/partitioner.h"
#include "connectors/http/sigv4.h"
#include "engine/metrics.h"
#include "engine/row_format.h"
#include "engine/time_util.h"
#include "state/source_log.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::connectors::http {
namespace {

using nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state::StoreOptions o;
    o.data_dir = dir_.path();
    store_ = std::move(state::Store::Open(o)).value();
    log_ = std::move(state::SourceLog::Open(store_.get(), {})).value();
    cfg_.topics = {{"u.pin", 2}};
    cfg_.streams = {{"streaming-u-pin", 2}};
    Make();
  }
  void Make() {
    api_ = std::make_unique<Api>(cfg_, log_.get());
    ASSERT_TRUE(api_->DeclareStreams().ok());
    // Routes like the daemon's admin endpoints (app/admin_api.h): one open, one authenticated.
    api_->AddRoute({"health", "admin", /*open=*/true,
                    [](const ApiRequest&, const PathSegments&, Respond respond) {
                      respond(JsonResponse(200, R"({"status":"UP"})"));
                    }});
    api_->AddRoute({"metrics", "admin", /*open=*/false,
                    [](const ApiRequest&, const PathSegments& seg, Respond respond) {
                      respond(JsonResponse(200, fmt::format(R"({{"segments":{}}})", seg.size())));
                    }});
  }
  ApiResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                   std::map<std::string, std::string> headers = {}) {
    ApiRequest r;
    r.method = method;
    r.path = path;
    r.body = body;
    std::vector<ApiHeader> fields;
    for (const auto& [name, value] : headers) fields.push_back(ApiHeader{name, value});
    r.headers = fields;
    std::promise<ApiResponse> p;
    api_->Handle(r, [&p](ApiResponse resp) { p.set_value(std::move(resp)); });
    return p.get_future().get();
  }
  ApiResponse Rest(const std::string& topic, const std::string& body,
                   const std::string& ct = "application/vnd.kafka.json.v2+json") {
    return Call("POST", "/topics/" + topic, body, {{"content-type", ct}});
  }
  ApiResponse Native(const std::string& op, const json& body) {
    return Call("POST", "/", body.dump(),
                {{"x-amz-target", "Kinesis_20131202." + op},
                 {"content-type", "application/x-amz-json-1.1"}});
  }
  static json J(const ApiResponse& r) { return json::parse(r.body); }

  pinstream::testing::TempDir dir_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<state::SourceLog> log_;
  HttpConfig cfg_;
  std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, RestProxyProduceAnswersOffsetsInRequestOrderOnceDurable) {
  auto r = Rest(
      "u.pin",
      R"({"records":[{"value":{"index":1}},{"value":{"index":2},"partition":1},{"value":{"index":3},"partition":1}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/vnd.kafka.v2+json");
  json j = J(r);
  ASSERT_EQ(j["offsets"].size(), 3u);
  EXPECT_EQ(j["offsets"][1]["partition"], 1);
  EXPECT_EQ(j["offsets"][1]["offset"], 0);
  EXPECT_EQ(j["offsets"][2]["offset"], 1);
  EXPECT_TRUE(j["offsets"][0]["error_code"].is_null());
  EXPECT_TRUE(j["key_schema_id"].is_null());
  EXPECT_EQ(log_->Bounds("u.pin", 1)->second, 2);  // durable before the answer
}

TEST_F(ApiTest, HeaderNamesMatchWhateverTheirCase) {
  // HTTP field names are case-insensitive (RFC 9110): clients send Content-Type, content-type...
  auto r = Call("POST", "/topics/u.pin", R"({"records":[{"value":1}]})",
                {{"CONTENT-TYPE", "application/vnd.kafka.json.v2+json; charset=utf-8"}});
  EXPECT_EQ(r.status, 200) << r.body;
  ApiRequest req;
  std::vector<ApiHeader> h{{"X-Amz-Target", "Kinesis_20131202.PutRecord"},
                           {"x-amz-target", "second"}};
  req.headers = h;
  EXPECT_EQ(req.header("x-amz-target"), "Kinesis_20131202.PutRecord");  // the first one
  EXPECT_EQ(req.header("X-AMZ-TARGET"), "Kinesis_20131202.PutRecord");
  EXPECT_EQ(req.header("x-amz-targe"), "");
  EXPECT_TRUE(EqualsIgnoreCase("Content-Length", "content-length"));
  EXPECT_FALSE(EqualsIgnoreCase("Content-Length", "content-lengths"));
  EXPECT_FALSE(EqualsIgnoreCase("a[", "A{"));  // only letters fold
}

TEST_F(ApiTest, RestProxyErrorsUseTheProxysCodes) {
  auto nf = Rest("u.nope", R"({"records":[{"value":1}]})");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(J(nf)["error_code"], 40401);
  auto ct = Rest("u.pin", R"({"records":[{"value":1}]})", "application/json");
  EXPECT_EQ(ct.status, 415);
  auto empty = Rest("u.pin", R"({"records":[]})");
  EXPECT_EQ(empty.status, 422);
  EXPECT_EQ(J(empty)["error_code"], 42201);
  auto malformed = Rest("u.pin", R"({"records":[{"value":)");
  EXPECT_EQ(malformed.status, 400);
  auto part = Rest("u.pin", R"({"records":[{"value":1,"partition":7}]})");
  EXPECT_EQ(part.status, 404);
  EXPECT_EQ(J(part)["error_code"], 40402);
  auto method = Call("DELETE", "/topics/u.pin");
  EXPECT_EQ(method.status, 405);
  auto traversal = Call("POST", "/topics/../etc", R"({"records":[{"value":1}]})",
                        {{"content-type", "application/vnd.kafka.json.v2+json"}});
  EXPECT_EQ(traversal.status, 404);
  EXPECT_EQ(J(traversal)["error_code"], 40401);
  EXPECT_EQ(log_->Bounds("u.pin", 0)->second, 0);  // nothing written by any of them
}

TEST_F(ApiTest, RestProxyTopicMetadata) {
  EXPECT_EQ(J(Call("GET", "/topics")), json::array({"u.pin"}));
  auto t = J(Call("GET", "/topics/u.pin"));
  EXPECT_EQ(t["name"], "u.pin");
  EXPECT_EQ(t["partitions"].size(), 2u);
  EXPECT_EQ(Call("GET", "/topics/zzz").status, 404);
}

TEST_F(ApiTest, RestProxyProducesIntoOnePartitionAndDescribesIt) {
  const std::string ct = "application/vnd.kafka.json.v2+json";
  // Every record goes to the partition of the path, whatever its key.
  auto r = Call("POST", "/topics/u.pin/partitions/1",
                R"({"records":[{"value":{"n":1}},{"key":"k","value":{"n":2}}]})",
                {{"content-type", ct}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = J(r);
  ASSERT_EQ(j["offsets"].size(), 2u);
  EXPECT_EQ(j["offsets"][0]["partition"], 1);
  EXPECT_EQ(j["offsets"][1]["partition"], 1);
  EXPECT_EQ(j["offsets"][1]["offset"], 1);
  EXPECT_EQ(log_->Bounds("u.pin", 1)->second, 2);
  EXPECT_EQ(log_->Bounds("u.pin", 0)->second, 0);
  for (const char* bad : {"/topics/u.pin/partitions/2", "/topics/u.pin/partitions/x",
                          "/topics/u.pin/partitions/-1"}) {
    auto e = Call("POST", bad, R"({"records":[{"value":1}]})", {{"content-type", ct}});
    EXPECT_EQ(e.status, 404) << bad;
    EXPECT_EQ(J(e)["error_code"], 40402) << bad;
  }
  EXPECT_EQ(Call("POST", "/topics/u.nope/partitions/0", R"({"records":[{"value":1}]})",
                 {{"content-type", ct}})
                .status,
            404);
  EXPECT_EQ(Call("DELETE", "/topics/u.pin/partitions/0").status, 405);
  auto p = Call("GET", "/topics/u.pin/partitions/1");
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(J(p)["partition"], 1);
  EXPECT_EQ(J(p)["leader"], 0);
  EXPECT_EQ(J(Call("GET", "/topics/u.pin/partitions/2"))["error_code"], 40402);
  EXPECT_EQ(log_->Bounds("u.pin", 1)->second, 2);  // none of the refused requests wrote
}

TEST_F(ApiTest, GatewayPutRecordAndPutRecords) {
  auto r =
      Call("PUT", "/streams/streaming-u-pin/record",
           R"({"StreamName":"streaming-u-pin","Data":{"index":1},"PartitionKey":"partition-1"})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = J(r);
  EXPECT_EQ(j["ShardId"], "shardId-000000000001");  // md5("partition-1") over 2 shards
  EXPECT_EQ(j["SequenceNumber"].get<std::string>().size(), 27u);
  auto m = Call(
      "PUT", "/streams/streaming-u-pin/records",
      R"({"records":[{"data":{"a":1},"partition-key":"x"},{"data":"{\"b\":2}","partition-key":"x"}]})");
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(J(m)["FailedRecordCount"], 0);
  EXPECT_EQ(J(m)["Records"].size(), 2u);
  auto nf = Call("PUT", "/streams/nope/record", R"({"Data":{},"PartitionKey":"p"})");
  EXPECT_EQ(nf.status, 400);
  EXPECT_EQ(J(nf)["__type"], "ResourceNotFoundException");
  auto bad = Call("PUT", "/streams/streaming-u-pin/record", R"({"Data":{}})");
  EXPECT_EQ(J(bad)["__type"], "ValidationException");
  EXPECT_EQ(Call("GET", "/streams/streaming-u-pin/record").status, 405);
}

TEST_F(ApiTest, GatewayStreamLifecycle) {
  EXPECT_EQ(Call("POST", "/streams/s2", R"({"ShardCount": 3})").status, 200);
  EXPECT_EQ(J(Call("POST", "/streams/s2", R"({"ShardCount": 3})"))["__type"],
            "ResourceInUseException");
  auto d = J(Call("GET", "/streams/s2"));
  EXPECT_EQ(d["StreamDescription"]["Shards"].size(), 3u);
  EXPECT_EQ(d["StreamDescription"]["StreamStatus"], "ACTIVE");
  auto names = J(Call("GET", "/streams"));
  EXPECT_EQ(names["StreamNames"], json::array({"s2", "streaming-u-pin"}));
  EXPECT_FALSE(names["HasMoreStreams"]);
  EXPECT_EQ(Call("DELETE", "/streams/s2").status, 200);
  EXPECT_EQ(J(Call("DELETE", "/streams/s2"))["__type"], "ResourceNotFoundException");
}

TEST_F(ApiTest, NativeKinesisProtocolRoundTrip) {
  EXPECT_EQ(Native("CreateStream", {{"StreamName", "n1"}, {"ShardCount", 1}}).status, 200);
  auto put = Native("PutRecord",
                    {{"StreamName", "n1"}, {"Data", Base64Encode("hello")}, {"PartitionKey", "k"}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(J(put)["ShardId"], "shardId-000000000000");
  EXPECT_EQ(put.content_type, "application/x-amz-json-1.1");
  auto puts = Native("PutRecords", {{"StreamName", "n1"},
                                    {"Records",
                                     {{{"Data", Base64Encode("a")}, {"PartitionKey", "k"}},
                                      {{"Data", Base64Encode("b")}, {"PartitionKey", "k"}}}}});
  EXPECT_EQ(J(puts)["Records"].size(), 2u);
  auto it = Native("GetShardIterator", {{"StreamName", "n1"},
                                        {"ShardId", "shardId-000000000000"},
                                        {"ShardIteratorType", "TRIM_HORIZON"}});
  ASSERT_EQ(it.status, 200) << it.body;
  auto recs = Native("GetRecords", {{"ShardIterator", J(it)["ShardIterator"]}, {"Limit", 2}});
  ASSERT_EQ(recs.status, 200) << recs.body;
  json rj = J(recs);
  ASSERT_EQ(rj["Records"].size(), 2u);
  std::string data;
  ASSERT_TRUE(Base64Decode(rj["Records"][0]["Data"].get<std::string>(), &data));
  EXPECT_EQ(data, "hello");
  EXPECT_EQ(rj["Records"][0]["PartitionKey"], "k");
  auto rest = J(Native("GetRecords", {{"ShardIterator", rj["NextShardIterator"]}}));
  ASSERT_EQ(rest["Records"].size(), 1u);
  auto after = Native("GetShardIterator", {{"StreamName", "n1"},
                                           {"ShardId", "shardId-000000000000"},
                                           {"ShardIteratorType", "AFTER_SEQUENCE_NUMBER"},
                                           {"StartingSequenceNumber", J(put)["SequenceNumber"]}});
  EXPECT_EQ(
      J(Native("GetRecords", {{"ShardIterator", J(after)["ShardIterator"]}}))["Records"].size(),
      2u);
  EXPECT_EQ(J(Native("ListStreams", json::object()))["StreamNames"],
            json::array({"n1", "streaming-u-pin"}));
  EXPECT_EQ(J(Native("DescribeStreamSummary",
                     {{"StreamName", "n1"}}))["StreamDescriptionSummary"]["OpenShardCount"],
            1);
  EXPECT_EQ(J(Native("DescribeStream", {{"StreamName", "zz"}}))["__type"],
            "ResourceNotFoundException");
  EXPECT_EQ(J(Native("MergeShards", {{"StreamName", "n1"}}))["__type"],
            "UnknownOperationException");
  EXPECT_EQ(J(Native("PutRecord",
                     {{"StreamName", "n1"}, {"Data", "!!"}, {"PartitionKey", "k"}}))["__type"],
            "ValidationException");
}

// Found by the kinesis_native fuzzer: a shard id or sequence number with more digits than an int
// or int64 holds threw std::out_of_range out of the request handler, which ended the daemon.
TEST_F(ApiTest, NativeKinesisShardIdsAndSequenceNumbersOutOfRangeAreValidationErrors) {
  ASSERT_EQ(Native("CreateStream", {{"StreamName", "n2"}, {"ShardCount", 1}}).status, 200);
  auto shard = Native("GetShardIterator", {{"StreamName", "n2"},
                                           {"ShardId", "shardId-040000000000"},
                                           {"ShardIteratorType", "TRIM_HORIZON"}});
  EXPECT_EQ(shard.status, 400) << shard.body;
  auto seq =
      Native("GetShardIterator", {{"StreamName", "n2"},
                                  {"ShardId", "shardId-000000000000"},
                                  {"ShardIteratorType", "AT_SEQUENCE_NUMBER"},
                                  {"StartingSequenceNumber", "4900000" + std::string(20, '9')}});
  EXPECT_EQ(seq.status, 400) << seq.body;
  int s = -1;
  std::int64_t o = -1;
  EXPECT_FALSE(ParseShardId("shardId-99999999999999999999", &s));
  EXPECT_TRUE(ParseShardId("shardId-000000000007", &s));
  EXPECT_EQ(s, 7);
  EXPECT_FALSE(ParseSequenceNumber("4900000" + std::string(20, '9'), &s, &o));
  EXPECT_TRUE(ParseSequenceNumber(SequenceNumber(3, 9223372036854775807LL), &s, &o));
  EXPECT_EQ(s, 3);
  EXPECT_EQ(o, 9223372036854775807LL);
}

// Found by the http_session fuzzer: an error body quoting an X-Amz-Target that is not UTF-8 threw
// from json::dump out of the request handler, which ended the daemon.
TEST_F(ApiTest, ErrorsQuotingBytesThatAreNotUtf8AreAnsweredNotThrown) {
  auto r = Native("Describe\xcfStream", {{"StreamName", "streaming-u-pin"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(J(r)["__type"], "UnknownOperationException");
  EXPECT_NE(J(r)["message"].get<std::string>().find("Describe\xef\xbf\xbdStream"),
            std::string::npos);  // U+FFFD
}

TEST_F(ApiTest, AuthIsRequiredWhenConfiguredExceptForHealthAndReady) {
  cfg_.bearer_tokens = {"s3cret"};
  cfg_.api_keys = {"key1"};
  Make();
  auto denied = Rest("u.pin", R"({"records":[{"value":1}]})");
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(J(denied)["error_code"], 40101);
  EXPECT_EQ(Call("GET", "/health").status, 200);
  EXPECT_EQ(Call("GET", "/metrics").status, 401);
  auto kin = Call("PUT", "/streams/streaming-u-pin/record", R"({"Data":{},"PartitionKey":"p"})");
  EXPECT_EQ(J(kin)["__type"], "UnrecognizedClientException");
  EXPECT_EQ(Call("POST", "/topics/u.pin", R"({"records":[{"value":1}]})",
                 {{"content-type", "application/vnd.kafka.json.v2+json"},
                  {"authorization", "Bearer s3cret"}})
                .status,
            200);
  EXPECT_EQ(Call("GET", "/topics", "", {{"x-api-key", "key1"}}).status, 200);
  EXPECT_EQ(Call("GET", "/topics", "", {{"authorization", "Bearer wrong"}}).status, 401);
}

TEST_F(ApiTest, TokensAreCheckedWhateverTheSchemeCaseAndAdminPostsNeedThem) {
  cfg_.bearer_tokens = {"s3cret", "other-token"};
  Make();
  EXPECT_EQ(Call("GET", "/topics", "", {{"authorization", "bearer other-token"}}).status, 200);
  EXPECT_EQ(Call("GET", "/topics", "", {{"authorization", "Bearer s3cre"}}).status, 401);
  EXPECT_EQ(Call("GET", "/topics", "", {{"authorization", "Bearer s3cret "}}).status, 401);
  EXPECT_EQ(Call("POST", "/metrics/x/run").status, 401);  // an admin action without the token
  EXPECT_EQ(Call("POST", "/metrics/x/run", "", {{"authorization", "Bearer s3cret"}}).status, 200);
  // The native Kinesis API without SigV4 configured takes the token too (clients that are not
  // AWS SDKs); an AWS SDK's signature alone is not a token.
  auto missing = Native("ListStreams", json::object());
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(J(missing)["__type"], "MissingAuthenticationTokenException");
  auto sdk = Call("POST", "/", "{}",
                  {{"x-amz-target", "Kinesis_20131202.ListStreams"},
                   {"authorization",
                    "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/"
                    "kinesis/aws4_request, SignedHeaders=host, Signature=00"}});
  EXPECT_EQ(J(sdk)["__type"], "UnrecognizedClientException");
}

// A native Kinesis request signed the way AWS SDKs sign it, at `when_us`.
ApiResponse CallSigned(Api& api, const std::string& key_id, const std::string& secret,
                       std::int64_t when_us, const std::string& op, const std::string& body) {
  std::time_t t = static_cast<std::time_t>(when_us / 1'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char amz_date[20];
  std::strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
  std::string target = "Kinesis_20131202." + op;
  std::vector<ApiHeader> headers = {{"Host", "127.0.0.1:8082"},
                                    {"Content-Type", "application/x-amz-json-1.1"},
                                    {"X-Amz-Date", amz_date},
                                    {"X-Amz-Target", target}};
  ApiRequest r;
  r.method = "POST";
  r.path = r.raw_path = "/";
  r.body = body;
  r.headers = headers;
  std::vector<std::string> signed_headers = {"content-type", "host", "x-amz-date", "x-amz-target"};
  std::string date(amz_date, 8);
  std::string scope = date + "/us-east-1/kinesis/aws4_request";
  std::string signature =
      SigV4Signature(SigV4SigningKey(secret, date, "us-east-1", "kinesis"),
                     SigV4StringToSign(amz_date, scope,
                                       SigV4CanonicalRequest(r, signed_headers, Sha256Hex(body))));
  std::string auth =
      "AWS4-HMAC-SHA256 Credential=" + key_id + "/" + scope +
      ", SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + signature;
  headers.push_back({"Authorization", auth});
  r.headers = headers;
  std::promise<ApiResponse> p;
  api.Handle(r, [&p](ApiResponse resp) { p.set_value(std::move(resp)); });
  return p.get_future().get();
}

TEST_F(ApiTest, NativeKinesisVerifiesAwsSignaturesWithTheConfiguredKeys) {
  cfg_.aws_sigv4.access_keys = {{"AKIDTEST", "the-secret"}};
  cfg_.aws_sigv4.region = "us-east-1";
  Make();
  std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  auto ok = CallSigned(*api_, "AKIDTEST", "the-secret", now, "ListStreams", "{}");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(J(ok)["StreamNames"][0], "streaming-u-pin");
  auto put = CallSigned(*api_, "AKIDTEST", "the-secret", now, "PutRecord",
                        R"({"StreamName":"streaming-u-pin","Data":"e30=","PartitionKey":"p"})");
  EXPECT_EQ(put.status, 200) << put.body;

  auto wrong = CallSigned(*api_, "AKIDTEST", "not-the-secret", now, "ListStreams", "{}");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(J(wrong)["__type"], "InvalidSignatureException");
  auto unknown = CallSigned(*api_, "AKIDOTHER", "the-secret", now, "ListStreams", "{}");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(J(unknown)["__type"], "UnrecognizedClientException");
  auto old =
      CallSigned(*api_, "AKIDTEST", "the-secret", now - 20LL * 60'000'000, "ListStreams", "{}");
  EXPECT_EQ(J(old)["__type"], "InvalidSignatureException");
  EXPECT_NE(J(old)["message"].get<std::string>().find("Signature expired"), std::string::npos);
  auto unsigned_call = Native("ListStreams", json::object());
  EXPECT_EQ(unsigned_call.status, 400);
  EXPECT_EQ(J(unsigned_call)["__type"], "MissingAuthenticationTokenException");
  // Without tokens configured the other APIs stay open (README "Security").
  EXPECT_EQ(Call("GET", "/topics").status, 200);
}

TEST_F(ApiTest, BackpressureAnswers429AndProvisionedThroughputExceeded) {
  cfg_.max_backlog_records = 2;
  Make();
  log_->RegisterConsumer("q", "u.pin");
  log_->RegisterConsumer("q2", "streaming-u-pin");
  ASSERT_EQ(Rest("u.pin", R"({"records":[{"value":1},{"value":2},{"value":3}]})").status, 200);
  auto slow = Rest("u.pin", R"({"records":[{"value":4}]})");
  EXPECT_EQ(slow.status, 429);
  EXPECT_EQ(J(slow)["error_code"], 42901);
  ASSERT_EQ(slow.headers.size(), 1u);
  EXPECT_EQ(slow.headers[0].first, "Retry-After");
  log_->Commit("q", "u.pin", {{"0", 10}, {"1", 10}});
  EXPECT_EQ(Rest("u.pin", R"({"records":[{"value":5}]})").status, 200);
  for (int i = 0; i < 3; ++i)
    Call("PUT", "/streams/streaming-u-pin/record", R"({"Data":{},"PartitionKey":"p"})");
  auto kin = Call("PUT", "/streams/streaming-u-pin/record", R"({"Data":{},"PartitionKey":"p"})");
  EXPECT_EQ(J(kin)["__type"], "ProvisionedThroughputExceededException");
}

TEST_F(ApiTest, AddedRoutesAreServedByTheirFirstSegmentAndCountedUnderTheirLabel) {
  auto r = Call("GET", "/metrics/a/b");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(J(r)["segments"], 3);
  EXPECT_EQ(Call("GET", "/health").status, 200);
  EXPECT_EQ(Call("GET", "/nowhere").status, 404);
  EXPECT_EQ(J(Call("GET", "/nowhere"))["error_code"], 404);
  std::string text = Metrics().RenderPrometheus();
  EXPECT_NE(text.find("pinstream_http_requests_total{api=\"admin\",status=\"200\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("pinstream_http_requests_total{api=\"none\",status=\"404\"}"),
            std::string::npos)
      << text;
}

// The route with segment "" serves the root path; native Kinesis requests (POST / with
// X-Amz-Target) still go to Kinesis.
TEST_F(ApiTest, ARouteWithAnEmptySegmentServesTheRootPath) {
  EXPECT_EQ(Call("GET", "/").status, 404);
  api_->AddRoute({"", "console", /*open=*/true,
                  [](const ApiRequest&, const PathSegments& seg, Respond respond) {
                    respond(JsonResponse(200, fmt::format(R"({{"segments":{}}})", seg.size())));
                  }});
  auto r = Call("GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(J(r)["segments"], 0);
  EXPECT_EQ(Native("ListStreams", json::object()).status, 200);
  EXPECT_EQ(Call("GET", "/nowhere").status, 404);
}

TEST_F(ApiTest, ProduceRequestsAreCountedByApiAndTheirAcksTimed) {
  ASSERT_EQ(Rest("u.pin", R"({"records":[{"value":1}]})").status, 200);
  std::string text = Metrics().RenderPrometheus();
  EXPECT_NE(text.find("pinstream_http_requests_total{api=\"kafka-rest\",status=\"200\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("pinstream_http_records_total{api=\"kafka-rest\",status=\"200\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("pinstream_http_ack_latency_seconds_bucket"), std::string::npos);
}

// Records without a partition go where the API's own clients would send them: a key's partition
// (Kafka murmur2 for topics, the MD5 hash-key range for streams), keyless ones round-robin.
TEST_F(ApiTest, KeyedRecordsGoToTheirKeysPartitionAndKeylessOnesRoundRobin) {
  auto r = Rest(
      "u.pin",
      R"({"records":[{"key":"abc","value":1},{"key":"abc","value":2},{"value":3},{"value":4}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  json offsets = J(r)["offsets"];
  // An embedded JSON key's bytes are its JSON text: "abc" with the quotes.
  int keyed = KafkaPartitionForKey("\"abc\"", 2);
  EXPECT_EQ(offsets[0]["partition"], keyed);
  EXPECT_EQ(offsets[1]["partition"], keyed);
  EXPECT_NE(offsets[2]["partition"], offsets[3]["partition"]);  // round-robin over 2 partitions
  auto k = Call("PUT", "/streams/streaming-u-pin/record",
                R"({"Data":{"a":1},"PartitionKey":"partition-1"})");
  ASSERT_EQ(k.status, 200) << k.body;
  EXPECT_EQ(J(k)["ShardId"], ShardId(KinesisShardForKey("partition-1", 2)));
}

TEST_F(ApiTest, AutoCreateMakesUnknownTopicsOnFirstWrite) {
  cfg_.auto_create = true;
  cfg_.default_partitions = 3;
  Make();
  EXPECT_EQ(Rest("new.topic", R"({"records":[{"value":1}]})").status, 200);
  EXPECT_EQ(log_->Find("new.topic")->partitions, 3);
  EXPECT_EQ(Rest("bad/name", R"({"records":[{"value":1}]})").status, 404);
}

TEST_F(ApiTest, ApplySettingsChangesTokensLimitsAndAutoCreateForTheNextRequests) {
  cfg_.bearer_tokens = {"old"};
  Make();
  const std::string one = R"({"records":[{"value":1}]})";
  auto with = [&](const std::string& token, const std::string& topic, const std::string& body) {
    return Call("POST", "/topics/" + topic, body,
                {{"content-type", "application/vnd.kafka.json.v2+json"},
                 {"authorization", "Bearer " + token}});
  };
  ASSERT_EQ(with("old", "u.pin", one).status, 200);
  EXPECT_EQ(with("new", "u.pin", one).status, 401);
  const HttpConfig& before = api_->settings();  // a reload keeps it valid for requests in flight

  HttpConfig next = cfg_;
  next.bearer_tokens = {"new"};
  next.max_record_bytes = 8;
  next.max_backlog_records = 0;
  next.auto_create = true;
  next.default_partitions = 3;
  next.max_body_bytes = 1000;
  next.retention_age_us = 1;
  api_->ApplySettings(next);
  EXPECT_EQ(before.bearer_tokens, std::vector<std::string>{"old"});
  EXPECT_EQ(api_->settings().max_body_bytes, 1000);  // what the server reads per request
  EXPECT_EQ(with("old", "u.pin", one).status, 401);
  EXPECT_EQ(with("new", "u.pin", one).status, 200);
  auto big = with("new", "u.pin", R"({"records":[{"value":"123456789"}]})");
  EXPECT_EQ(big.status, 413) << big.body;
  EXPECT_EQ(with("new", "made.now", one).status, 200);
  EXPECT_EQ(log_->Find("made.now")->partitions, 3);
  log_->RegisterConsumer("q", "u.pin");  // behind by 2 records > max_backlog_records 0
  EXPECT_EQ(with("new", "u.pin", one).status, 429);
  // The source log's retention: records older than 1 µs that every consumer has committed go.
  log_->Commit("q", "u.pin", {{"0", 100}, {"1", 100}});
  auto deleted = log_->EnforceRetention(NowMicros() + 1'000'000);
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  EXPECT_GT(*deleted, 0);
}

TEST(QueryParameterTest, DecodesTheFirstOccurrence) {
  EXPECT_EQ(QueryParameter("limit=5&offset=10", "offset"), "10");
  EXPECT_EQ(QueryParameter("a=x%20y+z&a=2", "a"), "x y z");
  EXPECT_EQ(QueryParameter("flag&b=", "flag"), "");
  EXPECT_EQ(QueryParameter("b=", "b"), "");
  EXPECT_FALSE(QueryParameter("limit=5", "lim").has_value());
  EXPECT_FALSE(QueryParameter("", "a").has_value());
  EXPECT_FALSE(QueryParameter("a=%zz", "a").has_value());
}

TEST(DecodePathTest, PercentDecodingAndRejections) {
  std::string out;
  ASSERT_TRUE(DecodePath("/topics/a%2Eb", &out));
  EXPECT_EQ(out, "/topics/a.b");
  EXPECT_FALSE(DecodePath("/x%2", &out));
  EXPECT_FALSE(DecodePath("/x%zz", &out));
  EXPECT_FALSE(DecodePath("/x%00", &out));
}

}  // namespace
}  // namespace pinstream::connectors::http
