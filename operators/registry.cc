#include "operators/registry.h"

#include "operators/cast.h"
#include "operators/concat.h"
#include "operators/dedup.h"
#include "operators/drop.h"
#include "operators/filter.h"
#include "operators/make_array.h"
#include "operators/null_if.h"
#include "operators/parse_count.h"
#include "operators/parse_json.h"
#include "operators/regex_extract.h"
#include "operators/rename.h"
#include "operators/select.h"
#include "operators/strip_prefix.h"

namespace pinstream::ops {

void RegisterOperators(OperatorRegistry& r) {
  r.Register("parse_json", "JSON records → typed columns with a declared schema", ParseParseJson);
  r.Register("null_if", "values meaning 'no data' → null", ParseNullIf);
  r.Register("parse_count", "counts with k/M/B suffixes → int64", ParseParseCount);
  r.Register("cast", "convert column types", ParseCast);
  r.Register("strip_prefix", "remove a fixed prefix from strings", ParseStripPrefix);
  r.Register("regex_extract", "extract a regular-expression group", ParseRegexExtract);
  r.Register("rename", "rename columns", ParseRename);
  r.Register("concat", "join columns' text with a separator", ParseConcat);
  r.Register("make_array", "numeric columns → array<double>", ParseMakeArray);
  r.Register("drop", "remove columns", ParseDrop);
  r.Register("select", "keep and order columns", ParseSelect);
  r.Register("filter", "keep rows matching conditions", ParseFilter);
  r.Register("dedup", "keep the first row per key (keyed state)", ParseDedup);
}

}  // namespace pinstream::ops
