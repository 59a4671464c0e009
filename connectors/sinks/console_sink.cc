#include "connectors/sinks/console_sink.h"

#include <fmt/format.h>

#include <cstdio>

#include "engine/row_format.h"

namespace pinstream::connectors {

namespace {

struct ConsoleConfig {
  bool jsonl = false;
  std::int64_t max_rows = 20;
};

class ConsoleSink : public Sink {
 public:
  explicit ConsoleSink(ConsoleConfig c) : config_(c) {}
  std::string_view kind() const override { return "console"; }
  std::string Describe() const override { return "ConsoleSink"; }
  Status Open(const SinkContext&) override { return Status::Ok(); }
  Status Stage(std::int64_t batch_id, const std::vector<RecordBatch>& output,
               CommitTxn& txn) override {
    std::size_t limit =
        config_.max_rows > 0 ? static_cast<std::size_t>(config_.max_rows) : SIZE_MAX;
    std::size_t total = 0;
    RecordBatch shown;
    for (const auto& b : output) {
      total += b.num_rows();
      if (shown.num_rows() < limit) PS_RETURN_IF_ERROR(shown.Append(b));
    }
    std::size_t n = std::min(limit, shown.num_rows());
    if (shown.has_weights()) {
      // Changes (an update-mode aggregate, an eager left join): each row's weight, +1 or -1.
      Column w(TypeId::kInt64);
      for (std::size_t r = 0; r < shown.num_rows(); ++r) w.AppendInt(shown.weight(r));
      shown.AddColumn("_weight", std::move(w));
    }
    std::string text;
    if (config_.jsonl) {
      for (std::size_t r = 0; r < n; ++r) {
        AppendJsonRow(shown, r, &text);
        text.push_back('\n');
      }
    } else {
      text = fmt::format(
          "-------------------------------------------\nBatch: {}\n"
          "-------------------------------------------\n",
          batch_id);
      text += FormatTable(shown, n);
      if (total > n) text += fmt::format("({} rows in the batch)\n", total);
    }
    // Printed only once the batch is durable, so a failed batch prints nothing.
    txn.OnCommitted([text = std::move(text)] {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    });
    return Status::Ok();
  }

 private:
  ConsoleConfig config_;
};

class ConsoleSpec : public SinkSpec {
 public:
  explicit ConsoleSpec(ConsoleConfig c) : config_(c) {}
  std::string_view kind() const override { return "console"; }
  std::string Descriptor() const override { return "console"; }
  Result<std::unique_ptr<Sink>> Create(const SinkCreateContext&) const override {
    return std::unique_ptr<Sink>(std::make_unique<ConsoleSink>(config_));
  }

 private:
  ConsoleConfig config_;
};

}  // namespace

namespace {
constexpr KeyDoc kConsoleSinkDocs[] = {
    {"format", KeyType::kEnum, "pretty", "pretty: a table per batch; jsonl: one JSON row per line.",
     "pretty|jsonl"},
    {"max_rows", KeyType::kInt, "20", "Rows printed per batch."},
};
}  // namespace
constexpr ConfigKeys kConsoleSinkKeys{"sinks (kind: console)", "Prints batches to standard output.",
                                      kConsoleSinkDocs};

std::shared_ptr<const SinkSpec> ParseConsoleSink(const ConfigNode& n) {
  n.ExpectKeys(kConsoleSinkKeys);
  ConsoleConfig c;
  c.jsonl = n.GetEnum("format", {"pretty", "jsonl"}, "pretty") == "jsonl";
  c.max_rows = n.GetInt("max_rows", 20);
  return std::make_shared<ConsoleSpec>(c);
}

}  // namespace pinstream::connectors
