#include "state/registry.h"

#include "state/store_options.h"

namespace pinstream::state {

void RegisterStateSections(SectionRegistry& sections) {
  sections.Register(
      kStorageSection, "the RocksDB store: caches, compression, checkpoint retention",
      ParseStoreOptions,
      {&kStorageKeys, &kStorageOptimizeKeys, &kStorageVacuumKeys, &kStorageTableKeys});
}

}  // namespace pinstream::state
