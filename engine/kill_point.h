// Kill points: crash injection for recovery tests, in the spirit of RocksDB's TEST_KILL_RANDOM.
//
// With PINSTREAM_KILL_POINTS=after_offsets,mid_batch,... (any subset of the points below) and
// PINSTREAM_KILL_ODDS=N in the environment, every pass through a listed point kills the process
// with SIGKILL with probability 1/N — exactly what `kill -9` does, but at the moments that
// matter for exactly-once (e.g. between offsets/N and commits/N). Without the variables a kill
// point costs one predictable branch.
//
// Points in the micro-batch protocol:
//   after_offsets   offsets/N is durable, nothing of the batch is read yet
//   mid_batch       after each chunk handed to the shards
//   before_commit   everything is staged; commits/N is not written
//   after_commit    commits/N is durable; sources not yet told, progress not reported
//
// Points in table maintenance (state/table_maintenance.cc, state/table_vacuum.cc):
//   optimize_before_commit  OPTIMIZE's chunks are written (ingested as an SST file when large),
//                           its version is not committed
//   optimize_after_commit   OPTIMIZE's version is durable
//   vacuum_before_commit    VACUUM's checkpoint and version are staged, not committed
//   vacuum_after_commit     the new oldest readable version is durable, nothing deleted yet
//   vacuum_after_delete     everything below it is deleted (one write)
// tests/e2e/crash_recovery.py kills at every one of them.
#pragma once

namespace pinstream {

void KillPoint(const char* name);

}  // namespace pinstream
