#include "engine/thread_name.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>

#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

TEST(ThreadNameTest, NamesTheCallingThreadAndCutsLongNamesAt15Bytes) {
  std::string short_name, long_name;
  std::vector<std::string> seen;
  std::thread t([&] {
    SetThreadName("log-writer");
    short_name = CurrentThreadName();
    seen = testing::ThreadNames();
    SetThreadName("q:a-query-with-a-long-name");
    long_name = CurrentThreadName();
  });
  t.join();
  EXPECT_EQ(short_name, "log-writer");
  EXPECT_NE(std::find(seen.begin(), seen.end(), "log-writer"), seen.end());
  EXPECT_EQ(long_name, "q:a-query-with-");
  EXPECT_NE(CurrentThreadName(), "log-writer");  // only the calling thread was renamed
}

}  // namespace
}  // namespace pinstream
