// Kill points: crash injection for recovery tests, in the spirit of RocksDB's TEST_KILL_RANDOM.
//
// With PINSTREAM_KILL_POINTS=after_offsets,mid_batch,before_commit,after_commit (any subset) and
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
#pragma once

namespace pinstream {

void KillPoint(const char* name);

}  // namespace pinstream
