#include "app/config_reload.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <tuple>

#include "app/commands.h"
#include "connectors/http/api.h"
#include "connectors/http/http_config.h"
#include "engine/config_diff.h"
#include "views/view_query.h"
#include "views/views_config.h"

namespace pinstream::app {

namespace {

using json = nlohmann::json;
using connectors::http::HttpConfig;

// The http settings that differ between `a` and `b`, other than topics and streams (which a
// reload creates), by their key in the http section. Whether a reload applies each at once or
// needs a restart is the key's `reload` in the section's table (kHttpKeys), which the reference
// prints. Compared typed, not as YAML: tokens read from a file change without the YAML.
std::vector<std::string> HttpSettingsChanged(const HttpConfig& a, const HttpConfig& b) {
  std::vector<std::string> out;
  auto check = [&out](bool differ, const char* key) {
    if (differ) out.emplace_back(key);
  };
  check(a.host != b.host || a.port != b.port, "listen");
  check(a.io_threads != b.io_threads, "io_threads");
  check(a.tls_cert_file != b.tls_cert_file || a.tls_key_file != b.tls_key_file, "tls");
  check(a.max_body_bytes != b.max_body_bytes, "max_body_size");
  check(a.max_record_bytes != b.max_record_bytes, "max_record_size");
  check(a.request_timeout_us != b.request_timeout_us, "request_timeout");
  check(a.idle_timeout_us != b.idle_timeout_us, "idle_timeout");
  bool keys_differ = a.aws_sigv4.access_keys.size() != b.aws_sigv4.access_keys.size();
  for (std::size_t i = 0; !keys_differ && i < a.aws_sigv4.access_keys.size(); ++i) {
    keys_differ = a.aws_sigv4.access_keys[i].id != b.aws_sigv4.access_keys[i].id ||
                  a.aws_sigv4.access_keys[i].secret != b.aws_sigv4.access_keys[i].secret;
  }
  check(a.bearer_tokens != b.bearer_tokens || a.api_keys != b.api_keys || keys_differ ||
            a.aws_sigv4.region != b.aws_sigv4.region ||
            a.aws_sigv4.max_clock_skew_us != b.aws_sigv4.max_clock_skew_us,
        "auth");
  check(a.auto_create != b.auto_create, "auto_create");
  check(a.default_partitions != b.default_partitions, "default_partitions");
  check(a.retention_age_us != b.retention_age_us || a.retention_bytes != b.retention_bytes,
        "retention");
  check(a.max_backlog_records != b.max_backlog_records, "max_backlog_records");
  check(a.group_commit_max_records != b.group_commit_max_records, "group_commit_max_records");
  return out;
}

// Why a changed key of reload class `how` (config_keys.h) is not applied.
std::string NotAppliedReason(Reload how) {
  return fmt::format("reload: {} — {}; restart the daemon to apply it", ReloadName(how),
                     ReloadMeaning(how));
}

// Declared in `next` and not in `old`.
std::vector<connectors::http::LogStreamDecl> NewStreams(
    const std::vector<connectors::http::LogStreamDecl>& old,
    const std::vector<connectors::http::LogStreamDecl>& next) {
  std::vector<connectors::http::LogStreamDecl> out;
  for (const auto& d : next) {
    bool known = false;
    for (const auto& o : old) known |= o.name == d.name;
    if (!known) out.push_back(d);
  }
  return out;
}

std::string Failed(const std::string& path, const std::string& error) {
  LogError({{"config", path}, {"error", error}}, "reload refused: nothing changed");
  return json{{"ok", false}, {"config", path}, {"error", error}}.dump();
}

json Pairs(const std::vector<std::pair<std::string, std::string>>& v) {
  json out = json::array();
  for (const auto& [name, reason] : v) out.push_back({{"query", name}, {"reason", reason}});
  return out;
}

}  // namespace

std::string ReloadConfig(const ReloadContext& ctx) {
  const std::string& path = ctx.config_path;
  // 1. The whole file, validated as at start; nothing changes unless it is valid.
  // Its live views become queries (views/view_query.h): added, removed and changed like them.
  std::shared_ptr<const DaemonConfig> next;
  try {
    auto loaded = std::make_shared<DaemonConfig>(LoadConfig(path, *ctx.registries));
    if (Status st = views::AddViewQueries(*loaded, *ctx.registries); !st.ok())
      return Failed(path, st.message());
    next = std::move(loaded);
  } catch (const ConfigError& e) {
    return Failed(path, e.what());
  }
  const DaemonConfig& old = ctx.daemon->config();
  ConfigDiff diff = DiffConfigs(old, *next);
  if (diff.data_dir_changed) {
    return Failed(path, fmt::format("data_dir changed ('{}' → '{}'): a running daemon keeps its "
                                    "data dir; restart it to use another",
                                    old.data_dir, next->data_dir));
  }
  const auto* old_http = old.Section<HttpConfig>(connectors::http::kHttpSection);
  const auto* new_http = next->Section<HttpConfig>(connectors::http::kHttpSection);
  if ((old_http == nullptr) != (new_http == nullptr)) {
    return Failed(path, old_http == nullptr
                            ? "the http section was added: the HTTP listener starts with the "
                              "daemon; restart it to serve HTTP"
                            : "the http section was removed: restart the daemon to stop serving "
                              "HTTP");
  }
  json result = {{"ok", true}, {"config", path}};
  json applied = json::array(), not_applied = json::array();
  // 2. Topics and streams first: the queries started below may read them.
  json topics = json::array(), streams = json::array();
  if (new_http != nullptr && ctx.api != nullptr) {
    HttpConfig added;
    added.topics = NewStreams(old_http->topics, new_http->topics);
    added.streams = NewStreams(old_http->streams, new_http->streams);
    if (Status st = ctx.api->DeclareStreams(added); !st.ok())
      return Failed(path, "creating the new topics and streams: " + st.message());
    for (const auto& t : added.topics) topics.push_back(t.name);
    for (const auto& s : added.streams) streams.push_back(s.name);
    for (const auto& [kind, before, now] :
         {std::tuple{"topics", &old_http->topics, &new_http->topics},
          std::tuple{"streams", &old_http->streams, &new_http->streams}}) {
      for (const auto& o : *before) {
        bool kept = false;
        for (const auto& d : *now) kept |= d.name == o.name;
        if (!kept) {
          not_applied.push_back(
              {{"what", fmt::format("http.{}.{}", kind, o.name)},
               {"reason",
                "no longer declared, but it stays with its records and still takes "
                "writes: a reload never deletes data (the queries that read it are "
                "what a reload stops)"}});
        }
      }
      for (const auto& d : *now) {
        for (const auto& o : *before) {
          if (o.name != d.name || o.partitions == d.partitions) continue;
          not_applied.push_back(
              {{"what", fmt::format("http.{}.{}", kind, d.name)},
               {"reason", fmt::format("it was created with {} partitions, which it keeps (a "
                                      "topic's or stream's partitions are fixed when it is "
                                      "created)",
                                      o.partitions)}});
        }
      }
    }
    // The settings the listener takes live: for the requests that start from now on.
    bool live = false;
    for (const auto& key : HttpSettingsChanged(*old_http, *new_http)) {
      const KeyDoc* doc = connectors::http::kHttpKeys.Find(key);
      Reload how = doc != nullptr ? connectors::http::kHttpKeys.ReloadOf(*doc) : Reload::kRestart;
      if (how == Reload::kLive) {
        applied.push_back("http." + key);
        live = true;
      } else {
        not_applied.push_back({{"what", "http." + key}, {"reason", NotAppliedReason(how)}});
      }
    }
    if (live) ctx.api->ApplySettings(*new_http);
  }
  // 3. The queries.
  auto reloaded = ctx.daemon->ReloadQueries(next, diff);
  if (!reloaded.ok()) return Failed(path, reloaded.status().message());
  const QueryReload& r = *reloaded;
  result["queries"] = {{"started", r.started},        {"stopped", r.stopped},
                       {"restarted", r.restarted},    {"reset", r.reset},
                       {"unchanged", r.unchanged},
                       {"refused", Pairs(r.refused)}, {"failed", Pairs(r.failed)}};
  result["topicsCreated"] = topics;
  result["streamsCreated"] = streams;
  // 4. Logging.
  if (diff.log_level_changed || diff.log_format_changed) {
    std::string level = ctx.fixed_log_level.empty() ? next->log.level : ctx.fixed_log_level;
    SetupLogging(level, next->log.format);
    if (diff.log_level_changed) {
      if (ctx.fixed_log_level.empty()) {
        applied.push_back("log.level: " + next->log.level);
      } else {
        not_applied.push_back(
            {{"what", "log.level"},
             {"reason", "`pinstream run --log-level " + ctx.fixed_log_level + "` sets it"}});
      }
    }
    if (diff.log_format_changed)
      applied.push_back(std::string("log.format: ") +
                        (next->log.format == LogFormat::kJson ? "json" : "text"));
  }
  // 5. Jobs.
  result["jobs"] = {
      {"added", diff.jobs_added}, {"removed", diff.jobs_removed}, {"changed", diff.jobs_changed}};
  if (diff.jobs_differ()) {
    if (ctx.scheduler != nullptr) {
      ctx.scheduler->Reload(next->jobs);
    } else {
      not_applied.push_back(
          {{"what", "jobs"}, {"reason", "this daemon runs no job scheduler: restart it"}});
    }
  }
  // 6. The other sections: what their tables say only a restart applies.
  for (const auto& key : diff.sections_changed) {
    if (key == connectors::http::kHttpSection) continue;  // above
    if (key == views::kViewsSection) continue;            // its views are queries (above)
    auto tables = ctx.registries->sections.Docs(key);
    Reload how = tables.empty() ? Reload::kRestart : tables.front()->reload;
    if (how == Reload::kRestart || how == Reload::kRefused)
      not_applied.push_back({{"what", key}, {"reason", NotAppliedReason(how)}});
  }
  result["applied"] = applied;
  result["notApplied"] = not_applied;
  // (LogField holds views: the strings outlive the call.)
  const std::string started = fmt::format("{}", fmt::join(r.started, ","));
  const std::string stopped = fmt::format("{}", fmt::join(r.stopped, ","));
  const std::string restarted = fmt::format("{}", fmt::join(r.restarted, ","));
  const std::string jobs_added = fmt::format("{}", fmt::join(diff.jobs_added, ","));
  const std::string jobs_removed = fmt::format("{}", fmt::join(diff.jobs_removed, ","));
  const std::string jobs_changed = fmt::format("{}", fmt::join(diff.jobs_changed, ","));
  LogInfo({{"config", path},
           {"started", started},
           {"stopped", stopped},
           {"restarted", restarted},
           {"unchanged", r.unchanged.size()},
           {"jobs_added", jobs_added},
           {"jobs_removed", jobs_removed},
           {"jobs_changed", jobs_changed},
           {"refused", r.refused.size()},
           {"failed", r.failed.size()}},
          "config reloaded");
  for (const auto& [name, reason] : r.refused)
    LogWarn({{"query", name}, {"reason", reason}},
            "reload: change refused, the query keeps running");
  for (const auto& [name, reason] : r.failed)
    LogError({{"query", name}, {"reason", reason}}, "reload: the query could not start");
  for (const auto& n : not_applied) {
    LogWarn({{"what", n["what"].get<std::string>()}, {"reason", n["reason"].get<std::string>()}},
            "reload: not applied until the next start");
  }
  return result.dump();
}

}  // namespace pinstream::app
