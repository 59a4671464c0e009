// A flipped byte on disk — in a table chunk, a table log entry, a checkpoint entry or the source
// log — is detected (RocksDB's block checksums, verified on every read) and reported as
// corruption naming what it hit: never a crash, never rows read as data.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "engine/checkpoint.h"
#include "state/checkpoint_store.h"
#include "state/delta_table.h"
#include "state/source_log.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::state {
namespace {

namespace fs = std::filesystem;
using pinstream::testing::TempDir;

// Flips one byte in the middle of the first occurrence of `needle` in the store's SST files (the
// store is closed). Returns the file it changed, empty when the bytes are in none.
std::string FlipByteOf(const std::string& dir, const std::string& needle) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".sst") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t at = bytes.find(needle);
    if (at == std::string::npos) continue;
    std::fstream out(e.path(), std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(at + needle.size() / 2));
    char c = static_cast<char>(bytes[at + needle.size() / 2] ^ 0x20);
    out.write(&c, 1);
    return e.path().string();
  }
  return "";
}

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(bool ingest = false) {
    log_.reset();
    store_.reset();  // one store per data dir at a time
    StoreOptions o;
    o.data_dir = dir_.path() + "/data";
    // Uncompressed blocks and chunks: the test finds the bytes it flips by their content.
    o.compression = "none";
    o.table_compression = "none";
    // Each version's chunks as an SST file of its own, apart from the table log's entries.
    if (ingest) o.ingest_min_bytes = 1;
    store_ = std::move(Store::Open(o)).value();
  }
  // Everything into SST files (not the WAL), then closed.
  void FlushAndClose() {
    ASSERT_TRUE(store_->Flush().ok());
    log_.reset();
    store_.reset();
  }
  // Closes the store, flips a byte of `needle` in its SST files and opens the store and the source
  // log again (which must open: the tests damage batches the log's bounds step around).
  void ReopenLogDamaging(const std::string& needle) {
    FlushAndClose();
    ASSERT_FALSE(FlipByteOf(dir_.path() + "/data", needle).empty()) << needle;
    Open();
    auto opened = SourceLog::Open(store_.get(), {});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    log_ = std::move(opened).value();
  }
  Status WriteRows(DeltaTable* t, const RecordBatch& rows) {
    auto txn = store_->BeginTxn();
    PS_RETURN_IF_ERROR(t->StageWrite(*txn, rows, {}));
    return store_->Commit(std::move(txn));
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<SourceLog> log_;
};

RecordBatch Names(const std::string& prefix, int n) {
  RecordBatch b;
  Column id(TypeId::kInt64), name(TypeId::kString);
  for (int i = 0; i < n; ++i) {
    b.row_ids().push_back(static_cast<RowId>(i));
    id.AppendInt(i);
    name.AppendString(prefix + std::to_string(i));
  }
  b.AddColumn("id", std::move(id));
  b.AddColumn("name", std::move(name));
  return b;
}

