// Transactions (StoreTxn) and how they are written: the one atomic, optionally synced write of a
// batch, and the store's handling of write errors (recoverable ones resume, fatal ones need a
// restart).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/check.h"
#include "state/store.h"
#include "state/store_internal.h"

namespace pinstream::state {

std::unique_ptr<StoreTxn> Store::BeginTxn(std::int64_t batch_id) {
  return std::make_unique<StoreTxn>(this, batch_id);
}

Status Store::Commit(std::unique_ptr<StoreTxn> txn, bool sync) { return Write(*txn, sync); }

Status Store::Write(StoreTxn& txn, bool sync) {
  struct Cleared {
    StoreTxn& t;
    ~Cleared() { t.Clear(); }
  } cleared{txn};
  if (read_only_) return FailedPrecondition("the store is open read-only");
  if (rocks_->needs_resume.load()) PS_RETURN_IF_ERROR(Resume());
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status st = rocks_->db->Write(wo, &txn.batch_->wb);
  if (!st.ok()) {
    Status mapped = MapRocks(st, "committing");
    if (mapped.code() == StatusCode::kIOError) NoteWriteError(mapped.message());
    spdlog::error("store write failed: {}", mapped.ToString());
    return mapped;
  }
  for (auto& h : txn.hooks_) h();
  return Status::Ok();
}

void Store::NoteWriteError(const std::string& message) {
  {
    std::lock_guard lock(rocks_->fatal_mu);
    rocks_->write_error = message;
  }
  rocks_->needs_resume.store(true);
}

Status Store::Resume() {
  std::lock_guard resume_lock(rocks_->resume_mu);
  if (!rocks_->needs_resume.load()) return Status::Ok();
  rocksdb::Status r = rocks_->db->Resume();
  if (!r.ok()) {
    // RocksDB declares some write errors fatal — a failed WAL sync among them: after a failed
    // fsync the page cache can no longer be trusted to reach the disk (Linux may have dropped
    // the pages). Only reopening the store recovers, from what is on disk.
    if (r.severity() >= rocksdb::Status::Severity::kFatalError) {
      std::lock_guard lock(rocks_->fatal_mu);
      if (rocks_->fatal_error.empty()) {
        rocks_->fatal_error = r.ToString();
        spdlog::error("{}", UnrecoverableMessage(rocks_->fatal_error));
      }
      return MapRocks(
          r, "the store stopped after an unrecoverable write error; restart pinstream to recover");
    }
    // Still failing (the disk is still full), or RocksDB's own recovery is running (Busy):
    // retryable, with the error the store waits on.
    std::optional<std::string> waiting = write_error();
    return Unavailable(fmt::format(
        "{} (the store writes again once it recovers{})",
        waiting ? *waiting : "an earlier write error",
        r.IsBusy() ? ", which is under way" : ": " + r.ToString()));
  }
  rocks_->needs_resume.store(false);
  {
    std::lock_guard lock(rocks_->fatal_mu);
    rocks_->write_error.clear();
  }
  spdlog::info("store resumed writing after an earlier error");
  return Status::Ok();
}

std::optional<std::string> Store::write_error() const {
  if (!rocks_->needs_resume.load()) return std::nullopt;
  std::lock_guard lock(rocks_->fatal_mu);
  if (rocks_->write_error.empty()) return "a write failed; the store is recovering";
  return rocks_->write_error;
}

std::optional<std::string> Store::PendingWriteError() {
  if (read_only_ || !rocks_->needs_resume.load()) return std::nullopt;
  if (Resume().ok()) return std::nullopt;
  return write_error();
}

Status Store::SyncWal() {
  if (read_only_) return FailedPrecondition("the store is open read-only");
  rocksdb::Status st = rocks_->db->SyncWAL();
  if (!st.ok()) {
    Status mapped = MapRocks(st, "syncing the WAL");
    if (mapped.code() == StatusCode::kIOError) NoteWriteError(mapped.message());
    spdlog::error("store WAL sync failed: {}", mapped.ToString());
    return mapped;
  }
  return Status::Ok();
}

Status Store::PutSync(KeySpace space, std::string_view key, std::string_view value) {
  auto txn = BeginTxn();
  txn->Put(space, key, value);
  return Commit(std::move(txn), true);
}

StoreTxn::StoreTxn(Store* store, std::int64_t batch_id)
    : store_(store), batch_id_(batch_id), batch_(std::make_unique<Batch>()) {}
StoreTxn::~StoreTxn() = default;

void StoreTxn::Put(KeySpace space, std::string_view key, std::string_view value) {
  batch_->wb
      .Put(store_->rocks()->handle(space), rocksdb::Slice(key.data(), key.size()),
           rocksdb::Slice(value.data(), value.size()))
      .PermitUncheckedError();
}
namespace {
void PutPartsInto(rocksdb::WriteBatch& wb, rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                  std::span<const std::string_view> parts) {
  thread_local std::vector<rocksdb::Slice> slices;  // reused: a group commit puts many
  slices.clear();
  for (std::string_view p : parts) slices.emplace_back(p.data(), p.size());
  rocksdb::Slice k(key.data(), key.size());
  wb.Put(cf, rocksdb::SliceParts(&k, 1),
         rocksdb::SliceParts(slices.data(), static_cast<int>(slices.size())))
      .PermitUncheckedError();
}
}  // namespace

void StoreTxn::PutParts(KeySpace space, std::string_view key,
                        std::span<const std::string_view> parts) {
  PutPartsInto(batch_->wb, store_->rocks()->handle(space), key, parts);
}
void StoreTxn::Delete(KeySpace space, std::string_view key) {
  batch_->wb.Delete(store_->rocks()->handle(space), rocksdb::Slice(key.data(), key.size()))
      .PermitUncheckedError();
}
void StoreTxn::DeleteRange(KeySpace space, std::string_view begin, std::string_view end) {
  batch_->wb
      .DeleteRange(store_->rocks()->handle(space), rocksdb::Slice(begin.data(), begin.size()),
                   rocksdb::Slice(end.data(), end.size()))
      .PermitUncheckedError();
}
void StoreTxn::PutParts(const LogSpace& space, std::string_view key,
                        std::span<const std::string_view> parts) {
  PutPartsInto(batch_->wb, static_cast<rocksdb::ColumnFamilyHandle*>(space.handle_), key, parts);
}
void StoreTxn::DeleteRange(const LogSpace& space, std::string_view begin, std::string_view end) {
  batch_->wb
      .DeleteRange(static_cast<rocksdb::ColumnFamilyHandle*>(space.handle_),
                   rocksdb::Slice(begin.data(), begin.size()),
                   rocksdb::Slice(end.data(), end.size()))
      .PermitUncheckedError();
}
std::size_t StoreTxn::staged_bytes() const { return batch_->wb.GetDataSize(); }
void StoreTxn::Clear() {
  batch_->wb.Clear();
  hooks_.clear();
  staged_versions_.clear();
  held_.clear();  // unlocks
}
void StoreTxn::HoldUntilDone(std::mutex& commit_order) {
  for (const auto& l : held_) {
    if (l.mutex() == &commit_order) return;
  }
  held_.emplace_back(commit_order);
}

KeySpace KeySpaceOf(CommitSpace space) {
  switch (space) {
    case CommitSpace::kOperatorState:
      return KeySpace::kState;
    case CommitSpace::kSinkOutput:
      return KeySpace::kTables;
    case CommitSpace::kCatalog:
      return KeySpace::kMeta;
  }
  PS_CHECK(false);
  return KeySpace::kMeta;
}

}  // namespace pinstream::state
