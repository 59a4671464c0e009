// Test harness for lowered views: a lowered graph run the way the engine runs it on one or more
// shards (AddToQuery + BuildQuerySlots: the slots, their input and output tags, key columns and
// the exchange's routing), with its state tables
// committed batch by batch and rebuilt from committed state on Restart(); random weighted
// changes of several tables mirrored into SQLite (with the batch SQL's functions), so a test
// compares the graph's accumulated output with SQLite running the view's SQL.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/time_util.h"
#include "state/sql/sql_functions.h"
#include "views/lowering.h"
#include "views/planner.h"
#include "views/sql_parser.h"

namespace pinstream::views::testing {

inline std::string Num(double d) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.12g", d);
  return buf;
}

inline std::string TimestampText(std::int64_t us) {
  return FormatTimestamp(us, TimestampStyle::kSql);
}

// A value as the rendered text both sides agree on.
inline std::string RenderValue(const Value& v) {
  switch (v.type()) {
    case TypeId::kNull:
      return "null";
    case TypeId::kDouble:
      return Num(v.double_value());
    case TypeId::kString:
    case TypeId::kRaw:
      return v.string_value();
    case TypeId::kTimestamp:
      return TimestampText(v.int_value());
    default:
      return std::to_string(v.int_value());
  }
}

inline std::string RenderRow(const RecordBatch& b, std::size_t r) {
  std::string s;
  for (std::size_t c = 0; c < b.num_columns(); ++c) {
    s += c == 0 ? "" : "|";
    const ::pinstream::Column& col = b.column(c);
    s += col.type() == TypeId::kNull || col.IsNull(r) ? "null" : RenderValue(col.GetValue(r));
  }
  return s;
}

inline std::string SqlLiteral(const Value& v) {
  switch (v.type()) {
    case TypeId::kNull:
      return "NULL";
    case TypeId::kDouble:
      return Num(v.double_value());
    case TypeId::kString: {
      std::string q = "'";
      for (char c : v.string_value()) q += c == '\'' ? std::string("''") : std::string(1, c);
      return q + "'";
    }
    case TypeId::kTimestamp:
      return "'" + TimestampText(v.int_value()) + "'";
    default:
      return std::to_string(v.int_value());
  }
}

struct TestTable {
  std::string name;
  std::vector<Column> columns;  // views::Column: name, type
};

// Time in the tests' Nexmark-shaped tables: microseconds from 2018-01-01 00:00:00.
constexpr std::int64_t kSecond = 1000000;
constexpr std::int64_t kBase = 1514764800LL * kSecond;

// Nexmark's bid table (auction, bidder, price, date_time); each test draws its own rows.
inline TestTable Bid() {
  return {"bid",
          {{"auction", TypeId::kInt64},
           {"bidder", TypeId::kInt64},
           {"price", TypeId::kInt64},
           {"date_time", TypeId::kTimestamp}}};
}

// SQLite with the batch SQL's functions, holding the tables' accumulated rows.
class Reference {
 public:
  explicit Reference(const std::vector<TestTable>& tables) {
    EXPECT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    EXPECT_EQ(state::sql::RegisterSqlFunctions(db_), SQLITE_OK);
    for (const auto& t : tables) {
      std::string cols;
      for (const auto& c : t.columns) {
        const char* decl = c.type == TypeId::kInt64    ? "INTEGER"
                           : c.type == TypeId::kDouble ? "REAL"
                                                       : "TEXT";
        cols += (cols.empty() ? "" : ", ") + std::string("\"") + c.name + "\" " + decl;
      }
      Exec("CREATE TABLE \"" + t.name + "\"(" + cols + ")");
      columns_[t.name] = t.columns;
    }
  }
  ~Reference() { sqlite3_close(db_); }
  Reference(const Reference&) = delete;
  Reference& operator=(const Reference&) = delete;

  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err ? err : "") << " in " << sql;
    sqlite3_free(err);
  }
  void Insert(const std::string& table, const std::vector<Value>& row) {
    std::string vals;
    for (const auto& v : row) vals += (vals.empty() ? "" : ", ") + SqlLiteral(v);
    Exec("INSERT INTO \"" + table + "\" VALUES (" + vals + ")");
  }
  void Delete(const std::string& table, const std::vector<Value>& row) {
    std::string where;
    const auto& cols = columns_.at(table);
    for (std::size_t i = 0; i < row.size(); ++i) {
      where += (where.empty() ? "" : " AND ") + std::string("\"") + cols[i].name + "\"" +
               (row[i].is_null() ? " IS NULL" : " = " + SqlLiteral(row[i]));
    }
    Exec("DELETE FROM \"" + table + "\" WHERE rowid = (SELECT rowid FROM \"" + table + "\" WHERE " +
         where + " LIMIT 1)");
  }
  // Every statement's rows as rendered text with their multiplicities.
  std::map<std::string, std::int64_t> Query(const std::string& sql) {
    std::map<std::string, std::int64_t> out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_) << " in " << sql;
    while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      std::string s;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        s += c == 0 ? "" : "|";
        switch (sqlite3_column_type(st, c)) {
          case SQLITE_NULL:
            s += "null";
            break;
          case SQLITE_INTEGER:
            s += std::to_string(sqlite3_column_int64(st, c));
            break;
          case SQLITE_FLOAT:
            s += Num(sqlite3_column_double(st, c));
            break;
          default:
            s += reinterpret_cast<const char*>(sqlite3_column_text(st, c));
        }
      }
      ++out[s];
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, std::vector<Column>> columns_;
};

