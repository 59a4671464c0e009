#include "engine/channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace pinstream {
namespace {

TEST(BoundedChannelTest, DeliversEveryItemInOrderAcrossThreads) {
  BoundedChannel<int> ch(8);
  constexpr int kN = 100000;
  std::thread producer([&] {
    for (int i = 0; i < kN; ++i) ch.Push(std::make_unique<int>(i));
  });
  for (int i = 0; i < kN; ++i) {
    auto v = ch.Pop();
    ASSERT_EQ(*v, i);
  }
  producer.join();
}

TEST(BoundedChannelTest, PushBlocksWhileFull) {
  BoundedChannel<int> ch(4);
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int i = 0; i < 10; ++i) {
      ch.Push(std::make_unique<int>(i));
      pushed.fetch_add(1);
    }
  });
  // The producer cannot get more than the capacity ahead of the consumer.
  while (pushed.load() < 4) std::this_thread::yield();
  EXPECT_LE(ch.size_approx(), 4u);
  EXPECT_LT(pushed.load(), 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(*ch.Pop(), i);
  producer.join();
  EXPECT_EQ(pushed.load(), 10);
}

}  // namespace
}  // namespace pinstream
