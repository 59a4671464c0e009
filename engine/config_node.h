// ConfigNode: typed access to one node of a YAML config file, with errors that point at the
// file, line and column of the offending text.
//
// Config is parsed once, at start-up, into typed structs (config.h and each component's typed
// config). Parsers use ConfigNode like this:
//
//   void Parse(const ConfigNode& n) {
//     n.ExpectKeys(kFileSource);           // the documented keys (config_keys.h); unknown keys →
//     path = n.GetString("path");          //   error with the nearest valid key
//     max_files = n.GetInt("max_files_per_trigger", 0);   // checked against the key's doc
//   }
//
// Every failure throws ConfigError, whose what() reads
//   conf/pinterest.yaml:12:7: queries[0].trigger: unknown key 'procesing_time' (did you mean
//   'processing_time'?)
// Exceptions are confined to config parsing and start-up (see status.h).
//
// Scalars get ${VAR} and ${VAR:-default} substituted from the environment when read as strings
// or numbers; "$$" is a literal '$'. An unset variable without a default is a ConfigError.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/config_keys.h"

namespace pinstream {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
};

class ConfigNode {
 public:
  // Loads `path`; throws ConfigError on unreadable files and YAML syntax errors.
  static ConfigNode LoadFile(const std::string& path);
  // Parses YAML text; `name` is used in messages in place of a file name.
  // Relative paths read with GetPath() resolve against `base_dir`.
  static ConfigNode LoadString(const std::string& text, const std::string& name = "<config>",
                               const std::string& base_dir = ".");

  ConfigNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path,
             std::shared_ptr<const std::string> base_dir);

  const std::string& path() const { return path_; }
  const std::string& file() const { return *file_; }
  // "file:line:col" of this node.
  std::string Location() const;
  // "file:line:col: path" — how Fail() starts its message; for checks made after parsing (the
  // query's schemas at start) that must point at the config the same way.
  std::string Where() const;
  [[noreturn]] void Fail(const std::string& message) const;

  bool IsMap() const { return node_.IsMap(); }
  bool IsSequence() const { return node_.IsSequence(); }
  bool IsScalar() const { return node_.IsScalar(); }
  bool IsNull() const { return !node_ || node_.IsNull(); }

  // Map access ------------------------------------------------------------------------------
  // Fails unless this is a map whose keys are all in `keys` (plus `extra`, plus the implicit
  // keys registries consume themselves, e.g. "kind"). From then on the typed getters of this
  // node check each read against `keys` (type, default, choices; see config_keys.h).
  void ExpectKeys(const ConfigKeys& keys, const std::vector<std::string>& extra = {}) const;
  bool Has(std::string_view key) const;
  ConfigNode Get(std::string_view key) const;                  // required
  std::optional<ConfigNode> Find(std::string_view key) const;  // optional
  std::vector<std::pair<std::string, ConfigNode>> Entries() const;

  std::string GetString(std::string_view key) const;
  std::string GetString(std::string_view key, const std::string& def) const;
  std::int64_t GetInt(std::string_view key) const;
  std::int64_t GetInt(std::string_view key, std::int64_t def) const;
  double GetDouble(std::string_view key, double def) const;
  bool GetBool(std::string_view key, bool def) const;
  std::int64_t GetDurationMicros(std::string_view key, std::int64_t def) const;
  // A file system path; relative paths resolve against the config file's directory.
  std::string GetPath(std::string_view key) const;
  std::string GetPath(std::string_view key, const std::string& def) const;
  const std::string& base_dir() const { return *base_dir_; }
  std::int64_t GetByteSize(std::string_view key, std::int64_t def) const;
  // A string or a list of strings.
  std::vector<std::string> GetStringList(std::string_view key) const;
  // One of `choices`; the error lists them.
  std::string GetEnum(std::string_view key, std::initializer_list<std::string_view> choices,
                      const std::string& def) const;

  // Scalar access ---------------------------------------------------------------------------
  std::string AsString() const;
  std::int64_t AsInt() const;
  double AsDouble() const;
  bool AsBool() const;
  std::int64_t AsDurationMicros() const;
  std::int64_t AsByteSize() const;
  std::vector<std::string> AsStringList() const;

  // The node's content as canonical YAML (flow style, no comments or positions): equal for two
  // files that say the same thing, whatever their layout (the reload diff's fingerprints).
  std::string Canonical() const;

  // Sequence access -------------------------------------------------------------------------
  std::vector<ConfigNode> Elements() const;

  // Keys the caller's registry handles itself (e.g. "kind", "name"); ExpectKeys accepts them.
  ConfigNode WithImplicitKeys(std::vector<std::string> keys) const;

 private:
  ConfigNode Child(const YAML::Node& n, const std::string& child_path) const;
  // The key's doc, after ExpectKeys; fails (internal error) when the table lacks `key` or
  // documents another type than `type` (kAny matches every read).
  const KeyDoc* CheckRead(std::string_view key, std::initializer_list<KeyType> types) const;
  template <typename T>
  void CheckDefault(std::string_view key, const KeyDoc* doc, const T& parser_default) const;
  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
  std::shared_ptr<const std::string> base_dir_;
  std::vector<std::string> implicit_keys_;
  mutable const ConfigKeys* keys_ = nullptr;  // set by ExpectKeys
};

// Every table ExpectKeys was given in this process (tests: each must be in the reference).
std::vector<const ConfigKeys*> ConfigKeysSeen();

// Levenshtein distance; used for "did you mean" suggestions.
std::size_t EditDistance(std::string_view a, std::string_view b);
// The candidate nearest to `word` if it is close enough to be a plausible typo, else "".
std::string NearestMatch(std::string_view word, const std::vector<std::string>& candidates);
// Expands ${VAR} / ${VAR:-default} / $$; returns the unset variable's name in *missing on failure.
std::optional<std::string> ExpandEnv(std::string_view text, std::string* missing);

}  // namespace pinstream
