// ParallelFor: runs fn(0..count-1) on a small process-wide pool of helper threads plus the
// calling thread, and returns when all are done. For CPU-bound steps that run while the shard
// workers are idle (e.g. compressing a table version's columns during the commit), so that both
// cores work on them. Tasks must not call ParallelFor themselves.
#pragma once

#include <cstddef>
#include <functional>

namespace pinstream {

void ParallelFor(std::size_t count, const std::function<void(std::size_t)>& fn);

}  // namespace pinstream
