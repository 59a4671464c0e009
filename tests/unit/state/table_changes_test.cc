// A version's changes as weighted rows (state/table_changes.h): appends are +1 rows, a changes
// commit's deleted rows come first with -1, an overwrite retracts everything before it, and
// versions without a data change have none.
#include "state/table_changes.h"

#include <gtest/gtest.h>

#include "state/delta_table.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::state {
namespace {

using pinstream::testing::StringBatch;

class TableChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.data_dir = dir_.path();
    store_ = std::move(Store::Open(o)).value();
    t_ = *store_->Table("t", true);
  }
  void Append(const RecordBatch& rows, bool overwrite = false) {
    auto txn = store_->BeginTxn();
    WriteOptions opt;
    opt.overwrite = overwrite;
    ASSERT_TRUE(t_->StageWrite(*txn, rows, opt).ok());
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  }
  void Changes(RecordBatch rows, std::vector<std::int64_t> weights) {
    rows.SetWeights(std::move(weights));
    auto txn = store_->BeginTxn();
    ASSERT_TRUE(t_->StageChanges(*txn, std::span<const RecordBatch>(&rows, 1), {"id"}, {}).ok());
    ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  }
  // "<weight><id>:<name>" per change row of version v, in order.
  std::vector<std::string> ChangesOf(std::int64_t v) {
    CommitInfo c = *t_->Commit(v);
    std::vector<std::string> out;
    Status st = ScanVersionChanges(*t_, c, {}, [&](RecordBatch&& b) {
      auto ids = testing::ColumnStrings(b, "id");
      auto names = testing::ColumnStrings(b, "name");
      for (std::size_t i = 0; i < b.num_rows(); ++i)
        out.push_back((b.weight(i) > 0 ? "+" : "-") + ids[i] + ":" + names[i]);
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(static_cast<std::int64_t>(out.size()), ChangeRowCount(c)) << "version " << v;
    return out;
  }
  pinstream::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  DeltaTable* t_ = nullptr;
};

TEST_F(TableChangesTest, AppendsAreInsertsAndChangesCommitsRetractTheRowsTheyDeleted) {
  Append(StringBatch({"id", "name"}, {{"1", "a"}, {"2", "b"}, {"3", "c"}}));
  Append(StringBatch({"id", "name"}, {{"4", "d"}}));
  EXPECT_EQ(ChangesOf(0), (std::vector<std::string>{"+1:a", "+2:b", "+3:c"}));
  // Key 2 changes its value, key 3 goes away, key 5 arrives: the deleted rows (as stored, in the
  // chunk's row order) come first.
  Changes(StringBatch({"id", "name"}, {{"3", "x"}, {"2", "b"}, {"2", "B"}, {"5", "e"}}),
          {-1, -1, +1, +1});
  EXPECT_EQ(ChangesOf(2), (std::vector<std::string>{"-2:b", "-3:c", "+2:B", "+5:e"}));
  // A later retraction of a row a changes commit inserted.
  Changes(StringBatch({"id", "name"}, {{"5", "e"}}), {-1});
  EXPECT_EQ(ChangesOf(3), (std::vector<std::string>{"-5:e"}));
}

TEST_F(TableChangesTest, AnOverwriteRetractsEveryRowLiveBeforeIt) {
  Append(StringBatch({"id", "name"}, {{"1", "a"}, {"2", "b"}}));
  Append(StringBatch({"id", "name"}, {{"3", "c"}}));
  Append(StringBatch({"id", "name"}, {{"9", "z"}}), /*overwrite=*/true);
  EXPECT_EQ(ChangesOf(2), (std::vector<std::string>{"-1:a", "-2:b", "-3:c", "+9:z"}));
}

TEST_F(TableChangesTest, AVersionWithoutDataChangeHasNoChangeRows) {
  CommitInfo c;
  c.rows_added = 10;
  c.rows_removed = 10;
  c.data_change = false;  // OPTIMIZE
  EXPECT_EQ(ChangeRowCount(c), 0);
  c.data_change = true;
  EXPECT_EQ(ChangeRowCount(c), 20);
}

}  // namespace
}  // namespace pinstream::state
