// SystemdNotifier: tells systemd (a `Type=notify` unit, packaging/pinstream.service.in) where the
// daemon is in its lifecycle, through libsystemd's sd_notify:
//   READY=1      once every query has recovered from its checkpoint (Service::SetReady), so that
//                `systemctl start` returns, and units ordered after pinstream start, only when the
//                daemon serves;
//   STOPPING=1   when the drain starts (Service::StopAccepting);
//   STATUS=...   a line `systemctl status` shows.
// Outside systemd ($NOTIFY_SOCKET unset) every call is a no-op. A daemon Service that never keeps
// the daemon alive by itself.
//
// Threading: the daemon calls it from its own thread; sd_notify is thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include "engine/daemon.h"

namespace pinstream::app {

class SystemdNotifier : public Service {
 public:
  explicit SystemdNotifier(std::size_t queries) : queries_(queries) {}

  std::string_view name() const override { return "systemd notifier"; }
  [[nodiscard]] Status Start() override;
  void SetReady() override;
  void StopAccepting() override;
  void Stop() override {}
  bool keeps_daemon_alive() const override { return false; }

 private:
  std::size_t queries_;
};

}  // namespace pinstream::app
