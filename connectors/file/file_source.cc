#include "connectors/file/file_source.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/simdjson_util.h"

namespace pinstream::connectors {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kReadBlock = 8 << 20;

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<std::size_t> PRead(int fd, std::string* buf, std::size_t len, std::int64_t off,
                          const std::string& name) {
  std::size_t old = buf->size();
  buf->resize(old + len);
  std::size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf->data() + old + got, len - got, off + static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      buf->resize(old + got);
      return IOError(fmt::format("reading '{}': {}", name, std::strerror(errno)), true);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  buf->resize(old + got);
  return got;
}

FileFormat FormatOf(const std::string& configured, const std::string& name) {
  std::string f = configured;
  if (f == "auto") {
    std::string ext = fs::path(name).extension().string();
    if (ext == ".csv") return FileFormat::kCsv;
    if (ext == ".json") return FileFormat::kJson;
    if (ext == ".txt") return FileFormat::kText;
    return FileFormat::kJsonLines;
  }
  if (f == "csv") return FileFormat::kCsv;
  if (f == "json") return FileFormat::kJson;
  if (f == "text") return FileFormat::kText;
  return FileFormat::kJsonLines;
}

bool Supported(const std::string& configured, const std::string& name) {
  if (configured != "auto") return true;
  std::string ext = fs::path(name).extension().string();
  return ext == ".csv" || ext == ".json" || ext == ".jsonl" || ext == ".ndjson" || ext == ".txt";
}

class FileSource : public Source {
 public:
  explicit FileSource(FileSourceConfig cfg) : cfg_(std::move(cfg)) {}

  std::string_view kind() const override { return "file"; }
  std::string Describe() const override { return fmt::format("FileSource[{}]", cfg_.path); }

  Status Open() override {
    std::error_code ec;
    if (!fs::is_directory(cfg_.path, ec)) {
      return NotFound(fmt::format("file source directory '{}' does not exist or is not a directory",
                                  cfg_.path));
    }
    return Status::Ok();
  }

  Result<PartitionOffsets> LatestOffsets(const PartitionOffsets& committed,
                                         bool apply_limits) override {
    struct Entry {
      std::string name;
      std::int64_t size;
      std::int64_t mtime;
    };
    std::vector<Entry> fresh;
    PartitionOffsets out;
    std::error_code ec;
    fs::directory_iterator it(cfg_.path, ec);
    if (ec) return IOError(fmt::format("listing '{}': {}", cfg_.path, ec.message()), true);
    for (const auto& de : it) {
      std::string name = de.path().filename().string();
      if (name.empty() || name[0] == '.' || name[0] == '_') continue;
      std::error_code e2;
      if (!de.is_regular_file(e2)) continue;
      if (!cfg_.pattern.empty() && fnmatch(cfg_.pattern.c_str(), name.c_str(), 0) != 0) continue;
      if (!Supported(cfg_.format, name)) continue;
      struct stat st;
      if (::stat(de.path().c_str(), &st) != 0) continue;  // vanished between listing and stat
      auto size = static_cast<std::int64_t>(st.st_size);
      if (committed.count(name)) {
        out[name] = size;
      } else {
        fresh.push_back(
            {name, size,
             static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec});
      }
    }
    std::sort(fresh.begin(), fresh.end(), [](const Entry& a, const Entry& b) {
      return a.mtime != b.mtime ? a.mtime < b.mtime : a.name < b.name;
    });
    std::size_t admit = fresh.size();
    if (apply_limits && cfg_.max_files_per_trigger > 0) {
      admit = std::min(admit, static_cast<std::size_t>(cfg_.max_files_per_trigger));
    }
    for (std::size_t i = 0; i < admit; ++i) out[fresh[i].name] = fresh[i].size;
    return out;
  }

  Result<std::int64_t> InitialOffset(const std::string& partition) override {
    (void)partition;
    return std::int64_t{0};
  }

  bool OffsetsCountRecords() const override { return false; }

