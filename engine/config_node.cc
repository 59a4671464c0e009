#include "engine/config_node.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <type_traits>

#include "engine/time_util.h"

namespace pinstream {

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string NearestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    std::size_t d = EditDistance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  return best_d <= limit ? best : std::string();
}

std::optional<std::string> ExpandEnv(std::string_view text, std::string* missing) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '$') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      out.push_back('$');
      ++i;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '{') {
      std::size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        out.append(text.substr(i));
        break;
      }
      std::string_view inner = text.substr(i + 2, close - i - 2);
      std::string_view name = inner, def;
      bool has_def = false;
      std::size_t sep = inner.find(":-");
      if (sep != std::string_view::npos) {
        name = inner.substr(0, sep);
        def = inner.substr(sep + 2);
        has_def = true;
      }
      const char* v = std::getenv(std::string(name).c_str());
      if (v != nullptr && (*v != '\0' || !has_def)) {
        out.append(v);
      } else if (has_def) {
        out.append(def);
      } else {
        *missing = std::string(name);
        return std::nullopt;
      }
      i = close;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

ConfigNode ConfigNode::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("{}: cannot read config file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string dir = std::filesystem::path(path).parent_path().string();
  return LoadString(ss.str(), path, dir.empty() ? "." : dir);
}

ConfigNode ConfigNode::LoadString(const std::string& text, const std::string& name,
                                  const std::string& base_dir) {
  try {
    YAML::Node root = YAML::Load(text);
    return ConfigNode(root, std::make_shared<const std::string>(name), "",
                      std::make_shared<const std::string>(base_dir));
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}:{}:{}: YAML syntax error: {}", name, e.mark.line + 1,
                                  e.mark.column + 1, e.msg));
  }
}

ConfigNode::ConfigNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path,
                       std::shared_ptr<const std::string> base_dir)
    : node_(std::move(node)),
      file_(std::move(file)),
      path_(std::move(path)),
      base_dir_(std::move(base_dir)) {}

std::string ConfigNode::Location() const {
  YAML::Mark m = node_ ? node_.Mark() : YAML::Mark::null_mark();
  if (m.is_null()) return *file_;
  return fmt::format("{}:{}:{}", *file_, m.line + 1, m.column + 1);
}

std::string ConfigNode::Where() const {
  return path_.empty() ? Location() : fmt::format("{}: {}", Location(), path_);
}

void ConfigNode::Fail(const std::string& message) const {
  std::string where = path_.empty() ? std::string() : path_ + ": ";
  throw ConfigError(fmt::format("{}: {}{}", Location(), where, message));
}

ConfigNode ConfigNode::Child(const YAML::Node& n, const std::string& child_path) const {
  return ConfigNode(n, file_, child_path, base_dir_);
}

ConfigNode ConfigNode::WithImplicitKeys(std::vector<std::string> keys) const {
  ConfigNode c = *this;
  c.implicit_keys_ = std::move(keys);
  return c;
}

namespace {

std::mutex seen_mu;
std::set<const ConfigKeys*>& SeenTables() {
  static auto* seen = new std::set<const ConfigKeys*>();
  return *seen;
}

bool IsLiteralDefault(std::string_view def) { return !def.empty() && def.front() != '('; }

std::string ToText(const std::string& v) { return v; }
std::string ToText(std::int64_t v) { return std::to_string(v); }
std::string ToText(double v) { return fmt::format("{}", v); }
std::string ToText(bool v) { return v ? "true" : "false"; }

}  // namespace

std::vector<const ConfigKeys*> ConfigKeysSeen() {
  std::lock_guard lock(seen_mu);
  return {SeenTables().begin(), SeenTables().end()};
}

std::string_view ReloadName(Reload reload) {
  switch (reload) {
    case Reload::kTable:
      break;
    case Reload::kLive:
      return "live";
    case Reload::kRestarts:
      return "restarts users";
    case Reload::kCreate:
      return "new ones created";
    case Reload::kRestart:
      return "restart";
    case Reload::kRefused:
      return "refused";
  }
  return "?";
}

