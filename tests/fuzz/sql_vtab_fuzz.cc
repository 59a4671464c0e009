// libFuzzer target for the SQL layer's virtual tables (state/sql/delta_vtab.cc): the constraints
// SQLite pushes into a scan (xBestIndex/xFilter: `col op value` with any value SQLite can make —
// text, blobs, reals out of range, NULL, hidden `<ts>_us` columns, join keys) and the time-travel
// argument of `T_at(...)` (a version number or a timestamp text). The first byte picks where the
// rest goes in a statement over a three-version table with every column type; any input gives
// rows or an error with a message — never a crash, a hang or UB. A watchdog interrupts a
// statement after 2 s (SQLite can be asked to loop: that is not a finding).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/sql/sql_session.h"
#include "state/store.h"

using namespace pinstream;
using namespace pinstream::state;

namespace {

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

RecordBatch Rows(int from, int to) {
  RecordBatch b;
  Column ind(TypeId::kInt64), cat(TypeId::kString), fc(TypeId::kInt64), ts(TypeId::kTimestamp),
      xy(TypeId::kDoubleArray), ok(TypeId::kBool), score(TypeId::kDouble), raw(TypeId::kRaw);
  for (int i = from; i < to; ++i) {
    b.row_ids().push_back(static_cast<RowId>(i - from));
    ind.AppendInt(i);
    cat.AppendString(i % 3 == 0 ? "art" : (i % 3 == 1 ? "beauty" : "travel"));
    if (i % 7 == 0)
      fc.AppendNull();
    else
      fc.AppendInt(i * 10);
    ts.AppendInt(*ParseTimestamp("2018-01-01 00:00:00") +
                 static_cast<std::int64_t>(i) * 86'400'000'000LL);
    std::vector<double> a{i + 0.5, -1.0 * i};
    xy.AppendArray(a);
    ok.AppendBool(i % 2 == 0);
    score.AppendDouble(i / 4.0);
    raw.AppendString(std::string("\0\xff", 2) + std::to_string(i));
  }
  b.AddColumn("ind", std::move(ind));
  b.AddColumn("category", std::move(cat));
  b.AddColumn("follower_count", std::move(fc));
  b.AddColumn("ts", std::move(ts));
  b.AddColumn("xy", std::move(xy));
  b.AddColumn("ok", std::move(ok));
  b.AddColumn("score", std::move(score));
  b.AddColumn("raw", std::move(raw));
  return b;
}

struct World {
  std::string dir;
  std::unique_ptr<Store> store;
  std::unique_ptr<sql::SqlSession> session;
  // The watchdog: interrupts a statement that runs longer than 2 s.
  std::mutex mu;
  std::condition_variable cv;
  std::chrono::steady_clock::time_point started{};
  bool running = false, stop = false;
  std::thread watchdog;

  World() {
    char tmpl[] = "/tmp/pinstream-sqlfuzz-XXXXXX";
    Require(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    StoreOptions o;
    o.data_dir = dir + "/data";
    store = std::move(Store::Open(o)).value();
    DeltaTable* t = *store->Table("pin", true);
    for (int v = 0; v < 3; ++v) {  // versions 0..2, 16-row chunks, the last one an overwrite
      auto txn = store->BeginTxn();
      WriteOptions w;
      w.rows_per_chunk = 16;
      w.overwrite = v == 2;
      w.operation = w.overwrite ? "WRITE" : "STREAMING UPDATE";
      Require(t->StageWrite(*txn, Rows(v * 40, v * 40 + 50), w).ok());
      Require(store->Commit(std::move(txn)).ok());
    }
    session = std::move(sql::SqlSession::Open(store.get())).value();
    watchdog = std::thread([this] {
      std::unique_lock lock(mu);
      while (!stop) {
        if (running && std::chrono::steady_clock::now() - started > std::chrono::seconds(2)) {
          session->Interrupt();
          running = false;
        }
        cv.wait_for(lock, std::chrono::milliseconds(100));
      }
    });
  }
  ~World() {
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    cv.notify_all();
    watchdog.join();
    session.reset();
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  void Run(const std::string& sql) {
    {
      std::lock_guard lock(mu);
      started = std::chrono::steady_clock::now();
      running = true;
    }
    auto r = session->Query(sql);
    {
      std::lock_guard lock(mu);
      running = false;
    }
    if (!r.ok()) Require(!r.status().message().empty());
  }
};

World* world = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  world = new World();
  std::atexit([] { delete world; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string arg(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 5) {
    case 0:
      world->Run("SELECT * FROM pin WHERE " + arg);
      break;
    case 1:
      world->Run("SELECT count(*), sum(ind), max(ts) FROM pin_at(" + arg + ")");
      break;
    case 2:
      world->Run("SELECT ind, xy, raw FROM pin_at(" + arg + ") WHERE ind > 2 AND category = 'art'");
      break;
    case 3:
      world->Run("SELECT p.ind, q.category FROM pin p JOIN pin_at(1) q ON p.ind = q.ind WHERE " +
                 arg);
      break;
    default:
      world->Run(
          "SELECT ind, ts_us, score FROM pin WHERE ind IN (SELECT ind FROM pin_at(0) WHERE " + arg +
          ") ORDER BY ind");
      break;
  }
  return 0;
}
