#include "state/source_log.h"

#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "engine/bytes.h"
#include "engine/time_util.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::state {
namespace {

using pinstream::testing::TempDir;

// A file system whose WAL files fail their writes or their syncs while told to (disk full, a
// failing disk).
class FaultyWalFs : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultyWalFs(const std::shared_ptr<rocksdb::FileSystem>& base)
      : FileSystemWrapper(base) {}
  static const char* kClassName() { return "FaultyWalFs"; }
  const char* Name() const override { return kClassName(); }

  std::atomic<bool> fail_append{false}, fail_sync{false};
  std::atomic<bool> retryable{
      false};  // sync errors RocksDB may recover from (a remote file system's)

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    return Wrap(f, target()->NewWritableFile(f, o, r, d), r);
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* d) override {
    return Wrap(f, target()->ReopenWritableFile(f, o, r, d), r);
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* d) override {
    return Wrap(f, target()->ReuseWritableFile(f, old, o, r, d), r);
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& f, FaultyWalFs* fs)
        : FSWritableFileOwnerWrapper(std::move(f)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
      if (fs_->fail_append) return rocksdb::IOStatus::NoSpace("injected: no space left on device");
      return FSWritableFileOwnerWrapper::Append(data, o, d);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* d) override {
      if (fs_->fail_append) return rocksdb::IOStatus::NoSpace("injected: no space left on device");
      return FSWritableFileOwnerWrapper::Append(data, o, v, d);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      if (fs_->fail_sync) return Failed("injected: fdatasync failed");
      return FSWritableFileOwnerWrapper::Sync(o, d);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      if (fs_->fail_sync) return Failed("injected: fsync failed");
      return FSWritableFileOwnerWrapper::Fsync(o, d);
    }
    rocksdb::IOStatus Failed(const char* what) const {
      rocksdb::IOStatus s = rocksdb::IOStatus::IOError(what);
      s.SetRetryable(fs_->retryable);
      return s;
    }

   private:
    FaultyWalFs* fs_;
  };
  rocksdb::IOStatus Wrap(const std::string& name, rocksdb::IOStatus s,
                         std::unique_ptr<rocksdb::FSWritableFile>* r) {
    bool wal = name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0;
    if (s.ok() && wal) *r = std::make_unique<File>(std::move(*r), this);
    return s;
  }
};

class SourceLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen(SourceLogOptions lo = {}, std::int64_t write_buffer = 64LL << 20,
              rocksdb::Env* env = nullptr) {
    log_.reset();
    store_.reset();
    StoreOptions o;
    o.data_dir = dir_.path();
    o.env = env;
    o.write_buffer_bytes = write_buffer;
    store_ = std::move(Store::Open(o)).value();
    log_ = std::move(SourceLog::Open(store_.get(), lo)).value();
  }
  static LogRecord Rec(std::string v, int p = 0, std::string key = "") {
    LogRecord r;
    r.value = std::move(v);
    r.partition = p;
    r.has_key = !key.empty();
    r.key = std::move(key);
    return r;
  }
  std::vector<std::string> ReadAll(const std::string& s, int p) {
    std::vector<std::string> out;
    auto b = *log_->Bounds(s, p);
    EXPECT_TRUE(log_->Read(s, p, b.first, b.second,
                           [&](const SourceLog::ReadRecord& r) {
                             out.emplace_back(r.value);
                             return Status::Ok();
                           })
                    .ok());
    return out;
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<SourceLog> log_;
};

TEST_F(SourceLogTest, OffsetsAreDenseInRequestOrderAndSurviveRestarts) {
  ASSERT_TRUE(log_->Create("t", 2, LogApi::kKafkaTopic).ok());
  std::vector<LogRecord> recs{Rec("a", 0), Rec("b", 1), Rec("c", 0)};
  auto r = log_->Append("t", std::move(recs));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].offset, 0);
  EXPECT_EQ((*r)[1].partition, 1);
  EXPECT_EQ((*r)[2].offset, 1);
  Reopen();
  EXPECT_EQ(log_->Find("t")->partitions, 2);
  EXPECT_EQ(log_->Bounds("t", 0)->second, 2);
  auto more = log_->Append("t", std::vector<LogRecord>{Rec("d", 0)});
  EXPECT_EQ((*more)[0].offset, 2);
  EXPECT_EQ(ReadAll("t", 0), (std::vector<std::string>{"a", "c", "d"}));
}

