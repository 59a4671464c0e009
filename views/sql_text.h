// SqlText: one SQL file as libpg_query reads it — the file's text, the text handed to the
// PostgreSQL 15 grammar after the dialect rewrites, and positions mapped back to the file.
//
// pinstream's batch SQL is SQLite; views are parsed by PostgreSQL's grammar (libpg_query). The
// shipped queries are written for the batch SQL, so where the two grammars read a query
// differently SqlText rewrites the query's tokens (found with libpg_query's own scanner, never by
// pattern matching on the text) before parsing:
//
//   - a reserved PostgreSQL keyword used as a table name or qualifier (`FROM user`, `user.age`)
//     is quoted ("user"): SQLite accepts it, PostgreSQL's grammar does not;
//   - a subquery in FROM without an alias gets one ("subquery 1", "subquery 2", …): SQLite allows
//     it, the PostgreSQL 15 grammar refuses it;
//   - `==` (SQLite's second spelling of equality) becomes `=`.
//
// Every rewrite is recorded (rewrites()), and every position in the rewritten text maps back to the
// file (Location), so errors point at what the user wrote.
//
// Immutable after Prepare; safe to share between threads.
#pragma once

#include <string>
#include <vector>

#include "engine/status.h"

namespace pinstream::views {

struct SqlToken {
  int start = 0;  // byte offsets in the rewritten text, [start, end)
  int end = 0;
  int token = 0;         // libpg_query's PgQuery__Token
  int keyword_kind = 0;  // PgQuery__KeywordKind (0: not a keyword)
};

class SqlText {
 public:
  struct Rewrite {
    int original_offset = 0;  // where in the file
    std::string what;         // "quoted the reserved word user used as a table name", …
  };

  // Scans `text` (the content of `path`) and applies the rewrites above. A scanner error (an
  // unterminated string or comment) is an InvalidArgument "path:line:col: message".
  static Result<SqlText> Prepare(std::string path, std::string text);

  const std::string& path() const { return path_; }
  const std::string& original() const { return original_; }
  const std::string& rewritten() const { return rewritten_; }
  const std::vector<Rewrite>& rewrites() const { return rewrites_; }

  // The file offset of byte `rewritten_offset` of the rewritten text (inserted or replacing text
  // maps to where it starts; the end of a replacement, to the end of what it replaced).
  int OriginalOffset(int rewritten_offset) const;
  // "path:line:col" (1-based, columns in characters) of a rewritten-text offset; the file's end
  // for a negative offset (a node without a position).
  std::string Location(int rewritten_offset) const;
  // The text of the select-list item starting at `rewritten_offset` as the file has it — up to
  // the next ',' or clause keyword at the same nesting level — which is how SQLite names a result
  // column that has no alias.
  std::string ItemText(int rewritten_offset) const;

 private:
  struct Segment {  // a run of the rewritten text copied from the file
    int rewritten_start = 0;
    int original_start = 0;
    int length = 0;
  };
  std::string path_;
  std::string original_;
  std::string rewritten_;
  std::vector<Segment> segments_;
  std::vector<SqlToken> tokens_;  // of the rewritten text
  std::vector<Rewrite> rewrites_;
};

}  // namespace pinstream::views
