// The view operators' property: random weighted batches (inserts, duplicates, retractions of
// live rows, empty batches), committed one by one with the operator rebuilt from committed
// state now and then; after every batch the operator's accumulated output must equal what
// SQLite (with the batch SQL's functions) computes over the accumulated input.
#include "views/view_operators.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>
#include <random>

#include "engine/checkpoint.h"
#include "state/sql/sql_functions.h"
#include "views/planner.h"
#include "views/sql_parser.h"

namespace pinstream::views {
namespace {

using Col = ::pinstream::Column;

// Input rows: g string (3 values or null), k int64 0..2, x int64 -5..5 or null, y double (a
// multiple of 0.25, exact in binary, so sums do not depend on their order) or null.
struct Row {
  std::optional<std::string> g;
  std::int64_t k = 0;
  std::optional<std::int64_t> x;
  std::optional<double> y;
  std::string Key() const {
    return (g ? *g : "~") + "|" + std::to_string(k) + "|" + (x ? std::to_string(*x) : "~") + "|" +
           (y ? std::to_string(*y) : "~");
  }
};

std::string Num(double d) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.12g", d);
  return buf;
}

// A result row as text, the same for our columns and SQLite's cells.
std::string Render(const RecordBatch& b, std::size_t r) {
  std::string s;
  for (std::size_t c = 0; c < b.num_columns(); ++c) {
    const Col& col = b.column(c);
    s += c == 0 ? "" : "|";
    if (col.type() == TypeId::kNull || col.IsNull(r)) {
      s += "null";
    } else if (col.type() == TypeId::kDouble) {
      s += Num(col.Double(r));
    } else if (col.type() == TypeId::kString) {
      s += std::string(col.Str(r));
    } else {
      s += std::to_string(col.Int(r));
    }
  }
  return s;
}

class Reference {
 public:
  Reference() {
    EXPECT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    EXPECT_EQ(state::sql::RegisterSqlFunctions(db_), SQLITE_OK);
    Exec("CREATE TABLE t(g TEXT, k INTEGER, x INTEGER, y REAL)");
  }
  ~Reference() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err << sql;
    sqlite3_free(err);
  }
  void Insert(const Row& r) {
    auto q = [](const auto& o, auto f) { return o ? f(*o) : std::string("NULL"); };
    Exec("INSERT INTO t VALUES (" + q(r.g, [](const std::string& s) { return "'" + s + "'"; }) +
         "," + std::to_string(r.k) + "," +
         q(r.x, [](std::int64_t v) { return std::to_string(v); }) + "," +
         q(r.y, [](double v) { return Num(v); }) + ")");
  }
  void Delete(const Row& r) {
    auto eq = [](const std::string& c, const std::string& v) {
      return v == "NULL" ? c + " IS NULL" : c + " = " + v;
    };
    Exec("DELETE FROM t WHERE rowid = (SELECT rowid FROM t WHERE " +
         eq("g", r.g ? "'" + *r.g + "'" : "NULL") + " AND k = " + std::to_string(r.k) + " AND " +
         eq("x", r.x ? std::to_string(*r.x) : "NULL") + " AND " +
         eq("y", r.y ? Num(*r.y) : "NULL") + " LIMIT 1)");
  }
  // The rows of a query as rendered text, with their multiplicities.
  std::map<std::string, std::int64_t> Query(const std::string& sql) {
    std::map<std::string, std::int64_t> out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    while (sqlite3_step(st) == SQLITE_ROW) {
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
};

SchemaCatalog Catalog() {
  SchemaCatalog c;
  c.Add(TableInfo{"t",
                  {{"g", TypeId::kString},
                   {"k", TypeId::kInt64},
                   {"x", TypeId::kInt64},
                   {"y", TypeId::kDouble}},
                  true,
                  "test"});
  return c;
}

ScalarExpr Expr(const std::string& sql) {
  auto parsed = ParseSql("t.sql", "SELECT " + sql + " FROM t");
  EXPECT_TRUE(parsed.ok());
  auto plan = PlanStatement(*parsed, 0, Catalog());
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  auto e = ScalarExpr::Compile((*plan)->exprs.at(0));
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return *e;
}

// Drives a chain of operators like the engine on one shard: Process through the chain, Finish
// in order (a stage's emitted rows go through the stages after it), the state tables staged
// into the batch's commit.
class Chain {
 public:
  explicit Chain(std::vector<std::shared_ptr<const OperatorSpec>> specs)
      : specs_(std::move(specs)) {
    cp_ = std::move(store_.OpenQuery("v")).value();
    Restart();
  }
  void Restart() {
    ops_.clear();
    tables_.clear();
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      tables_.push_back(
          std::make_unique<StateTable>(cp_.get(), "v/" + std::to_string(i), 0, 1, 1 << 16));
      ASSERT_TRUE(tables_.back()->Open().ok());
      OperatorInitContext ctx;
      ctx.query_name = "v";
      ctx.operator_index = static_cast<int>(i);
      ctx.table = specs_[i]->uses_state_table() ? tables_.back().get() : nullptr;
      auto op = specs_[i]->Create(ctx);
      ASSERT_TRUE(op.ok()) << op.status().ToString();
      ops_.push_back(std::move(op).value());
    }
  }
  // Runs one batch; adds its output to the accumulated multiset.
  void Batch(RecordBatch in) {
    OperatorContext ctx;
    ctx.batch_id = batch_id_;
    std::vector<RecordBatch> pending;
    pending.push_back(std::move(in));
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      std::vector<RecordBatch> next;
      for (auto& b : pending) {
        Status st = ops_[i]->Process(b, ctx);
        ASSERT_TRUE(st.ok()) << st.ToString();
        if (b.num_rows() > 0) next.push_back(std::move(b));
      }
      Status st = ops_[i]->Finish(ctx, &next);
      ASSERT_TRUE(st.ok()) << st.ToString();
      pending = std::move(next);
    }
    for (const auto& b : pending) {
      for (std::size_t r = 0; r < b.num_rows(); ++r) {
        std::string s = Render(b, r);
        if ((acc_[s] += b.weight(r)) == 0) acc_.erase(s);
      }
    }
    auto txn = cp_->BeginCommit(batch_id_);
    for (auto& t : tables_) t->StageBatch(batch_id_, *txn);
    CommitLogEntry e;
    e.batch_id = batch_id_;
    ASSERT_TRUE(cp_->Commit(std::move(txn), e).ok());
    ++batch_id_;
  }
  const std::map<std::string, std::int64_t>& accumulated() const { return acc_; }

