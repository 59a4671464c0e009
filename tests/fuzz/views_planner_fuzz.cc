// libFuzzer target for the live views' front half (views/): SQL text → libpg_query's parse →
// the dialect rewrites → the planner, against the cleaned Pinterest tables' schemas. Any text
// gives plans or an error naming its place ("fuzz.sql:line:col: …") — never a crash, a hang or
// UB. A statement that plans must explain.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "views/planner.h"
#include "views/sql_parser.h"

using namespace pinstream;
using namespace pinstream::views;

namespace {

SchemaCatalog PinterestCatalog() {
  SchemaCatalog c;
  c.Add(TableInfo{"pin",
                  {{"ind", TypeId::kInt64},
                   {"unique_id", TypeId::kString},
                   {"title", TypeId::kString},
                   {"description", TypeId::kString},
                   {"follower_count", TypeId::kInt64},
                   {"poster_name", TypeId::kString},
                   {"tag_list", TypeId::kString},
                   {"is_image_or_video", TypeId::kString},
                   {"image_src", TypeId::kString},
                   {"save_location", TypeId::kString},
                   {"category", TypeId::kString}},
                  true,
                  "fuzz"});
  c.Add(TableInfo{"geo",
                  {{"ind", TypeId::kInt64},
                   {"country", TypeId::kString},
                   {"coordinates", TypeId::kDoubleArray},
                   {"timestamp", TypeId::kTimestamp}},
                  true,
                  "fuzz"});
  c.Add(TableInfo{"user",
                  {{"ind", TypeId::kInt64},
                   {"user_name", TypeId::kString},
                   {"age", TypeId::kInt64},
                   {"date_joined", TypeId::kTimestamp},
                   {"score", TypeId::kDouble},
                   {"ok", TypeId::kBool}},
                  false,
                  "fuzz"});
  return c;
}

void RequirePositioned(const Status& s) {
  if (s.message().rfind("fuzz.sql:", 0) != 0) {
    std::fprintf(stderr, "error without its position: %s\n", s.message().c_str());
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const SchemaCatalog catalog = PinterestCatalog();
  std::string text(reinterpret_cast<const char*>(data), size);
  auto parsed = ParseSql("fuzz.sql", text);
  if (!parsed.ok()) return RequirePositioned(parsed.status()), 0;
  for (std::size_t i = 0; i < parsed->statements.size(); ++i) {
    (void)StatementText(*parsed, i);
    auto plan = PlanStatement(*parsed, i, catalog);
    if (!plan.ok()) {
      RequirePositioned(plan.status());
      continue;
    }
    if (Explain(**plan).empty()) __builtin_trap();
  }
  return 0;
}