TEST_F(CorruptionTest, AFlippedByteInATableChunkFailsTheReadNamingTheTableAndVersion) {
  Open(true);
  DeltaTable* t = *store_->Table("pins", true);
  ASSERT_TRUE(WriteRows(t, Names("first-version-row-", 50)).ok());
  ASSERT_TRUE(WriteRows(t, Names("second-version-row-", 50)).ok());
  // A third version after it: the table's last chunk block before its log is read by the log's
  // backward seeks when the table opens (a damaged one there fails the open, naming the table).
  ASSERT_TRUE(WriteRows(t, Names("third-version-row-", 50)).ok());
  FlushAndClose();
  ASSERT_FALSE(FlipByteOf(dir_.path() + "/data", "second-version-row-17").empty());
  Open(true);
  auto table = store_->Table("pins", false);
  ASSERT_TRUE(table.ok()) << table.status().ToString();  // the log is intact
  auto v0 = (*table)->Snapshot(0);
  ASSERT_TRUE(v0.ok());
  auto rows0 = (*v0)->ReadAll();
  ASSERT_TRUE(rows0.ok()) << rows0.status().ToString();
  EXPECT_EQ(rows0->num_rows(), 50u);  // version 0's chunk is intact
  auto latest = (*table)->Snapshot();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  // Through the pull cursor, as SQL reads: version 0's chunk, then the error.
  auto cursor = (*latest)->OpenCursor();
  auto step = cursor->NextChunk();
  ASSERT_TRUE(step.ok()) << step.status().ToString();
  EXPECT_EQ(cursor->chunk_version(), 0);
  step = cursor->NextChunk();
  ASSERT_FALSE(step.ok()) << "step " << static_cast<int>(*step) << " at version "
                          << cursor->chunk_version();
  EXPECT_NE(step.status().message().find("table 'pins' version 1:"), std::string::npos)
      << step.status().ToString();
  auto rows = (*latest)->ReadAll();
  ASSERT_FALSE(rows.ok()) << "a damaged chunk was read as " << rows->num_rows() << " rows";
  EXPECT_EQ(rows.status().code(), StatusCode::kCorruption) << rows.status().ToString();
  EXPECT_NE(rows.status().message().find("'pins'"), std::string::npos) << rows.status().ToString();
  EXPECT_NE(rows.status().message().find("version 1:"), std::string::npos)
      << rows.status().ToString();
  EXPECT_NE(rows.status().message().find("checksum"), std::string::npos)
      << rows.status().ToString();
}

// Scans that read part of the versions — a version filter (SQL WHERE on statistics), a range
// of versions (OPTIMIZE, a table read as a stream) — check the chunks they found against the
// versions' statistics: RocksDB 7.8.3's merging iterator can step over a damaged file with an OK
// status, and such a scan must not answer fewer rows.
TEST_F(CorruptionTest, FilteredAndRangeScansOfADamagedVersionFailNamingIt) {
  Open(true);
  DeltaTable* t = *store_->Table("pins", true);
  ASSERT_TRUE(WriteRows(t, Names("first-version-row-", 50)).ok());
  ASSERT_TRUE(WriteRows(t, Names("second-version-row-", 50)).ok());
  ASSERT_TRUE(WriteRows(t, Names("third-version-row-", 50)).ok());
  ASSERT_TRUE(WriteRows(t, Names("fourth-version-row-", 50)).ok());
  FlushAndClose();
  ASSERT_FALSE(FlipByteOf(dir_.path() + "/data", "second-version-row-17").empty());
  Open(true);
  auto table = store_->Table("pins", false);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  auto latest = (*table)->Snapshot();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  auto scan = [&](const VersionFilter& keep, std::size_t* rows) {
    *rows = 0;
    return (*latest)->ScanVersions(nullptr, keep, [&](RecordBatch b) {
      *rows += b.num_rows();
      return Status::Ok();
    });
  };
  std::size_t rows = 0;
  // A filter that keeps every version (as `WHERE id >= 0` does).
  Status st = scan([](const VersionStats&) { return true; }, &rows);
  ASSERT_FALSE(st.ok()) << "a filtered scan of a damaged version answered " << rows << " rows";
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("table 'pins' version 1"), std::string::npos) << st.ToString();
  // A filter that skips the damaged version by its statistics does not need its chunks.
  st = scan([](const VersionStats& v) { return v.version != 1; }, &rows);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rows, 150u);
  // A range of versions, unfiltered (OPTIMIZE's and a delta source's reads).
  std::vector<VersionRange> only = {{1, 3}};
  auto cursor = (*latest)->OpenCursor(nullptr, &only);
  rows = 0;
  for (;;) {
    auto step = cursor->NextChunk();
    if (!step.ok()) {
      st = step.status();
      break;
    }
    if (*step == ScanStep::kFinished) {
      st = Status::Ok();
      break;
    }
    rows += cursor->chunk_rows();
  }
  ASSERT_FALSE(st.ok()) << "a range scan of a damaged version answered " << rows << " rows";
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("table 'pins' version"), std::string::npos) << st.ToString();
  // Time travel to before the damage, filtered, reads version 0.
  auto v0 = (*table)->Snapshot(0);
  ASSERT_TRUE(v0.ok());
  rows = 0;
  st = (*v0)->ScanVersions(
      nullptr, [](const VersionStats&) { return true; },
      [&](RecordBatch b) {
        rows += b.num_rows();
        return Status::Ok();
      });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rows, 50u);
}

