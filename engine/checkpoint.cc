#include "engine/checkpoint.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace pinstream {

using nlohmann::json;

namespace {
Result<json> ParseJsonLine(std::string_view line, std::string_view what) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corruption(fmt::format("{} is not valid JSON: '{}'", what, line));
  return j;
}
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    if (nl > pos) out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}
}  // namespace

std::string OffsetLogEntry::Serialize() const {
  std::string out = "v1\n";
  json meta{{"batchWatermarkMs", batch_watermark_us == INT64_MIN ? 0 : batch_watermark_us / 1000},
            {"batchTimestampMs", batch_timestamp_ms}};
  if (batch_watermark_us != INT64_MIN) {
    meta["batchWatermarkUs"] = batch_watermark_us;
    meta["inputWatermarksUs"] = input_watermarks_us;
  }
  if (!new_partition_starts.empty()) {
    json starts = json::object();
    for (const auto& [name, parts] : new_partition_starts) {
      json p = json::object();
      for (const auto& [part, off] : parts) p[part] = off;
      starts[name] = p;
    }
    meta["newPartitionStarts"] = starts;
  }
  out += meta.dump();
  for (const auto& [name, parts] : sources) {
    json p = json::object();
    for (const auto& [part, off] : parts) p[part] = off;
    out += "\n";
    out += json{{name, p}}.dump();
  }
  return out;
}

Result<OffsetLogEntry> OffsetLogEntry::Parse(std::int64_t batch_id, std::string_view text) {
  auto lines = SplitLines(text);
  std::string what = fmt::format("offsets/{}", batch_id);
  if (lines.size() < 2 || lines[0] != "v1") {
    return Corruption(fmt::format("{} does not start with 'v1' and a metadata line", what));
  }
  OffsetLogEntry e;
  e.batch_id = batch_id;
  PS_ASSIGN_OR_RETURN(json meta, ParseJsonLine(lines[1], what));
  if (!meta.contains("batchTimestampMs") || !meta["batchTimestampMs"].is_number_integer()) {
    return Corruption(what + " metadata lacks batchTimestampMs");
  }
  e.batch_timestamp_ms = meta["batchTimestampMs"].get<std::int64_t>();
  if (meta.contains("batchWatermarkUs")) {
    if (!meta["batchWatermarkUs"].is_number_integer())
      return Corruption(what + ": batchWatermarkUs is not an integer");
    e.batch_watermark_us = meta["batchWatermarkUs"].get<std::int64_t>();
    if (meta.contains("inputWatermarksUs")) {
      const json& iw = meta["inputWatermarksUs"];
      if (!iw.is_object()) return Corruption(what + ": inputWatermarksUs is not an object");
      for (auto it = iw.begin(); it != iw.end(); ++it) {
        if (!it.value().is_number_integer())
          return Corruption(what + ": an input watermark is not an integer");
        e.input_watermarks_us[it.key()] = it.value().get<std::int64_t>();
      }
    }
  }
  if (meta.contains("newPartitionStarts")) {
    const json& starts = meta["newPartitionStarts"];
    if (!starts.is_object()) return Corruption(what + ": newPartitionStarts is not an object");
    for (auto it = starts.begin(); it != starts.end(); ++it) {
      if (!it.value().is_object())
        return Corruption(what + ": newPartitionStarts entry is not an object");
      for (auto p = it.value().begin(); p != it.value().end(); ++p) {
        if (!p.value().is_number_integer())
          return Corruption(what + ": start offset is not an integer");
        e.new_partition_starts[it.key()][p.key()] = p.value().get<std::int64_t>();
      }
    }
  }
  for (std::size_t i = 2; i < lines.size(); ++i) {
    PS_ASSIGN_OR_RETURN(json src, ParseJsonLine(lines[i], what));
    if (!src.is_object() || src.size() != 1) return Corruption(what + ": malformed source line");
    auto it = src.begin();
    if (!it.value().is_object()) return Corruption(what + ": source offsets are not an object");
    PartitionOffsets po;
    for (auto p = it.value().begin(); p != it.value().end(); ++p) {
      if (!p.value().is_number_integer()) return Corruption(what + ": offset is not an integer");
      po[p.key()] = p.value().get<std::int64_t>();
    }
    e.sources[it.key()] = std::move(po);
  }
  return e;
}

