#include "operators/parse_json.h"

#include <immintrin.h>
#include <simdjson.h>

#include <cmath>
#include <cstring>
#include <unordered_map>

#include "engine/simdjson_util.h"
#include "engine/time_util.h"
#include "operators/operator_util.h"

namespace pinstream::ops {

namespace {

namespace od = simdjson::ondemand;

// A schema field name as it appears raw in a record (followed by its closing quote), for
// comparing a key with one 32-byte load instead of a memcmp call per field.
struct QuotedName {
  alignas(32) char bytes[32] = {};
  std::uint32_t mask = 0;  // the bytes that must match: the name and the quote after it
  bool usable = false;     // false: too long, or holds characters JSON would escape

  explicit QuotedName(std::string_view name) {
    if (name.size() >= sizeof(bytes)) return;
    for (char ch : name) {
      if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20) return;
    }
    std::memcpy(bytes, name.data(), name.size());
    bytes[name.size()] = '"';
    mask = name.size() + 1 == 32 ? ~0u : (1u << (name.size() + 1)) - 1;
    usable = true;
  }
  // `raw`: a key's characters after its opening quote, inside simdjson's padded input (at least
  // SIMDJSON_PADDING readable bytes follow the record, so 32 bytes can be read).
  bool Matches(const char* raw) const {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(raw));
    __m256i b = _mm256_load_si256(reinterpret_cast<const __m256i*>(bytes));
    auto eq = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, b)));
    return (eq & mask) == mask;
  }
};

static_assert(simdjson::SIMDJSON_PADDING >= Column::kShortCopy,
              "AppendStringFromPadded reads up to kShortCopy bytes from a field's start");

class ParseJson : public Operator {
 public:
  explicit ParseJson(ParseJsonConfig c) : config_(std::move(c)) {
    for (std::size_t i = 0; i < config_.schema.size(); ++i) {
      index_.emplace(config_.schema[i].name, i);
      quoted_.emplace_back(config_.schema[i].name);
    }
    seen_.resize(config_.schema.size());
    bytes_per_row_.assign(config_.schema.size(), 0.0);
  }

  Status Process(RecordBatch& batch, OperatorContext& ctx) override {
    PS_ASSIGN_OR_RETURN(std::size_t in_idx, RequireColumn(batch, config_.column, "parse_json"));
    const Column& in = batch.column(in_idx);
    if (!IsBinaryLike(in.type())) {
      return InvalidArgument(fmt::format("parse_json: column '{}' is {}, expected raw or string",
                                         config_.column, TypeName(in.type())));
    }
    std::size_t n = batch.num_rows();
    std::vector<Column> out;
    out.reserve(config_.schema.size());
    for (std::size_t i = 0; i < config_.schema.size(); ++i) {
      out.emplace_back(config_.schema[i].type);
      // Strings: reserve what the previous batch needed per row (plus a margin), so the arenas
      // are allocated once instead of growing by copies.
      out.back().Reserve(
          n, static_cast<std::size_t>(bytes_per_row_[i] * 1.25 * static_cast<double>(n)) + 64);
    }
    const ByteBuffer& arena = in.bytes();
    for (std::size_t r = 0; r < n; ++r) {
      std::fill(seen_.begin(), seen_.end(), 0);
      std::string error;
      if (in.IsNull(r)) {
        error = "record is null";
      } else {
        std::string_view rec = in.Str(r);
        // One scan of the record for a backslash, instead of one per string value: most records
        // hold no escapes, and then every string is copied straight from the input.
        has_escapes_ = std::memchr(rec.data(), '\\', rec.size()) != nullptr;
        std::size_t after =
            arena.size() - static_cast<std::size_t>(rec.data() + rec.size() - arena.data());
        od::document doc;
        simdjson::error_code e;
        if (after >= simdjson::SIMDJSON_PADDING) {
          e = parser_.iterate(rec.data(), rec.size(), rec.size() + after).get(doc);
        } else {
          padded_.assign(rec.data(), rec.size());
          padded_.resize(rec.size() + simdjson::SIMDJSON_PADDING, '\0');
          e = parser_.iterate(padded_.data(), rec.size(), padded_.size()).get(doc);
        }
        if (!e)
          ParseRecord(doc, out, &error);
        else
          error = std::string("malformed JSON: ") + simdjson::error_message(e);
      }
      if (!error.empty()) {
        ctx.RejectRow(r, std::move(error));
        // Keep the columns aligned: fields not reached get a null (the row is removed anyway).
        for (auto& col : out) {
          if (col.size() == r) col.AppendNull();
        }
        continue;
      }
      for (std::size_t i = 0; i < out.size(); ++i) {
        if (!seen_[i]) out[i].AppendNull();
      }
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (n > 0)
        bytes_per_row_[i] = static_cast<double>(out[i].bytes().size()) / static_cast<double>(n);
    }
    RecordBatch result;
    result.row_ids() = std::move(batch.row_ids());
    for (const auto& k : config_.keep) {
      PS_ASSIGN_OR_RETURN(std::size_t ki, RequireColumn(batch, k, "parse_json keep"));
      result.AddColumn(k, std::move(batch.column(ki)));
    }
    for (std::size_t i = 0; i < out.size(); ++i)
      result.AddColumn(config_.schema[i].name, std::move(out[i]));
    batch = std::move(result);
    return Status::Ok();
  }

