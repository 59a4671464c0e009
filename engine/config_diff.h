// ConfigDiff: what changes between the config a daemon runs and a new one (a reload), by name:
// queries, jobs and plugin sections added, removed, changed or unchanged. "Changed" compares
// fingerprints — the canonical YAML of a query's own config and of the sources it reads (config.h)
// — so comments, key order and layout do not count, and a query whose config and sources say
// the same thing is unchanged (a reload leaves it running untouched).
#pragma once

#include <string>
#include <vector>

#include "engine/config.h"

namespace pinstream {

struct ConfigDiff {
  // Queries and jobs by name: added and changed/unchanged in the new config's order, removed in
  // the old one's.
  std::vector<std::string> queries_added, queries_removed, queries_changed, queries_unchanged;
  std::vector<std::string> jobs_added, jobs_removed, jobs_changed;
  // Plugin sections (http, storage, ...) added, removed or changed.
  std::vector<std::string> sections_changed;
  bool data_dir_changed = false;
  bool log_level_changed = false;
  bool log_format_changed = false;

  bool jobs_differ() const {
    return !jobs_added.empty() || !jobs_removed.empty() || !jobs_changed.empty();
  }
  bool section_changed(const std::string& key) const;
};

ConfigDiff DiffConfigs(const DaemonConfig& old_config, const DaemonConfig& new_config);

}  // namespace pinstream
