// ReloadConfig: what a reload does (SIGHUP, POST /reload, `pinstream reload`, --watch-config):
// the daemon's config file is loaded again and validated in full — an invalid file changes
// nothing and the result says why, with file:line:column — then applied:
//   - topics and streams the http section adds are created;
//   - queries added start, removed ones drain and stop, changed ones restart from their
//     checkpoint, a change that would misread a query's checkpoint is refused for that query
//     (it keeps running), unchanged ones are untouched (engine/daemon.h ReloadQueries);
//   - jobs added are scheduled, removed ones dropped (a run in progress finishes), changed ones
//     take their new schedule and SQL files, unchanged ones keep their schedule (JobScheduler::
//     Reload);
//   - log level and format apply at once (unless `run --log-level` fixed the level);
//   - the http settings the listener takes live apply at once, for the requests that start
//     afterwards (auth tokens and keys, size limits, timeouts, auto_create, default_partitions,
//     max_backlog_records, retention, group_commit_max_records: Api::ApplySettings);
//   - what cannot change while running (data_dir refuses the whole reload; storage,
//     http listen, io_threads and tls, a declared topic's partitions) is listed under
//     notApplied with the reason: it takes effect at the next start.
// The result is logged and returned as JSON:
//   {"ok":true,"config":"...","queries":{"started":[...],"stopped":[...],"restarted":[...],
//    "unchanged":[...],"refused":[{"query","reason"}],"failed":[{"query","reason"}]},
//    "jobs":{"added":[...],"removed":[...],"changed":[...]},
//    "topicsCreated":[...],"streamsCreated":[...],"applied":[...],
//    "notApplied":[{"what","reason"}]}
//   {"ok":false,"config":"...","error":"conf/x.yaml:12:7: ..."}
#pragma once

#include <string>

#include "engine/daemon.h"
#include "engine/job_scheduler.h"
#include "engine/registry.h"

namespace pinstream::connectors::http {
class Api;
}

namespace pinstream::app {

struct ReloadContext {
  std::string config_path;
  const Registries* registries = nullptr;
  Daemon* daemon = nullptr;
  connectors::http::Api* api = nullptr;  // null when the daemon serves no http
  JobScheduler* scheduler = nullptr;     // null: jobs are reported as not applied
  std::string fixed_log_level;           // `run --log-level`, which a reload keeps
};

// Runs one reload (call from one thread at a time: the daemon's reload thread).
std::string ReloadConfig(const ReloadContext& ctx);

}  // namespace pinstream::app
