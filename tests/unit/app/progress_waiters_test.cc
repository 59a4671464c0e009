// Long polls of a query's progress: answered once a later batch commits, at their deadline, at
// once when one is already committed, and all of them when the daemon drains.
#include "app/progress_waiters.h"

#include <gtest/gtest.h>

#include <future>

namespace pinstream::app {
namespace {

using namespace std::chrono_literals;

// A waiter's answer as a future.
std::future<void> Wait(ProgressWaiters& w, const std::string& query, std::int64_t after,
                       std::chrono::milliseconds wait) {
  auto p = std::make_shared<std::promise<void>>();
  w.Wait(query, after, ProgressWaiters::Clock::now() + wait, [p] { p->set_value(); });
  return p->get_future();
}

TEST(ProgressWaitersTest, AnsweredWhenALaterBatchOfItsQueryCommits) {
  ProgressWaiters w;
  auto a = Wait(w, "geo", 4, 60s);
  auto b = Wait(w, "pin", 4, 60s);
  w.Committed("geo", 4);  // not after 4
  w.Committed("pin", 9);  // another query
  EXPECT_EQ(a.wait_for(50ms), std::future_status::timeout);
  w.Committed("geo", 5);
  EXPECT_EQ(a.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(b.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(w.waiting(), 0u);
}

TEST(ProgressWaitersTest, AnsweredAtOnceWhenALaterBatchIsAlreadyCommitted) {
  ProgressWaiters w;
  w.Committed("geo", 7);
  auto t0 = ProgressWaiters::Clock::now();
  EXPECT_EQ(Wait(w, "geo", 6, 60s).wait_for(10s), std::future_status::ready);
  EXPECT_LT(ProgressWaiters::Clock::now() - t0, 10s);
  EXPECT_EQ(Wait(w, "geo", 7, 0ms).wait_for(10s), std::future_status::ready);  // no wait asked
}

TEST(ProgressWaitersTest, AnsweredAtTheDeadlineWithoutACommit) {
  ProgressWaiters w;
  auto t0 = ProgressWaiters::Clock::now();
  auto a = Wait(w, "geo", 0, 100ms);
  auto b = Wait(w, "geo", 0, 60s);
  EXPECT_EQ(a.wait_for(10s), std::future_status::ready);
  EXPECT_GE(ProgressWaiters::Clock::now() - t0, 100ms);
  EXPECT_EQ(b.wait_for(0ms), std::future_status::timeout);
  EXPECT_EQ(w.waiting(), 1u);
  w.StopAccepting();  // a drain answers the rest, and every later wait at once
  EXPECT_EQ(b.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(Wait(w, "geo", 0, 60s).wait_for(10s), std::future_status::ready);
  w.Stop();
  EXPECT_EQ(Wait(w, "geo", 0, 60s).wait_for(0ms), std::future_status::ready);  // inline now
}

}  // namespace
}  // namespace pinstream::app