// Listeners learn which streams a group commit appended to (the daemon wakes only the queries
// reading them), after the group is acknowledged; a refused request names nothing.
TEST_F(SourceLogTest, AppendListenersGetTheStreamsThatGotRecords) {
  ASSERT_TRUE(log_->Create("a", 1, LogApi::kKafkaTopic).ok());
  ASSERT_TRUE(log_->Create("b", 1, LogApi::kKafkaTopic).ok());
  // Shared with the listener: the log thread may still call it after the test body ends (it
  // runs after the appends it reports were acknowledged).
  struct Calls {
    std::mutex mu;
    std::vector<std::vector<std::string>> calls;
  };
  auto seen = std::make_shared<Calls>();
  log_->AddAppendListener([seen](const std::vector<std::string>& streams) {
    std::lock_guard lock(seen->mu);
    seen->calls.push_back(streams);
  });
  auto calls_now = [seen] {
    std::lock_guard lock(seen->mu);
    return seen->calls;
  };
  ASSERT_TRUE(log_->Append("a", std::vector<LogRecord>{Rec("x"), Rec("y")}).ok());
  ASSERT_TRUE(pinstream::testing::WaitFor([&] { return calls_now().size() == 1; }));
  EXPECT_EQ(calls_now()[0], std::vector<std::string>{"a"});
  EXPECT_FALSE(log_->Append("b", std::vector<LogRecord>{Rec("bad", 5)}).ok());
  ASSERT_TRUE(log_->Append("b", std::vector<LogRecord>{Rec("z")}).ok());
  ASSERT_TRUE(pinstream::testing::WaitFor([&] { return calls_now().size() >= 2; }));
  for (const auto& c : calls_now()) EXPECT_FALSE(c.empty());  // the refused request: no call
  EXPECT_EQ(calls_now().back(), std::vector<std::string>{"b"});
  // Concurrent appends to both may share a group: each stream is named once.
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i)
        ASSERT_TRUE(log_->Append(t % 2 ? "a" : "b", std::vector<LogRecord>{Rec("r")}).ok());
    });
  }
  for (auto& t : ts) t.join();
  for (const auto& c : calls_now()) {
    std::set<std::string> unique(c.begin(), c.end());
    EXPECT_EQ(unique.size(), c.size());
    for (const auto& s : c) EXPECT_TRUE(s == "a" || s == "b") << s;
  }
}

TEST_F(SourceLogTest, LogThreadIsNamed) {
  // The thread names itself as it starts (with Open()): wait for it.
  for (const char* t : {"log-writer"}) {
    EXPECT_TRUE(pinstream::testing::WaitFor([&] {
      std::vector<std::string> names = pinstream::testing::ThreadNames();
      return std::find(names.begin(), names.end(), t) != names.end();
    })) << t;
  }
}

// The log stores each record in the partition its producer chose (the HTTP APIs choose by key).
TEST_F(SourceLogTest, RecordsGoToTheirGivenPartitionsAndBadPartitionsFailTheWholeRequest) {
  ASSERT_TRUE(log_->Create("t", 4, LogApi::kKafkaTopic).ok());
  auto r = log_->Append("t", std::vector<LogRecord>{Rec("1", 3, "abc"), Rec("2", 3, "abc")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].partition, 3);
  EXPECT_EQ((*r)[1].partition, 3);
  EXPECT_EQ((*r)[1].offset, 1);
  auto bad = log_->Append("t", std::vector<LogRecord>{Rec("x", 0), Rec("y", 9)});
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(log_->Append("t", std::vector<LogRecord>{Rec("x", 0), Rec("z", -1)}).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(log_->Bounds("t", 0)->second, 0);  // "x" was not stored
  EXPECT_EQ(log_->Append("nope", std::vector<LogRecord>{Rec("x")}).status().code(),
            StatusCode::kNotFound);
}

TEST_F(SourceLogTest, ConcurrentAppendsShareGroupCommitsAndLoseNothing) {
  ASSERT_TRUE(log_->Create("t", 3, LogApi::kKinesisStream).ok());
  constexpr int kThreads = 8, kPer = 200;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        auto r = log_->Append("t", std::vector<LogRecord>{Rec(std::to_string(t * kPer + i), i % 3,
                                                              "k" + std::to_string(i))});
        ASSERT_TRUE(r.ok());
      }
    });
  }
  for (auto& t : ts) t.join();
  std::set<std::string> all;
  for (int p = 0; p < 3; ++p) {
    for (auto& v : ReadAll("t", p)) all.insert(v);
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPer));
  EXPECT_LT(log_->stats().group_commits,
            static_cast<std::uint64_t>(kThreads * kPer));  // requests were grouped
}

