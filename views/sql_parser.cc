#include "views/sql_parser.h"

#include <fmt/format.h>
#include <pg_query.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>

namespace pinstream::views {
namespace {

struct ParseResultDeleter {
  void operator()(PgQueryParseResult* r) const {
    pg_query_free_parse_result(*r);
    delete r;
  }
};

// The offset of the first byte of `s` that is not part of a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points over U+10FFFF included); npos when there is none.
std::size_t FirstInvalidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len = c >= 0xC2 && c <= 0xDF   ? 2
              : c >= 0xE0 && c <= 0xEF ? 3
              : c >= 0xF0 && c <= 0xF4 ? 4
                                       : 0;
    if (len == 0 || i + len > s.size()) return i;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    unsigned lo = 0x80, hi = 0xBF;  // the second byte's range
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    if (c1 < lo || c1 > hi) return i;
    for (int k = 2; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    }
    i += static_cast<std::size_t>(len);
  }
  return std::string_view::npos;
}

}  // namespace

Result<ParsedSql> ParseSql(std::string path, std::string text) {
  // libpg_query copies identifiers' bytes into its JSON tree as they are, which a JSON reader
  // rightly refuses when they are not UTF-8: say where, before parsing.
  if (std::size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    std::string_view before = std::string_view(text).substr(0, bad);
    std::size_t line_start = before.rfind('\n');
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    int line = 1 + static_cast<int>(std::count(before.begin(), before.end(), '\n'));
    int col = 1;
    for (std::size_t k = line_start; k < bad; ++k) {
      if ((static_cast<unsigned char>(text[k]) & 0xC0) != 0x80) ++col;  // characters, not bytes
    }
    return InvalidArgument(fmt::format("{}:{}:{}: the SQL is not valid UTF-8 (byte 0x{:02x})", path,
                                       line, col, static_cast<unsigned char>(text[bad])));
  }
  PS_ASSIGN_OR_RETURN(SqlText sql, SqlText::Prepare(std::move(path), std::move(text)));
  std::unique_ptr<PgQueryParseResult, ParseResultDeleter> result(
      new PgQueryParseResult(pg_query_parse(sql.rewritten().c_str())));
  if (result->error != nullptr) {
    int pos = result->error->cursorpos > 0 ? result->error->cursorpos - 1 : -1;
    return InvalidArgument(sql.Location(pos) + ": " + result->error->message);
  }
  nlohmann::json tree =
      nlohmann::json::parse(result->parse_tree, nullptr, /*allow_exceptions=*/false);
  if (tree.is_discarded() || !tree.contains("stmts")) {
    return Internal("libpg_query returned a parse tree that is not JSON");
  }
  ParsedSql out{std::move(sql), {}};
  for (const auto& raw : tree["stmts"]) {
    SqlStatement st;
    st.location = raw.value("stmt_location", 0);
    st.length = raw.value("stmt_len", 0);
    const auto& node = raw.at("stmt");
    std::string kind = node.begin().key();
    if (kind != "SelectStmt") {
      std::string what =
          kind.size() > 4 && kind.ends_with("Stmt") ? kind.substr(0, kind.size() - 4) : kind;
      return InvalidArgument(out.text.Location(st.location) +
                             ": only SELECT statements can be views, not " + what);
    }
    st.select = node.begin().value();
    out.statements.push_back(std::move(st));
  }
  if (out.statements.empty()) {
    return InvalidArgument(out.text.Location(0) + ": no SQL statement in the file");
  }
  return out;
}

std::string StatementText(const ParsedSql& sql, std::size_t index) {
  const SqlStatement& st = sql.statements.at(index);
  int from = sql.text.OriginalOffset(st.location);
  int to = st.length > 0 ? sql.text.OriginalOffset(st.location + st.length)
                         : static_cast<int>(sql.text.original().size());
  return sql.text.original().substr(from, to - from);
}

Result<ParsedSql> ParseSqlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read SQL file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return ParseSql(path, text.str());
}

}  // namespace pinstream::views
