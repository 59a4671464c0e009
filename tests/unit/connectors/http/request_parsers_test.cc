#include "connectors/http/request_parsers.h"

#include <gtest/gtest.h>

#include "engine/row_format.h"

namespace pinstream::connectors::http {
namespace {

ParsedRecords Ok(const ParseResult& r) {
  if (auto* e = std::get_if<BodyError>(&r)) {
    ADD_FAILURE() << e->message;
    return {};
  }
  return std::get<ParsedRecords>(r);
}
BodyError Bad(const ParseResult& r) {
  if (std::holds_alternative<ParsedRecords>(r)) {
    ADD_FAILURE() << "expected an error";
    return BodyError{BodyErrorKind::kInvalid, ""};
  }
  return std::get<BodyError>(r);
}

ParseLimits L() { return ParseLimits{}; }

TEST(RestProduceParserTest, ValuesKeysAndPartitionsAsTheProxyDefines) {
  const auto r = Ok(ParseRestProduce(
      R"({"records": [{"value": {"index": 7528, "title": "a"}}, {"key": "k", "value": [1,2], "partition": 1}, {"value": null}]})",
      RestEmbeddedFormat::kJson, L()));
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[0].value, R"({"index": 7528, "title": "a"})");
  EXPECT_FALSE(r.records[0].has_key);
  EXPECT_EQ(r.records[0].partition, -1);
  EXPECT_EQ(r.records[1].key, R"("k")");
  EXPECT_EQ(r.records[1].partition, 1);
  EXPECT_EQ(r.records[2].value, "null");
  const auto b = Ok(ParseRestProduce(R"({"records":[{"value":"aGVsbG8=","key":"a2V5"}]})",
                                     RestEmbeddedFormat::kBinary, L()));
  EXPECT_EQ(b.records[0].value, "hello");
  EXPECT_EQ(b.records[0].key, "key");
}

TEST(RestProduceParserTest, EveryMalformedBodyIsAClassifiedError) {
  EXPECT_EQ(Bad(ParseRestProduce("{\"records\": [", RestEmbeddedFormat::kJson, L())).kind,
            BodyErrorKind::kMalformedJson);
  EXPECT_EQ(Bad(ParseRestProduce("", RestEmbeddedFormat::kJson, L())).kind,
            BodyErrorKind::kMalformedJson);
  EXPECT_EQ(Bad(ParseRestProduce("[1]", RestEmbeddedFormat::kJson, L())).kind,
            BodyErrorKind::kInvalid);
  EXPECT_EQ(Bad(ParseRestProduce(R"({"recs": []})", RestEmbeddedFormat::kJson, L())).kind,
            BodyErrorKind::kInvalid);
  EXPECT_EQ(Bad(ParseRestProduce(R"({"records": []})", RestEmbeddedFormat::kJson, L())).kind,
            BodyErrorKind::kEmpty);
  EXPECT_EQ(
      Bad(ParseRestProduce(R"({"records": [{"key": 1}]})", RestEmbeddedFormat::kJson, L())).kind,
      BodyErrorKind::kInvalid);
  EXPECT_EQ(Bad(ParseRestProduce(R"({"records": [3]})", RestEmbeddedFormat::kJson, L())).kind,
            BodyErrorKind::kInvalid);
  EXPECT_EQ(Bad(ParseRestProduce(R"({"records": [{"value": 1, "partition": -2}]})",
                                 RestEmbeddedFormat::kJson, L()))
                .kind,
            BodyErrorKind::kInvalid);
  EXPECT_EQ(
      Bad(ParseRestProduce(R"({"records":[{"value":"%%%"}]})", RestEmbeddedFormat::kBinary, L()))
          .kind,
      BodyErrorKind::kInvalid);
  ParseLimits small;
  small.max_record_bytes = 10;
  BodyError big = Bad(ParseRestProduce(R"({"records":[{"value":"0123456789abc"}]})",
                                       RestEmbeddedFormat::kJson, small));
  EXPECT_EQ(big.kind, BodyErrorKind::kRecordTooLarge);
  EXPECT_NE(big.message.find("more than the limit of 10 bytes"), std::string::npos);
}

TEST(GatewayParserTest, AcceptsEveryDataVariantClientsSend) {
  std::string row = R"({"ind":7528,"country":"Albania"})";
  const auto obj = Ok(ParseGatewayPutRecord(
      R"({"StreamName":"s","Data":{"ind":7528,"country":"Albania"},"PartitionKey":"partition-1"})",
      L()));
  EXPECT_EQ(obj.records[0].value, row);
  EXPECT_EQ(obj.records[0].key, "partition-1");
  EXPECT_EQ(obj.stream_name, "s");
  const auto str = Ok(ParseGatewayPutRecord(
      R"({"Data":"{\"ind\":7528,\"country\":\"Albania\"}","PartitionKey":"p"})", L()));
  EXPECT_EQ(str.records[0].value, row);
  EXPECT_TRUE(str.stream_name.empty());
  const auto b64 = Ok(
      ParseGatewayPutRecord(R"({"Data":")" + Base64Encode(row) + R"(","PartitionKey":"p"})", L()));
  EXPECT_EQ(b64.records[0].value, row);
  const auto raw =
      Ok(ParseGatewayPutRecord(R"({"Data":"not json, not base64!","PartitionKey":"p"})", L()));
  EXPECT_EQ(raw.records[0].value, "not json, not base64!");
  const auto many = Ok(ParseGatewayPutRecords(
      R"({"records":[{"data":{"a":1},"partition-key":"x"},{"data":"{\"b\":2}","partition-key":"y"}]})",
      L()));
  ASSERT_EQ(many.records.size(), 2u);
  EXPECT_EQ(many.records[1].value, R"({"b":2})");
  EXPECT_EQ(many.records[1].key, "y");
}

