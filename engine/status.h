// Status and Result<T>: how errors travel on pinstream's data path.
//
// Every fallible data-path function returns a [[nodiscard]] Status or Result<T>. A Status carries
//   * a code (what went wrong, in the vocabulary of RPC/storage systems),
//   * a domain (whose fault: the user's input, an external system, or a bug in pinstream),
//   * a retryable flag (true when trying the same thing again later may succeed, e.g. a broker
//     that is down or a full disk), and
//   * a message that names the query, operator and record position where they are known.
//
// Third-party error codes (rocksdb::Status, rd_kafka_resp_err_t, Beast's error_code, SQLite
// result codes) are mapped to Status exactly once, at the boundary of the folder that owns the
// library. Exceptions are used only while parsing config and starting up (see config_node.h).
//
// An OK Status is one pointer wide and costs no allocation.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pinstream {

enum class StatusCode : unsigned char {
  kOk = 0,
  kInvalidArgument,     // the request/config/record is malformed
  kNotFound,            // a named table/topic/query/file does not exist
  kAlreadyExists,       // e.g. creating a stream that exists, committing a batch twice
  kFailedPrecondition,  // the system is not in a state that allows the operation
  kOutOfRange,          // offsets or versions outside what is stored
  kResourceExhausted,   // backlog bound, queue bound, record/body size limit
  kUnavailable,         // a dependency is down (broker, disk); usually retryable
  kDataLoss,            // data that should exist is gone (retention, truncated log)
  kCorruption,          // stored bytes fail to decode
  kIOError,             // file system / socket errors
  kUnauthenticated,     // missing or wrong credentials
  kCancelled,           // shutdown in progress
  kInternal,            // an invariant of pinstream itself was broken
};

enum class ErrorDomain : unsigned char { kNone = 0, kUserInput, kExternal, kInternal };

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, ErrorDomain domain, bool retryable, std::string message);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  ErrorDomain domain() const { return rep_ ? rep_->domain : ErrorDomain::kNone; }
  bool retryable() const { return rep_ && rep_->retryable; }
  const std::string& message() const;

  // "InvalidArgument: <message>" — for logs and CLI output.
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; codes and flags are kept. Used to add
  // the query/operator/position as an error travels outward.
  Status WithContext(std::string_view context) const;

  // Marks a test/cleanup path where an error is deliberately not acted on. Use sparingly.
  void IgnoreError() const {}

 private:
  struct Rep {
    StatusCode code;
    ErrorDomain domain;
    bool retryable;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;
};

// Shorthands for the common (code, domain, retryable) combinations.
Status InvalidArgument(std::string message);  // user input, not retryable
Status NotFound(std::string message);
Status AlreadyExists(std::string message);
Status FailedPrecondition(std::string message);
Status OutOfRange(std::string message);
Status ResourceExhausted(std::string message);  // retryable
Status Unavailable(std::string message);        // external, retryable
Status DataLoss(std::string message);
Status Corruption(std::string message);
Status IOError(std::string message, bool retryable = false);
Status Unauthenticated(std::string message);
Status Cancelled(std::string message);
Status Internal(std::string message);

// Result<T>: a value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be OK
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace pinstream

#define PS_CONCAT_INNER(a, b) a##b
#define PS_CONCAT(a, b) PS_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define PS_RETURN_IF_ERROR(expr)         \
  do {                                   \
    ::pinstream::Status _ps_st = (expr); \
    if (!_ps_st.ok()) return _ps_st;     \
  } while (0)

// `lhs = value of expr`, or return its Status. lhs may declare a variable: PS_ASSIGN_OR_RETURN(auto
// x, F());
#define PS_ASSIGN_OR_RETURN(lhs, expr) \
  PS_ASSIGN_OR_RETURN_IMPL(PS_CONCAT(_ps_res_, __LINE__), lhs, expr)
#define PS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
