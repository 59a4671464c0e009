// BoundedChannel<T>: a bounded single-producer/single-consumer queue of owned items between two
// threads, built on boost::lockfree::spsc_queue (lock-free ring buffer) with C++20 atomic
// wait/notify for blocking when empty or full.
//
// Backpressure: Push() blocks while the ring is full, so a fast reader can never make memory grow
// without bound. Items are whole record chunks (thousands of records), so one hand-off moves many
// records: the chunk is the bulk unit.
//
// Threading: exactly one thread calls Push() and exactly one (other) thread calls Pop().
#pragma once

#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <memory>

namespace pinstream {

template <typename T>
class BoundedChannel {
 public:
  explicit BoundedChannel(std::size_t capacity) : ring_(capacity) {}
  ~BoundedChannel() {
    T* p;
    while (ring_.pop(p)) delete p;
  }
  BoundedChannel(const BoundedChannel&) = delete;
  BoundedChannel& operator=(const BoundedChannel&) = delete;

  // Blocks while full.
  void Push(std::unique_ptr<T> item) {
    T* p = item.release();
    while (!ring_.push(p)) {
      std::uint32_t seen = pops_.load(std::memory_order_acquire);
      if (ring_.push(p)) break;
      pops_.wait(seen, std::memory_order_acquire);
    }
    pushes_.fetch_add(1, std::memory_order_release);
    pushes_.notify_one();
  }

  // Blocks while empty.
  std::unique_ptr<T> Pop() {
    T* p = nullptr;
    while (!ring_.pop(p)) {
      std::uint32_t seen = pushes_.load(std::memory_order_acquire);
      if (ring_.pop(p)) break;
      pushes_.wait(seen, std::memory_order_acquire);
    }
    pops_.fetch_add(1, std::memory_order_release);
    pops_.notify_one();
    return std::unique_ptr<T>(p);
  }

  std::size_t size_approx() const { return ring_.read_available(); }

 private:
  boost::lockfree::spsc_queue<T*> ring_;
  std::atomic<std::uint32_t> pushes_{0};
  std::atomic<std::uint32_t> pops_{0};
};

// A count-down latch on atomic wait/notify (std::latch cannot be reset per batch).
class BatchLatch {
 public:
  void Reset(int count) { remaining_.store(count, std::memory_order_release); }
  void CountDown() {
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) remaining_.notify_all();
  }
  void Wait() {
    int v;
    while ((v = remaining_.load(std::memory_order_acquire)) != 0) remaining_.wait(v);
  }

 private:
  std::atomic<int> remaining_{0};
};

}  // namespace pinstream