TEST_F(SourceLogTest, BacklogAndRetentionNeverDropUncommittedRecords) {
  SourceLogOptions lo;
  lo.retention_age_us = 1;  // everything is "old" at once
  Reopen(lo);
  ASSERT_TRUE(log_->Create("t", 1, LogApi::kKafkaTopic).ok());
  log_->RegisterConsumer("q", "t");
  // Two requests, two record batches: retention removes whole batches.
  ASSERT_TRUE(log_->Append("t", std::vector<LogRecord>{Rec("a"), Rec("b")}).ok());
  ASSERT_TRUE(log_->Append("t", std::vector<LogRecord>{Rec("c"), Rec("d")}).ok());
  EXPECT_EQ(log_->MaxBacklog("t"), 4);
  log_->Commit("q", "t", {{"0", 1}});
  EXPECT_EQ(*log_->EnforceRetention(NowMicros() + 10),
            0);  // the first batch is not entirely committed
  log_->Commit("q", "t", {{"0", 2}});
  EXPECT_EQ(log_->Backlog("q"), 2);
  auto deleted = log_->EnforceRetention(NowMicros() + 10);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 2);
  EXPECT_EQ(log_->Bounds("t", 0)->first, 2);
  EXPECT_EQ(ReadAll("t", 0), (std::vector<std::string>{"c", "d"}));
  auto gone = log_->Read("t", 0, 0, 4, [](const SourceLog::ReadRecord&) { return Status::Ok(); });
  EXPECT_EQ(gone.code(), StatusCode::kDataLoss);
  log_->Commit("q", "t", {{"0", 4}});
  ASSERT_TRUE(log_->EnforceRetention(NowMicros() + 10).ok());
  Reopen(lo);  // an emptied partition keeps its offsets going forward
  EXPECT_EQ(log_->Bounds("t", 0)->second, 4);
  EXPECT_EQ((*log_->Append("t", std::vector<LogRecord>{Rec("e")}))[0].offset, 4);
}

TEST_F(SourceLogTest, DeleteRemovesTheStreamAndItsRecords) {
  ASSERT_TRUE(log_->Create("s", 1, LogApi::kKinesisStream).ok());
  EXPECT_EQ(log_->Create("s", 1, LogApi::kKinesisStream).status().code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(log_->Append("s", std::vector<LogRecord>{Rec("a")}).ok());
  ASSERT_TRUE(log_->Delete("s").ok());
  EXPECT_FALSE(log_->Find("s").has_value());
  ASSERT_TRUE(log_->Create("s", 1, LogApi::kKinesisStream).ok());
  EXPECT_TRUE(ReadAll("s", 0).empty());
  EXPECT_EQ(log_->List(LogApi::kKafkaTopic).size(), 0u);
}

TEST_F(SourceLogTest, DeleteDropsTheStreamsColumnFamilies) {
  ASSERT_TRUE(log_->Create("s", 3, LogApi::kKinesisStream).ok());
  ASSERT_TRUE(log_->Create("t", 1, LogApi::kKafkaTopic).ok());
  EXPECT_EQ(store_->LogSpaceNames().size(), 4u);
  ASSERT_TRUE(log_->Delete("s").ok());
  EXPECT_EQ(store_->LogSpaceNames().size(), 1u);
  Reopen();
  EXPECT_EQ(store_->LogSpaceNames().size(), 1u);
}

TEST_F(SourceLogTest, SpacesNoStreamOwnsAreDroppedOnOpen) {
  // What a stop between creating a stream's spaces and writing its entry leaves behind.
  ASSERT_TRUE(store_->OpenLogSpace("log/99/0").ok());
  ASSERT_TRUE(log_->Create("t", 1, LogApi::kKafkaTopic).ok());
  ASSERT_TRUE(log_->Append("t", std::vector<LogRecord>{Rec("a")}).ok());
  Reopen();
  auto names = store_->LogSpaceNames();
  ASSERT_EQ(names.size(), 1u);
  EXPECT_NE(names[0], "log/99/0");
  EXPECT_EQ(ReadAll("t", 0), (std::vector<std::string>{"a"}));
}

// Each partition's keys only grow, so flushed files are moved down the levels, never rewritten.
TEST_F(SourceLogTest, CompactionsMoveTheLogsFilesWithoutRewritingThem) {
  Reopen({}, 1 << 20);  // 1 MiB memtables: many flushes, so L0 compactions run
  ASSERT_TRUE(log_->Create("t", 4, LogApi::kKafkaTopic).ok());
  std::string value(2000, 'x');
  constexpr int kRequests = 600;
  for (int i = 0; i < kRequests; ++i) {
    std::vector<LogRecord> batch;
    for (int r = 0; r < 40; ++r)
      batch.push_back(Rec(value + std::to_string(i * 40 + r), (i * 40 + r) % 4));
    ASSERT_TRUE(log_->Append("t", std::move(batch)).ok());  // 80 KB a request, over 4 partitions
  }
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(store_->WaitForBackgroundWork(std::chrono::seconds(60)));
  Store::CompactionIo io = store_->LogCompactionIo();
  EXPECT_GT(io.moved, 10u << 20);  // compactions ran (48 MB flushed in ~1 MB files) ...
  EXPECT_EQ(io.written, 0u);       // ... and wrote nothing
  std::size_t total = 0;
  for (int p = 0; p < 4; ++p) total += ReadAll("t", p).size();
  EXPECT_EQ(total, static_cast<std::size_t>(kRequests * 40));
}

TEST_F(SourceLogTest, RetentionDropsWholeFilesOfTheLog) {
  SourceLogOptions lo;
  lo.retention_age_us = 1;
  Reopen(lo, 64LL << 20);  // no flush by size: the test lays the files out itself
  ASSERT_TRUE(log_->Create("t", 1, LogApi::kKafkaTopic).ok());
  log_->RegisterConsumer("q", "t");
  std::string value(4000, 'y');
  // Four files of 250 records each, [0, 250) ... [750, 1000): a flush after each quarter, so the
  // layout does not depend on when RocksDB's background flushes run (a slow build, such as
  // TSan's, used to merge several memtables into files reaching past the retained range).
  for (int file = 0; file < 4; ++file) {
    for (int i = 0; i < 25; ++i) {
      ASSERT_TRUE(log_->Append("t", std::vector<LogRecord>(10, Rec(value))).ok());  // 40 KB
    }
    ASSERT_TRUE(store_->Flush().ok());
  }
  ASSERT_TRUE(store_->WaitForBackgroundWork(std::chrono::seconds(60)));
  int files_before = store_->LogCompactionIo().files;
  ASSERT_GT(files_before, 2);
  log_->Commit("q", "t", {{"0", 900}});  // all but the last 100 records
  auto deleted = log_->EnforceRetention(NowMicros() + 10);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 900);
  EXPECT_LT(store_->LogCompactionIo().files, files_before);  // files went without a compaction
  EXPECT_EQ(ReadAll("t", 0).size(), 100u);
  Reopen(lo, 1 << 20);
  EXPECT_EQ(log_->Bounds("t", 0)->first, 900);
  EXPECT_EQ(ReadAll("t", 0).size(), 100u);
}

