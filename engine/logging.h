// Log lines with structured fields, and the two log formats (`log.format` in the config).
//
// Every line has a time (UTC), a level and a message; lines about a query, a batch, a table or a
// job also carry those as fields, so that a log shipper can filter on them:
//
//   LogInfo({{"query", name}, {"batch", id}, {"rows", n}}, "batch committed");
//   spdlog::info("HTTP server listening on {}", addr);      // a line without fields
//
//   text  2026-11-22T10:00:00.123Z info  batch committed query=geo batch=3 rows=120
//   json  {"time":"2026-11-22T10:00:00.123456Z","level":"info","thread":"q:geo",
//          "message":"batch committed","query":"geo","batch":3,"rows":120}
//
// Text fields are logfmt (`key=value`, the value quoted when it holds a space, '=' or '"'); JSON
// lines are one object per line, strings escaped and any invalid UTF-8 replaced by U+FFFD.
//
// The formats are spdlog pattern formatters with two custom flags (MakeLogFormatter). Fields
// reach the formatter through a thread-local set for the duration of the call (what later spdlog
// versions call MDC), because spdlog's message carries no extra data: the formatter runs on the
// logging thread, so the logger's sinks must be synchronous (not spdlog's async logger). A
// formatter other than MakeLogFormatter's (e.g. a test's default logger) prints the message
// without the fields.
//
// Threading: the Log* functions and the formatters are safe from any thread.
#pragma once

#include <fmt/format.h>
#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pinstream {

enum class LogFormat { kText, kJson };

// One structured field of a log line. Holds views: valid for the duration of the log call.
class LogField {
 public:
  enum class Kind { kString, kInt, kUint, kDouble, kBool };

  LogField(std::string_view key, std::string_view value)
      : key_(key), kind_(Kind::kString), str_(value) {}
  LogField(std::string_view key, const std::string& value)
      : LogField(key, std::string_view(value)) {}
  LogField(std::string_view key, const char* value) : LogField(key, std::string_view(value)) {}
  LogField(std::string_view key, bool value) : key_(key), kind_(Kind::kBool), int_(value) {}
  LogField(std::string_view key, double value) : key_(key), kind_(Kind::kDouble), double_(value) {}
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
      LogField(std::string_view key, T value)
      : key_(key) {
    if constexpr (std::is_signed_v<T>) {
      kind_ = Kind::kInt;
      int_ = static_cast<std::int64_t>(value);
    } else {
      kind_ = Kind::kUint;
      uint_ = static_cast<std::uint64_t>(value);
    }
  }

  std::string_view key() const { return key_; }
  Kind kind() const { return kind_; }
  std::string_view str() const { return str_; }
  std::int64_t int_value() const { return int_; }
  std::uint64_t uint_value() const { return uint_; }
  double double_value() const { return double_; }

 private:
  std::string_view key_;
  Kind kind_ = Kind::kString;
  std::string_view str_;
  std::int64_t int_ = 0;
  std::uint64_t uint_ = 0;
  double double_ = 0;
};

// The fields of one line: a braced list at the call ({{"query", q}, {"batch", n}}), or a vector
// when they vary (only fields that apply).
class LogFields {
 public:
  LogFields(std::initializer_list<LogField> fields) : fields_(fields.begin(), fields.size()) {}
  LogFields(const std::vector<LogField>& fields) : fields_(fields) {}
  LogFields() = default;
  auto begin() const { return fields_.begin(); }
  auto end() const { return fields_.end(); }

 private:
  std::span<const LogField> fields_;
};

// The formatter of `format`: text or JSON, times in UTC, one line per message.
std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format);

// Sets `fields` as the calling thread's current fields until destroyed (used by Log; nests).
class ScopedLogFields {
 public:
  explicit ScopedLogFields(LogFields fields);
  ~ScopedLogFields();
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

 private:
  LogFields previous_;
};

// Logs a line with fields through the default logger.
template <typename... Args>
void Log(spdlog::level::level_enum level, LogFields fields, fmt::format_string<Args...> format,
         Args&&... args) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  ScopedLogFields scope(fields);
  logger->log(level, format, std::forward<Args>(args)...);
}
template <typename... Args>
void LogInfo(LogFields fields, fmt::format_string<Args...> format, Args&&... args) {
  Log(spdlog::level::info, fields, format, std::forward<Args>(args)...);
}
template <typename... Args>
void LogWarn(LogFields fields, fmt::format_string<Args...> format, Args&&... args) {
  Log(spdlog::level::warn, fields, format, std::forward<Args>(args)...);
}
template <typename... Args>
void LogError(LogFields fields, fmt::format_string<Args...> format, Args&&... args) {
  Log(spdlog::level::err, fields, format, std::forward<Args>(args)...);
}

}  // namespace pinstream
