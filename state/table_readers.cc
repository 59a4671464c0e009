#include "state/table_readers.h"

#include <algorithm>

namespace pinstream::state {

void TableReaders::Hold(const std::string& table, const std::string& holder, std::int64_t version) {
  std::lock_guard lock(mu_);
  holds_[table][holder] = version;
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
  if (it == holds_.end() || it->second.empty()) return std::nullopt;
  std::int64_t oldest = it->second.begin()->second;
  for (const auto& [holder, v] : it->second) oldest = std::min(oldest, v);
  return oldest;
}

std::map<std::string, std::int64_t> TableReaders::Holds(const std::string& table) const {
  std::lock_guard lock(mu_);
  auto it = holds_.find(table);
  return it == holds_.end() ? std::map<std::string, std::int64_t>() : it->second;
}

}  // namespace pinstream::state
