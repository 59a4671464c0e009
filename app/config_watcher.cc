#include "app/config_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/logging.h"
#include "engine/thread_name.h"
#include "views/views_config.h"

namespace pinstream::app {

namespace fs = std::filesystem;

namespace {

// The folder and file name of `path`, made absolute.
std::pair<std::string, std::string> Split(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec).lexically_normal();
  if (ec) abs = fs::path(path).lexically_normal();
  return {abs.parent_path().string(), abs.filename().string()};
}

}  // namespace

std::vector<std::string> ConfigWatchedFiles(const DaemonConfig& config) {
  std::vector<std::string> out{config.path};
  for (const auto& job : config.jobs) {
    for (const auto& q : job.queries) out.push_back(q.sql_file);
  }
  if (const auto* views = config.Section<views::ViewsConfig>(views::kViewsSection)) {
    for (const auto& v : views->views) out.push_back(v.sql_file);
  }
  return out;
}

ConfigWatcher::ConfigWatcher(std::function<std::vector<std::string>()> files,
                             std::function<void()> reload, std::chrono::milliseconds debounce)
    : files_fn_(std::move(files)), reload_(std::move(reload)), debounce_(debounce) {}

ConfigWatcher::~ConfigWatcher() {
  Stop();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

std::map<std::string, std::string> ConfigWatcher::Snapshot() const {
  std::map<std::string, std::string> out;
  for (const auto& [key, path] : names_) {
    std::ifstream in(path, std::ios::binary);
    // A missing file differs from every content a file can have (NUL bytes lead no YAML/SQL).
    out[key] =
        in ? std::string(std::istreambuf_iterator<char>(in), {}) : std::string("\0missing", 8);
  }
  return out;
}

void ConfigWatcher::Rewatch() {
  for (const auto& [wd, dir] : watches_) inotify_rm_watch(inotify_fd_, wd);
  watches_.clear();
  names_.clear();
  std::map<std::string, bool> dirs;
  for (const auto& path : files_fn_()) {
    auto [dir, name] = Split(path);
    names_[dir + "/" + name] = path;
    dirs[dir] = true;
  }
  for (const auto& [dir, unused] : dirs) {
    int wd = inotify_add_watch(inotify_fd_, dir.c_str(),
                               IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM |
                                   IN_CREATE | IN_DELETE | IN_ONLYDIR);
    if (wd < 0) {
      LogWarn({{"folder", dir}, {"error", std::strerror(errno)}},
              "--watch-config: cannot watch this folder; changes in it are not noticed");
      continue;
    }
    watches_[wd] = dir;
  }
}

Status ConfigWatcher::Start() {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) return Internal(fmt::format("inotify_init1: {}", std::strerror(errno)));
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) return Internal(fmt::format("eventfd: {}", std::strerror(errno)));
  Rewatch();
  last_ = Snapshot();
  std::string files;
  for (const auto& [key, path] : names_) files += (files.empty() ? "" : ", ") + path;
  LogInfo({{"files", files}, {"debounce_ms", debounce_.count()}},
          "watching the config: a change reloads it");
  thread_ = std::thread([this] {
    SetThreadName("config-watch");
    Loop();
  });
  return Status::Ok();
}

void ConfigWatcher::Stop() {
  if (!thread_.joinable()) return;
  std::uint64_t one = 1;
  if (::write(stop_fd_, &one, sizeof one) < 0) {
    LogError({{"error", std::strerror(errno)}}, "--watch-config: cannot stop the watcher");
    return;
  }
  thread_.join();
}

void ConfigWatcher::Loop() {
  using Clock = std::chrono::steady_clock;
  bool pending = false;
  Clock::time_point due;
  alignas(struct inotify_event) char buf[16 * 1024];
  for (;;) {
    int timeout = -1;
    if (pending) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now());
      timeout = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) {
      LogError({{"error", std::strerror(errno)}}, "--watch-config: poll failed; watching stops");
      return;
    }
    if (n > 0 && (fds[1].revents & POLLIN)) return;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      for (;;) {
        ssize_t len = ::read(inotify_fd_, buf, sizeof buf);
        if (len <= 0) break;
        for (char* p = buf; p < buf + len;) {
          auto* ev = reinterpret_cast<struct inotify_event*>(p);
          p += sizeof(struct inotify_event) + ev->len;
          auto dir = watches_.find(ev->wd);
          if (dir == watches_.end() || ev->len == 0) continue;
          if (names_.count(dir->second + "/" + ev->name) == 0) continue;
          pending = true;  // (again): the reload waits for `debounce` of quiet
          due = Clock::now() + debounce_;
        }
      }
      continue;
    }
    if (!pending || Clock::now() < due) continue;
    pending = false;
    auto now = Snapshot();
    if (now == last_) continue;  // written without a change
    last_ = std::move(now);      // before the reload reads them: a later change reloads again
    LogInfo({}, "--watch-config: the config changed; reloading");
    reload_();
    Rewatch();
    auto after = Snapshot();
    // Files the new config names for the first time: what the reload read is the baseline.
    for (auto& [key, content] : after) last_.try_emplace(key, std::move(content));
    for (auto it = last_.begin(); it != last_.end();) {
      it = names_.count(it->first) ? std::next(it) : last_.erase(it);
    }
  }
}

}  // namespace pinstream::app