std::string CommitLogEntry::Serialize() const {
  json j{{"batchId", batch_id},
         {"committedAtMs", committed_at_ms},
         {"numInputRows", num_input_rows},
         {"numOutputRows", num_output_rows},
         {"numDeadLetterRows", num_dead_letter_rows}};
  if (!event_time_max_us.empty()) j["eventTimeMaxUs"] = event_time_max_us;
  if (!event_time_floor_us.empty()) j["eventTimeFloorUs"] = event_time_floor_us;
  if (!progress_json.empty()) {
    json p = json::parse(progress_json, nullptr, false);
    if (!p.is_discarded()) j["progress"] = std::move(p);
  }
  return "v1\n" + j.dump();
}

Result<CommitLogEntry> CommitLogEntry::Parse(std::int64_t batch_id, std::string_view text) {
  auto lines = SplitLines(text);
  std::string what = fmt::format("commits/{}", batch_id);
  if (lines.size() < 2 || lines[0] != "v1") return Corruption(what + " does not start with 'v1'");
  PS_ASSIGN_OR_RETURN(json j, ParseJsonLine(lines[1], what));
  CommitLogEntry e;
  e.batch_id = batch_id;
  e.committed_at_ms = j.value("committedAtMs", std::int64_t{0});
  e.num_input_rows = j.value("numInputRows", std::int64_t{0});
  e.num_output_rows = j.value("numOutputRows", std::int64_t{0});
  e.num_dead_letter_rows = j.value("numDeadLetterRows", std::int64_t{0});
  if (j.contains("progress")) e.progress_json = j["progress"].dump();
  for (auto [key, into] : {std::pair{"eventTimeMaxUs", &e.event_time_max_us},
                           std::pair{"eventTimeFloorUs", &e.event_time_floor_us}}) {
    if (!j.contains(key)) continue;
    const json& m = j[key];
    if (!m.is_object()) return Corruption(fmt::format("{}: {} is not an object", what, key));
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!it.value().is_number_integer())
        return Corruption(what + ": an event time is not an integer");
      (*into)[it.key()] = it.value().get<std::int64_t>();
    }
  }
  return e;
}

std::string QueryMetadata::Serialize() const {
  json j{{"id", id},       {"name", name},       {"createdMs", created_ms},
         {"epoch", epoch}, {"sources", sources}, {"statefulOperators", stateful_operators}};
  if (!inputs.empty()) j["inputs"] = inputs;
  if (!view_sql.empty()) j["viewSql"] = view_sql;
  return j.dump();
}

Result<QueryMetadata> QueryMetadata::Parse(std::string_view text) {
  PS_ASSIGN_OR_RETURN(json j, ParseJsonLine(text, "query metadata"));
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) {
    return Corruption("query metadata lacks an id");
  }
  QueryMetadata m;
  m.id = j["id"].get<std::string>();
  m.name = j.value("name", std::string());
  m.created_ms = j.value("createdMs", std::int64_t{0});
  m.epoch = j.value("epoch", std::int64_t{0});
  if (j.contains("sources")) m.sources = j["sources"].get<std::vector<std::string>>();
  if (j.contains("statefulOperators")) {
    m.stateful_operators = j["statefulOperators"].get<std::vector<std::string>>();
  }
  if (j.contains("inputs")) m.inputs = j["inputs"].get<std::vector<std::string>>();
  m.view_sql = j.value("viewSql", std::string());
  return m;
}