// A data dir written before log spaces: batches keyed be32(stream) be32(partition) be64(base) in
// the one source_log family. Opening the log moves them into the partitions' own spaces.
TEST_F(SourceLogTest, BatchesOfTheOldSingleFamilyLayoutAreMovedOnOpen) {
  ASSERT_TRUE(log_->Create("t", 2, LogApi::kKafkaTopic).ok());
  std::uint32_t id = 0;
  for (const auto& name : store_->LogSpaceNames())
    id = static_cast<std::uint32_t>(std::stoul(name.substr(4)));
  log_.reset();
  // Two batches in partition 0 (offsets 0–1, 2), one in partition 1 (offset 0), as the old
  // writer stored them: varint arrival, varint count, then (has-key, [key], varint len, value).
  auto legacy_key = [&](std::uint32_t p, std::uint64_t base) {
    std::string k;
    PutBigEndian32(&k, id);
    PutBigEndian32(&k, p);
    PutBigEndian64(&k, base);
    return k;
  };
  auto batch = [](std::vector<std::string> values) {
    std::string v;
    PutVarint64(&v, 1000);
    PutVarint64(&v, values.size());
    for (const auto& x : values) {
      v.push_back(0);
      PutVarint64(&v, x.size());
      v += x;
    }
    return v;
  };
  auto txn = store_->BeginTxn();
  txn->Put(KeySpace::kSourceLog, legacy_key(0, 0), batch({"a", "b"}));
  txn->Put(KeySpace::kSourceLog, legacy_key(0, 2), batch({"c"}));
  txn->Put(KeySpace::kSourceLog, legacy_key(1, 0), batch({"z"}));
  ASSERT_TRUE(store_->Commit(std::move(txn), true).ok());
  Reopen();
  EXPECT_EQ(ReadAll("t", 0), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ReadAll("t", 1), (std::vector<std::string>{"z"}));
  EXPECT_EQ((*log_->Append("t", std::vector<LogRecord>{Rec("d", 0)}))[0].offset, 3);
  EXPECT_FALSE(
      store_->NewIterator(KeySpace::kSourceLog, "")->Valid());  // the old family is empty now
  Reopen();  // and a second open finds nothing to move
  EXPECT_EQ(ReadAll("t", 0), (std::vector<std::string>{"a", "b", "c", "d"}));
}

