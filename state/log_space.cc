// Log spaces: one column family per source-log partition (see store.h "Log spaces").
#include <fmt/format.h>
#include <rocksdb/convenience.h>

#include <cstdlib>

#include "state/store.h"
#include "state/store_internal.h"

namespace pinstream::state {

Result<LogSpace*> Store::OpenLogSpace(const std::string& name) {
  if (!IsLogSpaceName(name))
    return InvalidArgument(fmt::format("'{}' is not a log space name", name));
  std::lock_guard lock(rocks_->log_mu);
  auto it = rocks_->log_spaces.find(name);
  if (it != rocks_->log_spaces.end()) return it->second.get();
  if (read_only_) return NotFound(fmt::format("log space '{}' does not exist", name));
  rocksdb::ColumnFamilyHandle* h = nullptr;
  PS_RETURN_IF_ERROR(MapRocks(rocks_->db->CreateColumnFamily(rocks_->log_cf_options, name, &h),
                              fmt::format("creating log space '{}'", name)));
  auto space = std::unique_ptr<LogSpace>(new LogSpace(name, h));
  LogSpace* raw = space.get();
  rocks_->log_spaces[name] = std::move(space);
  return raw;
}

std::vector<std::string> Store::LogSpaceNames() const {
  std::lock_guard lock(rocks_->log_mu);
  std::vector<std::string> out;
  for (const auto& [name, space] : rocks_->log_spaces) out.push_back(name);
  return out;
}

Status Store::DropLogSpace(const std::string& name) {
  if (read_only_) return FailedPrecondition("the store is open read-only");
  std::lock_guard lock(rocks_->log_mu);
  auto it = rocks_->log_spaces.find(name);
  if (it == rocks_->log_spaces.end())
    return NotFound(fmt::format("log space '{}' does not exist", name));
  PS_RETURN_IF_ERROR(MapRocks(
      rocks_->db->DropColumnFamily(static_cast<rocksdb::ColumnFamilyHandle*>(it->second->handle_)),
      fmt::format("dropping log space '{}'", name)));
  rocks_->dropped_log_spaces.push_back(std::move(it->second));
  rocks_->log_spaces.erase(it);
  return Status::Ok();
}

std::unique_ptr<StoreIterator> Store::NewIterator(const LogSpace& space, bool at_first) const {
  return std::make_unique<RocksIterator>(rocks_->db.get(),
                                         static_cast<rocksdb::ColumnFamilyHandle*>(space.handle_),
                                         "", "", nullptr, /*fill_cache=*/false, at_first);
}

Status Store::DeleteFilesInRange(const LogSpace& space, std::string_view begin,
                                 std::string_view end) {
  if (read_only_) return FailedPrecondition("the store is open read-only");
  rocksdb::Slice b(begin.data(), begin.size()), e(end.data(), end.size());
  return MapRocks(
      rocksdb::DeleteFilesInRange(rocks_->db.get(),
                                  static_cast<rocksdb::ColumnFamilyHandle*>(space.handle_), &b, &e,
                                  /*include_end=*/false),
      fmt::format("deleting files of log space '{}'", space.name()));
}

Store::CompactionIo Store::LogCompactionIo() const {
  CompactionIo io;
  std::vector<rocksdb::LiveFileMetaData> files;
  rocks_->db->GetLiveFilesMetaData(&files);
  std::lock_guard lock(rocks_->log_mu);
  for (const auto& [name, space] : rocks_->log_spaces) {
    auto* h = static_cast<rocksdb::ColumnFamilyHandle*>(space->handle_);
    std::map<std::string, std::string> stats;
    if (!rocks_->db->GetMapProperty(h, rocksdb::DB::Properties::kCFStats, &stats)) continue;
    // Per level "compaction.L<n>.WriteGB" (L0's is the flushes' output) and "...MovedGB".
    for (const auto& [k, v] : stats) {
      if (k.rfind("compaction.L", 0) != 0 || k.rfind("compaction.L0.", 0) == 0) continue;
      double gb = std::strtod(v.c_str(), nullptr);
      if (k.size() > 8 && k.compare(k.size() - 8, 8, ".WriteGB") == 0)
        io.written += static_cast<std::uint64_t>(gb * (1 << 30));
      if (k.size() > 8 && k.compare(k.size() - 8, 8, ".MovedGB") == 0)
        io.moved += static_cast<std::uint64_t>(gb * (1 << 30));
    }
    for (const auto& f : files) io.files += f.column_family_name == name ? 1 : 0;
  }
  return io;
}

}  // namespace pinstream::state
