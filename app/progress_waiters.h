// ProgressWaiters: the long polls of `GET /queries/<q>/progress?after=N&waitMs=M` — a client that
// wants to know the moment a batch after N is committed (and readable) asks once and is answered
// as soon as it is, or after M ms with nothing new, instead of polling.
//
// Committed() is called from the queries' commit threads after the daemon has recorded the
// batch's progress report (Daemon::RecentProgress has it): it only marks the waiters of that
// query due and wakes the waiters' thread, which calls their answers. Answers never run on a
// commit thread, so a slow client costs the commit path nothing.
//
// Lifecycle: a daemon Service (it does not keep the daemon alive); list it before the HTTP server
// so that StopAccepting() answers every waiter first — the server's drain waits for requests in
// flight, and a long poll must not hold it up. After StopAccepting(), Wait() answers at once.
// Threading: every method is thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/daemon.h"

namespace pinstream::app {

class ProgressWaiters : public Service {
 public:
  using Clock = std::chrono::steady_clock;
  ProgressWaiters() = default;
  ~ProgressWaiters() override;

  std::string_view name() const override { return "progress-waiters"; }
  Status Start() override;
  void StopAccepting() override;  // answers every waiter now
  void Stop() override;
  bool keeps_daemon_alive() const override { return false; }

  // Calls `answer` (on the waiters' thread) once `query` has committed a batch after
  // `after_batch`, or at `deadline` — or at once when one is already known to be committed, or
  // after StopAccepting(). Each answer is called exactly once.
  void Wait(const std::string& query, std::int64_t after_batch, Clock::time_point deadline,
            std::function<void()> answer);
  // `query` committed batch `batch_id` (its progress is recorded).
  void Committed(const std::string& query, std::int64_t batch_id);

  std::size_t waiting() const;  // tests

 private:
  struct Waiter {
    std::string query;
    std::int64_t after_batch;
    Clock::time_point deadline;
    std::function<void()> answer;
  };
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::int64_t> last_batch_;  // the newest batch committed, per query
  std::vector<Waiter> waiting_;
  std::vector<std::function<void()>> due_;  // to answer now
  bool closed_ = false, exit_ = false;
  std::thread thread_;
};

}  // namespace pinstream::app
