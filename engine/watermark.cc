#include "engine/watermark.h"

#include <fmt/format.h>

#include <algorithm>

namespace pinstream {

Status WatermarkObserver::Process(RecordBatch& batch, OperatorContext&) {
  int ci = batch.FindColumn(column_);
  if (ci < 0) return Status::Ok();  // the schema check (DeriveSchema) reports a missing column
  const Column& c = batch.column(static_cast<std::size_t>(ci));
  if (c.type() != TypeId::kTimestamp) return Status::Ok();  // all null (kNull): nothing to see
  for (std::size_t r = 0; r < c.size(); ++r) {
    if (c.IsValid(r)) stats_.Add(c.Int(r));
  }
  return Status::Ok();
}

namespace {

class WatermarkObserverSpec : public OperatorSpec {
 public:
  WatermarkObserverSpec(std::string input, std::string column, std::int64_t delay_us)
      : input_(std::move(input)), column_(std::move(column)), delay_us_(delay_us) {}
  std::string_view kind() const override { return "watermark"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
    std::uint16_t tag = ctx.input_tags.empty() ? 0 : ctx.input_tags.front();
    return std::unique_ptr<Operator>(std::make_unique<WatermarkObserver>(column_, tag));
  }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    StreamSchema out = inputs.empty() ? StreamSchema::Unknown() : inputs.front();
    static constexpr TypeId kTs[] = {TypeId::kTimestamp};
    PS_RETURN_IF_ERROR(
        RequireColumnType(out, column_, fmt::format("watermark of input '{}'", input_), kTs));
    if (out.changes == ChangeKind::kSnapshot) {
      return InvalidArgument(fmt::format(
          "watermark of input '{}': declared on complete results (an aggregate in complete mode)",
          input_));
    }
    out.watermark_column = column_;
    return out;
  }

 private:
  std::string input_;
  std::string column_;
  [[maybe_unused]] std::int64_t delay_us_;  // applied by the query (streaming_query.cc), not here
};

}  // namespace

std::shared_ptr<const OperatorSpec> MakeWatermarkObserverSpec(std::string input, std::string column,
                                                              std::int64_t delay_us) {
  return std::make_shared<WatermarkObserverSpec>(std::move(input), std::move(column), delay_us);
}

bool WatermarkTracker::enabled() const {
  return std::any_of(inputs_.begin(), inputs_.end(), [](const Input& i) { return i.declared; });
}

std::int64_t WatermarkTracker::Term(const Input& in, std::int64_t max) const {
  std::int64_t t = max - in.delay_us;
  auto f = floors_.find(in.name);
  if (f != floors_.end()) t = std::min(t, f->second);
  return t;
}

std::map<std::string, std::int64_t> WatermarkTracker::InputWatermarks() const {
  std::map<std::string, std::int64_t> out;
  for (const auto& in : inputs_) {
    auto it = max_.find(in.name);
    if (in.declared && it != max_.end()) out[in.name] = Term(in, it->second);
  }
  return out;
}

void WatermarkTracker::SetFloor(const std::string& name, std::optional<std::int64_t> floor) {
  if (floor) {
    floors_[name] = *floor;
  } else {
    floors_.erase(name);
  }
}

void WatermarkTracker::Restore(std::int64_t watermark,
                               std::map<std::string, std::int64_t> max_event_times,
                               std::map<std::string, std::int64_t> floors) {
  watermark_ = watermark;
  max_ = std::move(max_event_times);
  floors_ = std::move(floors);
}

void WatermarkTracker::Observe(std::uint16_t tag, const EventTimeStats& stats) {
  if (tag >= inputs_.size() || stats.count == 0) return;
  auto [it, inserted] = max_.emplace(inputs_[tag].name, stats.max);
  if (!inserted) it->second = std::max(it->second, stats.max);
}

bool WatermarkTracker::Advance() {
  std::int64_t candidate = INT64_MAX;
  bool any = false;
  for (const auto& in : inputs_) {
    if (!in.declared) continue;
    auto it = max_.find(in.name);
    if (it == max_.end()) {
      // No rows yet: does not hold the others back — unless its source bounds the rows to come
      // (a table not written yet by a query that bounds its output: INT64_MIN, wait for them).
      auto f = floors_.find(in.name);
      if (f != floors_.end()) candidate = std::min(candidate, f->second);
      continue;
    }
    candidate = std::min(candidate, Term(in, it->second));
    any = true;
  }
  if (!any || candidate <= watermark_) return false;
  watermark_ = candidate;
  return true;
}

}  // namespace pinstream
