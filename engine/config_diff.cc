#include "engine/config_diff.h"

#include <algorithm>
#include <map>
#include <set>

namespace pinstream {

bool ConfigDiff::section_changed(const std::string& key) const {
  return std::find(sections_changed.begin(), sections_changed.end(), key) != sections_changed.end();
}

namespace {

// Sorts the entries of `next` (name, fingerprint) into added / changed / unchanged against `old`,
// and the names only in `old` into removed.
template <typename T>
void DiffNamed(const std::vector<T>& old, const std::vector<T>& next,
               std::vector<std::string>* added, std::vector<std::string>* removed,
               std::vector<std::string>* changed, std::vector<std::string>* unchanged) {
  std::map<std::string, const T*> before;
  for (const auto& e : old) before[e.name] = &e;
  std::set<std::string> now;
  for (const auto& e : next) {
    now.insert(e.name);
    auto it = before.find(e.name);
    if (it == before.end()) {
      added->push_back(e.name);
    } else if (it->second->fingerprint != e.fingerprint) {
      changed->push_back(e.name);
    } else if (unchanged != nullptr) {
      unchanged->push_back(e.name);
    }
  }
  for (const auto& e : old) {
    if (!now.count(e.name)) removed->push_back(e.name);
  }
}

}  // namespace

ConfigDiff DiffConfigs(const DaemonConfig& old_config, const DaemonConfig& new_config) {
  ConfigDiff d;
  DiffNamed(old_config.queries, new_config.queries, &d.queries_added, &d.queries_removed,
            &d.queries_changed, &d.queries_unchanged);
  DiffNamed(old_config.jobs, new_config.jobs, &d.jobs_added, &d.jobs_removed, &d.jobs_changed,
            nullptr);
  std::set<std::string> keys;
  for (const auto& [k, v] : old_config.section_fingerprints) keys.insert(k);
  for (const auto& [k, v] : new_config.section_fingerprints) keys.insert(k);
  for (const auto& k : keys) {
    auto a = old_config.section_fingerprints.find(k);
    auto b = new_config.section_fingerprints.find(k);
    bool same = a != old_config.section_fingerprints.end() &&
                b != new_config.section_fingerprints.end() && a->second == b->second;
    if (!same) d.sections_changed.push_back(k);
  }
  d.data_dir_changed = old_config.data_dir != new_config.data_dir;
  d.log_level_changed = old_config.log.level != new_config.log.level;
  d.log_format_changed = old_config.log.format != new_config.log.format;
  return d;
}

}  // namespace pinstream