TEST(GatewayParserTest, ValidationErrorsLikeKinesis) {
  EXPECT_NE(Bad(ParseGatewayPutRecord(R"({"Data":{"a":1}})", L())).message.find("partitionKey"),
            std::string::npos);
  EXPECT_NE(Bad(ParseGatewayPutRecord(R"({"PartitionKey":"p"})", L())).message.find("'data'"),
            std::string::npos);
  EXPECT_EQ(Bad(ParseGatewayPutRecord(R"({"Data":{"a":1},"PartitionKey":""})", L())).kind,
            BodyErrorKind::kInvalid);
  EXPECT_EQ(Bad(ParseGatewayPutRecords(R"({"records":[]})", L())).kind, BodyErrorKind::kEmpty);
  std::string big = R"({"records":[)";
  for (int i = 0; i < 501; ++i)
    big += std::string(i ? "," : "") + R"({"data":{"a":1},"partition-key":"p"})";
  big += "]}";
  EXPECT_EQ(Bad(ParseGatewayPutRecords(big, L())).kind, BodyErrorKind::kTooManyRecords);
  EXPECT_EQ(Bad(ParseGatewayPutRecord("{\"Data\":", L())).kind, BodyErrorKind::kMalformedJson);
}

TEST(NativeKinesisParserTest, DataIsBase64AndBadBase64IsRejected) {
  const auto r =
      Ok(ParseNativePutRecord(R"({"StreamName":"s","Data":"aGk=","PartitionKey":"k"})", L()));
  EXPECT_EQ(r.records[0].value, "hi");
  EXPECT_EQ(r.stream_name, "s");
  EXPECT_NE(Bad(ParseNativePutRecord(R"({"StreamName":"s","Data":"%%","PartitionKey":"k"})", L()))
                .message.find("base64"),
            std::string::npos);
  const auto m = Ok(ParseNativePutRecords(
      R"({"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"a"},{"Data":"Yg==","PartitionKey":"b"}]})",
      L()));
  ASSERT_EQ(m.records.size(), 2u);
  EXPECT_EQ(m.records[1].value, "b");
}

}  // namespace
}  // namespace pinstream::connectors::http