std::string_view ReloadMeaning(Reload reload) {
  switch (reload) {
    case Reload::kTable:
      break;
    case Reload::kLive:
      return "a reload applies it at once (requests, runs and log lines that start afterwards use "
             "the new value)";
    case Reload::kRestarts:
      return "a reload restarts what uses it — the query, or the queries reading the source — "
             "from its checkpoint (refused for a query whose state it would misread; that query "
             "keeps running); added ones start, removed ones drain and stop";
    case Reload::kCreate:
      return "a reload creates the entries added; existing ones keep what they were created "
             "with, and removed ones stay with their records (both reported as not applied)";
    case Reload::kRestart:
      return "read when the daemon starts: a reload reports the change as not applied until "
             "the next start";
    case Reload::kRefused:
      return "a running daemon cannot change it: a reload that changes it is refused whole";
  }
  return "?";
}

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kString:
      return "string";
    case KeyType::kInt:
      return "integer";
    case KeyType::kNumber:
      return "number";
    case KeyType::kBool:
      return "bool";
    case KeyType::kDuration:
      return "duration";
    case KeyType::kByteSize:
      return "size";
    case KeyType::kPath:
      return "path";
    case KeyType::kEnum:
      return "enum";
    case KeyType::kStringList:
      return "string list";
    case KeyType::kMap:
      return "mapping";
    case KeyType::kList:
      return "list";
    case KeyType::kAny:
      return "any";
  }
  return "?";
}

void ConfigNode::ExpectKeys(const ConfigKeys& keys, const std::vector<std::string>& extra) const {
  {
    std::lock_guard lock(seen_mu);
    SeenTables().insert(&keys);
  }
  if (!node_.IsMap()) Fail("expected a mapping (key: value pairs)");
  keys_ = &keys;
  std::vector<std::string> allowed;
  for (const auto& k : keys.keys) allowed.emplace_back(k.name);
  allowed.insert(allowed.end(), extra.begin(), extra.end());
  allowed.insert(allowed.end(), implicit_keys_.begin(), implicit_keys_.end());
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string key = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    ConfigNode key_node = Child(it->first, path_);
    std::string hint = NearestMatch(key, allowed);
    std::string msg = fmt::format("unknown key '{}'", key);
    if (!hint.empty()) {
      msg += fmt::format(" (did you mean '{}'?)", hint);
    } else {
      std::vector<std::string> sorted = allowed;
      std::sort(sorted.begin(), sorted.end());
      msg += fmt::format(" (valid keys: {})", fmt::join(sorted, ", "));
    }
    key_node.Fail(msg);
  }
}

const KeyDoc* ConfigNode::CheckRead(std::string_view key,
                                    std::initializer_list<KeyType> types) const {
  if (keys_ == nullptr) return nullptr;
  const KeyDoc* doc = keys_->Find(key);
  if (doc == nullptr) {
    throw ConfigError(
        fmt::format("internal error: the parser of {} reads key '{}', which its key "
                    "table does not document",
                    keys_->path, key));
  }
  if (doc->type == KeyType::kAny) return doc;
  for (KeyType t : types) {
    if (t == doc->type) return doc;
  }
  throw ConfigError(fmt::format("internal error: {}.{} is documented as {} but read otherwise",
                                keys_->path, key, KeyTypeName(doc->type)));
}

template <typename T>
void ConfigNode::CheckDefault(std::string_view key, const KeyDoc* doc, const T& def) const {
  if (doc == nullptr || !IsLiteralDefault(doc->def)) return;
  std::string want = ToText(def);
  bool same = false;
  std::string documented(doc->def);
  if constexpr (std::is_same_v<T, std::int64_t>) {
    if (doc->type == KeyType::kDuration) {
      auto v = ParseDurationMicros(doc->def);
      same = v.ok() ? *v == def : documented == want;
    } else if (doc->type == KeyType::kByteSize) {
      auto v = ParseByteSize(doc->def);
      same = v.ok() ? *v == def : documented == want;
    } else {
      same = documented == want;
    }
  } else if constexpr (std::is_same_v<T, double>) {
    same = std::strtod(documented.c_str(), nullptr) == def;
  } else {
    same = documented == want;
  }
  if (!same) {
    throw ConfigError(fmt::format(
        "internal error: {}.{} is documented with default '{}' but the parser's default is '{}'",
        keys_->path, key, doc->def, want));
  }
}

