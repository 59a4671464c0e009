// ConfigWatcher: `pinstream run --watch-config` — the daemon reloads its config (as SIGHUP does)
// when the config file, or a SQL file it names (jobs' and views' SQL), changes.
//
// * inotify on the folders that hold the watched files (not on the files: editors and config
//   management replace a file by renaming a new one over it, which a watch on the old inode
//   misses); events for other names in those folders are ignored.
// * Debounced: a reload starts once no watched file has changed for `debounce` (300 ms in the
//   daemon), so an editor's several writes, or a file written in pieces, make one reload.
// * Only a real change reloads: the watched files' contents are compared with what they held at
//   the last reload (a `touch`, or a save without a change, does nothing).
// * An invalid file is refused by the reload (logged with file:line:column, nothing changes);
//   the watcher waits for the next change. After every reload the set of watched files is read
//   again (a reload may name other SQL files).
//
// Threading: one thread of its own; Start and Stop from one thread (the daemon's wiring). The
// reload callback runs on the watcher's thread and returns once the reload is done.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "engine/config.h"
#include "engine/status.h"

namespace pinstream::app {

class ConfigWatcher {
 public:
  // `files`: the files to watch (absolute or relative to the working directory), asked again
  // after every reload. `reload`: runs a reload and returns when it is done.
  ConfigWatcher(std::function<std::vector<std::string>()> files, std::function<void()> reload,
                std::chrono::milliseconds debounce);
  ~ConfigWatcher();

  // Sets up the watches and starts the thread. An error when inotify is unavailable.
  [[nodiscard]] Status Start();
  // Ends the thread (a reload in progress finishes first).
  void Stop();

  // The watcher's debounce in the daemon.
  static constexpr std::chrono::milliseconds kDebounce{300};

 private:
  // The watched files' contents ("" with a marker when missing), by path.
  std::map<std::string, std::string> Snapshot() const;
  // Watches the folders of files() (again: after a reload the list may differ).
  void Rewatch();
  void Loop();

  std::function<std::vector<std::string>()> files_fn_;
  std::function<void()> reload_;
  std::chrono::milliseconds debounce_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;                          // an eventfd: Stop() wakes the loop
  std::map<int, std::string> watches_;        // watch descriptor → folder
  std::map<std::string, std::string> names_;  // folder/name → path as files() gave it
  std::map<std::string, std::string> last_;   // Snapshot() at the last reload (or start)
  std::thread thread_;
};

// The files a daemon config's reload depends on: the config file and the SQL files its jobs
// and views name.
std::vector<std::string> ConfigWatchedFiles(const DaemonConfig& config);

}  // namespace pinstream::app
