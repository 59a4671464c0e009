// Helpers for pinstream's tests: temp directories, batch builders, waiting on conditions with a
// deadline (tests never sleep to wait), and the path of the bundled data set.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "engine/record_batch.h"

namespace pinstream::testing {

// A fresh directory under /tmp, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  void Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// Polls `cond` until it is true or `timeout` passes; returns its last value.
// The names of this process's threads (/proc/self/task/*/comm), sorted.
std::vector<std::string> ThreadNames();

bool WaitFor(const std::function<bool()>& cond,
             std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Builds a batch from named string columns; "\x01NULL" marks a null.
RecordBatch StringBatch(const std::vector<std::string>& names,
                        const std::vector<std::vector<std::string>>& rows);
inline const char* kNull = "\x01NULL";

// Rows id = from..to-1 (int64) with name "n<id>" (string), row ids 0..n-1.
RecordBatch IdNameRows(int from, int to);

// A column's values rendered with DisplayValue, for compact assertions.
std::vector<std::string> ColumnStrings(const RecordBatch& b, const std::string& column);

// tests/data/pinterest, the data set bundled in the source tree.
std::string PinterestDataDir();
// The source tree root (where CMakeLists.txt is).
std::string SourceRoot();
// The built pinstream binary.
std::string PinstreamBinary();

}  // namespace pinstream::testing