bool ConfigNode::Has(std::string_view key) const {
  return node_.IsMap() && node_[std::string(key)].IsDefined();
}

std::optional<ConfigNode> ConfigNode::Find(std::string_view key) const {
  if (!node_.IsMap()) Fail("expected a mapping (key: value pairs)");
  YAML::Node n = node_[std::string(key)];
  if (!n.IsDefined()) return std::nullopt;
  std::string p = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  return Child(n, p);
}

ConfigNode ConfigNode::Get(std::string_view key) const {
  auto n = Find(key);
  if (!n) Fail(fmt::format("missing required key '{}'", key));
  return *n;
}

std::vector<std::pair<std::string, ConfigNode>> ConfigNode::Entries() const {
  if (!node_.IsMap()) Fail("expected a mapping (key: value pairs)");
  std::vector<std::pair<std::string, ConfigNode>> out;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string key = it->first.Scalar();
    std::string p = path_.empty() ? key : path_ + "." + key;
    out.emplace_back(key, Child(it->second, p));
  }
  return out;
}

namespace {
// `n` with every mapping's keys sorted (key order does not change what a config says).
YAML::Node Sorted(const YAML::Node& n) {
  if (n.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& e : n) out.push_back(Sorted(e));
    return out;
  }
  if (!n.IsMap()) return n;
  std::map<std::string, YAML::Node> entries;
  for (auto it = n.begin(); it != n.end(); ++it) entries[it->first.Scalar()] = Sorted(it->second);
  YAML::Node out(YAML::NodeType::Map);
  for (const auto& [k, v] : entries) out[k] = v;
  return out;
}
}  // namespace

std::string ConfigNode::Canonical() const {
  if (!node_) return "";
  YAML::Emitter out;
  out.SetMapFormat(YAML::Flow);
  out.SetSeqFormat(YAML::Flow);
  out << Sorted(node_);
  return out.c_str();
}

std::vector<ConfigNode> ConfigNode::Elements() const {
  if (IsNull()) return {};
  if (!node_.IsSequence()) Fail("expected a list");
  std::vector<ConfigNode> out;
  std::size_t i = 0;
  for (auto it = node_.begin(); it != node_.end(); ++it, ++i) {
    out.push_back(Child(*it, fmt::format("{}[{}]", path_, i)));
  }
  return out;
}

std::string ConfigNode::AsString() const {
  if (!node_.IsScalar()) Fail("expected a single value (string)");
  std::string missing;
  auto v = ExpandEnv(node_.Scalar(), &missing);
  if (!v) {
    Fail(
        fmt::format("environment variable '{}' is not set (use ${{{}:-default}} to give a default)",
                    missing, missing));
  }
  return *v;
}

std::int64_t ConfigNode::AsInt() const {
  std::string s = AsString();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE)
    Fail(fmt::format("expected an integer, got '{}'", s));
  return v;
}

double ConfigNode::AsDouble() const {
  std::string s = AsString();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0') Fail(fmt::format("expected a number, got '{}'", s));
  return v;
}

bool ConfigNode::AsBool() const {
  std::string s = AsString();
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  Fail(fmt::format("expected true or false, got '{}'", s));
}

std::int64_t ConfigNode::AsDurationMicros() const {
  auto r = ParseDurationMicros(AsString());
  if (!r.ok()) Fail(r.status().message());
  return *r;
}

std::int64_t ConfigNode::AsByteSize() const {
  auto r = ParseByteSize(AsString());
  if (!r.ok()) Fail(r.status().message());
  return *r;
}