 private:
  void ParseRecord(od::document& doc, std::vector<Column>& out, std::string* error) {
    od::object obj;
    if (auto e = doc.get_object().get(obj)) {
      *error = e == simdjson::INCORRECT_TYPE
                   ? std::string("record is not a JSON object")
                   : std::string("malformed JSON: ") + simdjson::error_message(e);
      return;
    }
    std::size_t expected = 0;  // records usually list the fields in schema order
    for (auto field_r : obj) {
      // The field is used in place (no copy of simdjson's field/value structs: copying them
      // made the CPU stall on store forwarding, a third of this loop's time).
      if (auto e = field_r.error()) {
        *error = std::string("malformed JSON: ") + simdjson::error_message(e);
        return;
      }
      od::field& field = field_r.value_unsafe();
      std::size_t i;
      if (expected < config_.schema.size() && KeyIs(field, expected)) {
        i = expected;  // compared against the raw key: no copy, no hashing
      } else {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) {
          *error = std::string("malformed JSON key: ") + simdjson::error_message(e);
          return;
        }
        auto it = index_.find(key);
        if (it == index_.end()) continue;
        i = it->second;
      }
      expected = i + 1;
      if (seen_[i]) continue;  // duplicate key: the first one wins
      seen_[i] = 1;
      od::value& v = field.value();
      const TypeId type = config_.schema[i].type;
      // The common cases inline: a string field holding a string without escapes is copied
      // straight from the input, an int64 field holding an integer is read in one call (a failed
      // read does not move the iterator); Convert handles everything else, including null.
      if (type == TypeId::kString || type == TypeId::kRaw) {
        if (std::string_view body; UnescapedBody(v, &body)) {
          out[i].AppendStringFromPadded(body);  // inside the padded record: 64 bytes readable
          continue;
        }
      } else if (type == TypeId::kInt64) {
        if (std::int64_t x; v.get_int64().get(x) == simdjson::SUCCESS) {
          out[i].AppendInt(x);
          continue;
        }
      }
      std::string why = Convert(v, type, out[i]);
      if (!why.empty()) {
        *error = fmt::format("field '{}': {}", config_.schema[i].name, why);
        return;
      }
    }
  }

  // Whether `field`'s raw key is schema field i's name (no unescaping: a key spelled with escapes
  // takes the slower lookup by its unescaped text).
  bool KeyIs(od::field& field, std::size_t i) const {
    const QuotedName& q = quoted_[i];
    if (q.usable) return q.Matches(field.key().raw());
    return field.key() == std::string_view(config_.schema[i].name);
  }

  // The characters of string value `v` when it has no escape sequence (its raw token, which
  // runs to the next structural character, is the quoted string plus whitespace).
  bool UnescapedBody(od::value& v, std::string_view* body) const {
    std::string_view raw = v.raw_json_token();
    while (!raw.empty() &&
           (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t')) {
      raw.remove_suffix(1);
    }
    if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return false;
    raw = raw.substr(1, raw.size() - 2);
    if (has_escapes_ && std::memchr(raw.data(), '\\', raw.size()) != nullptr) return false;
    *body = raw;
    return true;
  }

  static std::string Describe(od::value& v) {
    std::string_view raw;
    if (RawJsonOf(v, &raw)) return "an unreadable value";
    if (raw.size() > 40) return std::string(raw.substr(0, 37)) + "...";
    return std::string(raw);
  }

  std::string Convert(od::value& v, TypeId type, Column& col) {
    od::json_type t;
    if (v.type().get(t)) return "malformed JSON value";
    if (t == od::json_type::null) {
      col.AppendNull();
      return {};
    }
    switch (type) {
      case TypeId::kInt64: {
        if (t == od::json_type::number) {
          od::number_type nt;
          if (v.get_number_type().get(nt)) return "malformed number";
          if (nt == od::number_type::signed_integer || nt == od::number_type::unsigned_integer) {
            std::int64_t x;
            if (v.get_int64().get(x)) return "number out of int64 range";
            col.AppendInt(x);
            return {};
          }
          double d;
          if (v.get_double().get(d)) return "malformed number";
          if (std::trunc(d) != d || std::fabs(d) > 9.2e18)
            return fmt::format("expected an integer, got {}", d);
          col.AppendInt(static_cast<std::int64_t>(d));
          return {};
        }
        if (t == od::json_type::string) {
          std::string_view s;
          if (v.get_string().get(s)) return "malformed string";
          std::int64_t x;
          if (!ParseInt64Strict(s, &x)) return fmt::format("expected an integer, got \"{}\"", s);
          col.AppendInt(x);
          return {};
        }
        return fmt::format("expected an integer, got {}", Describe(v));
      }
      case TypeId::kDouble: {
        if (t == od::json_type::number) {
          double d;
          if (v.get_double().get(d)) return "malformed number";
          col.AppendDouble(d);
          return {};
        }
        if (t == od::json_type::string) {
          std::string_view s;
          if (v.get_string().get(s)) return "malformed string";
          double d;
          if (!ParseDoubleStrict(s, &d)) return fmt::format("expected a number, got \"{}\"", s);
          col.AppendDouble(d);
          return {};
        }
        return fmt::format("expected a number, got {}", Describe(v));
      }
      case TypeId::kBool: {
        if (t == od::json_type::boolean) {
          bool b;
          if (v.get_bool().get(b)) return "malformed boolean";
          col.AppendBool(b);
          return {};
        }
        if (t == od::json_type::string) {
          std::string_view s;
          if (v.get_string().get(s)) return "malformed string";
          if (s == "true")
            col.AppendBool(true);
          else if (s == "false")
            col.AppendBool(false);
          else
            return fmt::format("expected true or false, got \"{}\"", s);
          return {};
        }
        return fmt::format("expected true or false, got {}", Describe(v));
      }
      case TypeId::kString:
      case TypeId::kRaw: {
        if (t == od::json_type::string) {
          // Most strings hold no escapes: copy them straight from the input (the document's
          // UTF-8 was validated when it was iterated) instead of unescaping into the parser's
          // buffer and copying again.
          if (std::string_view body; UnescapedBody(v, &body)) {
            col.AppendStringFromPadded(body);
            return {};
          }
          std::string_view s;
          if (v.get_string().get(s)) return "malformed string";
          col.AppendString(s);
          return {};
        }
        std::string_view raw;
        if (RawJsonOf(v, &raw)) return "malformed JSON value";
        col.AppendString(raw);
        return {};
      }
      case TypeId::kTimestamp: {
        if (t != od::json_type::string)
          return fmt::format("expected a timestamp string, got {}", Describe(v));
        std::string_view s;
        if (v.get_string().get(s)) return "malformed string";
        auto ts = ParseTimestamp(s);
        if (!ts.ok()) return ts.status().message();
        col.AppendInt(*ts);
        return {};
      }
      case TypeId::kDoubleArray: {
        if (t != od::json_type::array)
          return fmt::format("expected an array of numbers, got {}", Describe(v));
        od::array arr;
        if (v.get_array().get(arr)) return "malformed array";
        elems_.clear();
        for (auto e : arr) {
          double d;
          if (e.get_double().get(d)) return "expected an array of numbers";
          elems_.push_back(d);
        }
        col.AppendArray(elems_);
        return {};
      }
      case TypeId::kNull:
        col.AppendNull();
        return {};
    }
    return "unsupported type";
  }

  ParseJsonConfig config_;
  std::unordered_map<std::string_view, std::size_t> index_;
  std::vector<QuotedName> quoted_;  // per schema field
  std::vector<std::uint8_t> seen_;
  std::vector<double> bytes_per_row_;
  bool has_escapes_ = true;  // whether the record being parsed holds a backslash anywhere
  od::parser parser_;
  std::string padded_;
  std::vector<double> elems_;
};

