#include "operators/operator_util.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace pinstream::ops {

Result<std::size_t> RequireColumn(const RecordBatch& batch, std::string_view name,
                                  std::string_view op_kind) {
  int i = batch.FindColumn(name);
  if (i < 0) {
    return InvalidArgument(fmt::format("{}: column '{}' does not exist in its input (columns: {})",
                                       op_kind, name, fmt::join(batch.names(), ", ")));
  }
  return static_cast<std::size_t>(i);
}

std::vector<std::pair<std::string, ConfigNode>> OrderedEntries(const ConfigNode& node) {
  return node.Entries();
}

namespace {
std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

bool ParseInt64Strict(std::string_view text, std::int64_t* out) {
  std::string_view s = Trim(text);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseDoubleStrict(std::string_view text, double* out) {
  std::string_view s = Trim(text);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out);
}

Status RequireColumnsIn(const StreamSchema& in, const std::vector<std::string>& columns,
                        std::string_view what) {
  for (const auto& c : columns) PS_RETURN_IF_ERROR(RequireColumnIn(in, c, what));
  return Status::Ok();
}

void PutDerived(StreamSchema& s, const std::string& column, TypeId type) { s.Put(column, type); }

void PutColumn(RecordBatch& batch, const std::string& name, Column column) {
  int existing = batch.FindColumn(name);
  if (existing >= 0) {
    batch.SetColumn(static_cast<std::size_t>(existing), std::move(column));
  } else {
    batch.AddColumn(name, std::move(column));
  }
}

}  // namespace pinstream::ops