// What a failed WAL write or sync does to offsets. A group whose write failed (disk full) is not
// in the store: its offsets are handed out again once RocksDB has recovered. A group whose sync
// failed is in the memtable and in a WAL that may or may not be on disk: its offsets are never
// handed out again. RocksDB treats a local fsync failure as fatal (Linux may have dropped the
// dirty pages), so writes are refused until a restart recovers what the disk holds; after a sync
// error it can recover from, its recovery flushes the group, which then becomes readable.
TEST_F(SourceLogTest, FailedWritesGiveTheirOffsetsBackAndFailedSyncsKeepThem) {
  auto fs = std::make_shared<FaultyWalFs>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  Reopen({}, 64LL << 20, env.get());
  ASSERT_TRUE(log_->Create("t", 1, LogApi::kKafkaTopic).ok());
  ASSERT_TRUE(log_->Append("t", std::vector<LogRecord>{Rec("a")}).ok());

  fs->fail_append = true;
  auto b = log_->Append("t", std::vector<LogRecord>{Rec("b")});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("disk full"), std::string::npos) << b.status().ToString();
  // What /ready reports until the store writes again.
  ASSERT_TRUE(store_->write_error().has_value());
  EXPECT_EQ(store_->write_error()->rfind("disk full", 0), 0u) << *store_->write_error();
  EXPECT_TRUE(store_->PendingWriteError().has_value());  // resuming fails while the disk is full
  fs->fail_append = false;
  // RocksDB recovers from a full disk by itself once space is back; until then the log answers
  // Unavailable (retry).
  Result<std::vector<AppendedRecord>> c = Unavailable("not tried");
  EXPECT_TRUE(pinstream::testing::WaitFor([&] {
    c = log_->Append("t", std::vector<LogRecord>{Rec("c")});
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), StatusCode::kUnavailable) << c.status().ToString();
    }
    return c.ok();
  }));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)[0].offset, 1);  // b's offset, handed out again
  EXPECT_FALSE(store_->write_error().has_value());
  EXPECT_FALSE(store_->PendingWriteError().has_value());
  EXPECT_EQ(ReadAll("t", 0), (std::vector<std::string>{"a", "c"}));

  fs->fail_sync = true;
  auto d = log_->Append("t", std::vector<LogRecord>{Rec("d")});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kIOError) << d.status().ToString();
  EXPECT_EQ(log_->Bounds("t", 0)->second, 2);  // not readable: in doubt
  fs->fail_sync = false;
  auto e = log_->Append("t", std::vector<LogRecord>{Rec("e")});
  ASSERT_FALSE(e.ok());  // refused until a restart, with the reason
  EXPECT_NE(e.status().message().find("restart pinstream"), std::string::npos)
      << e.status().ToString();
  ASSERT_TRUE(store_->unrecoverable_error().has_value());  // what /ready reports
  EXPECT_NE(store_->unrecoverable_error()->find("fdatasync failed"), std::string::npos);

  Reopen({}, 64LL << 20, env.get());  // the restart: d's WAL record reached the disk here
  EXPECT_EQ(ReadAll("t", 0), (std::vector<std::string>{"a", "c", "d"}));
  auto f = log_->Append("t", std::vector<LogRecord>{Rec("f")});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)[0].offset, 3);

  // A sync error RocksDB can recover from: its recovery flushes the memtables, so the group that
  // failed to sync is durable once the store writes again, keeps its offset and becomes readable.
  fs->retryable = true;
  fs->fail_sync = true;
  auto g = log_->Append("t", std::vector<LogRecord>{Rec("g")});
  ASSERT_FALSE(g.ok());
  fs->fail_sync = false;
  Result<std::vector<AppendedRecord>> h = Unavailable("not tried");
  EXPECT_TRUE(pinstream::testing::WaitFor([&] {
    h = log_->Append("t", std::vector<LogRecord>{Rec("h")});
    return h.ok();
  }));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ((*h)[0].offset, 5);  // g keeps 4
  EXPECT_EQ(ReadAll("t", 0), (std::vector<std::string>{"a", "c", "d", "f", "g", "h"}));
  log_.reset();
  store_.reset();  // before the Env it uses
}

}  // namespace
}  // namespace pinstream::state
