#include "engine/stream_schema.h"

#include <fmt/format.h>

namespace pinstream {

std::string_view ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kInsertOnly:
      return "insert-only";
    case ChangeKind::kChanges:
      return "changes (with retractions)";
    case ChangeKind::kSnapshot:
      return "complete results";
  }
  return "?";
}

StreamSchema StreamSchema::Of(const RecordBatch& batch) {
  StreamSchema s;
  s.schema = batch.schema();
  s.complete = true;
  s.changes = batch.has_weights() ? ChangeKind::kChanges : ChangeKind::kInsertOnly;
  return s;
}

StreamSchema::Presence StreamSchema::Has(std::string_view column) const {
  if (schema.FieldIndex(column) >= 0) return Presence::kPresent;
  return complete ? Presence::kAbsent : Presence::kUnknown;
}

TypeId StreamSchema::TypeOf(std::string_view column) const {
  int i = schema.FieldIndex(column);
  if (i < 0) return complete ? TypeId::kNull : unlisted_type;
  return schema.field(static_cast<std::size_t>(i)).type;
}

void StreamSchema::Put(const std::string& column, TypeId type) {
  std::vector<Field> fields = schema.fields();
  int i = schema.FieldIndex(column);
  if (i < 0) {
    fields.push_back(Field{column, type, true});
  } else {
    fields[static_cast<std::size_t>(i)].type = type;
  }
  schema = Schema(std::move(fields));
}

void StreamSchema::Remove(std::string_view column) {
  std::vector<Field> fields;
  for (const auto& f : schema.fields()) {
    if (f.name != column) fields.push_back(f);
  }
  schema = Schema(std::move(fields));
  if (watermark_column == column) watermark_column.clear();
}

std::string StreamSchema::Describe() const {
  std::string out;
  for (const auto& f : schema.fields()) {
    if (!out.empty()) out += ", ";
    out += f.name;
    if (f.type != TypeId::kNull) {
      out += ": ";
      out += TypeName(f.type);
    }
  }
  if (!complete) out += out.empty() ? "not known before the data" : ", ...";
  return out;
}

Status RequireColumnIn(const StreamSchema& in, std::string_view column, std::string_view what) {
  if (in.Has(column) != StreamSchema::Presence::kAbsent) return Status::Ok();
  return InvalidArgument(fmt::format("{}: column '{}' does not exist in its input (columns: {})",
                                     what, column, in.Describe()));
}

Status RequireColumnType(const StreamSchema& in, std::string_view column, std::string_view what,
                         std::span<const TypeId> types) {
  PS_RETURN_IF_ERROR(RequireColumnIn(in, column, what));
  TypeId t = in.TypeOf(column);
  if (t == TypeId::kNull) return Status::Ok();
  for (TypeId ok : types) {
    if (ok == t) return Status::Ok();
  }
  std::vector<std::string> names;
  for (TypeId ok : types) names.emplace_back(TypeName(ok));
  return InvalidArgument(fmt::format("{}: column '{}' is {}, not {}", what, column, TypeName(t),
                                     fmt::join(names, " or ")));
}

}  // namespace pinstream
