#include "engine/status.h"

namespace pinstream {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "InvalidArgument";
    case StatusCode::kNotFound:
      return "NotFound";
    case StatusCode::kAlreadyExists:
      return "AlreadyExists";
    case StatusCode::kFailedPrecondition:
      return "FailedPrecondition";
    case StatusCode::kOutOfRange:
      return "OutOfRange";
    case StatusCode::kResourceExhausted:
      return "ResourceExhausted";
    case StatusCode::kUnavailable:
      return "Unavailable";
    case StatusCode::kDataLoss:
      return "DataLoss";
    case StatusCode::kCorruption:
      return "Corruption";
    case StatusCode::kIOError:
      return "IOError";
    case StatusCode::kUnauthenticated:
      return "Unauthenticated";
    case StatusCode::kCancelled:
      return "Cancelled";
    case StatusCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

Status::Status(StatusCode code, ErrorDomain domain, bool retryable, std::string message) {
  if (code != StatusCode::kOk) {
    rep_ = std::make_unique<Rep>(Rep{code, domain, retryable, std::move(message)});
  }
}

Status::Status(const Status& other)
    : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
  return *this;
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return rep_ ? rep_->message : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(rep_->code));
  out += ": ";
  out += rep_->message;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return Status();
  std::string msg(context);
  msg += ": ";
  msg += rep_->message;
  return Status(rep_->code, rep_->domain, rep_->retryable, std::move(msg));
}

Status InvalidArgument(std::string m) {
  return Status(StatusCode::kInvalidArgument, ErrorDomain::kUserInput, false, std::move(m));
}
Status NotFound(std::string m) {
  return Status(StatusCode::kNotFound, ErrorDomain::kUserInput, false, std::move(m));
}
Status AlreadyExists(std::string m) {
  return Status(StatusCode::kAlreadyExists, ErrorDomain::kUserInput, false, std::move(m));
}
Status FailedPrecondition(std::string m) {
  return Status(StatusCode::kFailedPrecondition, ErrorDomain::kUserInput, false, std::move(m));
}
Status OutOfRange(std::string m) {
  return Status(StatusCode::kOutOfRange, ErrorDomain::kUserInput, false, std::move(m));
}
Status ResourceExhausted(std::string m) {
  return Status(StatusCode::kResourceExhausted, ErrorDomain::kExternal, true, std::move(m));
}
Status Unavailable(std::string m) {
  return Status(StatusCode::kUnavailable, ErrorDomain::kExternal, true, std::move(m));
}
Status DataLoss(std::string m) {
  return Status(StatusCode::kDataLoss, ErrorDomain::kExternal, false, std::move(m));
}
Status Corruption(std::string m) {
  return Status(StatusCode::kCorruption, ErrorDomain::kExternal, false, std::move(m));
}
Status IOError(std::string m, bool retryable) {
  return Status(StatusCode::kIOError, ErrorDomain::kExternal, retryable, std::move(m));
}
Status Unauthenticated(std::string m) {
  return Status(StatusCode::kUnauthenticated, ErrorDomain::kUserInput, false, std::move(m));
}
Status Cancelled(std::string m) {
  return Status(StatusCode::kCancelled, ErrorDomain::kNone, false, std::move(m));
}
Status Internal(std::string m) {
  return Status(StatusCode::kInternal, ErrorDomain::kInternal, false, std::move(m));
}

}  // namespace pinstream
