#include "engine/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <array>

namespace pinstream {

namespace {
constexpr std::size_t kMaxName = 15;  // TASK_COMM_LEN - 1
}  // namespace

void SetThreadName(std::string_view name) {
  std::array<char, kMaxName + 1> buf{};
  std::size_t n = std::min(name.size(), kMaxName);
  std::copy_n(name.data(), n, buf.data());
  // Cannot fail with a name of at most 15 bytes for the calling thread.
  pthread_setname_np(pthread_self(), buf.data());
}

std::string CurrentThreadName() {
  std::array<char, 64> buf{};
  if (pthread_getname_np(pthread_self(), buf.data(), buf.size()) != 0) return {};
  return std::string(buf.data());
}

}  // namespace pinstream