// parse_json reads its raw column and the `keep` columns, and outputs only those kept and the
// parsed fields: as a query's first operator it lets the sources leave their other columns out.
class ParseJsonSpec : public StatelessSpec<ParseJsonConfig, ParseJson> {
 public:
  explicit ParseJsonSpec(ParseJsonConfig c) : StatelessSpec("parse_json", std::move(c)) {}
  std::optional<std::vector<std::string>> InputColumns() const override {
    std::vector<std::string> cols{config().column};
    cols.insert(cols.end(), config().keep.begin(), config().keep.end());
    return cols;
  }
  Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> inputs) const override {
    StreamSchema in = inputs.empty() ? StreamSchema::Unknown() : inputs.front();
    static constexpr TypeId kRaw[] = {TypeId::kRaw, TypeId::kString};
    PS_RETURN_IF_ERROR(RequireColumnType(in, config().column, "parse_json", kRaw));
    StreamSchema out;
    out.complete = true;
    out.changes = in.changes;
    for (const auto& k : config().keep) {
      PS_RETURN_IF_ERROR(RequireColumnIn(in, k, "parse_json keep"));
      out.Put(k, in.TypeOf(k));
      if (k == in.watermark_column) out.watermark_column = k;
    }
    for (const auto& f : config().schema) out.Put(f.name, f.type);
    return out;
  }
};

}  // namespace

