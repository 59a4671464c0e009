#include "engine/allocator.h"

#include <malloc.h>

namespace pinstream {

void TuneAllocatorForBatches() {
  // One arena: glibc's per-thread arenas give whole empty heaps back to the kernel, so buffers
  // freed by one shard's batch were re-faulted (and zeroed) for the next. The data path allocates
  // per chunk, not per record, so sharing one arena costs little contention.
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 512 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
}

}  // namespace pinstream
