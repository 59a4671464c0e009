#include "operators/registry.h"

#include "operators/aggregate.h"
#include "operators/cast.h"
#include "operators/concat.h"
#include "operators/dedup.h"
#include "operators/drop.h"
#include "operators/filter.h"
#include "operators/join.h"
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
  r.Register("parse_json", "JSON records → typed columns with a declared schema",
             ParseJsonFromConfig, {&kParseJsonKeys});
  r.Register("null_if", "values meaning 'no data' → null", NullIfFromConfig, {&kNullIfKeys});
  r.Register("parse_count", "counts with k/M/B suffixes → int64", ParseCountFromConfig,
             {&kParseCountKeys});
  r.Register("cast", "convert column types", CastFromConfig, {&kCastKeys});
  r.Register("strip_prefix", "remove a fixed prefix from strings", StripPrefixFromConfig,
             {&kStripPrefixKeys});
  r.Register("regex_extract", "extract a regular-expression group", RegexExtractFromConfig,
             {&kRegexExtractKeys});
  r.Register("rename", "rename columns", RenameFromConfig, {&kRenameKeys});
  r.Register("concat", "join columns' text with a separator", ConcatFromConfig, {&kConcatKeys});
  r.Register("make_array", "numeric columns → array<double>", MakeArrayFromConfig,
             {&kMakeArrayKeys});
  r.Register("drop", "remove columns", DropFromConfig, {&kDropKeys});
  r.Register("select", "keep and order columns", SelectFromConfig, {&kSelectKeys});
  r.Register("filter", "keep rows matching conditions", FilterFromConfig,
             {&kFilterKeys, &kFilterConditionKeys, &kFilterAllAnyKeys, &kFilterNotKeys});
  r.Register("dedup", "keep the first row per key (keyed state)", DedupFromConfig, {&kDedupKeys});
  r.Register("aggregate",
             "grouped and windowed aggregates (count, sum, percentiles, ...) in append, update or "
             "complete mode",
             AggregateFromConfig, {&kAggregateKeys, &kAggregateWindowKeys, &kAggregateFnKeys});
  r.Register("join",
             "stream-stream join of two inputs (inner, left_outer) on keys, with an optional "
             "event-time range",
             JoinFromConfig, {&kJoinKeys});
}

}  // namespace pinstream::ops
