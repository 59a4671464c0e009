#include "engine/logging.h"

#include <spdlog/pattern_formatter.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/thread_name.h"

namespace pinstream {

namespace {

// The fields of the log call running on this thread (empty outside one).
thread_local LogFields current_fields;

void Append(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.append(s.data(), s.data() + s.size());
}

// `s` as a JSON string (quotes included); invalid UTF-8 becomes U+FFFD.
void AppendJsonString(spdlog::memory_buf_t& dest, std::string_view s) {
  Append(dest, nlohmann::json(std::string(s))
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void AppendNumber(spdlog::memory_buf_t& dest, const LogField& f, bool json) {
  switch (f.kind()) {
    case LogField::Kind::kInt:
      fmt::format_to(std::back_inserter(dest), "{}", f.int_value());
      return;
    case LogField::Kind::kUint:
      fmt::format_to(std::back_inserter(dest), "{}", f.uint_value());
      return;
    case LogField::Kind::kBool:
      Append(dest, f.int_value() != 0 ? "true" : "false");
      return;
    case LogField::Kind::kDouble:
      if (json && !std::isfinite(f.double_value())) {
        Append(dest, "null");
      } else {
        fmt::format_to(std::back_inserter(dest), "{}", f.double_value());
      }
      return;
    case LogField::Kind::kString:
      return;
  }
}

// logfmt: a value is quoted when it is empty or holds a space, '=', '"' or a control character.
void AppendLogfmtValue(spdlog::memory_buf_t& dest, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) quote = quote || c == ' ' || c == '=' || c == '"' || c == '\\' || c < 0x20;
  if (!quote) return Append(dest, v);
  dest.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') {
      dest.push_back('\\');
      dest.push_back(c);
    } else if (c == '\n') {
      Append(dest, "\\n");
    } else if (static_cast<unsigned char>(c) < 0x20) {
      dest.push_back(' ');
    } else {
      dest.push_back(c);
    }
  }
  dest.push_back('"');
}

// %K (text): the fields as " key=value" pairs after the message.
class TextFieldsFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (const LogField& f : current_fields) {
      dest.push_back(' ');
      Append(dest, f.key());
      dest.push_back('=');
      if (f.kind() == LogField::Kind::kString) {
        AppendLogfmtValue(dest, f.str());
      } else {
        AppendNumber(dest, f, false);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<TextFieldsFlag>();
  }
};

// %J (JSON): "message":"..." and the fields as members.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    Append(dest, "\"message\":");
    AppendJsonString(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    for (const LogField& f : current_fields) {
      dest.push_back(',');
      AppendJsonString(dest, f.key());
      dest.push_back(':');
      if (f.kind() == LogField::Kind::kString) {
        AppendJsonString(dest, f.str());
      } else {
        AppendNumber(dest, f, true);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// %N (JSON): the logging thread's name as a JSON string (engine/README "Threads").
class ThreadNameFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    AppendJsonString(dest, CurrentThreadName());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ThreadNameFlag>();
  }
};

}  // namespace

ScopedLogFields::ScopedLogFields(LogFields fields) : previous_(current_fields) {
  current_fields = fields;
}

ScopedLogFields::~ScopedLogFields() { current_fields = previous_; }

std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format) {
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc, "\n");
  if (format == LogFormat::kJson) {
    f->add_flag<JsonMessageFlag>('J').add_flag<ThreadNameFlag>('N');
    f->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","thread":%N,%J})");
  } else {
    f->add_flag<TextFieldsFlag>('K');
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v%K");
  }
  return f;
}

}  // namespace pinstream