std::unique_ptr<Operator> ParseJsonOperator(const ParseJsonConfig& config) {
  return std::make_unique<ParseJson>(config);
}

namespace {
constexpr KeyDoc kParseJsonDocs[] = {
    {"column", KeyType::kString, "value", "The column holding the JSON records."},
    {"schema", KeyType::kMap, "",
     "Required. Output field → type (string, int64, double, bool, timestamp, array<double>), in "
     "order. A value that cannot be converted rejects the row."},
    {"keep", KeyType::kStringList, "", "Input columns kept beside the parsed ones."},
};
}  // namespace
constexpr ConfigKeys kParseJsonKeys{
    "operators: parse_json",
    "Turns a column of JSON records into typed columns (Spark's from_json, strict).",
    kParseJsonDocs};

std::shared_ptr<const OperatorSpec> ParseJsonFromConfig(const ConfigNode& n) {
  n.ExpectKeys(kParseJsonKeys);
  ParseJsonConfig c;
  c.column = n.GetString("column", "value");
  auto schema = n.Get("schema");
  for (auto& [name, type_node] : schema.Entries()) {
    auto t = ParseTypeName(type_node.AsString());
    if (!t.ok()) type_node.Fail(t.status().message());
    for (const auto& f : c.schema) {
      if (f.name == name) type_node.Fail(fmt::format("field '{}' is declared twice", name));
    }
    c.schema.push_back(Field{name, *t, true});
  }
  if (c.schema.empty()) schema.Fail("the schema needs at least one field");
  c.keep = n.GetStringList("keep");
  for (const auto& k : c.keep) {
    for (const auto& f : c.schema) {
      if (f.name == k) n.Get("keep").Fail(fmt::format("'{}' is both kept and parsed", k));
    }
  }
  return std::make_shared<ParseJsonSpec>(std::move(c));
}

}  // namespace pinstream::ops
