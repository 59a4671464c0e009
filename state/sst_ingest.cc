// Store::IngestSorted: values written as an SST file of their own and ingested, outside any
// transaction (large delta-table versions; see delta_table.h).
#include <fmt/format.h>
#include <rocksdb/sst_file_writer.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "state/store.h"
#include "state/store_internal.h"

namespace pinstream::state {

namespace fs = std::filesystem;

Status Store::IngestSorted(KeySpace space,
                           std::span<const std::pair<std::string, std::string_view>> entries) {
  if (read_only_) return FailedPrecondition("the store is open read-only");
  if (entries.empty()) return Status::Ok();
  fs::path dir = fs::path(options_.data_dir) / kIngestDir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IOError(fmt::format("cannot create '{}': {}", dir.string(), ec.message()));
  std::string path =
      (dir / fmt::format("{}.sst", ingest_seq_.fetch_add(1, std::memory_order_relaxed))).string();
  rocksdb::ColumnFamilyHandle* cf = rocks_->handle(space);
  // invalidate_page_cache=false: dropping the file's pages every 1 MB (the default) costs fadvise
  // calls here and disk reads in the ingest (which reads the file's index and properties right
  // after Finish) and in queries of the new version.
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), rocks_->db->GetOptions(cf), cf,
                                /*invalidate_page_cache=*/false);
  rocksdb::Status st = writer.Open(path);
  for (std::size_t i = 0; st.ok() && i < entries.size(); ++i) {
    const auto& [k, v] = entries[i];
    st = writer.Put(rocksdb::Slice(k.data(), k.size()), rocksdb::Slice(v.data(), v.size()));
  }
  if (st.ok()) st = writer.Finish();  // synced
  if (st.ok()) {
    rocksdb::IngestExternalFileOptions io;
    io.move_files = true;  // hard-linked into the store, not copied
    // The global sequence number goes into the MANIFEST only, instead of being written into the
    // file (a read-modify-write and sync of the file) when one is needed.
    io.write_global_seqno = false;
    st = rocks_->db->IngestExternalFile(cf, {path}, io);
  }
  fs::remove(path, ec);  // moved, or not needed after a failure
  if (!st.ok()) {
    Status mapped = MapRocks(st, fmt::format("ingesting {} values into {}", entries.size(),
                                             kCfNames[static_cast<int>(space)]));
    spdlog::error("store ingest failed: {}", mapped.ToString());
    return mapped;
  }
  return Status::Ok();
}

}  // namespace pinstream::state
