// The operator registry: the one explicit list of operator kinds (see registry.cc).
#pragma once

#include "engine/registry.h"

namespace pinstream::ops {

void RegisterOperators(OperatorRegistry& registry);

}  // namespace pinstream::ops
