// ParseSql: a SQL file → its statements' PostgreSQL parse trees (libpg_query's JSON, read with
// nlohmann-json), after SqlText's dialect rewrites. No hand-written SQL parsing: the grammar is
// PostgreSQL 15's, as a library.
//
// Only SELECT statements (with WITH, UNION, …) are accepted: anything else is refused with the
// statement's file:line:column. Syntax errors carry the file:line:column of the offending token.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/status.h"
#include "views/sql_text.h"

namespace pinstream::views {

struct SqlStatement {
  nlohmann::json select;  // the SelectStmt node (the object inside {"SelectStmt": …})
  int location = 0;       // offset of the statement in the rewritten text
  int length = 0;
};

struct ParsedSql {
  SqlText text;
  std::vector<SqlStatement> statements;
};

// Parses `text` (the content of `path`).
Result<ParsedSql> ParseSql(std::string path, std::string text);
// Statement `index` as the file has it (without the rewrites), e.g. to run it as batch SQL.
std::string StatementText(const ParsedSql& sql, std::size_t index);

// Reads `path` and parses it; NotFound when it cannot be read.
Result<ParsedSql> ParseSqlFile(const std::string& path);

}  // namespace pinstream::views
