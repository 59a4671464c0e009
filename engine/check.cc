#include "engine/check.h"

#include <cstdio>
#include <cstdlib>

namespace pinstream::internal {

void CheckFailed(const char* cond, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "pinstream: internal check failed: %s at %s:%d %s\n", cond, file, line, msg);
  std::fflush(stderr);
  std::abort();
}

}  // namespace pinstream::internal
