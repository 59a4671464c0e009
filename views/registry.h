// The views registry: the config sections views/ owns (see registry.cc), one explicit list.
#pragma once

#include "engine/registry.h"

namespace pinstream::views {

// Registers `views:` (ViewsConfig, views_config.h).
void RegisterViewSections(SectionRegistry& sections);

}  // namespace pinstream::views
