#include "views/view_topn.h"

#include <map>

#include "engine/state_codec.h"
#include "views/view_rows.h"

namespace pinstream::views {
namespace {

using internal::PrefixEnd;
using internal::RowsOut;

// State keys: [partition byte]['T'][partition key][sort key][row] → varint ZigZag count, varint
// length of the sort key (to find the row in the key).
//
// A sort key is each order column's value, order-preserving and self-delimiting: a marker
// (NULL: 0x00 when nulls sort first, 0x02 when last; a value: 0x01), then the value's bytes —
// numbers as PutOrdered's 8 bytes, strings with 0x00 escaped as 0x00 0xff and ended by
// 0x00 0x01 — all inverted for a descending column (the encoding is prefix-free, so inverting
// reverses its order).
void PutSortValue(const ::pinstream::Column& c, std::size_t r, const ViewSortColumn& k,
                  std::string* out) {
  if (c.type() == TypeId::kNull || c.IsNull(r)) {
    out->push_back(k.nulls_first ? '\x00' : '\x02');
    return;
  }
  out->push_back('\x01');
  std::size_t start = out->size();
  if (IsBinaryLike(c.type())) {
    for (char ch : c.Str(r)) {
      out->push_back(ch);
      if (ch == '\0') out->push_back('\xff');
    }
    out->push_back('\x00');
    out->push_back('\x01');
  } else if (c.type() == TypeId::kBool) {
    PutBigEndian64(out, static_cast<std::uint64_t>(c.Int(r)) ^ (1ULL << 63));
  } else {
    PutOrdered(c, r, out);
  }
  if (k.descending) {
    for (std::size_t i = start; i < out->size(); ++i) (*out)[i] = static_cast<char>(~(*out)[i]);
  }
}

using Top = std::map<std::pair<std::string, std::int64_t>, std::int64_t>;  // (row, rank) → copies

class TopN : public Operator {
 public:
  TopN(const ViewTopNConfig& c, StateTable* table, std::uint16_t tag)
      : c_(c), table_(table), tag_(tag) {
    std::vector<std::string> names = c_.names;
    std::vector<TypeId> types = c_.types;
    if (c_.emit_rank) {
      names.push_back(c_.rank_name);
      types.push_back(TypeId::kInt64);
    }
    out_ = std::make_unique<RowsOut>(std::move(names), std::move(types));
    all_.resize(c_.types.size());
    for (std::size_t i = 0; i < all_.size(); ++i) all_[i] = static_cast<int>(i);
  }

  Status Process(RecordBatch& batch, OperatorContext&) override {
    if (batch.num_columns() != c_.types.size()) {
      return Internal("view_topn: an input batch has " + std::to_string(batch.num_columns()) +
                      " columns, not " + std::to_string(c_.types.size()));
    }
    std::string pkey, entry;
    for (std::size_t r = 0; r < batch.num_rows(); ++r) {
      std::int64_t w = batch.weight(r);
      if (w == 0) continue;
      pkey.clear();
      EncodeKey(batch, c_.partition, r, &pkey);
      entry.clear();
      for (const auto& k : c_.order) {
        PutSortValue(batch.column(static_cast<std::size_t>(k.column)), r, k, &entry);
      }
      std::size_t sort_len = entry.size();
      EncodeKey(batch, all_, r, &entry);
      auto& d = deltas_[pkey][entry];
      d.first += w;
      d.second = sort_len;
    }
    batch.Compact(std::vector<std::uint8_t>(batch.num_rows(), 0));
    return Status::Ok();
  }

  Status Finish(OperatorContext&, std::vector<RecordBatch>* out) override {
    std::string value;
    // The entries the batch changes, read from storage at once.
    std::vector<std::string> prefixes, keys;
    for (const auto& [pkey, entries] : deltas_) {
      std::string prefix;
      prefix.push_back(static_cast<char>(StatePartitionOf(HashBytes(pkey))));
      prefix.push_back('T');
      prefix += pkey;
      for (const auto& [entry, d] : entries) {
        if (d.first != 0) keys.push_back(prefix + entry);
      }
      prefixes.push_back(std::move(prefix));
    }
    PS_RETURN_IF_ERROR(table_->Prefetch({keys.begin(), keys.end()}));
    std::size_t p = 0;
    for (const auto& [pkey, entries] : deltas_) {
      const std::string& prefix = prefixes[p++];
      Top before, after;
      PS_RETURN_IF_ERROR(Read(prefix, &before));
      for (const auto& [entry, d] : entries) {
        if (d.first == 0) continue;
        std::string key = prefix + entry;
        bool found = false;
        std::int64_t count = 0;
        PS_RETURN_IF_ERROR(table_->Get(key, &value, &found));
        if (found) {
          ByteReader rd(value);
          std::uint64_t v = 0;
          if (!rd.GetVarint64(&v)) return Corruption("view_topn: a state entry is damaged");
          count = UnZigZag(v);
        }
        count += d.first;
        if (count < 0) {
          return InvalidArgument("view_topn: a row was retracted more often than inserted");
        }
        if (count == 0) {
          PS_RETURN_IF_ERROR(table_->Delete(key));
        } else {
          value.clear();
          PutVarint64(&value, ZigZag(count));
          PutVarint64(&value, d.second);
          PS_RETURN_IF_ERROR(table_->Put(key, value));
        }
      }
      PS_RETURN_IF_ERROR(Read(prefix, &after));
      // Emit after − before.
      for (auto& [k, n] : before) {
        auto it = after.find(k);
        std::int64_t now = it == after.end() ? 0 : it->second;
        if (now != n) PS_RETURN_IF_ERROR(Emit(k.first, k.second, now - n));
        if (it != after.end()) after.erase(it);
      }
      for (const auto& [k, n] : after) PS_RETURN_IF_ERROR(Emit(k.first, k.second, n));
    }
    deltas_.clear();
    if (!out_->empty()) {
      PS_ASSIGN_OR_RETURN(RecordBatch b, out_->Build(tag_));
      out->push_back(std::move(b));
    }
    return Status::Ok();
  }