std::vector<std::string> ConfigNode::AsStringList() const {
  if (node_.IsScalar()) return {AsString()};
  std::vector<std::string> out;
  for (const auto& e : Elements()) out.push_back(e.AsString());
  return out;
}

std::string ConfigNode::GetString(std::string_view key) const {
  CheckRead(key, {KeyType::kString, KeyType::kPath, KeyType::kEnum});
  return Get(key).AsString();
}
std::string ConfigNode::GetString(std::string_view key, const std::string& def) const {
  CheckDefault(key, CheckRead(key, {KeyType::kString, KeyType::kPath, KeyType::kEnum}), def);
  auto n = Find(key);
  return n && !n->IsNull() ? n->AsString() : def;
}
std::int64_t ConfigNode::GetInt(std::string_view key) const {
  CheckRead(key, {KeyType::kInt});
  return Get(key).AsInt();
}
std::int64_t ConfigNode::GetInt(std::string_view key, std::int64_t def) const {
  CheckDefault(key, CheckRead(key, {KeyType::kInt}), def);
  auto n = Find(key);
  return n && !n->IsNull() ? n->AsInt() : def;
}
double ConfigNode::GetDouble(std::string_view key, double def) const {
  CheckDefault(key, CheckRead(key, {KeyType::kNumber}), def);
  auto n = Find(key);
  return n && !n->IsNull() ? n->AsDouble() : def;
}
bool ConfigNode::GetBool(std::string_view key, bool def) const {
  CheckDefault(key, CheckRead(key, {KeyType::kBool}), def);
  auto n = Find(key);
  return n && !n->IsNull() ? n->AsBool() : def;
}
std::int64_t ConfigNode::GetDurationMicros(std::string_view key, std::int64_t def) const {
  CheckDefault(key, CheckRead(key, {KeyType::kDuration}), def);
  auto n = Find(key);
  return n && !n->IsNull() ? n->AsDurationMicros() : def;
}
std::int64_t ConfigNode::GetByteSize(std::string_view key, std::int64_t def) const {
  CheckDefault(key, CheckRead(key, {KeyType::kByteSize}), def);
  auto n = Find(key);
  return n && !n->IsNull() ? n->AsByteSize() : def;
}
std::string ConfigNode::GetPath(std::string_view key) const {
  CheckRead(key, {KeyType::kPath});
  std::string p = GetString(key);
  if (p.empty() || p[0] == '/') return p;
  return (std::filesystem::path(*base_dir_) / p).lexically_normal().string();
}
std::string ConfigNode::GetPath(std::string_view key, const std::string& def) const {
  return Has(key) ? GetPath(key) : def;
}
std::vector<std::string> ConfigNode::GetStringList(std::string_view key) const {
  CheckRead(key, {KeyType::kStringList});
  auto n = Find(key);
  return n && !n->IsNull() ? n->AsStringList() : std::vector<std::string>{};
}
std::string ConfigNode::GetEnum(std::string_view key,
                                std::initializer_list<std::string_view> choices,
                                const std::string& def) const {
  const KeyDoc* doc = CheckRead(key, {KeyType::kEnum});
  CheckDefault(key, doc, def);
  if (doc != nullptr && doc->type == KeyType::kEnum) {
    std::vector<std::string> cs(choices.begin(), choices.end());
    if (doc->choices != fmt::format("{}", fmt::join(cs, "|"))) {
      throw ConfigError(fmt::format(
          "internal error: {}.{} is documented with the choices '{}' but the parser takes '{}'",
          keys_->path, key, doc->choices, fmt::join(cs, "|")));
    }
  }
  auto n = Find(key);
  if (!n || n->IsNull()) return def;
  std::string v = n->AsString();
  for (auto c : choices) {
    if (v == c) return v;
  }
  std::vector<std::string> cs(choices.begin(), choices.end());
  std::string hint = NearestMatch(v, cs);
  n->Fail(fmt::format("'{}' is not one of: {}{}", v, fmt::join(cs, ", "),
                      hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
}

}  // namespace pinstream
