#include "engine/keyed_state.h"

#include "engine/bytes.h"

namespace pinstream {

std::string StateKey(std::string_view ns, std::string_view key) {
  std::string k;
  k.reserve(ns.size() + 1 + key.size());
  k.append(ns);
  k.push_back('\0');
  k.append(key);
  return k;
}

std::string EncodeStateValue(std::int64_t batch_id, std::string_view value) {
  std::string out;
  out.reserve(8 + value.size());
  PutBigEndian64(&out, static_cast<std::uint64_t>(batch_id));
  out.append(value);
  return out;
}

bool DecodeStateValue(std::string_view stored, std::int64_t* batch_id, std::string_view* value) {
  if (stored.size() < 8) return false;
  *batch_id = static_cast<std::int64_t>(GetBigEndian64(stored.data()));
  *value = stored.substr(8);
  return true;
}

Status KeyedStateStore::ScanCommitted(const Visitor& visit) {
  Status inner;
  Status st = reader_->ScanState(ns_, [&](std::string_view key, std::string_view stored) {
    std::int64_t batch;
    std::string_view value;
    if (!DecodeStateValue(stored, &batch, &value)) {
      if (inner.ok()) inner = Corruption("state entry of '" + ns_ + "' is shorter than its header");
      return;
    }
    visit(key, value, batch);
  });
  PS_RETURN_IF_ERROR(st);
  return inner;
}

void KeyedStateStore::Put(std::string_view key, std::string_view value) {
  changes_.push_back(Change{std::string(key), std::string(value), false});
}

void KeyedStateStore::Delete(std::string_view key) {
  changes_.push_back(Change{std::string(key), std::string(), true});
}

void KeyedStateStore::StageChanges(std::int64_t batch_id, CommitTxn& txn) {
  for (const auto& c : changes_) {
    std::string key = StateKey(ns_, c.key);
    if (c.is_delete) {
      txn.Delete(KeySpace::kState, key);
    } else {
      txn.Put(KeySpace::kState, key, EncodeStateValue(batch_id, c.value));
    }
  }
  changes_.clear();
}

}  // namespace pinstream