 private:
  InMemoryCheckpointStore store_;
  std::unique_ptr<QueryCheckpoint> cp_;
  std::vector<std::shared_ptr<const OperatorSpec>> specs_;
  std::vector<std::unique_ptr<StateTable>> tables_;
  std::vector<std::unique_ptr<Operator>> ops_;
  std::map<std::string, std::int64_t> acc_;
  std::int64_t batch_id_ = 1;
};

// Random batches over a live multiset of rows, mirrored into SQLite.
class Driver {
 public:
  explicit Driver(std::uint64_t seed) : rng_(seed) {}

  RecordBatch Next(Reference& ref) {
    std::vector<std::pair<Row, std::int64_t>> changes;
    int n = Pick(12);
    if (Pick(10) == 0) n = 0;  // an empty batch
    for (int i = 0; i < n; ++i) {
      if (!live_.empty() && Pick(3) == 0) {
        // Retract a live row (sometimes all its copies at once).
        auto it = live_.begin();
        std::advance(it, Pick(static_cast<int>(live_.size())));
        std::int64_t w = Pick(2) == 0 ? it->second.second : 1;
        changes.push_back({it->second.first, -w});
        for (std::int64_t c = 0; c < w; ++c) ref.Delete(it->second.first);
        if ((it->second.second -= w) == 0) live_.erase(it);
      } else {
        Row r;
        static const char* kG[] = {"a", "b", "c"};
        if (Pick(6) != 0) r.g = kG[Pick(3)];
        r.k = Pick(3);
        if (Pick(5) != 0) r.x = Pick(11) - 5;
        if (Pick(5) != 0) r.y = (Pick(41) - 20) / 4.0;
        std::int64_t w = Pick(4) == 0 ? 2 : 1;
        changes.push_back({r, w});
        for (std::int64_t c = 0; c < w; ++c) ref.Insert(r);
        auto& e = live_[r.Key()];
        e.first = r;
        e.second += w;
      }
    }
    RecordBatch b;
    b.row_ids().resize(changes.size());
    Col g(TypeId::kString), k(TypeId::kInt64), x(TypeId::kInt64), y(TypeId::kDouble);
    std::vector<std::int64_t> weights;
    for (const auto& [r, w] : changes) {
      r.g ? g.AppendString(*r.g) : g.AppendNull();
      k.AppendInt(r.k);
      r.x ? x.AppendInt(*r.x) : x.AppendNull();
      r.y ? y.AppendDouble(*r.y) : y.AppendNull();
      weights.push_back(w);
    }
    b.AddColumn("g", std::move(g));
    b.AddColumn("k", std::move(k));
    b.AddColumn("x", std::move(x));
    b.AddColumn("y", std::move(y));
    b.SetWeights(std::move(weights));
    return b;
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<std::uint64_t>(n)); }
  std::mt19937_64 rng_;
  std::map<std::string, std::pair<Row, std::int64_t>> live_;
};

