// ConfigKeys: the documented keys of one config mapping — the single source of both what the
// loader accepts and what `pinstream config reference` prints.
//
// A parser declares its mapping's keys once, as a constexpr table next to its code, and hands
// that table to ConfigNode::ExpectKeys (there is no other way to accept keys):
//
//   constexpr KeyDoc kFileKeys[] = {
//       {"path", KeyType::kPath, "", "the directory to read"},
//       {"max_files_per_trigger", KeyType::kInt, "0", "files per batch (0 = no limit)"},
//   };
//   constexpr ConfigKeys kFileSource{"sources.<name> (kind: file)", "...", kFileKeys};
//   ...
//   n.ExpectKeys(kFileSource);
//   max_files = n.GetInt("max_files_per_trigger", 0);
//
// The typed getters then check the read against the table: a key read with a type other than
// the documented one, a default other than the documented one, or an enum whose choices differ,
// is an "internal error" ConfigError (every config a test loads runs these checks), so the
// reference cannot drift from the parsers. Registries take each kind's and section's tables
// (Register(..., docs)) so that the reference can print them all.
#pragma once

#include <span>
#include <string_view>

namespace pinstream {

enum class KeyType {
  kString,
  kInt,
  kNumber,
  kBool,
  kDuration,    // 500ms, 10s, 5m, 2h, 7d
  kByteSize,    // 64MiB, 1GB, 4096
  kPath,        // relative to the config file's directory
  kEnum,        // one of KeyDoc::choices
  kStringList,  // a string or a list of strings
  kMap,         // a nested mapping (its own table, or free-form)
  kList,        // a list of mappings (its own table)
  kAny,         // more than one shape; the meaning says which
};

// What a reload (SIGHUP, `pinstream reload`, `run --watch-config`) does with a changed key. The
// reference prints it for every key, and the reload decides with the same tables
// (app/config_reload.cc), so the two cannot disagree.
enum class Reload {
  kTable,     // (KeyDoc only) as its table says
  kLive,      // applied at once
  kRestarts,  // what uses it (the queries reading a source, a query) restarts from its checkpoint
  kCreate,    // entries added are created; existing ones keep what they were created with
  kRestart,   // read when the daemon starts: a reload reports it as not applied
  kRefused,   // a running daemon cannot change it: a reload that changes it is refused
};
std::string_view ReloadName(Reload reload);     // "live", "restarts users", ...
std::string_view ReloadMeaning(Reload reload);  // one sentence

// One key. `def` is the default as a user would write it ("500ms", "lz4", "false"); it is checked
// against the parser's default when it is a literal. Empty means required or absent-by-default
// (the meaning says which); text in parentheses ("(number of cores)") is not a literal.
struct KeyDoc {
  std::string_view name;
  KeyType type;
  std::string_view def;
  std::string_view meaning;
  std::string_view choices = {};  // kEnum: "none|lz4|zstd"
  Reload reload = Reload::kTable;
};

struct ConfigKeys {
  std::string_view path;   // where the mapping sits: "http.auth", "queries[].trigger"
  std::string_view about;  // one or two sentences
  std::span<const KeyDoc> keys;
  Reload reload = Reload::kRestarts;  // its keys' (unless a key says otherwise)

  Reload ReloadOf(const KeyDoc& k) const { return k.reload == Reload::kTable ? reload : k.reload; }
  const KeyDoc* Find(std::string_view key) const {
    for (const auto& k : keys) {
      if (k.name == key) return &k;
    }
    return nullptr;
  }
};

std::string_view KeyTypeName(KeyType type);

}  // namespace pinstream
