// The SQL functions pinstream adds to SQLite — what the analysis queries (conf/README.md "Analysis
// queries") use from Spark SQL:
//
//   median(x)                      aggregate/window: the value at 1-based rank ceil(n/2) of the
//                                  non-null values in ascending order (Spark's
//                                  percentile_approx(x, 0.5); not an average of two middles)
//   percentile_approx(x, p[, acc]) aggregate/window: the value at rank max(1, ceil(p·n)); exact
//                                  (accuracy is accepted and ignored); p in [0, 1]
//   year(ts) month(ts) day(ts) dayofmonth(ts) hour(ts) minute(ts) second(ts)
//                                  parts of a timestamp (text in any form ParseTimestamp accepts,
//                                  or integer microseconds since the epoch); null for null
//   unix_timestamp(ts)             seconds since the epoch (Spark), unix_micros(ts) microseconds
//   to_timestamp(text)             the canonical text form 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC)
//   timestamp_micros(us)           the same from microseconds
//   concat_ws(sep, a, b, ...)      Spark's: joins the non-null arguments with sep
//
// A value that is not a timestamp is an error naming it (not a silent null).
#pragma once

struct sqlite3;

namespace pinstream::state::sql {

// Registers the functions on a connection; SQLITE_OK or an SQLite error code.
int RegisterSqlFunctions(sqlite3* db);

}  // namespace pinstream::state::sql
