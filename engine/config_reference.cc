#include "engine/config_reference.h"

#include <fmt/format.h>

#include "engine/config.h"

namespace pinstream {

namespace {

constexpr Reload kReloads[] = {Reload::kLive, Reload::kRestarts, Reload::kCreate, Reload::kRestart,
                               Reload::kRefused};

// A group of tables under one heading: the engine's own, a registry's kinds, a section.
struct Group {
  std::string title;
  std::string about;
  std::vector<const ConfigKeys*> tables;
};

std::vector<Group> Groups(const Registries& reg) {
  std::vector<Group> out;
  out.push_back({"Top level and log", "", {&kConfigRootKeys, &kConfigLogKeys}});
  Group sources{"Sources",
                "`sources: {NAME: {kind: KIND, ...}}` — what a query reads; `kind` picks one of "
                "these.",
                {}};
  for (const auto& kind : reg.sources.Kinds()) {
    for (const ConfigKeys* t : reg.sources.Docs(kind)) sources.tables.push_back(t);
  }
  out.push_back(std::move(sources));
  out.push_back({"Queries",
                 "",
                 {&kConfigQueryKeys, &kConfigInputKeys, &kConfigWatermarkKeys, &kConfigTriggerKeys,
                  &kConfigStateKeys}});
  Group ops{"Operators",
            "`operators: [{kind: KIND, name: LABEL, ...}]` — every operator takes `kind` and an "
            "optional `name` (its label in metrics and errors; default `<index>:<kind>`).",
            {}};
  for (const auto& kind : reg.operators.Kinds()) {
    for (const ConfigKeys* t : reg.operators.Docs(kind)) ops.tables.push_back(t);
  }
  out.push_back(std::move(ops));
  Group sinks{"Sinks",
              "`sink: {kind: KIND, ...}` and `dead_letter: {kind: KIND, ...}` — where a query's "
              "batches (or its rejected rows) go.",
              {}};
  for (const auto& kind : reg.sinks.Kinds()) {
    for (const ConfigKeys* t : reg.sinks.Docs(kind)) sinks.tables.push_back(t);
  }
  out.push_back(std::move(sinks));
  out.push_back({"Jobs", "", {&kConfigJobKeys, &kConfigJobSqlKeys}});
  for (const auto& key : reg.sections.Keys()) {
    out.push_back({fmt::format("Section `{}`", key), reg.sections.Summary(key) + ".",
                   reg.sections.Docs(key)});
  }
  return out;
}

std::string TypeText(const KeyDoc& k) {
  if (k.type != KeyType::kEnum) return std::string(KeyTypeName(k.type));
  std::string out = "one of ";
  for (char c : k.choices) out += c == '|' ? std::string(", ") : std::string(1, c);
  return out;
}

std::string DefaultText(const KeyDoc& k) {
  if (!k.def.empty()) return std::string(k.def);
  return k.meaning.starts_with("Required.") ? "required" : "-";
}

// `text` broken into lines of at most `width` columns, each prefixed by `indent`.
std::string Wrap(std::string_view text, std::size_t width, const std::string& indent) {
  std::string out, line;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(pos, end - pos);
    if (!line.empty() && indent.size() + line.size() + 1 + word.size() > width) {
      out += indent + line + "\n";
      line.clear();
    }
    if (!line.empty()) line += ' ';
    line += word;
    pos = end + 1;
  }
  if (!line.empty()) out += indent + line + "\n";
  return out;
}

// The meaning without its "Required." (the default column says it).
std::string_view Meaning(const KeyDoc& k) {
  std::string_view m = k.meaning;
  if (m.starts_with("Required. ")) m.remove_prefix(10);
  return m;
}

std::string Cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|' || c == '<') out += '\\';  // a table's cell separator; an HTML tag's start
    out += c;
  }
  return out;
}

