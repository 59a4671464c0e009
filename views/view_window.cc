#include "views/view_window.h"

#include <fmt/format.h>

#include <vector>

namespace pinstream::views {
namespace {

class Window : public Operator {
 public:
  explicit Window(ViewWindowConfig c) : c_(std::move(c)) {}
  Status Process(RecordBatch& batch, OperatorContext&) override {
    const auto col = static_cast<std::size_t>(c_.time_column);
    if (col >= batch.num_columns()) {
      return Internal(fmt::format("view window: no column {} in a batch of {} columns", col,
                                  batch.num_columns()));
    }
    const ::pinstream::Column& t = batch.column(col);
    if (t.type() != TypeId::kTimestamp && t.type() != TypeId::kNull) {
      return InvalidArgument(fmt::format("the window's time column {} is {}, not a timestamp",
                                         batch.name(col), TypeName(t.type())));
    }
    std::vector<std::uint32_t> rows;
    ::pinstream::Column starts(TypeId::kTimestamp), ends(TypeId::kTimestamp);
    rows.reserve(batch.num_rows());
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      if (t.type() == TypeId::kNull || t.IsNull(r)) continue;
      ForEachWindowStart(t.Int(r), c_.size_us, c_.slide_us, [&](std::int64_t s) {
        rows.push_back(static_cast<std::uint32_t>(r));
        starts.AppendInt(s);
        ends.AppendInt(s + c_.size_us);
      });
    }
    if (rows.size() != batch.num_rows() || c_.slide_us != c_.size_us) {
      batch = batch.Take(rows);
    }
    batch.AddColumn(c_.start_name, std::move(starts));
    batch.AddColumn(c_.end_name, std::move(ends));
    return Status::Ok();
  }

 private:
  ViewWindowConfig c_;
};

class WindowSpec : public OperatorSpec {
 public:
  explicit WindowSpec(ViewWindowConfig c) : c_(std::move(c)) {}
  std::string_view kind() const override { return "view_window"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext&) const override {
    return std::unique_ptr<Operator>(new Window(c_));
  }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    StreamSchema out = inputs.empty() ? StreamSchema::Unknown() : inputs.front();
    out.Put(c_.start_name, TypeId::kTimestamp);
    out.Put(c_.end_name, TypeId::kTimestamp);
    out.key_columns.clear();
    return out;
  }

 private:
  ViewWindowConfig c_;
};

}  // namespace

std::shared_ptr<const OperatorSpec> MakeViewWindow(ViewWindowConfig config) {
  return std::make_shared<WindowSpec>(std::move(config));
}

}  // namespace pinstream::views
