#include "app/progress_waiters.h"

#include <algorithm>

#include "engine/thread_name.h"

namespace pinstream::app {

ProgressWaiters::~ProgressWaiters() {
  StopAccepting();
  Stop();
}

Status ProgressWaiters::Start() { return Status::Ok(); }  // the thread starts with the first wait

void ProgressWaiters::StopAccepting() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& w : waiting_) due_.push_back(std::move(w.answer));
    waiting_.clear();
  }
  cv_.notify_all();
}

void ProgressWaiters::Stop() {
  {
    std::lock_guard lock(mu_);
    exit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Answers left (none unless a wait came after the thread ended) still run, exactly once.
  std::vector<std::function<void()>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(due_);
    for (auto& w : waiting_) left.push_back(std::move(w.answer));
    waiting_.clear();
  }
  for (auto& a : left) a();
}

void ProgressWaiters::Wait(const std::string& query, std::int64_t after_batch,
                           Clock::time_point deadline, std::function<void()> answer) {
  {
    std::lock_guard lock(mu_);
    auto it = last_batch_.find(query);
    if (exit_) {
      // The waiters' thread is gone: answer here.
    } else {
      if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
      if (closed_ || (it != last_batch_.end() && it->second > after_batch) ||
          deadline <= Clock::now()) {
        due_.push_back(std::move(answer));
      } else {
        waiting_.push_back(Waiter{query, after_batch, deadline, std::move(answer)});
      }
      cv_.notify_all();
      return;
    }
  }
  answer();
}

void ProgressWaiters::Committed(const std::string& query, std::int64_t batch_id) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = last_batch_.try_emplace(query, batch_id);
    if (!inserted) it->second = std::max(it->second, batch_id);
    for (auto w = waiting_.begin(); w != waiting_.end();) {
      if (w->query == query && w->after_batch < batch_id) {
        due_.push_back(std::move(w->answer));
        w = waiting_.erase(w);
        wake = true;
      } else {
        ++w;
      }
    }
  }
  if (wake) cv_.notify_all();
}

std::size_t ProgressWaiters::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

void ProgressWaiters::Loop() {
  SetThreadName("progress-wait");
  std::unique_lock lock(mu_);
  while (true) {
    auto now = Clock::now();
    for (auto w = waiting_.begin(); w != waiting_.end();) {
      if (w->deadline <= now) {
        due_.push_back(std::move(w->answer));
        w = waiting_.erase(w);
      } else {
        ++w;
      }
    }
    if (!due_.empty()) {
      std::vector<std::function<void()>> run;
      run.swap(due_);
      lock.unlock();
      for (auto& a : run) a();
      lock.lock();
      continue;
    }
    if (exit_) return;
    if (waiting_.empty()) {
      cv_.wait(lock);
    } else {
      auto next =
          std::min_element(waiting_.begin(), waiting_.end(), [](const auto& a, const auto& b) {
            return a.deadline < b.deadline;
          })->deadline;
      cv_.wait_until(lock, next);
    }
  }
}

}  // namespace pinstream::app
