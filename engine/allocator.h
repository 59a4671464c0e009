// Process-wide allocator settings for the data path.
//
// Micro-batches allocate column buffers of megabytes (a 4096-record chunk of pin records holds
// ~2.5 MB of strings). glibc serves allocations above its mmap threshold with fresh mmap()s and
// returns them with munmap(), so every chunk would pay for page faults and the kernel zeroing
// pages; glibc's per-thread arenas also hand whole empty heaps back.
// TuneAllocatorForBatches() uses one arena and raises the mmap and trim thresholds, so freed
// buffers stay in the heap and are reused by the next chunk. Memory stays bounded by the batch
// size limits (max_records_per_trigger, queue capacities).
#pragma once

namespace pinstream {

// Call once at start-up, before threads start.
void TuneAllocatorForBatches();

}  // namespace pinstream
