#include "views/sql_text.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string_view>

namespace pinstream::views {
namespace {

struct ScanResultDeleter {
  void operator()(PgQueryScanResult* r) const {
    pg_query_free_scan_result(*r);
    delete r;
  }
};
struct UnpackedDeleter {
  void operator()(PgQuery__ScanResult* r) const {
    pg_query__scan_result__free_unpacked(r, nullptr);
  }
};

// 1-based line and column (in characters) of byte `offset` of `text`.
std::pair<int, int> LineCol(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  int line = 1;
  int col = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++col;
    }
  }
  return {line, col};
}

std::string LocationIn(const std::string& path, std::string_view text, std::size_t offset) {
  auto [line, col] = LineCol(text, offset);
  return path + ":" + std::to_string(line) + ":" + std::to_string(col);
}

// The tokens of `text` by libpg_query's scanner (PostgreSQL's own lexer).
Result<std::vector<SqlToken>> Scan(const std::string& path, const std::string& text) {
  std::unique_ptr<PgQueryScanResult, ScanResultDeleter> result(
      new PgQueryScanResult(pg_query_scan(text.c_str())));
  if (result->error != nullptr) {
    int pos = std::max(0, result->error->cursorpos - 1);
    return InvalidArgument(LocationIn(path, text, static_cast<std::size_t>(pos)) + ": " +
                           result->error->message);
  }
  std::unique_ptr<PgQuery__ScanResult, UnpackedDeleter> scan(pg_query__scan_result__unpack(
      nullptr, result->pbuf.len, reinterpret_cast<const std::uint8_t*>(result->pbuf.data)));
  if (scan == nullptr) return Internal("libpg_query returned a scan result that does not decode");
  std::vector<SqlToken> tokens;
  tokens.reserve(scan->n_tokens);
  for (std::size_t i = 0; i < scan->n_tokens; ++i) {
    const PgQuery__ScanToken* t = scan->tokens[i];
    tokens.push_back(SqlToken{t->start, t->end, t->token, t->keyword_kind});
  }
  return tokens;
}

bool IsComment(const SqlToken& t) {
  return t.token == PG_QUERY__TOKEN__SQL_COMMENT || t.token == PG_QUERY__TOKEN__C_COMMENT;
}

// Keywords that cannot be a table name or qualifier in PostgreSQL's grammar (not a ColId).
bool IsReservedWord(const SqlToken& t) {
  return t.keyword_kind == PG_QUERY__KEYWORD_KIND__RESERVED_KEYWORD ||
         t.keyword_kind == PG_QUERY__KEYWORD_KIND__TYPE_FUNC_NAME_KEYWORD;
}

// Tokens that end the FROM clause at their nesting level (ON and USING do not: a ',' after a join
// condition starts the next FROM item).
bool EndsFromClause(int token) {
  switch (token) {
    case PG_QUERY__TOKEN__SELECT:
    case PG_QUERY__TOKEN__WHERE:
    case PG_QUERY__TOKEN__GROUP_P:
    case PG_QUERY__TOKEN__HAVING:
    case PG_QUERY__TOKEN__ORDER:
    case PG_QUERY__TOKEN__LIMIT:
    case PG_QUERY__TOKEN__OFFSET:
    case PG_QUERY__TOKEN__FETCH:
    case PG_QUERY__TOKEN__UNION:
    case PG_QUERY__TOKEN__INTERSECT:
    case PG_QUERY__TOKEN__EXCEPT:
    case PG_QUERY__TOKEN__WINDOW:
    case PG_QUERY__TOKEN__RETURNING:
    case PG_QUERY__TOKEN__ASCII_59:  // ;
      return true;
    default:
      return false;
  }
}

// Tokens that end a select-list item at its nesting level (SqlText::ItemText).
bool EndsSelectItem(int token) {
  return EndsFromClause(token) || token == PG_QUERY__TOKEN__FROM ||
         token == PG_QUERY__TOKEN__INTO || token == PG_QUERY__TOKEN__AS ||
         token == PG_QUERY__TOKEN__ASCII_44;  // ,
}

// An alias may follow `)`: AS, or an identifier / non-reserved keyword (PostgreSQL's ColId).
bool StartsAlias(const SqlToken& t) {
  return t.token == PG_QUERY__TOKEN__AS || t.token == PG_QUERY__TOKEN__IDENT ||
         t.keyword_kind == PG_QUERY__KEYWORD_KIND__UNRESERVED_KEYWORD ||
         t.keyword_kind == PG_QUERY__KEYWORD_KIND__COL_NAME_KEYWORD;
}

struct Edit {
  int start = 0;  // in the file
  int length = 0;
  std::string text;
};

}  // namespace

