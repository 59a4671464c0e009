// The catalog in the `default` family: table names → ids, and the id counters.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>

#include "engine/bytes.h"
#include "state/delta_table.h"
#include "state/store.h"
#include "state/store_internal.h"

namespace pinstream::state {

std::vector<std::string> Store::ListTables() const {
  std::vector<std::string> out;
  auto it = NewIterator(KeySpace::kMeta, "catalog/table/");
  for (; it->Valid(); it->Next()) out.emplace_back(it->key().substr(std::strlen("catalog/table/")));
  return out;
}

Result<DeltaTable*> Store::Table(const std::string& name, bool create) {
  std::lock_guard lock(tables_mu_);
  auto it = tables_.find(name);
  if (it != tables_.end()) return it->second.get();
  std::string id_bytes;
  Status st = Get(KeySpace::kMeta, "catalog/table/" + name, &id_bytes);
  std::unique_ptr<DeltaTable> table;
  if (st.ok()) {
    if (id_bytes.size() != 4)
      return Corruption(fmt::format("catalog entry of table '{}' is damaged", name));
    PS_ASSIGN_OR_RETURN(table, DeltaTable::Load(this, name, GetBigEndian32(id_bytes.data())));
  } else if (st.code() == StatusCode::kNotFound) {
    if (!create) {
      std::vector<std::string> names = ListTables();
      std::string msg = fmt::format("table '{}' does not exist", name);
      if (!names.empty()) msg += fmt::format(" (tables: {})", fmt::join(names, ", "));
      return NotFound(msg);
    }
    if (read_only_) return FailedPrecondition("cannot create a table in a read-only store");
    PS_ASSIGN_OR_RETURN(std::uint32_t id, AllocateId("table"));
    table = DeltaTable::CreateNew(this, name, id);
  } else {
    return st;
  }
  DeltaTable* raw = table.get();
  tables_[name] = std::move(table);
  return raw;
}

void Store::AddTableCommitListener(std::function<void(const std::string&)> fn) {
  std::lock_guard lock(listeners_mu_);
  table_listeners_.push_back(std::move(fn));
}

void Store::NotifyTableCommitted(const std::string& table) const {
  std::lock_guard lock(listeners_mu_);
  for (const auto& fn : table_listeners_) fn(table);
}

Result<std::uint32_t> Store::AllocateId(std::string_view kind) {
  std::lock_guard lock(id_mu_);
  std::string key = fmt::format("next_id/{}", kind);
  std::string v;
  Status st = Get(KeySpace::kMeta, key, &v);
  std::uint32_t next = 1;
  if (st.ok()) {
    if (v.size() != 4) return Corruption(fmt::format("id counter '{}' is damaged", key));
    next = GetBigEndian32(v.data());
  } else if (st.code() != StatusCode::kNotFound) {
    return st;
  }
  std::string nv;
  PutBigEndian32(&nv, next + 1);
  PS_RETURN_IF_ERROR(PutSync(KeySpace::kMeta, key, nv));
  return next;
}

}  // namespace pinstream::state