void RunProperty(std::vector<std::shared_ptr<const OperatorSpec>> specs, const std::string& sql,
                 std::uint64_t seed, int batches = 150) {
  Chain chain(std::move(specs));
  Reference ref;
  Driver driver(seed);
  for (int i = 0; i < batches; ++i) {
    SCOPED_TRACE("batch " + std::to_string(i));
    chain.Batch(driver.Next(ref));
    if (::testing::Test::HasFatalFailure()) return;
    auto want = ref.Query(sql);
    ASSERT_EQ(chain.accumulated(), want) << sql;
    if (i % 17 == 16) chain.Restart();  // from committed state only
  }
}

ViewAggregateCall Call(std::string f, int arg, TypeId type, bool distinct = false,
                       double fraction = 0.5, int filter = -1) {
  ViewAggregateCall c;
  c.function = std::move(f);
  c.arg = arg;
  c.type = type;
  c.distinct = distinct;
  c.fraction = fraction;
  c.filter = filter;
  return c;
}

TEST(ViewOperators, FilterAndProjectKeepWeights) {
  for (std::uint64_t seed : {1, 2, 3}) {
    RunProperty({MakeViewFilter(Expr("x > 0 AND g <> 'b'")),
                 MakeViewProject({Expr("x * 2"), Expr("g || 'z'"), Expr("y")}, {"a", "b", "c"})},
                "SELECT x * 2, g || 'z', y FROM t WHERE x > 0 AND g <> 'b'", seed);
  }
}

TEST(ViewOperators, DistinctEmitsWhenACountCrossesZero) {
  for (std::uint64_t seed : {4, 5, 6}) {
    RunProperty({MakeViewProject({Expr("g"), Expr("x")}, {"g", "x"}), MakeViewDistinct({"g", "x"})},
                "SELECT DISTINCT g, x FROM t", seed);
  }
}

TEST(ViewOperators, GroupedAggregateUnderRetractions) {
  // Input of the aggregate: g, k (the group), x, y, x > 0 (a FILTER).
  ViewAggregateConfig c;
  c.groups = 2;
  c.group_types = {TypeId::kString, TypeId::kInt64};
  c.calls = {Call("count", -1, TypeId::kInt64),
             Call("count", 2, TypeId::kInt64),
             Call("count", 2, TypeId::kInt64, true),
             Call("sum", 2, TypeId::kInt64),
             Call("avg", 2, TypeId::kDouble),
             Call("min", 2, TypeId::kInt64),
             Call("max", 2, TypeId::kInt64),
             Call("median", 2, TypeId::kInt64),
             Call("percentile_approx", 2, TypeId::kInt64, false, 0.25),
             Call("sum", 3, TypeId::kDouble),
             Call("avg", 3, TypeId::kDouble),
             Call("min", 3, TypeId::kDouble),
             Call("max", 3, TypeId::kDouble),
             Call("median", 3, TypeId::kDouble),
             Call("sum", 2, TypeId::kInt64, true),
             Call("count", -1, TypeId::kInt64, false, 0.5, 4),
             Call("max", 3, TypeId::kDouble, false, 0.5, 4)};
  for (std::size_t i = 0; i < 2 + c.calls.size(); ++i) c.names.push_back("c" + std::to_string(i));
  c.fingerprint = "test";
  for (std::uint64_t seed : {7, 8, 9}) {
    RunProperty(
        {MakeViewProject({Expr("g"), Expr("k"), Expr("x"), Expr("y"), Expr("x > 0")},
                         {"g", "k", "x", "y", "f"}),
         MakeViewAggregate(c)},
        "SELECT g, k, count(*), count(x), count(DISTINCT x), sum(x), avg(x), min(x), max(x), "
        "median(x), percentile_approx(x, 0.25), sum(y), avg(y), min(y), max(y), median(y), "
        "sum(DISTINCT x), count(*) FILTER (WHERE x > 0), max(y) FILTER (WHERE x > 0) "
        "FROM t GROUP BY g, k",
        seed);
  }
}

