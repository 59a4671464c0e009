// ConfigReference: every config section and key with its type, default and meaning, rendered from
// the key tables the parsers themselves accept (config_keys.h) — `pinstream config reference`,
// and conf/REFERENCE.md is its markdown output (a test keeps the file current).
#pragma once

#include <string>
#include <vector>

#include "engine/registry.h"

namespace pinstream {

enum class ReferenceFormat { kText, kMarkdown };

// The reference of the engine's keys and of every kind and section `registries` hold.
std::string ConfigReference(const Registries& registries, ReferenceFormat format);

// Every table the reference prints (tests: each table the loader used must be among them).
std::vector<const ConfigKeys*> ConfigReferenceTables(const Registries& registries);

}  // namespace pinstream
