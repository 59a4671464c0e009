#include "tests/testing/test_util.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/row_format.h"

namespace pinstream::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  char tmpl[] = "/tmp/pinstream-test-XXXXXX";
  char* p = ::mkdtemp(tmpl);
  if (p == nullptr) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void TempDir::Write(const std::string& name, const std::string& content) const {
  fs::path p = fs::path(path_) / name;
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << content;
}

std::vector<std::string> ThreadNames() {
  std::vector<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "comm");
    std::string name;
    if (std::getline(in, name)) names.push_back(name);  // a thread that just ended has no comm
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(
        std::chrono::milliseconds(5));  // poll interval, not a wait-and-hope
  }
  return cond();
}

RecordBatch StringBatch(const std::vector<std::string>& names,
                        const std::vector<std::vector<std::string>>& rows) {
  RecordBatch b;
  for (std::size_t r = 0; r < rows.size(); ++r) b.row_ids().push_back(r);
  for (std::size_t c = 0; c < names.size(); ++c) {
    Column col(TypeId::kString);
    for (const auto& row : rows) {
      if (row[c] == kNull)
        col.AppendNull();
      else
        col.AppendString(row[c]);
    }
    b.AddColumn(names[c], std::move(col));
  }
  return b;
}

std::vector<std::string> ColumnStrings(const RecordBatch& b, const std::string& column) {
  std::vector<std::string> out;
  int c = b.FindColumn(column);
  if (c < 0) return {"<no column " + column + ">"};
  for (std::size_t r = 0; r < b.num_rows(); ++r)
    out.push_back(DisplayValue(b.column(static_cast<std::size_t>(c)), r));
  return out;
}

std::string SourceRoot() { return PINSTREAM_SOURCE_DIR; }
std::string PinterestDataDir() {
  return (fs::path(PINSTREAM_SOURCE_DIR) / "tests" / "data" / "pinterest").string();
}
std::string PinstreamBinary() { return PINSTREAM_BINARY; }

RecordBatch IdNameRows(int from, int to) {
  RecordBatch b;
  Column id(TypeId::kInt64), name(TypeId::kString);
  for (int i = from; i < to; ++i) {
    b.row_ids().push_back(static_cast<RowId>(i - from));
    id.AppendInt(i);
    name.AppendString("n" + std::to_string(i));
  }
  b.AddColumn("id", std::move(id));
  b.AddColumn("name", std::move(name));
  return b;
}

}  // namespace pinstream::testing