Result<SqlText> SqlText::Prepare(std::string path, std::string text) {
  SqlText out;
  out.path_ = std::move(path);
  out.original_ = std::move(text);
  PS_ASSIGN_OR_RETURN(std::vector<SqlToken> all, Scan(out.path_, out.original_));
  std::vector<SqlToken> tokens;
  for (const SqlToken& t : all) {
    if (!IsComment(t)) tokens.push_back(t);
  }
  auto text_of = [&](const SqlToken& t) {
    return std::string_view(out.original_).substr(t.start, t.end - t.start);
  };

  std::vector<Edit> edits;
  std::vector<bool> in_from = {false};  // per parenthesis depth: inside a FROM clause
  int subqueries = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const SqlToken& t = tokens[i];
    const SqlToken* prev = i > 0 ? &tokens[i - 1] : nullptr;
    const SqlToken* next = i + 1 < tokens.size() ? &tokens[i + 1] : nullptr;
    bool table_position =
        prev != nullptr &&
        (prev->token == PG_QUERY__TOKEN__FROM || prev->token == PG_QUERY__TOKEN__JOIN ||
         (prev->token == PG_QUERY__TOKEN__ASCII_44 && in_from.back()));
    if (t.token == PG_QUERY__TOKEN__FROM || t.token == PG_QUERY__TOKEN__JOIN) {
      in_from.back() = true;
    } else if (EndsFromClause(t.token)) {
      in_from.back() = false;
    }
    if (t.token == PG_QUERY__TOKEN__Op && text_of(t) == "==") {
      edits.push_back(Edit{t.start, 2, "="});
      out.rewrites_.push_back(Rewrite{t.start, "read SQLite's == as ="});
      continue;
    }
    if (IsReservedWord(t) && t.token != PG_QUERY__TOKEN__ONLY &&
        t.token != PG_QUERY__TOKEN__LATERAL_P &&
        (table_position || (next != nullptr && next->token == PG_QUERY__TOKEN__ASCII_46))) {
      std::string word(text_of(t));
      if (std::all_of(word.begin(), word.end(),
                      [](unsigned char c) { return std::isalnum(c) || c == '_'; })) {
        std::transform(word.begin(), word.end(), word.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        edits.push_back(Edit{t.start, t.end - t.start, "\"" + word + "\""});
        out.rewrites_.push_back(Rewrite{
            t.start, "quoted " + word + " (a reserved word in PostgreSQL) used as a table name"});
      }
      continue;
    }
    if (t.token == PG_QUERY__TOKEN__ASCII_40) {  // (
      bool subquery =
          table_position && next != nullptr &&
          (next->token == PG_QUERY__TOKEN__SELECT || next->token == PG_QUERY__TOKEN__WITH ||
           next->token == PG_QUERY__TOKEN__VALUES);
      in_from.push_back(false);
      if (subquery) {
        // Find the matching ')' and whether an alias follows it.
        int depth = 0;
        std::size_t j = i;
        for (; j < tokens.size(); ++j) {
          if (tokens[j].token == PG_QUERY__TOKEN__ASCII_40) ++depth;
          if (tokens[j].token == PG_QUERY__TOKEN__ASCII_41 && --depth == 0) break;
        }
        if (j < tokens.size() && (j + 1 >= tokens.size() || !StartsAlias(tokens[j + 1]))) {
          std::string alias = "\"subquery " + std::to_string(++subqueries) + "\"";
          edits.push_back(Edit{tokens[j].end, 0, " AS " + alias});
          out.rewrites_.push_back(Rewrite{
              t.start, "named the subquery in FROM " + alias + " (PostgreSQL 15 needs an alias)"});
        }
      }
      continue;
    }
    if (t.token == PG_QUERY__TOKEN__ASCII_41 && in_from.size() > 1) in_from.pop_back();
  }

  // Apply the edits (in file order) and record which runs of the new text come from the file.
  std::sort(edits.begin(), edits.end(),
            [](const Edit& a, const Edit& b) { return a.start < b.start; });
  int pos = 0;
  for (const Edit& e : edits) {
    out.segments_.push_back(Segment{static_cast<int>(out.rewritten_.size()), pos, e.start - pos});
    out.rewritten_.append(out.original_, pos, e.start - pos);
    out.rewritten_ += e.text;
    pos = e.start + e.length;
  }
  out.segments_.push_back(Segment{static_cast<int>(out.rewritten_.size()), pos,
                                  static_cast<int>(out.original_.size()) - pos});
  out.rewritten_.append(out.original_, pos);
  PS_ASSIGN_OR_RETURN(out.tokens_, Scan(out.path_, out.rewritten_));
  return out;
}

int SqlText::OriginalOffset(int rewritten_offset) const {
  if (rewritten_offset < 0) return static_cast<int>(original_.size());
  auto it = std::upper_bound(segments_.begin(), segments_.end(), rewritten_offset,
                             [](int off, const Segment& s) { return off < s.rewritten_start; });
  if (it == segments_.begin()) return 0;
  --it;
  int delta = std::min(rewritten_offset - it->rewritten_start, it->length);
  return it->original_start + delta;
}

std::string SqlText::Location(int rewritten_offset) const {
  return LocationIn(path_, original_, static_cast<std::size_t>(OriginalOffset(rewritten_offset)));
}

std::string SqlText::ItemText(int rewritten_offset) const {
  auto it = std::lower_bound(tokens_.begin(), tokens_.end(), rewritten_offset,
                             [](const SqlToken& t, int off) { return t.start < off; });
  int depth = 0;
  int end = rewritten_offset;
  for (; it != tokens_.end(); ++it) {
    if (IsComment(*it)) continue;
    if (it->token == PG_QUERY__TOKEN__ASCII_41 && depth == 0) break;
    if (depth == 0 && EndsSelectItem(it->token)) break;
    if (it->token == PG_QUERY__TOKEN__ASCII_40) ++depth;
    if (it->token == PG_QUERY__TOKEN__ASCII_41) --depth;
    end = it->end;
  }
  int from = OriginalOffset(rewritten_offset);
  int to = end > rewritten_offset ? OriginalOffset(end) : from;
  return original_.substr(from, to - from);
}

}  // namespace pinstream::views
