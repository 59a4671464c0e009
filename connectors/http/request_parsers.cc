#include "connectors/http/request_parsers.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <optional>

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

// The body as a JSON object (`doc` must outlive `obj`); `not_an_object` is the message for JSON
// that is not one.
std::optional<BodyError> OpenObject(std::string_view body, const char* not_an_object,
                                    od::document* doc, od::object* obj) {
  if (auto e = Parser().Iterate(body, doc)) return Err(BodyErrorKind::kMalformedJson, Json(e));
  if (auto e = doc->get_object().get(*obj)) {
    if (e == simdjson::INCORRECT_TYPE) return Err(BodyErrorKind::kInvalid, not_an_object);
    return Err(BodyErrorKind::kMalformedJson, Json(e));
  }
  return std::nullopt;
}

// Calls visit(key, value) for each field of `obj` in order; stops at malformed JSON or at the
// first error `visit` returns.
template <typename Visit>
std::optional<BodyError> ForEachField(od::object& obj, Visit&& visit) {
  for (auto field_r : obj) {
    od::field field;
    if (auto e = std::move(field_r).get(field)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    od::value value = field.value();
    if (std::optional<BodyError> err = visit(key, value)) return err;
  }
  return std::nullopt;
}

// Calls read(record, index) for each element of a `records` array, which must all be objects:
// an element that is not is refused as invalid — or, when it is not even JSON, as `if_malformed`.
// *have_records tells that the array was there.
template <typename Read>
std::optional<BodyError> ForEachRecordObject(od::value& v, BodyErrorKind if_malformed,
                                             bool* have_records, Read&& read) {
  od::array arr;
  if (v.get_array().get(arr)) return Err(BodyErrorKind::kInvalid, "'records' must be an array");
  *have_records = true;
  std::size_t i = 0;
  for (auto el : arr) {
    od::object ro;
    if (auto e = el.get_object().get(ro)) {
      return Err(e == simdjson::INCORRECT_TYPE ? BodyErrorKind::kInvalid : if_malformed,
                 fmt::format("record {} is not an object", i));
    }
    if (std::optional<BodyError> err = read(ro, i)) return err;
    ++i;
  }
  return std::nullopt;
}

// "record 3: <message>".
BodyError InRecord(std::size_t i, BodyError e) {
  e.message = fmt::format("record {}: {}", i, e.message);
  return e;
}

std::optional<BodyError> CheckRecordSize(std::size_t i, const ProducedRecord& r,
                                         const ParseLimits& l) {
  if (static_cast<std::int64_t>(r.value.size() + r.key.size()) <= l.max_record_bytes)
    return std::nullopt;
  return Err(BodyErrorKind::kRecordTooLarge,
             fmt::format("record {} is {} bytes, more than the limit of {} bytes", i,
                         r.value.size() + r.key.size(), l.max_record_bytes));
}

// The value of a Kinesis `Data` field of the gateway API.
std::optional<BodyError> GatewayData(od::value& v, std::string* out) {
  od::json_type t;
  if (auto e = v.type().get(t)) return Err(BodyErrorKind::kMalformedJson, Json(e));
  if (t == od::json_type::string) {
    std::string_view s;
    if (auto e = v.get_string().get(s)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    *out = GatewayDataBytes(s);
    return std::nullopt;
  }
  if (t == od::json_type::null) return Err(BodyErrorKind::kInvalid, "Data must not be null");
  std::string_view raw;
  if (auto e = RawJsonOf(v, &raw)) return Err(BodyErrorKind::kMalformedJson, Json(e));
  out->assign(raw);
  return std::nullopt;
}

std::optional<BodyError> Base64Field(od::value& v, const char* what, std::string* out) {
  std::string_view s;
  if (v.get_string().get(s))
    return Err(BodyErrorKind::kInvalid, fmt::format("{} must be a base64 string", what));
  out->clear();
  if (!Base64Decode(s, out))
    return Err(BodyErrorKind::kInvalid, fmt::format("{} is not valid base64", what));
  return std::nullopt;
}

std::optional<BodyError> PartitionKey(od::value& v, std::string* out) {
  std::string_view s;
  if (v.get_string().get(s)) return Err(BodyErrorKind::kInvalid, "PartitionKey must be a string");
  if (s.empty() || s.size() > 256) {
    return Err(BodyErrorKind::kInvalid, "PartitionKey must be 1 to 256 characters long");
  }
  out->assign(s);
  return std::nullopt;
}

std::optional<BodyError> StreamName(od::value& v, std::string* out) {
  std::string_view s;
  if (v.get_string().get(s)) return Err(BodyErrorKind::kInvalid, "StreamName must be a string");
  out->assign(s);
  return std::nullopt;
}

// The names a Kinesis record's fields go by: PutRecord and native PutRecords use `Data` and
// `PartitionKey`, the gateway's PutRecords `data` and `partition-key`.
struct KinesisFieldNames {
  std::string_view data = "Data";
  std::string_view key = "PartitionKey";
};
constexpr KinesisFieldNames kNativeNames{"Data", "PartitionKey"};
constexpr KinesisFieldNames kGatewayRecordsNames{"data", "partition-key"};

// Reads one Kinesis record's fields from `obj` into `rec` (has_key tells whether the key came);
// `stream_name` (PutRecord's body) also takes StreamName. The gateway's data may be JSON, a
// string holding JSON, or base64; the native API's is base64.
std::optional<BodyError> ReadKinesisRecord(od::object& obj, KinesisFieldNames names, bool gateway,
                                           ProducedRecord* rec, bool* have_data,
                                           std::string* stream_name) {
  *have_data = false;
  return ForEachField(obj, [&](std::string_view k, od::value& v) -> std::optional<BodyError> {
    if (k == names.data) {
      *have_data = true;
      return gateway ? GatewayData(v, &rec->value) : Base64Field(v, "Data", &rec->value);
    }
    if (k == names.key) {
      rec->has_key = true;
      return PartitionKey(v, &rec->key);
    }
    if (stream_name != nullptr && k == "StreamName") return StreamName(v, stream_name);
    return std::nullopt;
  });
}

ParseResult PutRecord(std::string_view body, const ParseLimits& limits, bool gateway) {
  od::document doc;
  od::object obj;
  if (auto err = OpenObject(body, "the body must be a JSON object", &doc, &obj)) return *err;
  ParsedRecords out;
  ProducedRecord rec;
  bool have_data = false;
  if (auto err = ReadKinesisRecord(obj, kNativeNames, gateway, &rec, &have_data, &out.stream_name))
    return *err;
  if (!have_data) {
    return Err(BodyErrorKind::kInvalid,
               "1 validation error detected: Value null at 'data' failed to satisfy constraint: "
               "Member must not be null");
  }
  if (!rec.has_key) {
    return Err(BodyErrorKind::kInvalid,
               "1 validation error detected: Value null at 'partitionKey' failed to satisfy "
               "constraint: Member must not be null");
  }
  if (auto err = CheckRecordSize(0, rec, limits)) return *err;
  out.records.push_back(std::move(rec));
  return out;
}

ParseResult PutRecords(std::string_view body, const ParseLimits& limits, bool gateway) {
  od::document doc;
  od::object obj;
  if (auto err = OpenObject(body, "the body must be a JSON object", &doc, &obj)) return *err;
  ParsedRecords out;
  bool have_records = false;
  auto records = [&](od::value& v, KinesisFieldNames names) -> std::optional<BodyError> {
    return ForEachRecordObject(
        v, BodyErrorKind::kInvalid, &have_records,
        [&](od::object& ro, std::size_t i) -> std::optional<BodyError> {
          ProducedRecord rec;
          bool have_data = false;
          if (auto err = ReadKinesisRecord(ro, names, gateway, &rec, &have_data, nullptr))
            return InRecord(i, *err);
          if (!have_data)
            return InRecord(
                i, Err(BodyErrorKind::kInvalid, fmt::format("the record has no '{}'", names.data)));
          if (!rec.has_key)
            return InRecord(
                i, Err(BodyErrorKind::kInvalid, fmt::format("the record has no '{}'", names.key)));
          if (auto err = CheckRecordSize(i, rec, limits)) return err;
          out.records.push_back(std::move(rec));
          if (out.records.size() > limits.max_records) {
            return Err(BodyErrorKind::kTooManyRecords,
                       fmt::format("1 validation error detected: Value at 'records' failed to "
                                   "satisfy constraint: Member "
                                   "must have length less than or equal to {}",
                                   limits.max_records));
          }
          return std::nullopt;
        });
  };
  auto err = ForEachField(obj, [&](std::string_view k, od::value& v) -> std::optional<BodyError> {
    if (k == "StreamName") return StreamName(v, &out.stream_name);
    if (k == "Records") return records(v, kNativeNames);
    if (gateway && k == "records") return records(v, kGatewayRecordsNames);
    return std::nullopt;
  });
  if (err) return *err;
  if (!have_records) return Err(BodyErrorKind::kInvalid, "the body has no 'records' array");
  if (out.records.empty()) {
    return Err(BodyErrorKind::kEmpty,
               "1 validation error detected: Value at 'records' failed to satisfy constraint: "
               "Member must have length "
               "greater than or equal to 1");
  }
  return out;
}

// A REST Proxy record's `value` or `key`: the embedded JSON's text, or (binary format) the bytes
// of its base64 string; a binary null is empty. Errors of record i's base64 name the record.
std::optional<BodyError> RestEmbedded(od::value& v, RestEmbeddedFormat format, const char* what,
                                      std::size_t i, std::string* out) {
  if (format == RestEmbeddedFormat::kJson) {
    std::string_view raw;
    if (auto e = RawJsonOf(v, &raw)) return Err(BodyErrorKind::kMalformedJson, Json(e));
    out->assign(raw);
    return std::nullopt;
  }
  od::json_type t;
  if (v.type().get(t)) return Err(BodyErrorKind::kMalformedJson, "malformed value");
  if (t == od::json_type::null) {
    out->clear();
    return std::nullopt;
  }
  if (auto err = Base64Field(v, what, out)) return InRecord(i, *err);
  return std::nullopt;
}

std::optional<BodyError> ReadRestRecord(od::object& ro, RestEmbeddedFormat format, std::size_t i,
                                        ProducedRecord* rec, bool* have_value) {
  return ForEachField(ro, [&](std::string_view k, od::value& v) -> std::optional<BodyError> {
    if (k == "value") {
      *have_value = true;
      return RestEmbedded(v, format, "value", i, &rec->value);
    }
    if (k == "key") {
      std::string bytes;
      if (auto err = RestEmbedded(v, format, "key", i, &bytes)) return err;
      if (!(format == RestEmbeddedFormat::kJson && bytes == "null")) {
        rec->key = std::move(bytes);
        rec->has_key = true;
      }
    } else if (k == "partition") {
      std::int64_t p;
      if (v.get_int64().get(p) || p < 0 || p > 1 << 20) {
        return Err(BodyErrorKind::kInvalid,
                   fmt::format("record {}: 'partition' must be a non-negative integer", i));
      }
      rec->partition = static_cast<int>(p);
    }
    return std::nullopt;
  });
}

}  // namespace

std::string GatewayDataBytes(std::string_view s) {
  // A string holding a JSON object is that object.
  std::string_view t = s;
  while (!t.empty() &&
         (t.front() == ' ' || t.front() == '\n' || t.front() == '\t' || t.front() == '\r'))
    t.remove_prefix(1);
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

ParseResult ParseRestProduce(std::string_view body, RestEmbeddedFormat format,
                             const ParseLimits& limits) {
  od::document doc;
  od::object obj;
  if (auto err =
          OpenObject(body, "the request entity must be a JSON object with 'records'", &doc, &obj))
    return *err;
  ParsedRecords out;
  bool have_records = false;
  auto err = ForEachField(obj, [&](std::string_view k, od::value& v) -> std::optional<BodyError> {
    if (k != "records")
      return std::nullopt;  // key_schema, value_schema, ... are not used by json/binary
    return ForEachRecordObject(
        v, BodyErrorKind::kMalformedJson, &have_records,
        [&](od::object& ro, std::size_t i) -> std::optional<BodyError> {
          ProducedRecord rec;
          bool have_value = false;
          if (auto rerr = ReadRestRecord(ro, format, i, &rec, &have_value)) return rerr;
          if (!have_value)
            return Err(BodyErrorKind::kInvalid, fmt::format("record {} has no 'value'", i));
          if (auto rerr = CheckRecordSize(i, rec, limits)) return rerr;
          out.records.push_back(std::move(rec));
          if (out.records.size() > limits.max_rest_records) {
            return Err(BodyErrorKind::kTooManyRecords,
                       fmt::format("more than {} records in one request", limits.max_rest_records));
          }
          return std::nullopt;
        });
  });
  if (err) return *err;
  if (!have_records)
    return Err(BodyErrorKind::kInvalid, "the request entity has no 'records' array");
  if (out.records.empty())
    return Err(BodyErrorKind::kEmpty, "'records' is empty: there is nothing to produce");
  return out;
}

ParseResult ParseGatewayPutRecord(std::string_view body, const ParseLimits& l) {
  return PutRecord(body, l, true);
}
ParseResult ParseGatewayPutRecords(std::string_view body, const ParseLimits& l) {
  return PutRecords(body, l, true);
}
ParseResult ParseNativePutRecord(std::string_view body, const ParseLimits& l) {
  return PutRecord(body, l, false);
}
ParseResult ParseNativePutRecords(std::string_view body, const ParseLimits& l) {
  return PutRecords(body, l, false);
}

}  // namespace pinstream::connectors::http