// The end-of-scan count of a filtered scan comes from the versions' statistics, read through the
// same RocksDB: a statistics entry skipped with its version's chunks (a damaged level RocksDB
// 7.8.3 steps over while another level goes on; simulated here by deleting both) would lower what
// the scan expects, and it answered the other versions' rows with no error. The statistics of the
// whole live set are checked against the log's chunk count: the scan fails, not trusting them.
TEST_F(CorruptionTest, AMissingStatisticsEntryFailsAFilteredScanInsteadOfBeingTrusted) {
  DeltaTable* t = *store_->Table("pins", true);
  ASSERT_TRUE(WriteRows(t, Names("first-version-row-", 50)).ok());
  ASSERT_TRUE(WriteRows(t, Names("second-version-row-", 50)).ok());
  ASSERT_TRUE(WriteRows(t, Names("third-version-row-", 50)).ok());
  auto txn = store_->BeginTxn();
  txn->Delete(KeySpace::kTables, TableVersionKey(t->id(), 'T', 1));
  txn->DeleteRange(KeySpace::kTables, TableVersionKey(t->id(), 'C', 1),
                   TableVersionKey(t->id(), 'C', 2));
  ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  auto latest = t->Snapshot();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  std::size_t rows = 0;
  Status st = (*latest)->ScanVersions(
      nullptr, [](const VersionStats&) { return true; },
      [&](RecordBatch b) {
        rows += b.num_rows();
        return Status::Ok();
      });
  ASSERT_FALSE(st.ok()) << "a filtered scan trusted incomplete statistics: " << rows << " rows";
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("table 'pins' version 2: the statistics of its versions list 2 "
                              "chunks, its log 3"),
            std::string::npos)
      << st.ToString();
  // Unfiltered, the log's own count already tells.
  st = (*latest)->Scan(nullptr, [&](RecordBatch) { return Status::Ok(); });
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
}

TEST_F(CorruptionTest, AFlippedByteInATableLogEntryIsReportedNamingTheTable) {
  DeltaTable* t = *store_->Table("pins", true);
  ASSERT_TRUE(WriteRows(t, Names("row-", 5)).ok());
  FlushAndClose();
  // The log entry's JSON (the commit info's operation).
  ASSERT_FALSE(FlipByteOf(dir_.path() + "/data", "operationParameters").empty());
  Open();
  auto table = store_->Table("pins", false);
  ASSERT_FALSE(table.ok()) << "a damaged table log was read";
  EXPECT_EQ(table.status().code(), StatusCode::kCorruption) << table.status().ToString();
  EXPECT_NE(table.status().message().find("'pins'"), std::string::npos)
      << table.status().ToString();
}

