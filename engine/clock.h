// Clock: wall time and timed waits, behind an interface so that schedulers can be tested with a
// fake clock (tests/testing/fake_clock.h) instead of waiting for real time to pass.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace pinstream {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch, UTC.
  virtual std::int64_t NowMicros() const = 0;
  // Waits on `cv` (the caller holds `lock`) until `ready()` or NowMicros() >= deadline_us.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         std::int64_t deadline_us, const std::function<bool()>& ready) = 0;
};

// The real clock (process-wide instance).
Clock* SystemClock();

}  // namespace pinstream