  Result<Limited> LimitRange(const std::string& partition, std::int64_t start, std::int64_t end,
                             std::int64_t max_records) override {
    Limited lim{start, 0};
    FileFormat f = FormatOf(cfg_.format, partition);
    if (f == FileFormat::kJson && IsJsonArray(Full(partition))) {
      Status st = ForEachArrayElement(partition, [&](std::int64_t off, std::string_view) -> bool {
        if (off < start) return true;
        if (off >= end || lim.records >= max_records) {
          lim.end = off;
          return false;
        }
        ++lim.records;
        return true;
      });
      PS_RETURN_IF_ERROR(st);
      if (lim.records < max_records) lim.end = end;
      return lim;
    }
    bool skip_header = f == FileFormat::kCsv && cfg_.csv.header;
    Status st =
        Scan(partition, start, end,
             [&](std::int64_t rec_begin, std::int64_t rec_next, std::string_view, bool) -> bool {
               if (rec_begin == 0 && skip_header) {
                 lim.end = rec_next;
                 return true;
               }
               if (lim.records >= max_records) return false;
               ++lim.records;
               lim.end = rec_next;
               return true;
             });
    PS_RETURN_IF_ERROR(st);
    if (lim.records < max_records) lim.end = end;  // trailing blank lines belong to the range
    return lim;
  }

  Status Read(const ReadRange& range, std::size_t max_chunk_rows,
              const ChunkConsumer& emit) override {
    std::string full = Full(range.partition);
    FileFormat fmt_ = FormatOf(cfg_.format, range.partition);
    SourceChunk chunk;
    std::vector<std::string> header;
    std::vector<Column> cols;
    auto reset = [&] {
      chunk = SourceChunk();
      if (fmt_ == FileFormat::kCsv) {
        cols.assign(header.size(), Column(TypeId::kString));
      } else {
        cols.assign(1, Column(fmt_ == FileFormat::kText ? TypeId::kString : TypeId::kRaw));
      }
    };
    auto flush = [&]() -> Status {
      if (chunk.offsets.empty() && chunk.errors.empty()) return Status::Ok();
      chunk.batch.row_ids().resize(chunk.offsets.size());
      if (fmt_ == FileFormat::kCsv) {
        for (std::size_t i = 0; i < header.size(); ++i)
          chunk.batch.AddColumn(header[i], std::move(cols[i]));
      } else {
        chunk.batch.AddColumn("value", std::move(cols[0]));
      }
      Status st = emit(std::move(chunk));
      reset();
      return st;
    };

    if (fmt_ == FileFormat::kCsv) {
      auto h = ReadCsvHeader(range.partition);
      if (!h.ok()) {
        // An unreadable file does not stop the query: the whole range becomes one dead-letter
        // record.
        SourceChunk c;
        c.errors.push_back(SourceRecordError{range.start, h.status().message(), {}});
        return emit(std::move(c));
      }
      header = std::move(h).value();
    }
    reset();
    if (fmt_ == FileFormat::kJson && IsJsonArray(full))
      return ReadJsonArray(range, max_chunk_rows, emit);

    std::vector<std::string> fields;
    std::vector<bool> quoted;
    std::string err;
    Status inner;
    Status st =
        Scan(range.partition, range.start, range.end,
             [&](std::int64_t off, std::int64_t, std::string_view rec, bool bad_quote) -> bool {
               if (off == 0 && fmt_ == FileFormat::kCsv && cfg_.csv.header)
                 return true;  // header row
               if (fmt_ == FileFormat::kCsv) {
                 if (bad_quote || !SplitCsvRecord(rec, cfg_.csv, &fields, &quoted, &err)) {
                   chunk.errors.push_back(SourceRecordError{
                       off,
                       bad_quote ? "malformed CSV record: unterminated quoted field"
                                 : "malformed CSV record: " + err,
                       std::string(rec)});
                 } else if (fields.size() != header.size()) {
                   chunk.errors.push_back(SourceRecordError{
                       off,
                       fmt::format("malformed CSV record: expected {} fields, found {}",
                                   header.size(), fields.size()),
                       std::string(rec)});
                 } else {
                   for (std::size_t i = 0; i < fields.size(); ++i) {
                     if (fields[i].empty() && !quoted[i] && cfg_.csv.empty_as_null) {
                       cols[i].AppendNull();
                     } else {
                       cols[i].AppendString(fields[i]);
                     }
                   }
                   chunk.offsets.push_back(off);
                 }
               } else {
                 cols[0].AppendString(rec);
                 chunk.offsets.push_back(off);
               }
               if (chunk.offsets.size() + chunk.errors.size() >= max_chunk_rows) {
                 inner = flush();
                 if (!inner.ok()) return false;
               }
               return true;
             });
    if (!st.ok()) {
      if (st.code() == StatusCode::kIOError && !st.retryable()) {
        SourceChunk c;
        c.errors.push_back(SourceRecordError{range.start, st.message(), {}});
        PS_RETURN_IF_ERROR(flush());
        return emit(std::move(c));
      }
      return st;
    }
    PS_RETURN_IF_ERROR(inner);
    return flush();
  }

