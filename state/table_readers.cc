#include "state/table_readers.h"

#include <fmt/format.h>

#include <algorithm>

namespace pinstream::state {

namespace {

std::optional<std::int64_t> Oldest(const std::map<std::string, std::int64_t>& holds) {
  if (holds.empty()) return std::nullopt;
  std::int64_t oldest = holds.begin()->second;
  for (const auto& [holder, v] : holds) oldest = std::min(oldest, v);
  return oldest;
}

}  // namespace

Status TableReaders::Hold(const std::string& table, const std::string& holder,
                          std::int64_t version) {
  std::lock_guard lock(mu_);
  auto f = floors_.find(table);
  if (f != floors_.end() && version < f->second) {
    return OutOfRange(fmt::format(
        "table '{}': version {} is older than the retention window and removed by VACUUM; the "
        "oldest readable version is {}",
        table, version, f->second));
  }
  holds_[table][holder] = version;
  return Status::Ok();
}

void TableReaders::Release(const std::string& table, const std::string& holder) {
  std::lock_guard lock(mu_);
  auto it = holds_.find(table);
  if (it == holds_.end()) return;
  it->second.erase(holder);
  if (it->second.empty()) holds_.erase(it);
}

std::optional<std::int64_t> TableReaders::OldestHeld(const std::string& table) const {
  std::lock_guard lock(mu_);
  auto it = holds_.find(table);
  return it == holds_.end() ? std::nullopt : Oldest(it->second);
}

std::map<std::string, std::int64_t> TableReaders::Holds(const std::string& table) const {
  std::lock_guard lock(mu_);
  auto it = holds_.find(table);
  return it == holds_.end() ? std::map<std::string, std::int64_t>() : it->second;
}

std::optional<std::int64_t> TableReaders::RaiseFloor(const std::string& table,
                                                     std::int64_t floor) {
  std::lock_guard lock(mu_);
  if (auto it = holds_.find(table); it != holds_.end()) {
    if (auto oldest = Oldest(it->second); oldest && *oldest < floor) return oldest;
  }
  std::int64_t& f = floors_[table];
  f = std::max(f, floor);
  return std::nullopt;
}

void TableReaders::ResetFloor(const std::string& table, std::int64_t floor) {
  std::lock_guard lock(mu_);
  floors_[table] = floor;
}

std::int64_t TableReaders::Floor(const std::string& table) const {
  std::lock_guard lock(mu_);
  auto it = floors_.find(table);
  return it == floors_.end() ? 0 : it->second;
}

}  // namespace pinstream::state
