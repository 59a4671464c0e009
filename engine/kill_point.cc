#include "engine/kill_point.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

namespace pinstream {

namespace {

struct KillConfig {
  std::string points;  // ",a,b,"
  unsigned odds = 0;
  KillConfig() {
    const char* p = std::getenv("PINSTREAM_KILL_POINTS");
    const char* o = std::getenv("PINSTREAM_KILL_ODDS");
    if (p == nullptr || o == nullptr) return;
    points = std::string(",") + p + ",";
    odds = static_cast<unsigned>(std::strtoul(o, nullptr, 10));
  }
};

const KillConfig& Config() {
  static const KillConfig c;
  return c;
}

}  // namespace

void KillPoint(const char* name) {
  const KillConfig& c = Config();
  if (c.odds == 0) return;
  if (c.points.find(std::string(",") + name + ",") == std::string::npos) return;
  thread_local std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  if (rng() % c.odds == 0) {
    std::string msg = std::string("pinstream: kill point ") + name + " reached, sending SIGKILL\n";
    ssize_t ignored = ::write(2, msg.data(), msg.size());
    (void)ignored;
    ::kill(::getpid(), SIGKILL);
  }
}

}  // namespace pinstream