Status CheckMetadataCompatible(const QueryMetadata& stored, const QueryMetadata& current) {
  auto list = [](const std::vector<std::string>& v) {
    return v.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(v, ", "));
  };
  const char* kWayOut =
      " To start this query from scratch, give it a new name (its old checkpoint and tables are "
      "kept) or delete its checkpoint with `pinstream checkpoint reset`.";
  if (stored.sources != current.sources) {
    return FailedPrecondition(fmt::format(
        "query '{}': its sources changed since the checkpoint was written: was [{}], now [{}]; "
        "the stored offsets would not match the new sources.{}",
        current.name, list(stored.sources), list(current.sources), kWayOut));
  }
  if (stored.inputs != current.inputs) {
    return FailedPrecondition(fmt::format(
        "query '{}': its inputs changed since the checkpoint was written: was [{}], now [{}]; "
        "the stored offsets and state would be read as another input's.{}",
        current.name, list(stored.inputs), list(current.inputs), kWayOut));
  }
  if (stored.stateful_operators != current.stateful_operators) {
    return FailedPrecondition(fmt::format(
        "query '{}': its stateful operators changed since the checkpoint was written: was [{}], "
        "now [{}]; the stored state would be misread.{}",
        current.name, list(stored.stateful_operators), list(current.stateful_operators), kWayOut));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// InMemoryCheckpointStore (tests only)

struct InMemoryCheckpointStore::Data {
  std::mutex mu;
  std::map<std::string, std::string> checkpoint;  // offsets, commits, metadata
  std::map<std::string, std::string> spaces[3];   // by CommitSpace
  Status fail_next;
  std::map<std::string, Status> damaged;  // query -> what reading its checkpoint fails with
};

namespace {

std::string QKey(const std::string& q, char kind, std::int64_t batch) {
  return fmt::format("{}/{}/{:020d}", q, kind, batch);
}

class InMemoryTxn : public CommitTxn {
 public:
  explicit InMemoryTxn(std::int64_t batch) : batch_(batch) {}
  std::int64_t batch_id() const override { return batch_; }
  void Put(CommitSpace s, std::string_view k, std::string_view v) override {
    ops_.push_back({s, 0, std::string(k), std::string(v)});
    bytes_ += k.size() + v.size();
  }
  void Delete(CommitSpace s, std::string_view k) override {
    ops_.push_back({s, 1, std::string(k), {}});
  }
  void DeleteRange(CommitSpace s, std::string_view b, std::string_view e) override {
    ops_.push_back({s, 2, std::string(b), std::string(e)});
  }
  void OnCommitted(std::function<void()> fn) override { hooks_.push_back(std::move(fn)); }
  void HoldUntilDone(std::mutex& commit_order) override {
    for (const auto& l : held_) {
      if (l.mutex() == &commit_order) return;
    }
    held_.emplace_back(commit_order);
  }
  std::map<std::string, std::int64_t>& staged_versions() override { return staged_versions_; }
  std::size_t staged_bytes() const override { return bytes_; }

  struct Op {
    CommitSpace space;
    int kind;
    std::string a, b;
  };
  std::int64_t batch_;
  std::vector<Op> ops_;
  std::vector<std::function<void()>> hooks_;
  std::size_t bytes_ = 0;
  std::vector<std::unique_lock<std::mutex>> held_;
  std::map<std::string, std::int64_t> staged_versions_;
};

class InMemoryQueryCheckpoint : public QueryCheckpoint {
 public:
  InMemoryQueryCheckpoint(std::shared_ptr<InMemoryCheckpointStore::Data> d, std::string q)
      : d_(std::move(d)), q_(std::move(q)) {}

  std::map<std::string, std::string>& cp() { return d_->checkpoint; }

  Result<std::optional<QueryMetadata>> ReadMetadata() override {
    std::lock_guard lock(d_->mu);
    if (auto d = d_->damaged.find(q_); d != d_->damaged.end()) return d->second;
    auto it = cp().find(q_ + "/meta");
    if (it == cp().end()) return std::optional<QueryMetadata>();
    PS_ASSIGN_OR_RETURN(auto m, QueryMetadata::Parse(it->second));
    return std::optional<QueryMetadata>(std::move(m));
  }
  Status WriteMetadata(const QueryMetadata& meta) override {
    std::lock_guard lock(d_->mu);
    cp()[q_ + "/meta"] = meta.Serialize();
    return Status::Ok();
  }
  void StageReset(CommitTxn& txn) override {
    txn.DeleteRange(CommitSpace::kOperatorState, q_ + "/", q_ + "0");  // '0' follows '/'
    txn.OnCommitted([d = d_, q = q_] {
      std::lock_guard lock(d->mu);
      d->checkpoint.erase(d->checkpoint.lower_bound(q + "/"), d->checkpoint.lower_bound(q + "0"));
    });
  }
  std::optional<std::int64_t> Latest(char kind) {
    std::string prefix = q_ + "/" + kind + "/";
    auto it = cp().lower_bound(prefix + "~");
    if (it == cp().begin()) return std::nullopt;
    --it;
    if (it->first.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    return std::stoll(it->first.substr(prefix.size()));
  }
  Result<std::optional<OffsetLogEntry>> LatestOffsets() override {
    std::optional<std::int64_t> n;
    {
      std::lock_guard lock(d_->mu);
      n = Latest('O');
    }
    if (!n) return std::optional<OffsetLogEntry>();
    return GetOffsets(*n);
  }
  Result<std::optional<OffsetLogEntry>> GetOffsets(std::int64_t b) override {
    std::lock_guard lock(d_->mu);
    auto it = cp().find(QKey(q_, 'O', b));
    if (it == cp().end()) return std::optional<OffsetLogEntry>();
    PS_ASSIGN_OR_RETURN(auto e, OffsetLogEntry::Parse(b, it->second));
    return std::optional<OffsetLogEntry>(std::move(e));
  }
  Result<std::optional<std::int64_t>> LatestCommittedBatch() override {
    std::lock_guard lock(d_->mu);
    return Latest('C');
  }
  Result<std::optional<CommitLogEntry>> GetCommit(std::int64_t b) override {
    std::lock_guard lock(d_->mu);
    auto it = cp().find(QKey(q_, 'C', b));
    if (it == cp().end()) return std::optional<CommitLogEntry>();
    PS_ASSIGN_OR_RETURN(auto e, CommitLogEntry::Parse(b, it->second));
    return std::optional<CommitLogEntry>(std::move(e));
  }
  Status WriteOffsets(const OffsetLogEntry& e) override {
    std::lock_guard lock(d_->mu);
    cp()[QKey(q_, 'O', e.batch_id)] = e.Serialize();
    return Status::Ok();
  }
  std::unique_ptr<CommitTxn> BeginCommit(std::int64_t b) override {
    return std::make_unique<InMemoryTxn>(b);
  }
  Status Commit(std::unique_ptr<CommitTxn> txn, const CommitLogEntry& e) override {
    auto* t = static_cast<InMemoryTxn*>(txn.get());
    {
      std::lock_guard lock(d_->mu);
      if (!d_->fail_next.ok()) {
        Status st = std::move(d_->fail_next);
        d_->fail_next = Status();
        return st;
      }
      for (auto& op : t->ops_) {
        auto& m = d_->spaces[static_cast<int>(op.space)];
        if (op.kind == 0) {
          m[op.a] = op.b;
        } else if (op.kind == 1) {
          m.erase(op.a);
        } else {
          m.erase(m.lower_bound(op.a), m.lower_bound(op.b));
        }
      }
      cp()[QKey(q_, 'C', e.batch_id)] = e.Serialize();
    }
    for (auto& h : t->hooks_) h();
    return Status::Ok();
  }
  Status ScanState(std::string_view prefix_view, const Visitor& visit) override {
    std::vector<std::pair<std::string, std::string>> copy;
    {
      std::lock_guard lock(d_->mu);
      auto& m = d_->spaces[static_cast<int>(CommitSpace::kOperatorState)];
      std::string prefix(prefix_view);
      for (auto it = m.lower_bound(prefix);
           it != m.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        copy.emplace_back(it->first, it->second);
      }
    }
    for (auto& [k, v] : copy) visit(k, v);
    return Status::Ok();
  }
  Status GetState(std::string_view key, std::string* value, bool* found) override {
    std::lock_guard lock(d_->mu);
    auto& m = d_->spaces[static_cast<int>(CommitSpace::kOperatorState)];
    auto it = m.find(std::string(key));
    *found = it != m.end();
    if (*found) *value = it->second;
    return Status::Ok();
  }
  std::unique_ptr<StateCursor> NewStateCursor(std::string_view begin,
                                              std::string_view end) override {
    // A copy of the range (tests only): commits may change the map while the cursor is used.
    class Cursor : public StateCursor {
     public:
      std::vector<std::pair<std::string, std::string>> rows;
      std::size_t at = 0;
      bool Valid() const override { return at < rows.size(); }
      std::string_view key() const override { return rows[at].first; }
      std::string_view value() const override { return rows[at].second; }
      void Next() override { ++at; }
      Status status() const override { return Status::Ok(); }
    };
    auto c = std::make_unique<Cursor>();
    std::lock_guard lock(d_->mu);
    auto& m = d_->spaces[static_cast<int>(CommitSpace::kOperatorState)];
    for (auto it = m.lower_bound(std::string(begin)); it != m.end() && it->first < end; ++it)
      c->rows.emplace_back(it->first, it->second);
    return c;
  }
  std::int64_t ApproximateStateBytes(std::string_view begin, std::string_view end) override {
    std::lock_guard lock(d_->mu);
    auto& m = d_->spaces[static_cast<int>(CommitSpace::kOperatorState)];
    std::int64_t n = 0;
    for (auto it = m.lower_bound(std::string(begin)); it != m.end() && it->first < end; ++it)
      n += static_cast<std::int64_t>(it->first.size() + it->second.size());
    return n;
  }
  Status Apply(std::unique_ptr<CommitTxn> txn) override {
    auto* t = static_cast<InMemoryTxn*>(txn.get());
    {
      std::lock_guard lock(d_->mu);
      for (auto& op : t->ops_) {
        auto& m = d_->spaces[static_cast<int>(op.space)];
        if (op.kind == 0)
          m[op.a] = op.b;
        else if (op.kind == 1)
          m.erase(op.a);
        else
          m.erase(m.lower_bound(op.a), m.lower_bound(op.b));
      }
    }
    for (auto& h : t->hooks_) h();
    return Status::Ok();
  }

 private:
  std::shared_ptr<InMemoryCheckpointStore::Data> d_;
  std::string q_;
};

}  // namespace

InMemoryCheckpointStore::InMemoryCheckpointStore() : data_(std::make_shared<Data>()) {}
InMemoryCheckpointStore::~InMemoryCheckpointStore() = default;

Result<std::unique_ptr<QueryCheckpoint>> InMemoryCheckpointStore::OpenQuery(const std::string& q) {
  return std::unique_ptr<QueryCheckpoint>(std::make_unique<InMemoryQueryCheckpoint>(data_, q));
}

std::map<std::string, std::string> InMemoryCheckpointStore::Dump(CommitSpace space) const {
  std::lock_guard lock(data_->mu);
  return data_->spaces[static_cast<int>(space)];
}

void InMemoryCheckpointStore::FailNextCommit(Status st) {
  std::lock_guard lock(data_->mu);
  data_->fail_next = std::move(st);
}

void InMemoryCheckpointStore::DamageCheckpointOf(const std::string& query, Status st) {
  std::lock_guard lock(data_->mu);
  data_->damaged[query] = std::move(st);
}

}  // namespace pinstream
