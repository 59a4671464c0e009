// Runs an operator from its YAML config over a batch, the way the engine does (including the
// removal of rejected rows), for operator unit tests.
#pragma once

#include <string>
#include <vector>

#include "engine/operator.h"
#include "engine/record_batch.h"

namespace pinstream::testing {

struct OpRun {
  Status status;
  RecordBatch out;
  std::vector<RowRejection> rejected;  // row indexes refer to the input batch's row ids
  std::vector<std::string> reasons() const {
    std::vector<std::string> r;
    for (const auto& x : rejected) r.push_back(x.reason);
    return r;
  }
};

// `yaml` is the operator's mapping including `kind`. The batch's row ids are used to report
// rejections (RowRejection::row = the rejected row's id).
OpRun RunOperator(const std::string& yaml, RecordBatch batch, std::int64_t batch_ts_us = 0);
// A spec parse error's message (or "" when the config is valid).
std::string OperatorConfigError(const std::string& yaml);

}  // namespace pinstream::testing
