#include "state/sql/delta_vtab.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/time_util.h"
#include "state/store.h"

namespace pinstream::state::sql {

// ---------------------------------------------------------------------------------------------
// The lookup index: the snapshot's needed columns decoded once, and (key, row ref) pairs sorted
// by key; a lookup is a binary search. ref = chunk << 32 | row.

struct LookupIndex {
  std::vector<RecordBatch> chunks;
  // Integer keys spanning a range at most 4× their count (ind: 0..n-1) use a direct table:
  // the refs of key k are dense_refs[starts[k - base] .. starts[k - base + 1]).
  bool dense = false;
  std::int64_t base = 0;
  std::vector<std::uint32_t> starts;
  std::vector<std::uint64_t> dense_refs;
  // Otherwise keys sorted (stable: equal keys keep table order) beside their refs.
  std::vector<std::int64_t> int_keys;
  std::vector<double> double_keys;
  std::vector<std::string_view> string_keys;
  std::vector<std::uint64_t> sorted_refs;
};

TableCatalog::~TableCatalog() = default;

Status TableCatalog::BeginStatement() {
  ++epoch_;
  referenced_.clear();
  pins_.clear();
  snapshots_.clear();
  indexes_.clear();
  counters_ = ScanCounters();
  if (store_->read_only()) PS_RETURN_IF_ERROR(store_->CatchUp());
  return Status::Ok();
}

Result<const TablePin*> TableCatalog::PinOf(const std::string& table, DeltaTable** t) {
  PS_ASSIGN_OR_RETURN(*t, store_->Table(table, false));
  auto it = pins_.find(table);
  if (it != pins_.end()) return &it->second;
  if (store_->read_only()) PS_RETURN_IF_ERROR((*t)->Refresh());
  return &pins_.emplace(table, (*t)->Pin()).first->second;
}

Status TableCatalog::PinStatement() {
  for (const std::string& table : referenced_) {
    DeltaTable* t = nullptr;
    PS_RETURN_IF_ERROR(PinOf(table, &t).status());
  }
  return Status::Ok();
}

Result<std::shared_ptr<const TableSnapshot>> TableCatalog::Snapshot(
    const std::string& table, std::optional<std::int64_t> version) {
  auto key = std::make_pair(table, version.value_or(-1));
  auto it = snapshots_.find(key);
  if (it != snapshots_.end()) return it->second;
  DeltaTable* t = nullptr;
  PS_ASSIGN_OR_RETURN(const TablePin* pin, PinOf(table, &t));
  PS_ASSIGN_OR_RETURN(auto snap, t->Snapshot(version, *pin));
  std::shared_ptr<const TableSnapshot> shared(std::move(snap));
  snapshots_[key] = shared;
  return shared;
}

Result<std::int64_t> TableCatalog::VersionAsOf(const std::string& table,
                                               std::int64_t timestamp_us) {
  DeltaTable* t = nullptr;
  PS_ASSIGN_OR_RETURN(const TablePin* pin, PinOf(table, &t));
  return t->VersionAsOf(timestamp_us, pin);
}

std::shared_ptr<LookupIndex> TableCatalog::FindIndex(const IndexKey& key) const {
  auto it = indexes_.find(key);
  return it == indexes_.end() ? nullptr : it->second;
}

void TableCatalog::PutIndex(const IndexKey& key, std::shared_ptr<LookupIndex> index) {
  indexes_[key] = std::move(index);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Columns and plans

enum class ColKind : std::uint8_t { kField, kEpoch, kVersion };

struct VCol {
  ColKind kind;
  int field;  // schema index (kEpoch: its timestamp field)
  TypeId type;
};

struct ModuleInfo {
  TableCatalog* catalog;
  std::string table;
  bool at;
};

enum class Op : std::uint8_t { kEq, kGt, kLe, kLt, kGe };

bool MapOp(unsigned char sqlite_op, Op* op) {
  switch (sqlite_op) {
    case SQLITE_INDEX_CONSTRAINT_EQ:
      *op = Op::kEq;
      return true;
    case SQLITE_INDEX_CONSTRAINT_GT:
      *op = Op::kGt;
      return true;
    case SQLITE_INDEX_CONSTRAINT_LE:
      *op = Op::kLe;
      return true;
    case SQLITE_INDEX_CONSTRAINT_LT:
      *op = Op::kLt;
      return true;
    case SQLITE_INDEX_CONSTRAINT_GE:
      *op = Op::kGe;
      return true;
    default:
      return false;
  }
}

// What xBestIndex chose, carried to xFilter in idxStr: "<v|-><k|-><key vcol>;<used
// hex>;<vcol>.<op>,..."
struct Plan {
  bool has_version = false;  // argv[0] is the version / timestamp of a T_at(...) table
  bool lookup = false;       // next argv is the key of a hash lookup on key_vcol
  int key_vcol = -1;
  std::uint64_t used = 0;                   // SQLite's colUsed
  std::vector<std::pair<int, Op>> filters;  // the remaining argv, in order
};

std::string EncodePlan(const Plan& p) {
  std::string s = fmt::format("{}{}{};{:x};", p.has_version ? 'v' : '-', p.lookup ? 'k' : '-',
                              p.key_vcol, p.used);
  for (const auto& [c, op] : p.filters) s += fmt::format("{}.{},", c, static_cast<int>(op));
  return s;
}

Plan DecodePlan(const char* s) {
  Plan p;
  if (s == nullptr) return p;
  p.has_version = s[0] == 'v';
  p.lookup = s[1] == 'k';
  char* end = nullptr;
  p.key_vcol = static_cast<int>(std::strtol(s + 2, &end, 10));
  p.used = std::strtoull(end + 1, &end, 16);
  const char* q = end + 1;
  while (*q != '\0') {
    int c = static_cast<int>(std::strtol(q, &end, 10));
    int op = static_cast<int>(std::strtol(end + 1, &end, 10));
    p.filters.emplace_back(c, static_cast<Op>(op));
    q = end + 1;
  }
  return p;
}

// A constraint's operand, converted to the comparison SQLite itself would make against the
// column, or unbound when that is not a plain comparison (then SQLite alone filters: every
// constraint is still checked by SQLite, pushed-down ones only skip rows that cannot match).
struct BoundFilter {
  enum class Cmp : std::uint8_t { kInt, kDouble, kString, kTimestampText } cmp;
  int pos;  // column position in the decoded batch
  std::string field;
  Op op;
  std::int64_t i = 0;
  double d = 0;
  std::string s;
};

template <typename T>
bool Holds(const T& v, Op op, const T& x) {
  switch (op) {
    case Op::kEq:
      return v == x;
    case Op::kGt:
      return v > x;
    case Op::kGe:
      return v >= x;
    case Op::kLt:
      return v < x;
    case Op::kLe:
      return v <= x;
  }
  return false;
}

// False when no value within [lo, hi] can satisfy `v op x`.
template <typename T>
bool RangeMayHold(const T& lo, const T& hi, Op op, const T& x) {
  switch (op) {
    case Op::kEq:
      return !(x < lo) && !(hi < x);
    case Op::kGt:
      return hi > x;
    case Op::kGe:
      return hi >= x;
    case Op::kLt:
      return lo < x;
    case Op::kLe:
      return lo <= x;
  }
  return true;
}

// 'YYYY-MM-DD HH:MM:SS[.ffffff]' into buf (no allocation); returns the length.
std::size_t FormatSqlTimestamp(std::int64_t us, char* buf) {
  CivilTime t = SplitMicros(us);
  if (t.year < 0 || t.year > 9999) {
    std::string s = FormatTimestamp(us, TimestampStyle::kSql);
    std::memcpy(buf, s.data(), std::min<std::size_t>(s.size(), 40));
    return std::min<std::size_t>(s.size(), 40);
  }
  std::int64_t frac = t.micros;
  auto two = [](char* p, unsigned v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  auto yy = static_cast<unsigned>(t.year);
  buf[0] = static_cast<char>('0' + yy / 1000);
  buf[1] = static_cast<char>('0' + yy / 100 % 10);
  buf[2] = static_cast<char>('0' + yy / 10 % 10);
  buf[3] = static_cast<char>('0' + yy % 10);
  buf[4] = '-';
  two(buf + 5, t.month);
  buf[7] = '-';
  two(buf + 8, t.day);
  buf[10] = ' ';
  two(buf + 11, t.hour);
  buf[13] = ':';
  two(buf + 14, t.minute);
  buf[16] = ':';
  two(buf + 17, t.second);
  if (frac == 0) return 19;
  buf[19] = '.';
  for (int k = 25; k >= 20; --k) {
    buf[k] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  return 26;
}

bool RowPasses(const RecordBatch& b, std::size_t row, const std::vector<BoundFilter>& filters) {
  for (const auto& f : filters) {
    const Column& c = b.column(static_cast<std::size_t>(f.pos));
    if (c.IsNull(row)) return false;
    switch (f.cmp) {
      case BoundFilter::Cmp::kInt:
        if (!Holds(c.Int(row), f.op, f.i)) return false;
        break;
      case BoundFilter::Cmp::kDouble: {
        double v = c.type() == TypeId::kDouble ? c.Double(row) : static_cast<double>(c.Int(row));
        if (v != v || !Holds(v, f.op, f.d)) return false;
        break;
      }
      case BoundFilter::Cmp::kString:
        if (!Holds(c.Str(row), f.op, std::string_view(f.s))) return false;
        break;
      case BoundFilter::Cmp::kTimestampText: {
        char buf[48];
        std::size_t n = FormatSqlTimestamp(c.Int(row), buf);
        if (!Holds(std::string_view(buf, n), f.op, std::string_view(f.s))) return false;
        break;
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The virtual table and its cursor

// A plan with what xFilter derives from it once: which fields to decode, in which order, and
// where every virtual column lands in the decoded batch.
struct PlanState {
  std::string idx;
  Plan plan;
  std::vector<std::string> filter_names, rest_names, all_names;  // filter fields are decoded first
  std::vector<int> field_pos;  // schema field → position in the decoded batch (-1: not decoded)
  std::vector<int> vcol_pos;   // virtual column → position (-1: not decoded / version)
  int key_field = -1;
  std::uint64_t mask = 0;  // decoded fields (bit 63: any field ≥ 63), part of the index cache key
};

struct DeltaVtab : sqlite3_vtab {
  ModuleInfo* info = nullptr;
  std::vector<VCol> cols;
  int version_col = -1;
  Schema schema;  // at connect time
  std::int64_t rows_estimate = 1000;
  std::unordered_map<std::string, std::unique_ptr<PlanState>> plans;
  PlanState* last = nullptr;

  PlanState* PlanFor(const char* idx) {
    const char* key = idx ? idx : "";
    if (last != nullptr && last->idx == key) return last;  // joins call xFilter once per outer row
    auto it = plans.find(key);
    if (it == plans.end()) it = plans.emplace(key, MakePlanState(key)).first;
    last = it->second.get();
    return last;
  }

  std::unique_ptr<PlanState> MakePlanState(const std::string& idx) const {
    auto ps = std::make_unique<PlanState>();
    ps->idx = idx;
    ps->plan = DecodePlan(idx.c_str());
    const Plan& plan = ps->plan;
    const std::size_t nfields = schema.fields().size();
    std::vector<bool> needed(nfields, false), placed(nfields, false);
    for (std::size_t i = 0; i < cols.size(); ++i) {
      bool used = i >= 63 ? (plan.used >> 63) & 1 : (plan.used >> i) & 1;
      if (used && cols[i].kind != ColKind::kVersion)
        needed[static_cast<std::size_t>(cols[i].field)] = true;
    }
    std::vector<int> order;
    auto place = [&](int f) {
      if (!placed[static_cast<std::size_t>(f)]) {
        placed[static_cast<std::size_t>(f)] = true;
        order.push_back(f);
      }
    };
    for (const auto& [vc, op] : plan.filters) place(cols[static_cast<std::size_t>(vc)].field);
    std::size_t nfilter = order.size();
    if (plan.lookup) {
      ps->key_field = cols[static_cast<std::size_t>(plan.key_vcol)].field;
      place(ps->key_field);
    }
    for (std::size_t f = 0; f < nfields; ++f) {
      if (needed[f]) place(static_cast<int>(f));
    }
    ps->field_pos.assign(nfields, -1);
    for (std::size_t i = 0; i < order.size(); ++i) {
      auto f = static_cast<std::size_t>(order[i]);
      ps->field_pos[f] = static_cast<int>(i);
      const std::string& name = schema.field(f).name;
      (i < nfilter ? ps->filter_names : ps->rest_names).push_back(name);
      ps->all_names.push_back(name);
      ps->mask |= f >= 63 ? (1ULL << 63) : (1ULL << f);
    }
    ps->vcol_pos.assign(cols.size(), -1);
    for (std::size_t i = 0; i < cols.size(); ++i) {
      if (cols[i].kind != ColKind::kVersion)
        ps->vcol_pos[i] = ps->field_pos[static_cast<std::size_t>(cols[i].field)];
    }
    return ps;
  }
};

struct DeltaCursor : sqlite3_vtab_cursor {
  // The statement's snapshot of the table, kept while the catalog epoch holds.
  std::shared_ptr<const TableSnapshot> snap;
  std::uint64_t snap_epoch = ~0ULL;
  std::int64_t snap_request = -2;  // -1 latest, else the version asked for
  std::int64_t version = 0;
  const PlanState* ps = nullptr;
  std::vector<BoundFilter> filters;
  // scan mode
  std::unique_ptr<TableScanCursor> scan;
  RecordBatch batch;
  std::vector<std::uint32_t> sel;
  std::size_t pos = 0;
  std::int64_t chunk_no = -1;
  // Count mode (a scan that needs no column and no filter, as `count(*)`): the rows left of the
  // snapshot's row count, no chunk read; -1 otherwise.
  std::int64_t count_left = -1;
  std::int64_t count_row = -1;
  // lookup mode
  std::shared_ptr<LookupIndex> index;
  const PlanState* index_plan = nullptr;
  std::uint64_t index_epoch = ~0ULL;
  std::int64_t index_version = -1;
  std::span<const std::uint64_t> refs;  // matches of the key, in table order
  const RecordBatch* row_batch = nullptr;
  std::uint32_t row = 0;
  std::uint64_t row_serial = 0;  // bumped on every move: keys the text cache below
  // Text of timestamp columns already formatted for the current row (SQLite may read a column
  // more than once per row, e.g. in both SELECT and GROUP BY).
  std::vector<std::uint64_t> text_serial;
  std::vector<std::array<char, 48>> text_buf;
  std::vector<std::uint8_t> text_len;
  bool lookup = false;
  bool eof = true;
  ScanCounters* counters = nullptr;
};

void SetError(sqlite3_vtab* tab, const std::string& msg) {
  sqlite3_free(tab->zErrMsg);
  tab->zErrMsg = sqlite3_mprintf("%s", msg.c_str());
}

const char* DeclType(TypeId t) {
  switch (t) {
    case TypeId::kInt64:
      return "BIGINT";
    case TypeId::kDouble:
      return "DOUBLE";
    case TypeId::kBool:
      return "BOOLEAN";
    case TypeId::kTimestamp:
      return "TIMESTAMP TEXT";
    case TypeId::kDoubleArray:
      return "JSON TEXT";
    default:
      return "TEXT";
  }
}

std::string Quote(const std::string& name) {
  std::string q = "\"";
  for (char c : name) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

int Connect(sqlite3* db, void* aux, int, const char* const*, sqlite3_vtab** out, char** err) {
  auto* info = static_cast<ModuleInfo*>(aux);
  auto snap = info->catalog->Snapshot(info->table, std::nullopt);
  if (!snap.ok()) {
    *err = sqlite3_mprintf("%s", snap.status().message().c_str());
    return SQLITE_ERROR;
  }
  auto vt = std::make_unique<DeltaVtab>();
  vt->info = info;
  vt->schema = (*snap)->schema();
  vt->rows_estimate = std::max<std::int64_t>((*snap)->num_rows(), 1);
  std::string ddl = "CREATE TABLE x(";
  const auto& fields = vt->schema.fields();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    ddl += (i ? ", " : "") + Quote(fields[i].name) + " " + DeclType(fields[i].type);
    vt->cols.push_back(VCol{ColKind::kField, static_cast<int>(i), fields[i].type});
  }
  if (info->at) {
    // The first hidden column takes T_at(...)'s argument.
    ddl += std::string(fields.empty() ? "" : ", ") + "\"_version\" HIDDEN";
    vt->version_col = static_cast<int>(vt->cols.size());
    vt->cols.push_back(VCol{ColKind::kVersion, -1, TypeId::kInt64});
  }
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].type != TypeId::kTimestamp) continue;
    std::string name = fields[i].name + "_us";
    if (vt->schema.FieldIndex(name) >= 0) continue;
    ddl += ", " + Quote(name) + " BIGINT HIDDEN";
    vt->cols.push_back(VCol{ColKind::kEpoch, static_cast<int>(i), TypeId::kInt64});
  }
  ddl += ")";
  int rc = sqlite3_declare_vtab(db, ddl.c_str());
  if (rc != SQLITE_OK) {
    *err = sqlite3_mprintf("cannot declare the virtual table of '%s': %s", info->table.c_str(),
                           sqlite3_errmsg(db));
    return rc;
  }
  *out = vt.release();
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* tab) {
  delete static_cast<DeltaVtab*>(tab);
  return SQLITE_OK;
}

// Whether a comparison on virtual column `c` can be pushed into the scan.
bool Pushable(const DeltaVtab* vt, int c, sqlite3_index_info* info, int i) {
  if (c < 0 || c >= static_cast<int>(vt->cols.size())) return false;
  const VCol& col = vt->cols[static_cast<std::size_t>(c)];
  if (col.kind == ColKind::kVersion) return false;
  if (col.kind == ColKind::kField) {
    switch (col.type) {
      case TypeId::kInt64:
      case TypeId::kDouble:
      case TypeId::kBool:
      case TypeId::kString:
      case TypeId::kTimestamp:
        break;
      default:
        return false;
    }
    if (col.type == TypeId::kString || col.type == TypeId::kTimestamp) {
      const char* coll = sqlite3_vtab_collation(info, i);
      if (coll != nullptr && sqlite3_stricmp(coll, "BINARY") != 0) return false;
    }
  }
  return true;
}

int BestIndex(sqlite3_vtab* tab, sqlite3_index_info* info) {
  auto* vt = static_cast<DeltaVtab*>(tab);
  vt->info->catalog->NoteReferenced(vt->info->table);
  Plan plan;
  plan.used = info->colUsed;
  int argc = 0;
  if (vt->version_col >= 0) {
    int usable = -1;
    bool unusable = false;
    for (int i = 0; i < info->nConstraint; ++i) {
      const auto& c = info->aConstraint[i];
      if (c.iColumn != vt->version_col || c.op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
      if (c.usable) {
        usable = i;
      } else {
        unusable = true;
      }
    }
    if (usable < 0 && unusable) return SQLITE_CONSTRAINT;  // wait for a plan where it is known
    if (usable >= 0) {
      info->aConstraintUsage[usable].argvIndex = ++argc;
      info->aConstraintUsage[usable].omit = 1;
      plan.has_version = true;
    }
  }
  // A join column (EQ whose operand is not a constant): hash lookups.
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (!c.usable || c.op != SQLITE_INDEX_CONSTRAINT_EQ || c.iColumn == vt->version_col) continue;
    if (!Pushable(vt, c.iColumn, info, i)) continue;
    sqlite3_value* rhs = nullptr;
    if (sqlite3_vtab_rhs_value(info, i, &rhs) == SQLITE_OK) continue;
    info->aConstraintUsage[i].argvIndex = ++argc;
    plan.lookup = true;
    plan.key_vcol = c.iColumn;
    break;
  }
  // Constant comparisons: pushed-down filters.
  double selectivity = 1.0;
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    Op op;
    if (!c.usable || info->aConstraintUsage[i].argvIndex > 0 || c.iColumn == vt->version_col)
      continue;
    if (!MapOp(c.op, &op) || !Pushable(vt, c.iColumn, info, i)) continue;
    sqlite3_value* rhs = nullptr;
    if (sqlite3_vtab_rhs_value(info, i, &rhs) != SQLITE_OK) continue;
    info->aConstraintUsage[i].argvIndex = ++argc;
    plan.filters.emplace_back(c.iColumn, op);
    selectivity *= op == Op::kEq ? 0.1 : 0.5;
  }
  double rows = static_cast<double>(vt->rows_estimate);
  double width = 1.0 + 0.1 * std::popcount(plan.used);
  if (plan.lookup) {
    info->estimatedCost = 10.0 * width;
    info->estimatedRows = std::max<sqlite3_int64>(1, static_cast<sqlite3_int64>(4 * selectivity));
  } else {
    info->estimatedCost = rows * width * (0.2 + 0.8 * selectivity);
    info->estimatedRows =
        std::max<sqlite3_int64>(1, static_cast<sqlite3_int64>(rows * selectivity));
  }
  if (vt->version_col >= 0 && !plan.has_version) info->estimatedCost *= 1e6;
  std::string idx = EncodePlan(plan);
  info->idxStr = sqlite3_mprintf("%s", idx.c_str());
  info->needToFreeIdxStr = 1;
  return SQLITE_OK;
}

int Open(sqlite3_vtab* tab, sqlite3_vtab_cursor** out) {
  auto* c = new DeltaCursor();
  c->counters = &static_cast<DeltaVtab*>(tab)->info->catalog->counters();
  *out = c;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* cur) {
  delete static_cast<DeltaCursor*>(cur);
  return SQLITE_OK;
}

// Binds a constant to a filter on virtual column `vc`; false when the comparison is not one the
// scan reproduces exactly (SQLite then filters alone).
bool Bind(const DeltaVtab* vt, int vc, Op op, sqlite3_value* v, BoundFilter* f) {
  const VCol& col = vt->cols[static_cast<std::size_t>(vc)];
  int t = sqlite3_value_type(v);
  f->op = op;
  f->field = vt->schema.field(static_cast<std::size_t>(col.field)).name;
  TypeId ct = col.kind == ColKind::kEpoch ? TypeId::kInt64 : col.type;
  switch (ct) {
    case TypeId::kInt64:
    case TypeId::kBool:
      if (t == SQLITE_INTEGER) {
        f->cmp = BoundFilter::Cmp::kInt;
        f->i = sqlite3_value_int64(v);
        return true;
      }
      if (t == SQLITE_FLOAT) {
        f->cmp = BoundFilter::Cmp::kDouble;
        f->d = sqlite3_value_double(v);
        return f->d == f->d;
      }
      return false;
    case TypeId::kDouble:
      if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) return false;
      f->cmp = BoundFilter::Cmp::kDouble;
      f->d = sqlite3_value_double(v);
      return f->d == f->d;
    case TypeId::kString:
    case TypeId::kTimestamp:
      if (t != SQLITE_TEXT) return false;
      f->cmp = ct == TypeId::kString ? BoundFilter::Cmp::kString : BoundFilter::Cmp::kTimestampText;
      f->s.assign(reinterpret_cast<const char*>(sqlite3_value_text(v)),
                  static_cast<std::size_t>(sqlite3_value_bytes(v)));
      if (ct == TypeId::kTimestamp) {
        // A constant in the canonical text form orders exactly like its microseconds (a longer
        // text with a fraction sorts after its whole second, as the later instant does), so the
        // comparison can run on the integers instead of formatting every row.
        auto us = ParseTimestamp(f->s);
        char buf[48];
        if (us.ok() && std::string_view(buf, FormatSqlTimestamp(*us, buf)) == f->s) {
          f->cmp = BoundFilter::Cmp::kInt;
          f->i = *us;
        }
      }
      return true;
    default:
      return false;
  }
}

// Version pruning by the commit's column statistics.
bool VersionMayMatch(const VersionStats& ci, const std::vector<BoundFilter>& filters) {
  for (const auto& f : filters) {
    const ColumnStats* st = nullptr;
    for (const auto& s : ci.stats) {
      if (s.name == f.field) {
        st = &s;
        break;
      }
    }
    if (st == nullptr) continue;
    if (st->min.is_null() || st->max.is_null()) {
      if (st->null_count == ci.rows && ci.rows > 0)
        return false;  // all null: nothing compares true
      continue;
    }
    switch (f.cmp) {
      case BoundFilter::Cmp::kInt:
        if (!RangeMayHold(st->min.int_value(), st->max.int_value(), f.op, f.i)) return false;
        break;
      case BoundFilter::Cmp::kDouble:
        if (!RangeMayHold(st->min.AsDouble(), st->max.AsDouble(), f.op, f.d)) return false;
        break;
      case BoundFilter::Cmp::kString:
        if (!RangeMayHold(std::string_view(st->min.string_value()),
                          std::string_view(st->max.string_value()), f.op, std::string_view(f.s)))
          return false;
        break;
      case BoundFilter::Cmp::kTimestampText: {
        char lo[48], hi[48];
        std::size_t nl = FormatSqlTimestamp(st->min.int_value(), lo),
                    nh = FormatSqlTimestamp(st->max.int_value(), hi);
        if (!RangeMayHold(std::string_view(lo, nl), std::string_view(hi, nh), f.op,
                          std::string_view(f.s)))
          return false;
        break;
      }
    }
  }
  return true;
}

// Scan mode: moves to the next row that passes the filters, across chunks.
Status ScanAdvance(DeltaCursor* c) {
  if (c->count_left >= 0) {
    if (c->count_left == 0) {
      c->eof = true;
      return Status::Ok();
    }
    --c->count_left;
    ++c->count_row;  // the rowid: (chunk_no, row) as a 64-bit count
    c->chunk_no = c->count_row >> 32;
    c->row = static_cast<std::uint32_t>(c->count_row & 0xffffffff);
    c->row_batch = nullptr;
    return Status::Ok();
  }
  for (;;) {
    if (++c->pos < c->sel.size()) {
      c->row = c->sel[c->pos];
      c->row_batch = &c->batch;
      return Status::Ok();
    }
    PS_ASSIGN_OR_RETURN(ScanStep step, c->scan->NextChunk());
    if (step == ScanStep::kFinished) {
      c->eof = true;
      return Status::Ok();
    }
    ++c->chunk_no;
    ++c->counters->chunks_read;
    c->sel.clear();
    c->pos = 0;
    if (c->ps->filter_names.empty()) {
      PS_ASSIGN_OR_RETURN(c->batch, c->scan->Decode(c->ps->rest_names));
      c->sel.resize(c->batch.num_rows());
      for (std::uint32_t i = 0; i < c->sel.size(); ++i) c->sel[i] = i;
    } else {
      PS_ASSIGN_OR_RETURN(c->batch, c->scan->Decode(c->ps->filter_names));
      for (std::uint32_t i = 0; i < c->batch.num_rows(); ++i) {
        if (RowPasses(c->batch, i, c->filters)) c->sel.push_back(i);
      }
      if (c->sel.empty()) {
        ++c->counters->chunks_skipped;
        continue;
      }
      if (!c->ps->rest_names.empty()) {
        PS_ASSIGN_OR_RETURN(RecordBatch rest, c->scan->Decode(c->ps->rest_names));
        for (std::size_t i = 0; i < rest.num_columns(); ++i)
          c->batch.AddColumn(rest.name(i), std::move(rest.column(i)));
      }
    }
    if (!c->sel.empty()) {
      c->row = c->sel[0];
      c->row_batch = &c->batch;
      return Status::Ok();
    }
  }
}

// Lookup mode: the next matching ref that passes the other filters.
void LookupAdvance(DeltaCursor* c) {
  while (c->pos < c->refs.size()) {
    std::uint64_t ref = c->refs[c->pos];
    const RecordBatch& b = c->index->chunks[static_cast<std::size_t>(ref >> 32)];
    auto r = static_cast<std::uint32_t>(ref & 0xFFFFFFFFu);
    if (RowPasses(b, r, c->filters)) {
      c->row_batch = &b;
      c->row = r;
      return;
    }
    ++c->pos;
  }
  c->eof = true;
}

Result<std::shared_ptr<LookupIndex>> BuildIndex(const TableSnapshot& snap,
                                                const std::vector<std::string>& names, int key_pos,
                                                TypeId key_type, ScanCounters* counters) {
  auto idx = std::make_shared<LookupIndex>();
  auto cur = snap.OpenCursor();
  for (;;) {
    PS_ASSIGN_OR_RETURN(ScanStep step, cur->NextChunk());
    if (step == ScanStep::kFinished) break;
    ++counters->chunks_read;
    PS_ASSIGN_OR_RETURN(RecordBatch b, cur->Decode(names));
    idx->chunks.push_back(std::move(b));
  }
  ++counters->indexes_built;
  auto for_each_key = [&](auto&& fn) {
    for (std::size_t ci = 0; ci < idx->chunks.size(); ++ci) {
      const Column& k = idx->chunks[ci].column(static_cast<std::size_t>(key_pos));
      for (std::size_t r = 0; r < k.size(); ++r) {
        if (!k.IsNull(r)) fn(k, r, static_cast<std::uint64_t>(ci) << 32 | r);
      }
    }
  };
  if (key_type != TypeId::kDouble && key_type != TypeId::kString) {
    std::int64_t lo = std::numeric_limits<std::int64_t>::max(),
                 hi = std::numeric_limits<std::int64_t>::min();
    std::size_t count = 0;
    for_each_key([&](const Column& k, std::size_t r, std::uint64_t) {
      lo = std::min(lo, k.Int(r));
      hi = std::max(hi, k.Int(r));
      ++count;
    });
    if (count > 0 && static_cast<double>(hi) - static_cast<double>(lo) <
                         4.0 * static_cast<double>(count) + 1024) {
      // Counting sort into the direct table (keeps table order within a key).
      idx->dense = true;
      idx->base = lo;
      idx->starts.assign(static_cast<std::size_t>(hi - lo) + 2, 0);
      for_each_key([&](const Column& k, std::size_t r, std::uint64_t) {
        ++idx->starts[static_cast<std::size_t>(k.Int(r) - lo) + 1];
      });
      for (std::size_t i = 1; i < idx->starts.size(); ++i) idx->starts[i] += idx->starts[i - 1];
      idx->dense_refs.resize(count);
      std::vector<std::uint32_t> fill(idx->starts.begin(), idx->starts.end() - 1);
      for_each_key([&](const Column& k, std::size_t r, std::uint64_t ref) {
        idx->dense_refs[fill[static_cast<std::size_t>(k.Int(r) - lo)]++] = ref;
      });
      return idx;
    }
  }
  std::vector<std::uint64_t> refs;
  for_each_key([&](const Column&, std::size_t, std::uint64_t ref) { refs.push_back(ref); });
  auto key_of = [&](std::uint64_t ref) -> const Column& {
    return idx->chunks[static_cast<std::size_t>(ref >> 32)].column(
        static_cast<std::size_t>(key_pos));
  };
  auto row_of = [](std::uint64_t ref) { return static_cast<std::size_t>(ref & 0xFFFFFFFFu); };
  switch (key_type) {
    case TypeId::kDouble:
      std::erase_if(refs, [&](std::uint64_t r) {
        return key_of(r).Double(row_of(r)) != key_of(r).Double(row_of(r));
      });
      std::stable_sort(refs.begin(), refs.end(), [&](std::uint64_t a, std::uint64_t b) {
        return key_of(a).Double(row_of(a)) < key_of(b).Double(row_of(b));
      });
      for (auto r : refs) idx->double_keys.push_back(key_of(r).Double(row_of(r)));
      break;
    case TypeId::kString:
      std::stable_sort(refs.begin(), refs.end(), [&](std::uint64_t a, std::uint64_t b) {
        return key_of(a).Str(row_of(a)) < key_of(b).Str(row_of(b));
      });
      for (auto r : refs) idx->string_keys.push_back(key_of(r).Str(row_of(r)));
      break;
    default:
      std::stable_sort(refs.begin(), refs.end(), [&](std::uint64_t a, std::uint64_t b) {
        return key_of(a).Int(row_of(a)) < key_of(b).Int(row_of(b));
      });
      for (auto r : refs) idx->int_keys.push_back(key_of(r).Int(row_of(r)));
  }
  idx->sorted_refs = std::move(refs);
  return idx;
}

// The refs of `key` in a sorted key column.
template <typename K>
std::span<const std::uint64_t> EqualRange(const std::vector<K>& keys,
                                          const std::vector<std::uint64_t>& refs, const K& key) {
  auto [lo, hi] = std::equal_range(keys.begin(), keys.end(), key);
  return std::span<const std::uint64_t>(refs.data() + (lo - keys.begin()),
                                        static_cast<std::size_t>(hi - lo));
}

std::span<const std::uint64_t> LookupInt(const LookupIndex& idx, std::int64_t key) {
  if (idx.dense) {
    if (key < idx.base || key - idx.base >= static_cast<std::int64_t>(idx.starts.size()) - 1)
      return {};
    auto k = static_cast<std::size_t>(key - idx.base);
    return std::span<const std::uint64_t>(idx.dense_refs.data() + idx.starts[k],
                                          idx.starts[k + 1] - idx.starts[k]);
  }
  return EqualRange(idx.int_keys, idx.sorted_refs, key);
}

// The steps of xFilter. SQLite's arguments come in the order BestIndex asked for them: the
// version of T_at(...), the lookup key, then the pushed-down filters; `a` walks them.

// The version T_at(...) asks for (a number, or the version of a timestamp); nullopt for the
// latest, which is all a plain table reads.
Result<std::optional<std::int64_t>> RequestedVersion(const DeltaVtab* vt, const Plan& plan,
                                                     int argc, sqlite3_value** argv, int* a) {
  const std::string& table = vt->info->table;
  if (!plan.has_version || *a >= argc) {
    if (vt->version_col >= 0) {
      return InvalidArgument(
          fmt::format("{0}_at needs a version: SELECT ... FROM {0}_at(3), or a timestamp: "
                      "{0}_at('2026-01-01 00:00:00')",
                      table));
    }
    return std::optional<std::int64_t>();
  }
  sqlite3_value* v = argv[(*a)++];
  if (sqlite3_value_type(v) == SQLITE_INTEGER)
    return std::optional<std::int64_t>(sqlite3_value_int64(v));
  if (sqlite3_value_type(v) != SQLITE_TEXT) {
    return InvalidArgument(
        fmt::format("{}_at(...) takes a version number or a timestamp text", table));
  }
  auto ts = ParseTimestamp(reinterpret_cast<const char*>(sqlite3_value_text(v)));
  if (!ts.ok()) return InvalidArgument(fmt::format("{}_at: {}", table, ts.status().message()));
  PS_ASSIGN_OR_RETURN(std::int64_t version, vt->info->catalog->VersionAsOf(table, *ts));
  return std::optional<std::int64_t>(version);
}

// Pins the statement's snapshot of the table at `version` (kept while the catalog epoch holds).
Status PinSnapshot(DeltaCursor* c, TableCatalog& catalog, const std::string& table,
                   std::optional<std::int64_t> version) {
  std::int64_t request = version.value_or(-1);
  if (c->snap == nullptr || c->snap_epoch != catalog.epoch() || c->snap_request != request) {
    PS_ASSIGN_OR_RETURN(c->snap, catalog.Snapshot(table, version));
    c->snap_epoch = catalog.epoch();
    c->snap_request = request;
  }
  c->version = c->snap->version();
  return Status::Ok();
}

// The pushed-down filters whose values convert to their column's type (the rest SQLite checks).
void BindFilters(DeltaCursor* c, const DeltaVtab* vt, const PlanState* ps, int argc,
                 sqlite3_value** argv, int* a) {
  c->filters.clear();
  for (const auto& [vc, op] : ps->plan.filters) {
    if (*a >= argc) break;
    BoundFilter f;
    if (Bind(vt, vc, op, argv[(*a)++], &f)) {
      f.pos = ps->field_pos[static_cast<std::size_t>(vt->cols[static_cast<std::size_t>(vc)].field)];
      c->filters.push_back(std::move(f));
    }
  }
}

// Back to before the first row, in neither mode.
void Rewind(DeltaCursor* c) {
  c->eof = false;
  ++c->row_serial;
  c->pos = 0;
  c->chunk_no = -1;
  c->count_left = -1;
  c->count_row = -1;
  c->scan.reset();
  c->refs = {};
  c->lookup = false;
}

enum class KeyLookup {
  kNoRows,     // the key is NULL: `col = NULL` is never true
  kFound,      // the rows of the key are the cursor's (maybe none)
  kNotUsable,  // the key does not convert exactly to the column's type: scan, SQLite filters
};

// The rows whose key column equals `key`, through the table's lookup index (built on first use
// and kept in the catalog for the statement's version).
Result<KeyLookup> LookUpKey(DeltaCursor* c, const DeltaVtab* vt, const PlanState* ps,
                            sqlite3_value* key) {
  TableCatalog* catalog = vt->info->catalog;
  const VCol& kc = vt->cols[static_cast<std::size_t>(ps->plan.key_vcol)];
  TypeId kt = kc.kind == ColKind::kEpoch ? TypeId::kInt64 : kc.type;
  int t = sqlite3_value_type(key);
  if (t == SQLITE_NULL) return KeyLookup::kNoRows;
  bool integral_float = t == SQLITE_FLOAT &&
                        sqlite3_value_double(key) == std::floor(sqlite3_value_double(key)) &&
                        std::fabs(sqlite3_value_double(key)) < 9.0e15;
  bool usable = false;
  if (kt == TypeId::kInt64 || kt == TypeId::kBool)
    usable = t == SQLITE_INTEGER || (kc.kind == ColKind::kField && integral_float);
  if (kt == TypeId::kDouble) usable = t == SQLITE_INTEGER || t == SQLITE_FLOAT;
  if (kt == TypeId::kString) usable = t == SQLITE_TEXT;
  if (!usable) return KeyLookup::kNotUsable;
  if (c->index == nullptr || c->index_plan != ps || c->index_epoch != catalog->epoch() ||
      c->index_version != c->version) {
    TableCatalog::IndexKey ikey{vt->info->table, c->version, ps->key_field, ps->mask};
    auto index = catalog->FindIndex(ikey);
    if (!index) {
      TypeId stored = kt == TypeId::kBool ? TypeId::kInt64 : kt;
      PS_ASSIGN_OR_RETURN(index, BuildIndex(*c->snap, ps->all_names,
                                            ps->field_pos[static_cast<std::size_t>(ps->key_field)],
                                            stored, c->counters));
      catalog->PutIndex(ikey, index);
    }
    c->index = std::move(index);
    c->index_plan = ps;
    c->index_epoch = catalog->epoch();
    c->index_version = c->version;
  }
  c->lookup = true;
  switch (kt) {
    case TypeId::kDouble:
      c->refs = EqualRange(c->index->double_keys, c->index->sorted_refs, sqlite3_value_double(key));
      break;
    case TypeId::kString:
      c->refs = EqualRange(c->index->string_keys, c->index->sorted_refs,
                           std::string_view(reinterpret_cast<const char*>(sqlite3_value_text(key)),
                                            static_cast<std::size_t>(sqlite3_value_bytes(key))));
      break;
    default:
      c->refs = LookupInt(*c->index, t == SQLITE_INTEGER
                                         ? sqlite3_value_int64(key)
                                         : static_cast<std::int64_t>(sqlite3_value_double(key)));
  }
  LookupAdvance(c);
  return KeyLookup::kFound;
}

// A scan of the snapshot: versions pruned by statistics, chunks by the filter columns.
Status StartScan(DeltaCursor* c) {
  ScanCounters* counters = c->counters;
  const auto& filters = c->filters;
  c->sel.clear();
  if (filters.empty() && c->ps->filter_names.empty() && c->ps->rest_names.empty()) {
    // No column is read (`SELECT count(*) FROM t`): the rows are counted from the snapshot's
    // row count, kept in the log with each version (as Delta answers a count from its
    // statistics), whatever number of chunks hold them.
    c->count_left = c->snap->num_rows();
    return ScanAdvance(c);
  }
  c->scan = c->snap->OpenCursor(filters.empty() ? VersionFilter()
                                                : [counters, &filters](const VersionStats& ci) {
                                                    bool keep = VersionMayMatch(ci, filters);
                                                    if (!keep) ++counters->versions_pruned;
                                                    return keep;
                                                  });
  return ScanAdvance(c);
}

int Filter(sqlite3_vtab_cursor* cur, int, const char* idx_str, int argc, sqlite3_value** argv) {
  auto* c = static_cast<DeltaCursor*>(cur);
  auto* vt = static_cast<DeltaVtab*>(cur->pVtab);
  const PlanState* ps = vt->PlanFor(idx_str);
  c->ps = ps;
  auto fail = [&](const Status& st) {
    SetError(cur->pVtab, st.message());
    return SQLITE_ERROR;
  };
  int a = 0;
  auto version = RequestedVersion(vt, ps->plan, argc, argv, &a);
  if (!version.ok()) return fail(version.status());
  if (Status st = PinSnapshot(c, *vt->info->catalog, vt->info->table, *version); !st.ok())
    return fail(st);
  sqlite3_value* key = ps->plan.lookup && a < argc ? argv[a++] : nullptr;
  BindFilters(c, vt, ps, argc, argv, &a);
  Rewind(c);
  if (key != nullptr) {
    auto found = LookUpKey(c, vt, ps, key);
    if (!found.ok()) return fail(found.status());
    if (*found == KeyLookup::kNoRows) c->eof = true;
    if (*found != KeyLookup::kNotUsable) return SQLITE_OK;
  }
  if (Status st = StartScan(c); !st.ok()) return fail(st);
  return SQLITE_OK;
}

int Next(sqlite3_vtab_cursor* cur) {
  auto* c = static_cast<DeltaCursor*>(cur);
  ++c->row_serial;
  if (c->lookup) {
    ++c->pos;
    LookupAdvance(c);
    return SQLITE_OK;
  }
  Status st = ScanAdvance(c);
  if (!st.ok()) {
    SetError(cur->pVtab, st.message());
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

int Eof(sqlite3_vtab_cursor* cur) { return static_cast<DeltaCursor*>(cur)->eof ? 1 : 0; }

int ColumnValue(sqlite3_vtab_cursor* cur, sqlite3_context* ctx, int i) {
  auto* c = static_cast<DeltaCursor*>(cur);
  auto* vt = static_cast<DeltaVtab*>(cur->pVtab);
  const VCol& vc = vt->cols[static_cast<std::size_t>(i)];
  if (vc.kind == ColKind::kVersion) {
    sqlite3_result_int64(ctx, c->version);
    return SQLITE_OK;
  }
  int pos = c->ps == nullptr ? -1 : c->ps->vcol_pos[static_cast<std::size_t>(i)];
  if (pos < 0 || c->row_batch == nullptr) {
    sqlite3_result_null(ctx);
    return SQLITE_OK;
  }
  const Column& col = c->row_batch->column(static_cast<std::size_t>(pos));
  std::size_t r = c->row;
  if (col.IsNull(r)) {
    sqlite3_result_null(ctx);
    return SQLITE_OK;
  }
  if (vc.kind == ColKind::kEpoch) {
    sqlite3_result_int64(ctx, col.Int(r));
    return SQLITE_OK;
  }
  switch (col.type()) {
    case TypeId::kInt64:
    case TypeId::kBool:
      sqlite3_result_int64(ctx, col.Int(r));
      break;
    case TypeId::kDouble:
      sqlite3_result_double(ctx, col.Double(r));
      break;
    case TypeId::kString:
    case TypeId::kRaw: {
      std::string_view s = col.Str(r);
      sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      break;
    }
    case TypeId::kTimestamp: {
      auto k = static_cast<std::size_t>(i);
      if (c->text_serial.size() <= k) {
        c->text_serial.resize(k + 1, ~0ULL);
        c->text_buf.resize(k + 1);
        c->text_len.resize(k + 1);
      }
      if (c->text_serial[k] != c->row_serial) {
        c->text_len[k] =
            static_cast<std::uint8_t>(FormatSqlTimestamp(col.Int(r), c->text_buf[k].data()));
        c->text_serial[k] = c->row_serial;
      }
      sqlite3_result_text(ctx, c->text_buf[k].data(), c->text_len[k], SQLITE_TRANSIENT);
      break;
    }
    case TypeId::kDoubleArray: {
      std::string s = "[";
      auto arr = col.Array(r);
      for (std::size_t k = 0; k < arr.size(); ++k) {
        if (k) s += ',';
        s += fmt::format("{}", arr[k]);
      }
      s += ']';
      sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      break;
    }
    default:
      sqlite3_result_null(ctx);
  }
  return SQLITE_OK;
}

int Rowid(sqlite3_vtab_cursor* cur, sqlite3_int64* out) {
  auto* c = static_cast<DeltaCursor*>(cur);
  if (c->lookup) {
    *out = static_cast<sqlite3_int64>(c->refs[c->pos]);
  } else {
    *out = static_cast<sqlite3_int64>(static_cast<std::uint64_t>(c->chunk_no) << 32 | c->row);
  }
  return SQLITE_OK;
}

sqlite3_module MakeModule() {
  sqlite3_module m{};
  m.iVersion = 0;
  m.xCreate = nullptr;  // eponymous-only: no CREATE VIRTUAL TABLE
  m.xConnect = Connect;
  m.xBestIndex = BestIndex;
  m.xDisconnect = Disconnect;
  m.xDestroy = Disconnect;
  m.xOpen = Open;
  m.xClose = Close;
  m.xFilter = Filter;
  m.xNext = Next;
  m.xEof = Eof;
  m.xColumn = ColumnValue;
  m.xRowid = Rowid;
  return m;
}

const sqlite3_module kModule = MakeModule();

}  // namespace

int RegisterTableModules(sqlite3* db, TableCatalog* catalog, const std::string& table,
                         bool with_at) {
  auto destroy = [](void* p) { delete static_cast<ModuleInfo*>(p); };
  int rc = sqlite3_create_module_v2(db, table.c_str(), &kModule,
                                    new ModuleInfo{catalog, table, false}, destroy);
  if (rc != SQLITE_OK || !with_at) return rc;
  return sqlite3_create_module_v2(db, (table + "_at").c_str(), &kModule,
                                  new ModuleInfo{catalog, table, true}, destroy);
}

}  // namespace pinstream::state::sql
