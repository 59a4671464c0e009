#include "views/registry.h"

#include "views/views_config.h"

namespace pinstream::views {

void RegisterViewSections(SectionRegistry& sections) {
  sections.Register(kViewsSection,
                    "live SQL views: SELECTs over the tables (parsed and planned; not run yet)",
                    ParseViewsSection, {&kViewKeys});
}

}  // namespace pinstream::views