  std::string DescribePosition(const std::string& partition, std::int64_t offset) const override {
    Fd fd(::open(Full(partition).c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return fmt::format("{}@{}", partition, offset);
    std::int64_t line = 1, pos = 0;
    std::string buf;
    while (pos < offset) {
      buf.clear();
      auto n = PRead(fd.get(), &buf,
                     static_cast<std::size_t>(std::min<std::int64_t>(1 << 20, offset - pos)), pos,
                     partition);
      if (!n.ok() || *n == 0) break;
      line += std::count(buf.begin(), buf.end(), '\n');
      pos += static_cast<std::int64_t>(*n);
    }
    return fmt::format("{}:line {}", partition, line);
  }

 private:
  std::string Full(const std::string& partition) const {
    return (fs::path(cfg_.path) / partition).string();
  }

  bool IsJsonArray(const std::string& full) const {
    Fd fd(::open(full.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return false;
    char buf[256];
    ssize_t n = ::pread(fd.get(), buf, sizeof buf, 0);
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t') continue;
      return buf[i] == '[';
    }
    return false;
  }

  Result<std::vector<std::string>> ReadCsvHeader(const std::string& partition) {
    std::string full = Full(partition);
    std::vector<std::string> names;
    bool got = false;
    Status st = Scan(partition, 0, INT64_MAX,
                     [&](std::int64_t, std::int64_t, std::string_view rec, bool) -> bool {
                       std::vector<std::string> fields;
                       std::vector<bool> quoted;
                       std::string err;
                       if (SplitCsvRecord(rec, cfg_.csv, &fields, &quoted, &err)) {
                         names = std::move(fields);
                         got = true;
                       }
                       return false;
                     });
    PS_RETURN_IF_ERROR(st);
    if (!got)
      return InvalidArgument(fmt::format("CSV file '{}' has no readable header row", partition));
    if (!cfg_.csv.header) {
      for (std::size_t i = 0; i < names.size(); ++i) names[i] = fmt::format("_c{}", i);
      return names;
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty()) names[i] = fmt::format("_c{}", i);
      for (std::size_t j = 0; j < i; ++j) {
        if (names[j] == names[i]) names[i] = fmt::format("{}{}", names[i], i);
      }
    }
    return names;
  }

  // Calls visit(record offset, next record offset, record bytes, unterminated quote) for every
  // non-blank record starting in [start, end). visit returns false to stop.
  template <typename Visit>
  Status Scan(const std::string& partition, std::int64_t start, std::int64_t end,
              Visit&& visit) const {
    std::string full = Full(partition);
    Fd fd(::open(full.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      bool transient = errno == EMFILE || errno == ENFILE || errno == EINTR;
      return IOError(fmt::format("cannot open '{}': {}", full, std::strerror(errno)), transient);
    }
    FileFormat f = FormatOf(cfg_.format, partition);
    std::string buf;
    std::int64_t base = start;  // file offset of buf[0]
    std::size_t pos = 0;
    bool eof = false;
    while (true) {
      RecordSpan span;
      if (base + static_cast<std::int64_t>(pos) >= end) return Status::Ok();
      if (!NextRecord(f, cfg_.csv, buf, pos, eof, &span)) {
        if (eof) return Status::Ok();
        buf.erase(0, pos);
        base += static_cast<std::int64_t>(pos);
        pos = 0;
        PS_ASSIGN_OR_RETURN(std::size_t n,
                            PRead(fd.get(), &buf, kReadBlock,
                                  base + static_cast<std::int64_t>(buf.size()), partition));
        if (n < kReadBlock) eof = true;
        continue;
      }
      std::int64_t rec_off = base + static_cast<std::int64_t>(span.begin);
      std::int64_t next_off = base + static_cast<std::int64_t>(span.next);
      if (!span.blank) {
        if (!visit(rec_off, next_off,
                   std::string_view(buf).substr(span.begin, span.end - span.begin),
                   span.unterminated_quote)) {
          return Status::Ok();
        }
      }
      pos = span.next;
    }
  }

  // Calls visit(element offset, element JSON) for each element of a JSON array file.
  template <typename Visit>
  Status ForEachArrayElement(const std::string& partition, Visit&& visit) const {
    std::string full = Full(partition);
    simdjson::padded_string doc;
    auto err = simdjson::padded_string::load(full).get(doc);
    if (err)
      return IOError(fmt::format("cannot read '{}': {}", full, simdjson::error_message(err)));
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document d;
    simdjson::ondemand::array arr;
    if (parser.iterate(doc).get(d) || d.get_array().get(arr)) {
      return IOError(fmt::format("'{}' is not a well-formed JSON array", partition));
    }
    for (auto element_r : arr) {
      simdjson::ondemand::value element;
      std::string_view raw;
      if (element_r.get(element) || RawJsonOf(element, &raw)) {
        return IOError(fmt::format("'{}': malformed element in JSON array", partition));
      }
      auto off = static_cast<std::int64_t>(raw.data() - doc.data());
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' ||
                              raw.back() == '\t')) {
        raw.remove_suffix(1);
      }
      if (!visit(off, raw)) break;
    }
    return Status::Ok();
  }

  Status ReadJsonArray(const ReadRange& range, std::size_t max_chunk_rows,
                       const ChunkConsumer& emit) {
    SourceChunk chunk;
    Column col(TypeId::kRaw);
    auto flush = [&]() -> Status {
      if (chunk.offsets.empty() && chunk.errors.empty()) return Status::Ok();
      chunk.batch.row_ids().resize(chunk.offsets.size());
      chunk.batch.AddColumn("value", std::move(col));
      Status st = emit(std::move(chunk));
      chunk = SourceChunk();
      col = Column(TypeId::kRaw);
      return st;
    };
    Status inner;
    Status st =
        ForEachArrayElement(range.partition, [&](std::int64_t off, std::string_view raw) -> bool {
          if (off < range.start) return true;
          if (off >= range.end) return false;
          col.AppendString(raw);
          chunk.offsets.push_back(off);
          if (chunk.offsets.size() >= max_chunk_rows) {
            inner = flush();
            return inner.ok();
          }
          return true;
        });
    PS_RETURN_IF_ERROR(inner);
    if (!st.ok()) {
      // A broken or unreadable file does not stop the query: it becomes a dead-letter record.
      PS_RETURN_IF_ERROR(flush());
      SourceChunk c;
      c.errors.push_back(SourceRecordError{range.start, st.message(), {}});
      return emit(std::move(c));
    }
    return flush();
  }

  FileSourceConfig cfg_;
};

class FileSourceSpec : public SourceSpec {
 public:
  explicit FileSourceSpec(FileSourceConfig cfg) : cfg_(std::move(cfg)) {}
  std::string_view kind() const override { return "file"; }
  std::string Descriptor() const override {
    return fmt::format("{}|{}|{}", cfg_.path, cfg_.pattern, cfg_.format);
  }
  Result<std::unique_ptr<Source>> Create(const SourceCreateContext&) const override {
    return MakeFileSource(cfg_);
  }
  // Typed formats: JSON records arrive as one raw `value` column, text lines as a string one;
  // CSV columns come from each file's header (not known before reading it), all strings.
  StreamSchema DeclaredSchema() const override {
    std::string format = cfg_.format;
    if (format == "auto") {
      auto ends = [&](std::string_view ext) {
        return cfg_.pattern.size() >= ext.size() &&
               cfg_.pattern.compare(cfg_.pattern.size() - ext.size(), ext.size(), ext) == 0;
      };
      if (ends(".jsonl") || ends(".ndjson"))
        format = "jsonl";
      else if (ends(".json"))
        format = "json";
      else if (ends(".txt"))
        format = "text";
      else if (ends(".csv"))
        format = "csv";
    }
    StreamSchema s;
    if (format == "jsonl" || format == "json") {
      s.schema = Schema({Field{"value", TypeId::kRaw, true}});
      s.complete = true;
    } else if (format == "text") {
      s.schema = Schema({Field{"value", TypeId::kString, true}});
      s.complete = true;
    } else if (format == "csv") {
      s.unlisted_type = TypeId::kString;
    }
    return s;
  }

