#include "connectors/sinks/jsonl_sink.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/row_format.h"

namespace pinstream::connectors {

namespace fs = std::filesystem;

namespace {

Status WriteFileDurably(const std::string& dir, const std::string& name, const std::string& data) {
  std::string tmp = fmt::format("{}/.{}.tmp", dir, name);
  std::string dst = fmt::format("{}/{}", dir, name);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return IOError(fmt::format("cannot create '{}': {}", tmp, std::strerror(errno)), true);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return IOError(fmt::format("writing '{}': {}", tmp, std::strerror(e)), e == ENOSPC);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    return IOError(fmt::format("fsync '{}': {}", tmp, std::strerror(e)), true);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), dst.c_str()) != 0) {
    return IOError(fmt::format("rename '{}' → '{}': {}", tmp, dst, std::strerror(errno)), true);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

class JsonlSink : public Sink {
 public:
  explicit JsonlSink(std::string path) : path_(std::move(path)) {}
  std::string_view kind() const override { return "jsonl"; }
  std::string Describe() const override { return fmt::format("FileSink[{}]", path_); }
  Status Open(const SinkContext& ctx) override {
    ctx_ = ctx;
    PS_RETURN_IF_ERROR(RequireInsertOnly(ctx, Describe()));
    std::error_code ec;
    fs::create_directories(path_, ec);
    if (ec)
      return IOError(fmt::format("cannot create output directory '{}': {}", path_, ec.message()));
    return Status::Ok();
  }
  Status Stage(std::int64_t batch_id, const std::vector<RecordBatch>& output, CommitTxn&) override {
    PS_RETURN_IF_ERROR(RefuseRetractions(ctx_, Describe(), output));
    std::string data;
    for (const auto& out : output) {
      data.reserve(data.size() + out.ByteSize() + out.num_rows() * 16);
      for (std::size_t r = 0; r < out.num_rows(); ++r) {
        AppendJsonRow(out, r, &data);
        data.push_back('\n');
      }
    }
    if (data.empty()) return Status::Ok();
    return WriteFileDurably(path_, fmt::format("part-{:08d}.jsonl", batch_id), data);
  }

 private:
  std::string path_;
  SinkContext ctx_;
};

class JsonlSpec : public SinkSpec {
 public:
  explicit JsonlSpec(std::string path) : path_(std::move(path)) {}
  std::string_view kind() const override { return "jsonl"; }
  std::string Descriptor() const override { return path_; }
  Result<std::unique_ptr<Sink>> Create(const SinkCreateContext&) const override {
    return std::unique_ptr<Sink>(std::make_unique<JsonlSink>(path_));
  }

 private:
  std::string path_;
};

}  // namespace

namespace {
constexpr KeyDoc kJsonlSinkDocs[] = {
    {"path", KeyType::kPath, "", "Required. The directory the files are written to."},
};
}  // namespace
constexpr ConfigKeys kJsonlSinkKeys{"sinks (kind: jsonl)", "JSON Lines files, one per batch.",
                                    kJsonlSinkDocs};

std::shared_ptr<const SinkSpec> ParseJsonlSink(const ConfigNode& n) {
  n.ExpectKeys(kJsonlSinkKeys);
  return std::make_shared<JsonlSpec>(n.GetPath("path"));
}

}  // namespace pinstream::connectors
