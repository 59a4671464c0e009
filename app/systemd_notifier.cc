#include "app/systemd_notifier.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstring>

namespace pinstream::app {

namespace {

// sd_notify's failures do not stop the daemon (it runs on without the manager knowing): logged.
void Notify(const std::string& state) {
  int rc = sd_notify(0, state.c_str());
  if (rc < 0)
    spdlog::warn("sd_notify({}) failed: {}", state.substr(0, state.find('\n')), std::strerror(-rc));
}

}  // namespace

Status SystemdNotifier::Start() {
  Notify(fmt::format("STATUS=recovering {} queries from their checkpoints", queries_));
  return Status::Ok();
}

void SystemdNotifier::SetReady() {
  Notify(fmt::format("READY=1\nSTATUS=ready: {} queries running", queries_));
}

void SystemdNotifier::StopAccepting() {
  Notify("STOPPING=1\nSTATUS=draining: finishing and committing the running batches");
}

}  // namespace pinstream::app