 private:
  FileSourceConfig cfg_;
};

char SingleChar(const ConfigNode& n, std::string_view key, char def) {
  auto v = n.Find(key);
  if (!v) return def;
  std::string s = v->AsString();
  if (s.size() != 1) v->Fail(fmt::format("'{}' must be a single character", key));
  return s[0];
}

}  // namespace

std::unique_ptr<Source> MakeFileSource(FileSourceConfig config) {
  return std::make_unique<FileSource>(std::move(config));
}

namespace {
constexpr KeyDoc kFileSourceDocs[] = {
    {"path", KeyType::kPath, "", "Required. The directory read (it must exist at start)."},
    {"pattern", KeyType::kString, "", "A glob on file names (default: every supported file)."},
    {"format", KeyType::kEnum, "auto",
     "auto: by extension (.jsonl/.ndjson, .json, .csv, .txt); or the format of every file.",
     "auto|jsonl|json|csv|text"},
    {"max_files_per_trigger", KeyType::kInt, "0", "Files per batch (0 = unlimited)."},
    {"csv", KeyType::kMap, "", "CSV options (see sources.<name> (kind: file).csv)."},
};
constexpr KeyDoc kFileCsvDocs[] = {
    {"header", KeyType::kBool, "true", "The first row names the columns."},
    {"delimiter", KeyType::kString, ",", "The field separator (one character)."},
    {"quote", KeyType::kString, "\"", "The quote character (one character)."},
    {"empty_as_null", KeyType::kBool, "true", "An unquoted empty field is null."},
};
}  // namespace
constexpr ConfigKeys kFileSourceKeys{
    "sources.<name> (kind: file)",
    "A directory of .jsonl, .json, .csv and .txt files; each file is read once, in (modification "
    "time, name) order, and files that appear later are read by later batches. Write files under "
    "a hidden name (.x, _x) and rename them into place.",
    kFileSourceDocs};
constexpr ConfigKeys kFileCsvKeys{"sources.<name> (kind: file).csv", "CSV parsing (RFC 4180).",
                                  kFileCsvDocs};

std::shared_ptr<const SourceSpec> ParseFileSource(const ConfigNode& n) {
  n.ExpectKeys(kFileSourceKeys);
  FileSourceConfig c;
  c.path = n.GetPath("path");
  c.pattern = n.GetString("pattern", "");
  c.format = n.GetEnum("format", {"auto", "jsonl", "json", "csv", "text"}, "auto");
  c.max_files_per_trigger = n.GetInt("max_files_per_trigger", 0);
  if (c.max_files_per_trigger < 0)
    n.Get("max_files_per_trigger").Fail("must be >= 0 (0 = unlimited)");
  if (auto csv = n.Find("csv")) {
    csv->ExpectKeys(kFileCsvKeys);
    c.csv.header = csv->GetBool("header", true);
    c.csv.delimiter = SingleChar(*csv, "delimiter", ',');
    c.csv.quote = SingleChar(*csv, "quote", '"');
    c.csv.empty_as_null = csv->GetBool("empty_as_null", true);
  }
  return std::make_shared<FileSourceSpec>(std::move(c));
}

}  // namespace pinstream::connectors
