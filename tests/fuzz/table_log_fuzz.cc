// libFuzzer target for the table log's stored entries (state/table_log.h), as DeltaTable reads
// them back from the store: a log entry (CommitInfo JSON), a log checkpoint (TableState JSON), a
// version's statistics record (binary) and a deletion vector (binary). The first byte picks the
// kind, the rest is the stored value. Damaged bytes must give Corruption with a message — never
// a crash, a hang or UB; a value that decodes must round-trip to itself, and a commit that parses
// must fold into a table state (Apply) or be refused with a Status.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>

#include "state/table_log.h"

using namespace pinstream;
using namespace pinstream::state;

namespace {

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

void RequireCorruption(const Status& s) {
  Require(s.code() == StatusCode::kCorruption && !s.message().empty());
}

const std::map<int, Schema>& Schemas() {
  static const std::map<int, Schema> schemas = {
      {0, Schema({{"b", TypeId::kBool},
                  {"i", TypeId::kInt64},
                  {"d", TypeId::kDouble},
                  {"s", TypeId::kString},
                  {"t", TypeId::kTimestamp},
                  {"a", TypeId::kDoubleArray},
                  {"r", TypeId::kRaw}})},
      {1, Schema({{"i", TypeId::kInt64}, {"s", TypeId::kString}})}};
  return schemas;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {  // 'L': a log entry
      auto c = CommitInfo::Parse(bytes, &Schemas());
      if (!c.ok()) return RequireCorruption(c.status()), 0;
      std::string json = c->ToJson();
      auto again = CommitInfo::Parse(json, &Schemas());
      Require(again.ok() && again->ToJson() == json);
      if (c->version > std::numeric_limits<std::int64_t>::min()) {
        TableState st;
        st.version = c->version - 1;
        (void)st.Apply(*c);  // a Status either way; the point is no crash or UB
      }
      break;
    }
    case 1: {  // 'K': a log checkpoint
      auto s = TableState::FromCheckpoint(bytes, Schemas());
      if (!s.ok()) return RequireCorruption(s.status()), 0;
      std::string json = s->ToCheckpointJson();
      auto again = TableState::FromCheckpoint(json, Schemas());
      Require(again.ok() && again->ToCheckpointJson() == json);
      break;
    }
    case 2: {  // 'T': a version's statistics
      auto v = VersionStats::Decode(7, bytes);
      if (!v.ok()) return RequireCorruption(v.status()), 0;
      std::string enc = v->Encode();
      auto again = VersionStats::Decode(7, enc);
      Require(again.ok() && again->Encode() == enc);
      break;
    }
    default: {  // 'D': a deletion vector
      auto rows = DecodeDeletionVector(bytes);
      if (!rows.ok()) return RequireCorruption(rows.status()), 0;
      for (std::size_t i = 1; i < rows->size(); ++i) Require((*rows)[i - 1] < (*rows)[i]);
      auto again = DecodeDeletionVector(EncodeDeletionVector(*rows));
      Require(again.ok() && *again == *rows);
      break;
    }
  }
  return 0;
}
