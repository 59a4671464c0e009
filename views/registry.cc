#include "views/registry.h"

#include "views/views_config.h"

namespace pinstream::views {

void RegisterViewSections(SectionRegistry& sections) {
  sections.Register(kViewsSection,
                    "live SQL views: SELECTs over the tables, kept up to date by the daemon batch by batch",
                    ParseViewsSection, {&kViewKeys});
}

}  // namespace pinstream::views
