// Parsers of the ingest request bodies (the hot path of HTTP ingest), free of any HTTP library
// so that they can be fuzzed on their own (tests/fuzz/).
//
//   Kafka REST Proxy v2   {"records": [{"value": <json>, "key": <json>, "partition": n}, ...]}
//                         (binary embedded format: value/key are base64 strings)
//   API Gateway → Kinesis {"StreamName": s, "Data": d, "PartitionKey": k}        (PutRecord)
//                         {"records": [{"data": d, "partition-key": k}, ...]}     (PutRecords)
//                         where d may be a JSON object, a string holding JSON, or base64 text;
//                         a string that is neither is kept as its raw bytes
//   Native Kinesis JSON   {"StreamName": s, "Data": base64, "PartitionKey": k} and PutRecords'
//                         {"StreamName": s, "Records": [{"Data": .., "PartitionKey": ..}]}
//
// A parse never throws; failures come back as a BodyError with a kind the handler maps to the
// API's own status and error shape, and a message that says what is wrong. The parsers depend
// on engine/ only: no HTTP library, no storage.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pinstream::connectors::http {

enum class BodyErrorKind {
  kMalformedJson,   // not JSON at all
  kInvalid,         // JSON, but not the shape the API expects
  kEmpty,           // no records
  kRecordTooLarge,  // one record over max_record_bytes
  kTooManyRecords,  // over the per-request record limit
};

struct BodyError {
  BodyErrorKind kind;
  std::string message;
};

struct ParseLimits {
  std::int64_t max_record_bytes = 1 << 20;
  std::size_t max_records = 500;  // Kinesis PutRecords limit; REST uses max_rest_records
  std::size_t max_rest_records = 100000;
};

// A record as a produce request gives it. Which partition it goes to is the API's choice
// (partitioner.h) unless the request names one.
struct ProducedRecord {
  int partition = -1;  // named by the request (REST Proxy `partition`); -1: none
  bool has_key = false;
  std::string key;  // REST: the embedded key's bytes; Kinesis: the partition key
  std::string value;
};

struct ParsedRecords {
  std::string stream_name;  // from the body when it names one (Kinesis); empty otherwise
  std::vector<ProducedRecord> records;
};

using ParseResult = std::variant<ParsedRecords, BodyError>;

enum class RestEmbeddedFormat { kJson, kBinary };

ParseResult ParseRestProduce(std::string_view body, RestEmbeddedFormat format,
                             const ParseLimits& limits);
ParseResult ParseGatewayPutRecord(std::string_view body, const ParseLimits& limits);
ParseResult ParseGatewayPutRecords(std::string_view body, const ParseLimits& limits);
ParseResult ParseNativePutRecord(std::string_view body, const ParseLimits& limits);
ParseResult ParseNativePutRecords(std::string_view body, const ParseLimits& limits);

// What the gateway stores for a `Data` string: the JSON it holds, the bytes its base64 encodes,
// or (neither) its own bytes.
std::string GatewayDataBytes(std::string_view data_string);

}  // namespace pinstream::connectors::http