TEST(ViewOperators, GlobalAggregateHasItsRowFromTheStart) {
  ViewAggregateConfig c;
  c.calls = {Call("count", -1, TypeId::kInt64), Call("sum", 0, TypeId::kInt64),
             Call("max", 1, TypeId::kDouble), Call("median", 0, TypeId::kInt64)};
  c.names = {"n", "s", "m", "med"};
  c.fingerprint = "test";
  for (std::uint64_t seed : {10, 11}) {
    RunProperty({MakeViewProject({Expr("x"), Expr("y")}, {"x", "y"}), MakeViewAggregate(c)},
                "SELECT count(*), sum(x), max(y), median(x) FROM t", seed);
  }
}

TEST(ViewOperators, AGlobalAggregatesRowIsOnTheShardOfTheEmptyKeyOnly) {
  ViewAggregateConfig c;
  c.calls = {Call("count", -1, TypeId::kInt64)};
  c.names = {"n"};
  c.fingerprint = "test";
  auto spec = MakeViewAggregate(c);
  EXPECT_TRUE(spec->gathers_all_rows());
  InMemoryCheckpointStore store;
  auto cp = std::move(store.OpenQuery("v")).value();
  std::size_t rows = 0;
  for (int shard = 0; shard < 3; ++shard) {
    StateTable table(cp.get(), "v/0", shard, 3, 1 << 16);
    ASSERT_TRUE(table.Open().ok());
    OperatorInitContext ctx;
    ctx.shard = shard;
    ctx.num_shards = 3;
    ctx.table = &table;
    auto op = spec->Create(ctx);
    ASSERT_TRUE(op.ok()) << op.status().ToString();
    OperatorContext octx;
    std::vector<RecordBatch> out;
    ASSERT_TRUE((*op)->Finish(octx, &out).ok());
    std::size_t n = 0;
    for (const auto& b : out) n += b.num_rows();
    EXPECT_EQ(n, shard == ShardOfHash(HashBytes(""), 3) ? 1u : 0u) << "shard " << shard;
    rows += n;
  }
  EXPECT_EQ(rows, 1u);
}

TEST(ViewOperators, AggregateOverAggregate) {
  // count per g, then how many groups have each count: retractions flow through two stages.
  ViewAggregateConfig per_g;
  per_g.groups = 1;
  per_g.group_types = {TypeId::kString};
  per_g.calls = {Call("count", -1, TypeId::kInt64)};
  per_g.names = {"g", "n"};
  per_g.fingerprint = "a";
  ViewAggregateConfig per_n;
  per_n.groups = 1;
  per_n.group_types = {TypeId::kInt64};
  per_n.calls = {Call("count", -1, TypeId::kInt64)};
  per_n.names = {"n", "groups"};
  per_n.fingerprint = "b";
  RunProperty({MakeViewProject({Expr("g")}, {"g"}), MakeViewAggregate(per_g),
               MakeViewProject({*ScalarExpr::Compile(ColumnRef(1, "n", TypeId::kInt64))}, {"n"}),
               MakeViewAggregate(per_n)},
              "SELECT n, count(*) FROM (SELECT g, count(*) AS n FROM t GROUP BY g) GROUP BY n", 12);
}

}  // namespace
}  // namespace pinstream::views
