#include "tests/testing/operator_harness.h"

#include "engine/config_node.h"
#include "engine/registry.h"
#include "operators/registry.h"

namespace pinstream::testing {

namespace {
const OperatorRegistry& Reg() {
  static OperatorRegistry* r = [] {
    auto* reg = new OperatorRegistry();
    ops::RegisterOperators(*reg);
    return reg;
  }();
  return *r;
}
}  // namespace

OpRun RunOperator(const std::string& yaml, RecordBatch batch, std::int64_t batch_ts_us) {
  OpRun run;
  ConfigNode node = ConfigNode::LoadString(yaml, "op.yaml");
  auto spec = Reg().Parse(node, "operator");
  OperatorInitContext ictx;
  auto op = spec->Create(ictx);
  if (!op.ok()) {
    run.status = op.status();
    return run;
  }
  OperatorContext ctx;
  ctx.batch_timestamp_us = batch_ts_us;
  run.status = (*op)->Process(batch, ctx);
  std::vector<std::uint8_t> keep(batch.num_rows(), 1);
  for (auto& r : ctx.rejections()) {
    keep[r.row] = 0;
    run.rejected.push_back(
        RowRejection{static_cast<std::uint32_t>(batch.row_ids()[r.row]), r.reason});
  }
  batch.Compact(keep);
  run.out = std::move(batch);
  return run;
}

std::string OperatorConfigError(const std::string& yaml) {
  try {
    Reg().Parse(ConfigNode::LoadString(yaml, "op.yaml"), "operator");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace pinstream::testing