// A lowered view run like the engine runs its query: its slots in order, each shard with its own
// operator instances and state tables; before a keyed slot (KeyColumnsOf its input's tag, or
// gathers_all_rows) every batch's rows go to the shard of their key (the exchange's rule:
// ShardOfHash(HashRow(key columns found by name))), other slots see the rows where they are; the
// sources' rows start spread over the shards.
class GraphRun {
 public:
  explicit GraphRun(const LoweredView& view, int shards = 1) : shards_(shards) {
    QueryConfig q;
    q.name = "v";
    AddToQuery(view, &q);
    BuildQuerySlots(q);
    slots_ = q.slots;
    for (std::size_t t = 0; t < view.inputs.size(); ++t) {
      tags_[view.inputs[t].table].push_back(static_cast<std::uint16_t>(t));
    }
    result_tag_ = slots_.back().output_tag;
    cp_ = std::move(store_.OpenQuery("v")).value();
    Restart();
  }

  // Rebuilds every operator from committed state only.
  void Restart() {
    ops_.clear();
    tables_.clear();
    ops_.resize(static_cast<std::size_t>(shards_));
    tables_.resize(static_cast<std::size_t>(shards_));
    for (int shard = 0; shard < shards_; ++shard) {
      auto& ops = ops_[static_cast<std::size_t>(shard)];
      auto& tables = tables_[static_cast<std::size_t>(shard)];
      for (const auto& slot : slots_) {
        tables.push_back(
            std::make_unique<StateTable>(cp_.get(), "v/" + slot.state_id, shard, shards_, 1 << 16));
        ASSERT_TRUE(tables.back()->Open().ok());
        OperatorInitContext ctx;
        ctx.query_name = "v";
        ctx.operator_index = static_cast<int>(ops.size());
        ctx.shard = shard;
        ctx.num_shards = shards_;
        ctx.table = slot.spec->uses_state_table() ? tables.back().get() : nullptr;
        ctx.input_tags = slot.input_tags;
        ctx.output_tag = slot.output_tag;
        auto op = slot.spec->Create(ctx);
        ASSERT_TRUE(op.ok()) << op.status().ToString();
        ops.push_back(std::move(op).value());
      }
    }
  }

