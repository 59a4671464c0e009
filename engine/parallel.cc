#include "engine/parallel.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/thread_name.h"

namespace pinstream {

namespace {

class HelperPool {
 public:
  HelperPool() {
    unsigned n = std::max(1u, std::thread::hardware_concurrency()) - 1;
    for (unsigned i = 0; i < n; ++i) {
      threads_.emplace_back([this, i] {
        SetThreadName("helper-" + std::to_string(i));
        Loop();
      });
      threads_.back().detach();  // lives as long as the process
    }
  }

  void Run(std::size_t count, const std::function<void(std::size_t)>& fn) {
    if (threads_.empty() || count <= 1) {
      for (std::size_t i = 0; i < count; ++i) fn(i);
      return;
    }
    std::lock_guard<std::mutex> serial(run_mu_);  // one ParallelFor at a time
    {
      std::lock_guard lock(mu_);
      fn_ = &fn;
      count_ = count;
      next_.store(0);
      done_.store(0);
      ++generation_;
    }
    cv_.notify_all();
    Work();
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return done_.load() == count_; });
    fn_ = nullptr;
  }

 private:
  void Work() {
    for (;;) {
      std::size_t i = next_.fetch_add(1);
      if (i >= count_) return;
      (*fn_)(i);
      if (done_.fetch_add(1) + 1 == count_) {
        std::lock_guard lock(mu_);
        done_cv_.notify_all();
      }
    }
  }
  void Loop() {
    std::uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return generation_ != seen && fn_ != nullptr; });
        seen = generation_;
      }
      Work();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex run_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(std::size_t)>* fn_ = nullptr;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0}, done_{0};
  std::uint64_t generation_ = 0;
};

}  // namespace

void ParallelFor(std::size_t count, const std::function<void(std::size_t)>& fn) {
  static HelperPool* pool = new HelperPool();  // never destroyed: detached threads use it
  pool->Run(count, fn);
}

}  // namespace pinstream
