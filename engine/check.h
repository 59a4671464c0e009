// PS_CHECK: an always-on assertion for programmer errors (broken invariants inside pinstream).
// It logs the condition, file and line, then aborts. Never use it for user input or for
// conditions an external system can cause: those are Status errors.
#pragma once

namespace pinstream::internal {
[[noreturn]] void CheckFailed(const char* cond, const char* file, int line, const char* msg);
}  // namespace pinstream::internal

#define PS_CHECK(cond)                                                              \
  do {                                                                              \
    if (!(cond)) ::pinstream::internal::CheckFailed(#cond, __FILE__, __LINE__, ""); \
  } while (0)

#define PS_CHECK_MSG(cond, msg)                                                        \
  do {                                                                                 \
    if (!(cond)) ::pinstream::internal::CheckFailed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)