  // One micro-batch: each table's changes (a table read by several inputs goes to each).
  void Batch(const std::map<std::string, RecordBatch>& changes) {
    OperatorContext ctx;
    ctx.batch_id = batch_id_;
    std::vector<std::pair<int, RecordBatch>> pending;  // (shard, batch)
    for (const auto& [table, batch] : changes) {
      auto it = tags_.find(table);
      if (it == tags_.end()) continue;
      for (std::uint16_t tag : it->second) {
        for (int shard = 0; shard < shards_; ++shard) {
          std::vector<std::uint32_t> rows;
          for (std::size_t r = static_cast<std::size_t>(shard); r < batch.num_rows();
               r += static_cast<std::size_t>(shards_)) {
            rows.push_back(static_cast<std::uint32_t>(r));
          }
          if (rows.empty()) continue;
          RecordBatch b = batch.Take(rows);
          b.set_input_tag(tag);
          pending.emplace_back(shard, std::move(b));
        }
      }
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const auto& slot = slots_[i];
      std::vector<std::pair<int, RecordBatch>> next;
      for (auto& [from, b] : pending) {
        auto pos = std::find(slot.input_tags.begin(), slot.input_tags.end(), b.input_tag());
        if (pos == slot.input_tags.end()) {
          next.emplace_back(from, std::move(b));
          continue;
        }
        if (std::find(slot.passes_on.begin(), slot.passes_on.end(), b.input_tag()) !=
            slot.passes_on.end()) {
          next.emplace_back(from, b);  // a later slot reads these rows too (a shared subplan)
        }
        const auto& keys =
            slot.key_columns[static_cast<std::size_t>(pos - slot.input_tags.begin())];
        std::vector<std::pair<int, RecordBatch>> routed;
        if (keys.empty() && !slot.spec->gathers_all_rows()) {
          routed.emplace_back(from, std::move(b));
        } else {
          std::vector<int> idx;
          for (const auto& k : keys) {
            int c = b.FindColumn(k);
            ASSERT_GE(c, 0) << slot.name << " is keyed by " << k << ", which its input lacks";
            idx.push_back(c);
          }
          std::vector<std::vector<std::uint32_t>> rows(static_cast<std::size_t>(shards_));
          for (std::size_t r = 0; r < b.num_rows(); ++r) {
            rows[static_cast<std::size_t>(ShardOfHash(HashRow(b, idx, r), shards_))].push_back(
                static_cast<std::uint32_t>(r));
          }
          for (int s = 0; s < shards_; ++s) {
            if (rows[static_cast<std::size_t>(s)].empty()) continue;
            RecordBatch part = b.Take(rows[static_cast<std::size_t>(s)]);
            part.set_input_tag(b.input_tag());
            routed.emplace_back(s, std::move(part));
          }
        }
        for (auto& [shard, part] : routed) {
          Status st = ops_[static_cast<std::size_t>(shard)][i]->Process(part, ctx);
          ASSERT_TRUE(st.ok()) << slot.name << ": " << st.ToString();
          if (slot.joins_inputs) part.set_input_tag(slot.output_tag);
          if (part.num_rows() > 0) next.emplace_back(shard, std::move(part));
        }
      }
      for (int shard = 0; shard < shards_; ++shard) {
        std::vector<RecordBatch> emitted;
        Status st = ops_[static_cast<std::size_t>(shard)][i]->Finish(ctx, &emitted);
        ASSERT_TRUE(st.ok()) << slot.name << ": " << st.ToString();
        for (auto& b : emitted) {
          ASSERT_EQ(b.input_tag(), slot.output_tag) << slot.name;
          if (b.num_rows() > 0) next.emplace_back(shard, std::move(b));
        }
      }
      pending = std::move(next);
    }
    for (const auto& [shard, b] : pending) {
      ASSERT_EQ(b.input_tag(), result_tag_);
      for (std::size_t r = 0; r < b.num_rows(); ++r) {
        std::string s = RenderRow(b, r);
        if ((acc_[s] += b.weight(r)) == 0) acc_.erase(s);
      }
    }
    auto txn = cp_->BeginCommit(batch_id_);
    for (auto& shard : tables_) {
      for (auto& t : shard) t->StageBatch(batch_id_, *txn);
    }
    CommitLogEntry e;
    e.batch_id = batch_id_;
    ASSERT_TRUE(cp_->Commit(std::move(txn), e).ok());
    ++batch_id_;
  }

  const std::map<std::string, std::int64_t>& accumulated() const { return acc_; }
  const std::vector<OperatorSlotConfig>& slots() const { return slots_; }

 private:
  int shards_;
  InMemoryCheckpointStore store_;
  std::unique_ptr<QueryCheckpoint> cp_;
  std::vector<OperatorSlotConfig> slots_;
  std::map<std::string, std::vector<std::uint16_t>> tags_;
  std::uint16_t result_tag_ = 0;
  std::vector<std::vector<std::unique_ptr<StateTable>>> tables_;  // per shard, per slot
  std::vector<std::vector<std::unique_ptr<Operator>>> ops_;
  std::map<std::string, std::int64_t> acc_;
  std::int64_t batch_id_ = 1;
};

// Random weighted changes of several tables: inserts (sometimes twice), retractions of live rows
// (sometimes all copies), empty batches, batches touching only some tables; mirrored into the
// Reference.
class ChangeDriver {
 public:
  using RowMaker = std::function<std::vector<Value>(std::mt19937_64&)>;
  ChangeDriver(std::vector<TestTable> tables, std::vector<RowMaker> makers, std::uint64_t seed)
      : tables_(std::move(tables)), makers_(std::move(makers)), rng_(seed) {
    live_.resize(tables_.size());
  }
  const std::vector<TestTable>& tables() const { return tables_; }