 private:
  Status Emit(const std::string& row, std::int64_t rank, std::int64_t weight) {
    rank_bytes_.clear();
    if (c_.emit_rank) {  // EncodeKey's int64
      rank_bytes_.push_back(static_cast<char>(1 + static_cast<int>(TypeId::kInt64)));
      rank_bytes_.append(reinterpret_cast<const char*>(&rank), 8);
    }
    out_->Add(row, rank_bytes_, weight);
    return Status::Ok();
  }

  // The rows of the partition under `prefix` whose rank is in [min_rank, max_rank], with their
  // ranks; reads the partition in order until the rank passes max_rank.
  Status Read(const std::string& prefix, Top* top) {
    Status bad = Status::Ok();
    std::int64_t pos = 0, dense = 0, group_rank = 0;
    std::string prev_sort;
    bool first = true;
    const std::string& f = c_.rank_function;
    PS_RETURN_IF_ERROR(
        table_->Scan(prefix, PrefixEnd(prefix), [&](std::string_view k, std::string_view v) {
          ByteReader rd(v);
          std::uint64_t cz = 0, sort_len = 0;
          if (!rd.GetVarint64(&cz) || !rd.GetVarint64(&sort_len) ||
              prefix.size() + sort_len > k.size()) {
            bad = Corruption("view_topn: a state entry is damaged");
            return false;
          }
          std::int64_t count = UnZigZag(cz);
          std::string_view sort = k.substr(prefix.size(), sort_len);
          std::string row(k.substr(prefix.size() + sort_len));
          if (first || sort != prev_sort) {
            ++dense;
            group_rank = pos + 1;
            prev_sort.assign(sort);
            first = false;
          }
          if (f == "row_number") {
            if (pos + 1 > c_.max_rank) return false;
            for (std::int64_t i = 1; i <= count && pos + i <= c_.max_rank; ++i) {
              if (pos + i >= c_.min_rank) (*top)[{row, c_.emit_rank ? pos + i : 0}] += 1;
            }
          } else {
            std::int64_t rank = f == "dense_rank" ? dense : group_rank;
            if (rank > c_.max_rank) return false;
            if (rank >= c_.min_rank) (*top)[{row, rank}] += count;
          }
          pos += count;
          return true;
        }));
    return bad;
  }

  ViewTopNConfig c_;
  StateTable* table_;
  std::uint16_t tag_;
  std::unique_ptr<RowsOut> out_;
  std::vector<int> all_;
  std::string rank_bytes_;
  // This batch's changes: partition key → (sort key + row) → (weight, sort key length).
  std::map<std::string, std::map<std::string, std::pair<std::int64_t, std::size_t>>> deltas_;
};

class TopNSpec : public OperatorSpec {
 public:
  explicit TopNSpec(ViewTopNConfig c) : c_(std::move(c)) {}
  std::string_view kind() const override { return "view_topn"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
    if (ctx.table == nullptr) return Internal("view_topn: no state table");
    return std::unique_ptr<Operator>(new TopN(c_, ctx.table, ctx.output_tag));
  }
  std::vector<std::string> KeyColumns() const override {
    std::vector<std::string> out;
    for (int p : c_.partition) out.push_back(c_.names.at(static_cast<std::size_t>(p)));
    return out;
  }
  bool gathers_all_rows() const override { return c_.partition.empty(); }
  bool stateful() const override { return true; }
  bool uses_state_table() const override { return true; }
  std::string StateFingerprint() const override { return "view_topn " + c_.fingerprint; }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema>) const override {
    StreamSchema out;
    std::vector<Field> fields;
    for (std::size_t i = 0; i < c_.names.size(); ++i) fields.push_back({c_.names[i], c_.types[i]});
    if (c_.emit_rank) fields.push_back({c_.rank_name, TypeId::kInt64});
    out.schema = Schema(fields);
    out.complete = true;
    out.changes = ChangeKind::kChanges;
    return out;
  }

 private:
  ViewTopNConfig c_;
};

}  // namespace

std::shared_ptr<const OperatorSpec> MakeViewTopN(ViewTopNConfig config) {
  return std::make_shared<TopNSpec>(std::move(config));
}

}  // namespace pinstream::views
