// SetThreadName: names the calling thread as `top -H`, `ps -L`, perf and gdb show it. Linux keeps
// 15 bytes of a name; longer names are cut there. Every long-lived thread of the daemon is named
// (engine/README "Threads").
#pragma once

#include <string>
#include <string_view>

namespace pinstream {

void SetThreadName(std::string_view name);
// The calling thread's name ("" if it cannot be read).
std::string CurrentThreadName();

}  // namespace pinstream
