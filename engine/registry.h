// Registries: config `kind` → parser of the typed config → spec (a factory of instances); and
// top-level config key → parser of a plugin's own section (`storage:`, `http:`).
//
// Each plugin folder (operators/, connectors/, state/) has a registry.cc with ONE explicit list
// of Register() calls — no static-initialiser magic. The binary's composition root (app/) fills
// a Registries object from those lists and hands it to the config loader, which is how the
// engine parses `kind: parse_json` or an `http:` section without naming any operator or
// connector.
//
// Parsers run at config load time (also for `pinstream validate`): they read the node with
// ConfigNode, throw ConfigError with file:line:col on bad input, and return an immutable spec.
// Specs create runtime instances later (Create), possibly many (one operator per shard).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config_node.h"
#include "engine/operator.h"
#include "engine/sink.h"
#include "engine/source.h"

namespace pinstream {

struct SourceCreateContext {
  std::string source_name;
  std::string query_name;  // the query the source instance serves (consumer identity)
  // A table source (TableName() non-empty) whose table some query of the config writes: it may
  // not exist yet when the reader starts (a chain on a fresh data dir).
  bool table_written_by_config = false;
};

class SourceSpec {
 public:
  virtual ~SourceSpec() = default;
  virtual std::string_view kind() const = 0;
  // What identifies the data this source reads (a directory, a topic); part of the checkpoint
  // metadata so that pointing a query at different data is detected on restart.
  virtual std::string Descriptor() const = 0;
  virtual Result<std::unique_ptr<Source>> Create(const SourceCreateContext& ctx) const = 0;
  // What is known of the chunks' columns before reading (engine/stream_schema.h): the log chunk
  // shape of http/kafka, a delta table's schema once the store is open, typed files.
  virtual StreamSchema DeclaredSchema() const { return StreamSchema::Unknown(); }
  // The delta table read, if any (a table source: its commits wake the queries reading it).
  virtual std::string TableName() const { return {}; }
  // The source log topic or stream read, if any (an http source: appends to it wake the queries
  // reading it, and only those).
  virtual std::string LogStreamName() const { return {}; }
};

struct SinkCreateContext {
  std::string query_name;
  bool dead_letter = false;  // the query's dead-letter sink
};

class SinkSpec {
 public:
  virtual ~SinkSpec() = default;
  virtual std::string_view kind() const = 0;
  virtual std::string Descriptor() const = 0;
  // The delta table written, if any (used to validate table names and list them).
  virtual std::string TableName() const { return {}; }
  virtual Result<std::unique_ptr<Sink>> Create(const SinkCreateContext& ctx) const = 0;
};

template <typename Spec>
class Registry {
 public:
  using Parser = std::function<std::shared_ptr<const Spec>(const ConfigNode& node)>;

  // `summary` is one line shown in errors and the config reference; `docs` are the key tables
  // the parser passes to ExpectKeys (its own first, then its nested mappings'), which
  // `pinstream config reference` prints.
  void Register(std::string kind, std::string summary, Parser parser,
                std::vector<const ConfigKeys*> docs) {
    entries_[std::move(kind)] = Entry{std::move(summary), std::move(parser), std::move(docs)};
  }

  // Reads `kind` from `node` and calls its parser; unknown kinds fail with a suggestion.
  std::shared_ptr<const Spec> Parse(const ConfigNode& node, std::string_view what) const {
    if (!node.IsMap())
      node.Fail(std::string("expected a mapping with a 'kind' key for the ") + std::string(what));
    std::string kind = node.GetString("kind");
    auto it = entries_.find(kind);
    if (it == entries_.end()) {
      std::vector<std::string> kinds = Kinds();
      std::string hint = NearestMatch(kind, kinds);
      std::string msg = "unknown " + std::string(what) + " kind '" + kind + "'";
      msg +=
          hint.empty() ? " (known kinds: " + Join(kinds) + ")" : " (did you mean '" + hint + "'?)";
      node.Get("kind").Fail(msg);
    }
    return it->second.parser(node.WithImplicitKeys({"kind", "name"}));
  }

  bool Has(std::string_view kind) const { return entries_.count(std::string(kind)) > 0; }
  std::vector<std::string> Kinds() const {
    std::vector<std::string> out;
    for (const auto& [k, e] : entries_) out.push_back(k);
    return out;
  }
  std::string Summary(const std::string& kind) const {
    auto it = entries_.find(kind);
    return it == entries_.end() ? std::string() : it->second.summary;
  }
  std::vector<const ConfigKeys*> Docs(const std::string& kind) const {
    auto it = entries_.find(kind);
    return it == entries_.end() ? std::vector<const ConfigKeys*>{} : it->second.docs;
  }

 private:
  static std::string Join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  }
  struct Entry {
    std::string summary;
    Parser parser;
    std::vector<const ConfigKeys*> docs;
  };
  std::map<std::string, Entry> entries_;
};

using OperatorRegistry = Registry<OperatorSpec>;
using SourceRegistry = Registry<SourceSpec>;
using SinkRegistry = Registry<SinkSpec>;

// A top-level config section a plugin folder owns: its typed config, parsed once at load time.
// The folder derives its config struct from this and registers the parser under the section's
// key; the daemon's wiring reads it back with DaemonConfig::Section<T>(key).
class ConfigSection {
 public:
  virtual ~ConfigSection() = default;
};

// Top-level config key → the parser of that section. A section absent from the file is not
// parsed (the plugin applies its defaults); one present is parsed exactly once.
class SectionRegistry {
 public:
  // Throws ConfigError (file:line:col) on bad input, like the kind parsers.
  using Parser = std::function<std::shared_ptr<const ConfigSection>(const ConfigNode& node)>;

  // `docs`: the key tables of the section (its own first, then its nested mappings').
  void Register(std::string key, std::string summary, Parser parser,
                std::vector<const ConfigKeys*> docs) {
    entries_[std::move(key)] = Entry{std::move(summary), std::move(parser), std::move(docs)};
  }
  // The parser of `key`, or null when no folder registered that section.
  const Parser* Find(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second.parser;
  }
  std::vector<std::string> Keys() const {
    std::vector<std::string> out;
    for (const auto& [k, e] : entries_) out.push_back(k);
    return out;
  }
  std::string Summary(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? std::string() : it->second.summary;
  }
  std::vector<const ConfigKeys*> Docs(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? std::vector<const ConfigKeys*>{} : it->second.docs;
  }

 private:
  struct Entry {
    std::string summary;
    Parser parser;
    std::vector<const ConfigKeys*> docs;
  };
  std::map<std::string, Entry> entries_;
};

struct Registries {
  OperatorRegistry operators;
  SourceRegistry sources;
  SinkRegistry sinks;
  SectionRegistry sections;
};

}  // namespace pinstream