TEST_F(CorruptionTest, AFlippedByteInACheckpointEntryIsReportedNamingTheQueryAndBatch) {
  RocksCheckpointStore cps(store_.get());
  {
    auto cp = std::move(cps.OpenQuery("clean_pins")).value();
    OffsetLogEntry e;
    e.batch_id = 7;
    e.sources["a_source_name_to_find"]["0"] = 1234;
    ASSERT_TRUE(cp->WriteOffsets(e).ok());
  }
  FlushAndClose();
  ASSERT_FALSE(FlipByteOf(dir_.path() + "/data", "a_source_name_to_find").empty());
  Open();
  RocksCheckpointStore again(store_.get());
  auto cp = again.OpenQuery("clean_pins");
  Status st = cp.ok() ? (*cp)->GetOffsets(7).status() : cp.status();
  ASSERT_FALSE(st.ok()) << "a damaged offsets entry was read";
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("query 'clean_pins'"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("offsets/7"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("checkpoint rewind"), std::string::npos) << st.ToString();
}

// A query's operator state restored from three SST files below L0 (ingested), the middle one
// damaged in its first block: RocksDB 7.8.3's iterator ends at it with an OK status; the restore
// scan fails naming the query instead of restoring a third of the state, and so does a cursor.
TEST_F(CorruptionTest, ADamagedStateFileFailsTheRestoreScanNamingTheQuery) {
  for (const char* part : {"a", "b", "c"}) {
    std::vector<std::pair<std::string, std::string>> rows;
    for (int i = 0; i < 20; ++i) {
      rows.emplace_back(std::string("agg/1") + '\0' + part + std::to_string(100 + i),
                        std::string(part) + "-state-entry-" + std::to_string(i));
    }
    std::vector<std::pair<std::string, std::string_view>> entries(rows.begin(), rows.end());
    ASSERT_TRUE(store_->IngestSorted(KeySpace::kState, entries).ok());
  }
  FlushAndClose();
  ASSERT_FALSE(FlipByteOf(dir_.path() + "/data", "b-state-entry-3").empty());
  Open();
  RocksCheckpointStore cps(store_.get());
  auto cp = std::move(cps.OpenQuery("agg")).value();
  int seen = 0;
  Status st = cp->ScanState(std::string("agg/1") + '\0',
                            [&](std::string_view, std::string_view) { ++seen; });
  ASSERT_FALSE(st.ok()) << "a damaged state file was stepped over: " << seen << " entries";
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("query 'agg': reading its state"), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.ToString();

  // The same damage under a StateTable's cursor (an operator's Scan of its committed state): it
  // fails instead of ending early at the damaged file.
  auto cursor = cp->NewStateCursor(std::string("agg/1") + '\0', std::string("agg/1") + '\1');
  seen = 0;
  for (; cursor->Valid(); cursor->Next()) ++seen;
  st = cursor->status();
  ASSERT_FALSE(st.ok()) << "a state cursor stepped over a damaged state file: " << seen
                        << " entries";
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.ToString();
}

TEST_F(CorruptionTest, AFlippedByteInTheSourceLogFailsTheReadNamingStreamPartitionAndOffsets) {
  log_ = std::move(SourceLog::Open(store_.get(), {})).value();
  ASSERT_TRUE(log_->Create("pin.topic", 1, LogApi::kKafkaTopic).ok());
  // Four record batches of ~80 KB, each a 64 KiB block of its own: the second is damaged (the
  // first and the last two are read when the log opens: a backward seek reads the entry before).
  for (const char* tag : {"first", "second", "third", "fourth"}) {
    std::vector<LogRecord> recs;
    for (int i = 0; i < 20; ++i) {
      LogRecord r;
      r.value = "{\"record\": \"" + std::string(tag) + "-source-log-record-" +
                std::to_string(i) + "\", \"pad\": \"" + std::string(4000, 'x') + "\"}";
      recs.push_back(std::move(r));
    }
    ASSERT_TRUE(log_->Append("pin.topic", std::move(recs)).ok());
  }
  // The first and last batches are intact: the log opens with its bounds read from them.
  ASSERT_NO_FATAL_FAILURE(ReopenLogDamaging("second-source-log-record-11"));
  int seen = 0;
  Status st = log_->Read("pin.topic", 0, 0, 80, [&](const SourceLog::ReadRecord&) {
    ++seen;
    return Status::Ok();
  });
  ASSERT_FALSE(st.ok()) << "a damaged log batch was read (" << seen << " records)";
  EXPECT_EQ(seen, 20);  // the first batch, then the damaged one stops the read
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("'pin.topic' partition 0 offset 20"), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.ToString();
  // Reading past the damaged batch works: the fourth batch is intact (a read that starts in the
  // third may report the second: RocksDB's backward seek reads the entry before).
  seen = 0;
  st = log_->Read("pin.topic", 0, 60, 80, [&](const SourceLog::ReadRecord&) {
    ++seen;
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(seen, 20);
}

// The source log's files below L0 (each flush one file, compactions move them down without
// rewriting them), the third of five damaged in its first block: RocksDB 7.8.3's iterator ends
// at it with an OK status, which the reader took for records missing from the log ("records
// 40..99 are not in the log"). The store's iterator confirms the end: the read fails naming the
// damage — the checksum, the partition and the batch.
TEST_F(CorruptionTest, ASourceLogReadStoppedEarlyByADamagedFileNamesTheDamagedBatch) {
  log_ = std::move(SourceLog::Open(store_.get(), {})).value();
  ASSERT_TRUE(log_->Create("pin.topic", 1, LogApi::kKafkaTopic).ok());
  for (const char* tag : {"first", "second", "third", "fourth", "fifth"}) {
    std::vector<LogRecord> recs;
    for (int i = 0; i < 20; ++i) {
      LogRecord r;
      r.value = "{\"record\": \"" + std::string(tag) + "-source-log-record-" +
                std::to_string(i) + "\", \"pad\": \"" + std::string(200, 'x') + "\"}";
      recs.push_back(std::move(r));
    }
    ASSERT_TRUE(log_->Append("pin.topic", std::move(recs)).ok());
    ASSERT_TRUE(store_->Flush().ok());  // one file per batch
  }
  ASSERT_TRUE(store_->WaitForBackgroundWork(std::chrono::seconds(30)));
  // The first and last batches are intact: the log opens with its bounds read from them.
  ASSERT_NO_FATAL_FAILURE(ReopenLogDamaging("third-source-log-record-0"));
  int seen = 0;
  Status st = log_->Read("pin.topic", 0, 0, 100, [&](const SourceLog::ReadRecord&) {
    ++seen;
    return Status::Ok();
  });
  ASSERT_FALSE(st.ok()) << "a damaged log file was stepped over (" << seen << " records)";
  EXPECT_EQ(seen, 40);
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("'pin.topic' partition 0 offset 40"), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("the batch at offset 40"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.ToString();
}

// Five batches of 20 records in partition 0 of a two-partition topic, each flushed into a file
// of its own, and one batch of 5 in partition 1; then the store is closed.
void WriteFiveFlushedBatches(Store* store, std::unique_ptr<SourceLog>* log) {
  *log = std::move(SourceLog::Open(store, {})).value();
  ASSERT_TRUE((*log)->Create("pin.topic", 2, LogApi::kKafkaTopic).ok());
  for (const char* tag : {"first", "second", "third", "fourth", "fifth"}) {
    std::vector<LogRecord> recs;
    for (int i = 0; i < 20; ++i) {
      LogRecord r;
      r.value = "{\"record\": \"" + std::string(tag) + "-batch-record-" + std::to_string(i) +
                "\", \"pad\": \"" + std::string(200, 'x') + "\"}";
      recs.push_back(std::move(r));
    }
    ASSERT_TRUE((*log)->Append("pin.topic", std::move(recs)).ok());
    ASSERT_TRUE(store->Flush().ok());
  }
  std::vector<LogRecord> other(5);
  for (auto& r : other) {
    r.partition = 1;
    r.value = "{\"record\": \"other-partition\"}";
  }
  ASSERT_TRUE((*log)->Append("pin.topic", std::move(other)).ok());
}

Status ReadAll(SourceLog& log, int partition, std::int64_t start, std::int64_t end, int* seen) {
  *seen = 0;
  return log.Read("pin.topic", partition, start, end, [&](const SourceLog::ReadRecord&) {
    ++*seen;
    return Status::Ok();
  });
}

LogRecord Record(int partition) {
  LogRecord r;
  r.partition = partition;
  r.value = "{\"record\": \"after the damage\"}";
  return r;
}

// A damaged first batch (its only block): the log opens, the partition starts at the batch's
// offset (the damaged file's first key), appends get the next offsets, reading the batch fails
// naming it and reading after it works.
TEST_F(CorruptionTest, ADamagedFirstSourceLogBatchLeavesThePartitionOpenForAppends) {
  WriteFiveFlushedBatches(store_.get(), &log_);
  ASSERT_NO_FATAL_FAILURE(ReopenLogDamaging("first-batch-record-3"));
  auto bounds = log_->Bounds("pin.topic", 0);
  ASSERT_TRUE(bounds.ok());
  EXPECT_EQ(bounds->first, 0);
  EXPECT_EQ(bounds->second, 100);
  auto appended = log_->Append("pin.topic", {Record(0), Record(0)});
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_EQ((*appended)[0].offset, 100);
  EXPECT_EQ((*appended)[1].offset, 101);
  int seen = 0;
  Status st = ReadAll(*log_, 0, 0, 102, &seen);
  ASSERT_FALSE(st.ok()) << seen << " records read";
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("'pin.topic' partition 0 offset 0"), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("the batch at offset 0"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.ToString();
  st = ReadAll(*log_, 0, 20, 102, &seen);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(seen, 82);
}

// A damaged batch before the last one: the backward seek to the last batch reads it too and
// fails, so the log reads the last batch forward — the end is known and appends go on.
TEST_F(CorruptionTest, ADamagedBatchBeforeTheLastStillGivesTheEndOffset) {
  WriteFiveFlushedBatches(store_.get(), &log_);
  ASSERT_NO_FATAL_FAILURE(ReopenLogDamaging("fourth-batch-record-3"));
  EXPECT_EQ(log_->Bounds("pin.topic", 0)->second, 100);
  auto appended = log_->Append("pin.topic", {Record(0)});
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_EQ((*appended)[0].offset, 100);
  int seen = 0;
  Status st = ReadAll(*log_, 0, 0, 101, &seen);
  EXPECT_EQ(seen, 60);
  EXPECT_NE(st.message().find("'pin.topic' partition 0 offset 60"), std::string::npos)
      << st.ToString();
}

// A damaged last batch: its record count — the partition's next offset — is unknown. The log
// opens; appends to that partition are refused naming it (never an offset twice), the other
// partition takes records; reading reaches the damaged batch and fails naming it.
TEST_F(CorruptionTest, ADamagedLastSourceLogBatchRefusesAppendsToItsPartitionOnly) {
  WriteFiveFlushedBatches(store_.get(), &log_);
  ASSERT_NO_FATAL_FAILURE(ReopenLogDamaging("fifth-batch-record-3"));
  auto bounds = log_->Bounds("pin.topic", 0);
  ASSERT_TRUE(bounds.ok());
  EXPECT_EQ(bounds->second, 81);  // one past the damaged batch's base: readers reach it
  auto refused = log_->Append("pin.topic", {Record(0)});
  ASSERT_FALSE(refused.ok()) << "an offset after a batch of unknown size was given out";
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("'pin.topic' partition 0: its last record batch "
                                            "(offset 80) is damaged"),
            std::string::npos)
      << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("appends to it are refused"), std::string::npos)
      << refused.status().ToString();
  auto other = log_->Append("pin.topic", {Record(1)});
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ((*other)[0].offset, 5);
  int seen = 0;
  Status st = ReadAll(*log_, 0, 0, bounds->second, &seen);
  EXPECT_EQ(seen, 80);
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("'pin.topic' partition 0 offset 80"), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find("the batch at offset 80"), std::string::npos) << st.ToString();
  // A consumer that had read the whole batch before the damage sees no end below its offset.
  log_->Commit("q", "pin.topic", {{"0", 100}});
  EXPECT_EQ(log_->Bounds("pin.topic", 0)->second, 100);
}

}  // namespace
}  // namespace pinstream::state