  std::map<std::string, RecordBatch> Next(Reference& ref, int max_rows = 12) {
    std::map<std::string, RecordBatch> out;
    if (Pick(10) == 0) return out;  // an empty batch
    for (std::size_t t = 0; t < tables_.size(); ++t) {
      if (Pick(3) == 0) continue;  // this table unchanged in this batch
      std::vector<std::pair<std::vector<Value>, std::int64_t>> changes;
      int n = 1 + Pick(max_rows);
      auto& live = live_[t];
      for (int i = 0; i < n; ++i) {
        if (!live.empty() && Pick(3) == 0) {
          auto it = live.begin();
          std::advance(it, Pick(static_cast<int>(live.size())));
          std::int64_t w = Pick(2) == 0 ? it->second.second : 1;
          changes.push_back({it->second.first, -w});
          for (std::int64_t c = 0; c < w; ++c) ref.Delete(tables_[t].name, it->second.first);
          if ((it->second.second -= w) == 0) live.erase(it);
        } else {
          std::vector<Value> row = makers_[t](rng_);
          std::int64_t w = Pick(4) == 0 ? 2 : 1;
          changes.push_back({row, w});
          for (std::int64_t c = 0; c < w; ++c) ref.Insert(tables_[t].name, row);
          std::string key;
          for (const auto& v : row) key += SqlLiteral(v) + "|";
          auto& e = live[key];
          e.first = row;
          e.second += w;
        }
      }
      RecordBatch b;
      b.row_ids().resize(changes.size());
      std::vector<::pinstream::Column> cols;
      for (const auto& c : tables_[t].columns) cols.emplace_back(c.type);
      std::vector<std::int64_t> weights;
      for (const auto& [row, w] : changes) {
        for (std::size_t c = 0; c < row.size(); ++c) {
          Status st = cols[c].AppendValue(row[c]);
          EXPECT_TRUE(st.ok()) << st.ToString();
        }
        weights.push_back(w);
      }
      for (std::size_t c = 0; c < cols.size(); ++c) {
        b.AddColumn(tables_[t].columns[c].name, std::move(cols[c]));
      }
      b.SetWeights(std::move(weights));
      out.emplace(tables_[t].name, std::move(b));
    }
    return out;
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<std::uint64_t>(n)); }
  std::vector<TestTable> tables_;
  std::vector<RowMaker> makers_;
  std::mt19937_64 rng_;
  std::vector<std::map<std::string, std::pair<std::vector<Value>, std::int64_t>>> live_;
};

inline SchemaCatalog CatalogOf(const std::vector<TestTable>& tables) {
  SchemaCatalog c;
  for (const auto& t : tables) c.Add(TableInfo{t.name, t.columns, true, "test"});
  return c;
}

// Plans and lowers statement `statement` of `sql` against `tables`.
inline Result<LoweredView> LowerSql(const std::vector<TestTable>& tables, const std::string& sql,
                                    std::size_t statement = 0) {
  PS_ASSIGN_OR_RETURN(ParsedSql parsed, ParseSql("v.sql", sql));
  PS_ASSIGN_OR_RETURN(PlanPtr plan, PlanStatement(parsed, statement, CatalogOf(tables)));
  return LowerPlan(parsed, statement, *plan);
}

// The property: after every batch the graph's accumulated output equals SQLite's answer to
// `reference_sql` (the view's SQL unless a statement needs another text) over the accumulated
// input; restarts from committed state every `restart_every` batches; `shards` instances of
// every operator (GraphRun).
inline void RunViewProperty(const LoweredView& view, ChangeDriver& driver,
                            const std::string& reference_sql, int batches, int restart_every = 13,
                            int max_rows = 12, int shards = 1) {
  GraphRun run(view, shards);
  if (::testing::Test::HasFatalFailure()) return;
  Reference ref(driver.tables());
  int answered = 0;  // batches after which the answer had rows (the test is not vacuous)
  for (int i = 0; i < batches; ++i) {
    SCOPED_TRACE("batch " + std::to_string(i));
    run.Batch(driver.Next(ref, max_rows));
    if (::testing::Test::HasFatalFailure()) return;
    ASSERT_EQ(run.accumulated(), ref.Query(reference_sql)) << reference_sql;
    answered += run.accumulated().empty() ? 0 : 1;
    if (i % restart_every == restart_every - 1) {
      run.Restart();
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_GT(answered, batches / 2) << "the answer was empty after most batches: " << reference_sql;
}

}  // namespace pinstream::views::testing
