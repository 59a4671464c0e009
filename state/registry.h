// The state registry: the config sections state/ owns (see registry.cc), one explicit list.
#pragma once

#include "engine/registry.h"

namespace pinstream::state {

// Registers `storage:` (StoreOptions).
void RegisterStateSections(SectionRegistry& sections);

}  // namespace pinstream::state
