#include "views/sql_parser.h"

#include <pg_query.h>

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

}  // namespace

Result<ParsedSql> ParseSql(std::string path, std::string text) {
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
