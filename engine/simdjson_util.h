// Small helpers over simdjson's On-Demand API shared by the JSON readers (file source, the
// parse_json operator, the HTTP request parsers). Header-only: only code that links simdjson
// includes it.
#pragma once

#include <simdjson.h>

#include <string_view>

namespace pinstream {

// The JSON text of a value of any type (objects and arrays whole, scalars as their token).
inline simdjson::error_code RawJsonOf(simdjson::ondemand::value& v, std::string_view* out) {
  simdjson::ondemand::json_type t;
  if (auto e = v.type().get(t)) return e;
  if (t == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::object o;
    if (auto e = v.get_object().get(o)) return e;
    return o.raw_json().get(*out);
  }
  if (t == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array a;
    if (auto e = v.get_array().get(a)) return e;
    return a.raw_json().get(*out);
  }
  *out = v.raw_json_token();
  while (!out->empty() && (out->back() == ' ' || out->back() == '\n' || out->back() == '\r' ||
                           out->back() == '\t')) {
    out->remove_suffix(1);
  }
  return simdjson::SUCCESS;
}

}  // namespace pinstream
