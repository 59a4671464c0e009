// FakeClock: a Clock whose time moves only when a test says so (schedulers under test).
#pragma once

#include <atomic>
#include <chrono>

#include "engine/clock.h"

namespace pinstream::testing {

class FakeClock : public Clock {
 public:
  explicit FakeClock(std::int64_t start_us) : now_(start_us) {}
  std::int64_t NowMicros() const override { return now_.load(); }
  void Set(std::int64_t us) { now_.store(us); }
  void Advance(std::int64_t us) { now_.fetch_add(us); }
  // Waits until ready() or the fake time reaches the deadline; re-checks every millisecond of
  // real time (the fake time moves from another thread without notifying the waiter's cv).
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 std::int64_t deadline_us, const std::function<bool()>& ready) override {
    while (!ready() && now_.load() < deadline_us) cv.wait_for(lock, std::chrono::milliseconds(1));
  }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace pinstream::testing
