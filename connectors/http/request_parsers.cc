#include "connectors/http/request_parsers.h"

#include <fmt/format.h>
#include <simdjson.h>

#include "engine/row_format.h"
#include "engine/simdjson_util.h"

namespace pinstream::connectors::http {

namespace {

namespace od = simdjson::ondemand;

BodyError Err(BodyErrorKind k, std::string m) { return BodyError{k, std::move(m)}; }

// One parser per thread, reused; bodies are copied into a padded buffer (simdjson reads a little
// past the end).
struct ThreadParser {
  od::parser parser;
  std::string buf;
  simdjson::error_code Iterate(std::string_view body, od::document* doc) {
    buf.assign(body.data(), body.size());
    buf.resize(body.size() + simdjson::SIMDJSON_PADDING, '\0');
    return parser.iterate(buf.data(), body.size(), buf.size()).get(*doc);
  }
};
ThreadParser& Parser() {
  thread_local ThreadParser p;
  return p;
}
// For JSON inside a JSON string (the gateway's `Data`), parsed while the outer document is open.
ThreadParser& NestedParser() {
  thread_local ThreadParser p;
  return p;
}

std::string Json(simdjson::error_code e) { return simdjson::error_message(e); }

bool TooLarge(const state::LogRecord& r, const ParseLimits& l) {
  return static_cast<std::int64_t>(r.value.size() + r.key.size()) > l.max_record_bytes;
}

BodyError TooLargeError(std::size_t i, const state::LogRecord& r, const ParseLimits& l) {
  return Err(BodyErrorKind::kRecordTooLarge, fmt::format("record {} is {} bytes, more than the limit of {} bytes", i,
                                                         r.value.size() + r.key.size(), l.max_record_bytes));
}

// The value of a Kinesis `Data` field of the gateway API.
std::variant<std::string, BodyError> GatewayData(od::value& v) {
  od::json_type t;
  if (auto e = v.type().get(t)) return Err(BodyErrorKind::kMalformedJson, Json(e));
  if (t == od::json_type::string) {
    std::string_view s;
    if (auto e = v.get_string().get(s)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    return GatewayDataBytes(s);
  }
  if (t == od::json_type::null) return Err(BodyErrorKind::kInvalid, "Data must not be null");
  std::string_view raw;
  if (auto e = RawJsonOf(v, &raw)) return Err(BodyErrorKind::kMalformedJson, Json(e));
  return std::string(raw);
}

std::variant<std::string, BodyError> Base64Field(od::value& v, const char* what) {
  std::string_view s;
  if (v.get_string().get(s)) return Err(BodyErrorKind::kInvalid, fmt::format("{} must be a base64 string", what));
  std::string out;
  if (!Base64Decode(s, &out)) return Err(BodyErrorKind::kInvalid, fmt::format("{} is not valid base64", what));
  return out;
}

std::variant<std::string, BodyError> PartitionKey(od::value& v) {
  std::string_view s;
  if (v.get_string().get(s)) return Err(BodyErrorKind::kInvalid, "PartitionKey must be a string");
  if (s.empty() || s.size() > 256) {
    return Err(BodyErrorKind::kInvalid, "PartitionKey must be 1 to 256 characters long");
  }
  return std::string(s);
}

template <typename T>
bool IsError(const std::variant<T, BodyError>& v) {
  return std::holds_alternative<BodyError>(v);
}

// Parses one Kinesis record object with the given field names.
std::variant<state::LogRecord, BodyError> KinesisRecord(od::object& obj, std::string_view data_name,
                                                        std::string_view key_name, bool gateway) {
  state::LogRecord rec;
  bool have_data = false;
  for (auto field_r : obj) {
    od::field field;
    if (auto e = std::move(field_r).get(field)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    std::string_view k;
    if (auto e = field.unescaped_key().get(k)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    if (k == data_name) {
      od::value v = field.value();
      auto d = gateway ? GatewayData(v) : Base64Field(v, "Data");
      if (IsError(d)) return std::get<BodyError>(d);
      rec.value = std::move(std::get<std::string>(d));
      have_data = true;
    } else if (k == key_name) {
      od::value v = field.value();
      auto pk = PartitionKey(v);
      if (IsError(pk)) return std::get<BodyError>(pk);
      rec.key = std::move(std::get<std::string>(pk));
      rec.has_key = true;
    }
  }
  if (!have_data) return Err(BodyErrorKind::kInvalid, fmt::format("the record has no '{}'", data_name));
  if (!rec.has_key) return Err(BodyErrorKind::kInvalid, fmt::format("the record has no '{}'", key_name));
  return rec;
}

ParseResult PutRecord(std::string_view body, const ParseLimits& limits, bool gateway) {
  od::document doc;
  if (auto e = Parser().Iterate(body, &doc)) return Err(BodyErrorKind::kMalformedJson, Json(e));
  od::object obj;
  if (auto e = doc.get_object().get(obj)) {
    return Err(e == simdjson::INCORRECT_TYPE ? BodyErrorKind::kInvalid : BodyErrorKind::kMalformedJson,
               e == simdjson::INCORRECT_TYPE ? "the body must be a JSON object" : Json(e));
  }
  ParsedRecords out;
  state::LogRecord rec;
  bool have_data = false;
  for (auto field_r : obj) {
    od::field field;
    if (auto e = std::move(field_r).get(field)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    std::string_view k;
    if (auto e = field.unescaped_key().get(k)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    od::value v = field.value();
    if (k == "Data") {
      auto d = gateway ? GatewayData(v) : Base64Field(v, "Data");
      if (IsError(d)) return std::get<BodyError>(d);
      rec.value = std::move(std::get<std::string>(d));
      have_data = true;
    } else if (k == "PartitionKey") {
      auto pk = PartitionKey(v);
      if (IsError(pk)) return std::get<BodyError>(pk);
      rec.key = std::move(std::get<std::string>(pk));
      rec.has_key = true;
    } else if (k == "StreamName") {
      std::string_view s;
      if (v.get_string().get(s)) return Err(BodyErrorKind::kInvalid, "StreamName must be a string");
      out.stream_name = std::string(s);
    }
  }
  if (!have_data) return Err(BodyErrorKind::kInvalid, "1 validation error detected: Value null at 'data' failed to satisfy constraint: Member must not be null");
  if (!rec.has_key) {
    return Err(BodyErrorKind::kInvalid,
               "1 validation error detected: Value null at 'partitionKey' failed to satisfy constraint: Member must not be null");
  }
  if (TooLarge(rec, limits)) return TooLargeError(0, rec, limits);
  out.records.push_back(std::move(rec));
  return out;
}

ParseResult PutRecords(std::string_view body, const ParseLimits& limits, bool gateway) {
  od::document doc;
  if (auto e = Parser().Iterate(body, &doc)) return Err(BodyErrorKind::kMalformedJson, Json(e));
  od::object obj;
  if (auto e = doc.get_object().get(obj)) {
    return Err(e == simdjson::INCORRECT_TYPE ? BodyErrorKind::kInvalid : BodyErrorKind::kMalformedJson,
               e == simdjson::INCORRECT_TYPE ? "the body must be a JSON object" : Json(e));
  }
  ParsedRecords out;
  bool have_records = false;
  for (auto field_r : obj) {
    od::field field;
    if (auto e = std::move(field_r).get(field)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    std::string_view k;
    if (auto e = field.unescaped_key().get(k)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    od::value v = field.value();
    if (k == "StreamName") {
      std::string_view s;
      if (v.get_string().get(s)) return Err(BodyErrorKind::kInvalid, "StreamName must be a string");
      out.stream_name = std::string(s);
    } else if (k == "Records" || (gateway && k == "records")) {
      od::array arr;
      if (v.get_array().get(arr)) return Err(BodyErrorKind::kInvalid, "'records' must be an array");
      have_records = true;
      std::size_t i = 0;
      for (auto el : arr) {
        od::object ro;
        if (el.get_object().get(ro)) return Err(BodyErrorKind::kInvalid, fmt::format("record {} is not an object", i));
        bool lower = gateway && k == "records";
        auto r = KinesisRecord(ro, lower ? "data" : "Data", lower ? "partition-key" : "PartitionKey", gateway);
        if (IsError(r)) {
          BodyError be = std::get<BodyError>(r);
          be.message = fmt::format("record {}: {}", i, be.message);
          return be;
        }
        auto& rec = std::get<state::LogRecord>(r);
        if (TooLarge(rec, limits)) return TooLargeError(i, rec, limits);
        out.records.push_back(std::move(rec));
        if (out.records.size() > limits.max_records) {
          return Err(BodyErrorKind::kTooManyRecords,
                     fmt::format("1 validation error detected: Value at 'records' failed to satisfy constraint: Member "
                                 "must have length less than or equal to {}",
                                 limits.max_records));
        }
        ++i;
      }
    }
  }
  if (!have_records) return Err(BodyErrorKind::kInvalid, "the body has no 'records' array");
  if (out.records.empty()) {
    return Err(BodyErrorKind::kEmpty,
               "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length "
               "greater than or equal to 1");
  }
  return out;
}

}  // namespace

std::string GatewayDataBytes(std::string_view s) {
  // A string holding a JSON object is that object.
  std::string_view t = s;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\n' || t.front() == '\t' || t.front() == '\r')) t.remove_prefix(1);
  if (!t.empty() && t.front() == '{') {
    od::document doc;
    od::object o;
    std::string_view raw;
    if (!NestedParser().Iterate(s, &doc) && !doc.get_object().get(o) && !o.raw_json().get(raw)) {
      return std::string(s);
    }
  }
  std::string decoded;
  if (!s.empty() && Base64Decode(s, &decoded)) return decoded;
  return std::string(s);
}

ParseResult ParseRestProduce(std::string_view body, RestEmbeddedFormat format, const ParseLimits& limits) {
  od::document doc;
  if (auto e = Parser().Iterate(body, &doc)) return Err(BodyErrorKind::kMalformedJson, Json(e));
  od::object obj;
  if (auto e = doc.get_object().get(obj)) {
    return Err(e == simdjson::INCORRECT_TYPE ? BodyErrorKind::kInvalid : BodyErrorKind::kMalformedJson,
               e == simdjson::INCORRECT_TYPE ? "the request entity must be a JSON object with 'records'" : Json(e));
  }
  ParsedRecords out;
  bool have_records = false;
  for (auto field_r : obj) {
    od::field field;
    if (auto e = std::move(field_r).get(field)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    std::string_view k;
    if (auto e = field.unescaped_key().get(k)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    if (k != "records") continue;  // key_schema, value_schema, ... are not used by json/binary
    od::array arr;
    if (field.value().get_array().get(arr)) return Err(BodyErrorKind::kInvalid, "'records' must be an array");
    have_records = true;
    std::size_t i = 0;
    for (auto el : arr) {
      od::object ro;
      if (auto e = el.get_object().get(ro)) {
        return Err(e == simdjson::INCORRECT_TYPE ? BodyErrorKind::kInvalid : BodyErrorKind::kMalformedJson,
                   fmt::format("record {} is not an object", i));
      }
      state::LogRecord rec;
      bool have_value = false;
      for (auto rf_r : ro) {
        od::field rf;
        if (auto e = std::move(rf_r).get(rf)) return Err(BodyErrorKind::kMalformedJson, Json(e));
        std::string_view rk;
        if (auto e = rf.unescaped_key().get(rk)) return Err(BodyErrorKind::kMalformedJson, Json(e));
        od::value v = rf.value();
        if (rk == "value" || rk == "key") {
          std::string bytes;
          if (format == RestEmbeddedFormat::kJson) {
            std::string_view raw;
            if (auto e = RawJsonOf(v, &raw)) return Err(BodyErrorKind::kMalformedJson, Json(e));
            bytes.assign(raw);
          } else {
            od::json_type t;
            if (v.type().get(t)) return Err(BodyErrorKind::kMalformedJson, "malformed value");
            if (t != od::json_type::null) {
              auto b = Base64Field(v, rk == "value" ? "value" : "key");
              if (IsError(b)) {
                BodyError be = std::get<BodyError>(b);
                be.message = fmt::format("record {}: {}", i, be.message);
                return be;
              }
              bytes = std::move(std::get<std::string>(b));
            } else {
              bytes = "";
            }
          }
          if (rk == "value") {
            rec.value = std::move(bytes);
            have_value = true;
          } else if (!(format == RestEmbeddedFormat::kJson && bytes == "null")) {
            rec.key = std::move(bytes);
            rec.has_key = true;
          }
        } else if (rk == "partition") {
          std::int64_t p;
          if (v.get_int64().get(p) || p < 0 || p > 1 << 20) {
            return Err(BodyErrorKind::kInvalid, fmt::format("record {}: 'partition' must be a non-negative integer", i));
          }
          rec.partition = static_cast<int>(p);
        }
      }
      if (!have_value) return Err(BodyErrorKind::kInvalid, fmt::format("record {} has no 'value'", i));
      if (TooLarge(rec, limits)) return TooLargeError(i, rec, limits);
      out.records.push_back(std::move(rec));
      if (out.records.size() > limits.max_rest_records) {
        return Err(BodyErrorKind::kTooManyRecords, fmt::format("more than {} records in one request", limits.max_rest_records));
      }
      ++i;
    }
  }
  if (!have_records) return Err(BodyErrorKind::kInvalid, "the request entity has no 'records' array");
  if (out.records.empty()) return Err(BodyErrorKind::kEmpty, "'records' is empty: there is nothing to produce");
  return out;
}

ParseResult ParseGatewayPutRecord(std::string_view body, const ParseLimits& l) { return PutRecord(body, l, true); }
ParseResult ParseGatewayPutRecords(std::string_view body, const ParseLimits& l) { return PutRecords(body, l, true); }
ParseResult ParseNativePutRecord(std::string_view body, const ParseLimits& l) { return PutRecord(body, l, false); }
ParseResult ParseNativePutRecords(std::string_view body, const ParseLimits& l) { return PutRecords(body, l, false); }

}  // namespace pinstream::connectors::http