void RenderText(const std::vector<Group>& groups, std::string& out) {
  out += "pinstream configuration reference (pinstream config reference)\n";
  out +=
      "Durations: 500ms, 10s, 5m, 2h, 7d. Sizes: 4096, 64KiB, 64MiB, 1GiB. Strings and numbers\n"
      "expand ${VAR} and ${VAR:-default}. Relative paths are relative to the config file.\n"
      "What a reload (SIGHUP, pinstream reload, run --watch-config) does with a changed key:\n";
  for (Reload r : kReloads)
    out += Wrap(fmt::format("{}: {}.", ReloadName(r), ReloadMeaning(r)), 100, "  ");
  for (const auto& g : groups) {
    out += "\n" + std::string(100, '=') + "\n" + g.title + "\n";
    if (!g.about.empty()) out += Wrap(g.about, 100, "");
    for (const ConfigKeys* t : g.tables) {
      out += "\n" + std::string(t->path) + "\n";
      out += Wrap(t->about, 100, "  ");
      for (const auto& k : t->keys) {
        std::string def = DefaultText(k);
        out += fmt::format("  {:<26} {}{}; reload: {}\n", k.name, TypeText(k),
                           def == "-"          ? ""
                           : def == "required" ? ", required"
                                               : ", default " + def,
                           ReloadName(t->ReloadOf(k)));
        out += Wrap(Meaning(k), 100, "      ");
      }
    }
  }
}

void RenderMarkdown(const std::vector<Group>& groups, std::string& out) {
  out += "# Configuration reference\n\n";
  out +=
      "Generated by `pinstream config reference --format markdown` from the key tables the "
      "config parsers accept (a test fails when this file differs from the binary's output). "
      "Durations: `500ms`, `10s`, `5m`, `2h`, `7d`. Sizes: `4096`, `64KiB`, `64MiB`, `1GiB`. "
      "Strings and numbers expand `${VAR}` and `${VAR:-default}`. Relative paths are relative "
      "to the config file's folder. Unknown keys are errors (with the nearest valid key), and "
      "every error names `file:line:column`.\n\n"
      "The reload column says what a reload (SIGHUP, `pinstream reload`, `pinstream run "
      "--watch-config`) does when the key changes (the reload decides with these same "
      "tables):\n\n";
  for (Reload r : kReloads)
    out += fmt::format("- **{}**: {}.\n", ReloadName(r), Cell(ReloadMeaning(r)));
  for (const auto& g : groups) {
    if (!out.ends_with("\n\n")) out += "\n";
    out += "## " + g.title + "\n\n";
    if (!g.about.empty()) out += Cell(g.about) + "\n\n";
    for (const ConfigKeys* t : g.tables) {
      out += "### `" + std::string(t->path) + "`\n\n" + Cell(t->about) + "\n\n";
      out += "| key | type | default | reload | meaning |\n|---|---|---|---|---|\n";
      for (const auto& k : t->keys) {
        std::string def = DefaultText(k);
        out += fmt::format("| `{}` | {} | {} | {} | {} |\n", k.name, Cell(TypeText(k)),
                           def == "required" || def == "-" || def.front() == '('
                               ? Cell(def)
                               : "`" + Cell(def) + "`",
                           ReloadName(t->ReloadOf(k)), Cell(Meaning(k)));
      }
      out += "\n";
    }
  }
  while (out.ends_with("\n\n")) out.pop_back();
}

}  // namespace

std::string ConfigReference(const Registries& registries, ReferenceFormat format) {
  std::string out;
  auto groups = Groups(registries);
  if (format == ReferenceFormat::kMarkdown) {
    RenderMarkdown(groups, out);
  } else {
    RenderText(groups, out);
  }
  return out;
}

std::vector<const ConfigKeys*> ConfigReferenceTables(const Registries& registries) {
  std::vector<const ConfigKeys*> out;
  for (const auto& g : Groups(registries)) out.insert(out.end(), g.tables.begin(), g.tables.end());
  return out;
}

}  // namespace pinstream
