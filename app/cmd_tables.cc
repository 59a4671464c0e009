// Read commands over delta tables: tables, history, scan, export. They open the data dir as a
// RocksDB secondary instance, so they work while the daemon runs.

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "app/commands.h"
#include "engine/row_format.h"
#include "engine/time_util.h"
#include "state/delta_table.h"
#include "state/store.h"

namespace pinstream::app {

namespace fs = std::filesystem;

namespace {

// A table of the data dir, opened for reading (the store stays open while it is used).
struct OpenedTable {
  std::unique_ptr<state::Store> store;
  state::DeltaTable* table = nullptr;
  std::unique_ptr<state::TableSnapshot> snapshot;  // when asked for
};

// Opens the data dir for reading and `name` in it — and its snapshot at `version` (latest when
// nullopt) when `snapshot`. On failure prints why and sets *exit_code.
std::optional<OpenedTable> OpenTable(const DataDirOptions& dd, const std::string& name,
                                     bool snapshot, std::optional<std::int64_t> version,
                                     int* exit_code) {
  std::string dir = dd.Resolve();
  if (dir.empty()) {
    *exit_code = kExitConfig;
    return std::nullopt;
  }
  OpenedTable t;
  t.store = OpenForReading(dir);
  if (!t.store) {
    *exit_code = kExitError;
    return std::nullopt;
  }
  auto table = t.store->Table(name, false);
  if (!table.ok()) {
    *exit_code = Fail(table.status());
    return std::nullopt;
  }
  t.table = *table;
  if (snapshot) {
    auto snap = t.table->Snapshot(version);
    if (!snap.ok()) {
      *exit_code = Fail(snap.status());
      return std::nullopt;
    }
    t.snapshot = std::move(snap).value();
  }
  return t;
}

// Row `r` of `b` as a CSV line or a JSON line.
void AppendRecord(const std::string& format, const RecordBatch& b, std::size_t r,
                  std::string* buf) {
  if (format == "csv") {
    AppendCsvRow(b, r, buf);
  } else {
    AppendJsonRow(b, r, buf);
    buf->push_back('\n');
  }
}

// The --version option: -1 (not given) is the latest.
std::optional<std::int64_t> VersionOption(std::int64_t v) {
  return v >= 0 ? std::optional<std::int64_t>(v) : std::nullopt;
}

int ListTables(const DataDirOptions& dd) {
  std::string dir = dd.Resolve();
  if (dir.empty()) return kExitConfig;
  auto store = OpenForReading(dir);
  if (!store) return kExitError;
  Column name(TypeId::kString), version(TypeId::kInt64), oldest(TypeId::kInt64),
      rows(TypeId::kInt64), chunks(TypeId::kInt64), bytes(TypeId::kInt64), cols(TypeId::kString),
      updated(TypeId::kTimestamp);
  for (const auto& t : store->ListTables()) {
    auto table = store->Table(t, false);
    if (!table.ok()) return Fail(table.status());
    state::TableInfo info = (*table)->info();
    name.AppendString(t);
    version.AppendInt(info.version);
    oldest.AppendInt(info.oldest_readable);
    rows.AppendInt(info.rows);
    chunks.AppendInt(info.live_chunks);
    bytes.AppendInt(info.live_bytes);
    Schema s = (*table)->schema();
    std::string c;
    for (const auto& f : s.fields()) c += (c.empty() ? "" : ", ") + f.name;
    cols.AppendString(c);
    if (info.version < 0)
      updated.AppendNull();
    else
      updated.AppendInt(info.timestamp_ms * 1000);
  }
  PrintColumns({{"table", std::move(name)},
                {"version", std::move(version)},
                {"oldest", std::move(oldest)},
                {"rows", std::move(rows)},
                {"chunks", std::move(chunks)},
                {"bytes", std::move(bytes)},
                {"updated", std::move(updated)},
                {"columns", std::move(cols)}},
               60);
  return kExitOk;
}

int History(const DataDirOptions& dd, const std::string& table_name, std::size_t limit, bool json) {
  int rc = kExitOk;
  auto opened = OpenTable(dd, table_name, /*snapshot=*/false, std::nullopt, &rc);
  if (!opened) return rc;
  auto hist = opened->table->History(limit);
  if (!hist.ok()) return Fail(hist.status());
  if (json) {
    for (const auto& c : *hist) std::printf("%s\n", c.ToJson().c_str());
    return kExitOk;
  }
  Column v(TypeId::kInt64), ts(TypeId::kTimestamp), op(TypeId::kString), mode(TypeId::kString),
      writer(TypeId::kString), txn(TypeId::kString), rows(TypeId::kString), chunks(TypeId::kString),
      bytes(TypeId::kString), schema(TypeId::kString);
  // "+added" or "+added -removed".
  auto delta = [](std::int64_t added, std::int64_t removed) {
    return removed == 0 ? fmt::format("+{}", added) : fmt::format("+{} -{}", added, removed);
  };
  for (const auto& c : *hist) {
    v.AppendInt(c.version);
    ts.AppendInt(c.timestamp_ms * 1000);
    op.AppendString(c.oldest_readable
                        ? fmt::format("{} (oldest {})", c.operation, *c.oldest_readable)
                        : c.operation);
    mode.AppendString(c.data_change ? state::WriteModeName(c.mode) : "no data change");
    writer.AppendString(c.query_name);
    if (c.app_id.empty())
      txn.AppendNull();
    else
      txn.AppendString(fmt::format("epoch {} batch {}", c.epoch, c.batch_id));
    rows.AppendString(delta(c.rows_added, c.rows_removed));
    if (c.oldest_readable) {
      // VACUUM: what it deleted (chunks no retained version reads), and the new oldest version.
      auto metric = [&c](std::string_view name) {
        for (const auto& [k, n] : c.metrics)
          if (k == name) return n;
        return std::int64_t{0};
      };
      chunks.AppendString(fmt::format("-{} deleted", metric("numDeletedChunks")));
      bytes.AppendString(fmt::format("-{} deleted", metric("numDeletedBytes")));
    } else {
      chunks.AppendString(delta(c.chunks, c.chunks_removed));
      bytes.AppendString(delta(c.bytes, c.bytes_removed));
    }
    schema.AppendString(c.added_columns.empty() ? fmt::format("{}", c.schema_id)
                                                : fmt::format("{} (+{})", c.schema_id,
                                                              fmt::join(c.added_columns, ", +")));
  }
  PrintColumns({{"version", std::move(v)},
                {"timestamp", std::move(ts)},
                {"operation", std::move(op)},
                {"mode", std::move(mode)},
                {"writer", std::move(writer)},
                {"txn", std::move(txn)},
                {"rows", std::move(rows)},
                {"chunks", std::move(chunks)},
                {"bytes", std::move(bytes)},
                {"schema", std::move(schema)}},
               60);
  return kExitOk;
}

int Scan(const DataDirOptions& dd, const std::string& table_name,
         std::optional<std::int64_t> version, std::int64_t limit, const std::string& format) {
  int rc = kExitOk;
  auto opened = OpenTable(dd, table_name, /*snapshot=*/true, version, &rc);
  if (!opened) return rc;
  const std::unique_ptr<state::TableSnapshot>& snap = opened->snapshot;
  std::int64_t max_rows = limit >= 0 ? limit : (format == "table" ? 20 : -1);
  if (format == "table") {
    RecordBatch shown;
    bool first = true;
    Status st = snap->Scan(nullptr, [&](RecordBatch&& b) -> Status {
      if (max_rows >= 0 && static_cast<std::int64_t>(shown.num_rows()) >= max_rows)
        return Status::Ok();
      if (first) {
        shown = std::move(b);
        first = false;
        return Status::Ok();
      }
      return shown.Append(b);
    });
    if (!st.ok()) return Fail(st);
    if (first) {
      for (const auto& f : snap->schema().fields()) shown.AddColumn(f.name, Column(f.type));
    }
    std::size_t n =
        max_rows >= 0 ? std::min<std::size_t>(shown.num_rows(), static_cast<std::size_t>(max_rows))
                      : shown.num_rows();
    if (n < shown.num_rows()) {
      std::vector<std::uint32_t> head(n);
      for (std::size_t i = 0; i < n; ++i) head[i] = static_cast<std::uint32_t>(i);
      shown = shown.Take(head);
    }
    std::string text = FormatTable(shown, n);
    std::fputs(text.c_str(), stdout);
    std::int64_t total = snap->num_rows();
    if (static_cast<std::int64_t>(n) < total)
      std::printf("only showing top %zu of %lld rows\n", n, static_cast<long long>(total));
    std::printf("table %s version %lld: %lld rows\n", table_name.c_str(),
                static_cast<long long>(snap->version()), static_cast<long long>(total));
    return kExitOk;
  }
  std::int64_t printed = 0;
  bool header = false;
  std::string buf;
  Status st = snap->Scan(nullptr, [&](RecordBatch&& b) -> Status {
    buf.clear();
    if (format == "csv" && !header) {
      AppendCsvHeader(b, &buf);
      header = true;
    }
    for (std::size_t r = 0; r < b.num_rows(); ++r) {
      if (max_rows >= 0 && printed >= max_rows) break;
      AppendRecord(format, b, r, &buf);
      ++printed;
    }
    std::fwrite(buf.data(), 1, buf.size(), stdout);
    return Status::Ok();
  });
  if (!st.ok()) return Fail(st);
  return kExitOk;
}

// Writes one part file per `rows_per_file` rows; with `partition_by`, Hive-style
// <column>=<value>/ directories (the column is left out of the files, as Spark does).
int Export(const DataDirOptions& dd, const std::string& table_name, const std::string& format,
           const std::string& out_dir, std::optional<std::int64_t> version,
           const std::string& partition_by) {
  int rc = kExitOk;
  auto opened = OpenTable(dd, table_name, /*snapshot=*/true, version, &rc);
  if (!opened) return rc;
  const std::unique_ptr<state::TableSnapshot>& snap = opened->snapshot;
  if (!partition_by.empty() && snap->schema().FieldIndex(partition_by) < 0) {
    return Fail(NotFound(
        fmt::format("--partition-by: table '{}' has no column '{}'", table_name, partition_by)));
  }
  fs::path root = fs::path(out_dir) / table_name;
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::create_directories(root, ec);
  if (ec) return Fail(IOError(fmt::format("cannot create '{}': {}", root.string(), ec.message())));
  std::string ext = format == "csv" ? "csv" : "json";
  struct Part {
    std::ofstream out;
    bool header = false;
  };
  std::map<std::string, Part> parts;
  std::int64_t rows = 0;
  std::string buf;
  Status st = snap->Scan(nullptr, [&](RecordBatch&& b) -> Status {
    int pcol = partition_by.empty() ? -1 : b.FindColumn(partition_by);
    RecordBatch data = b;
    if (pcol >= 0) data.RemoveColumn(static_cast<std::size_t>(pcol));
    for (std::size_t r = 0; r < b.num_rows(); ++r) {
      std::string sub;
      if (pcol >= 0) {
        const Column& pc = b.column(static_cast<std::size_t>(pcol));
        std::string v = pc.IsNull(r) ? "__HIVE_DEFAULT_PARTITION__" : DisplayValue(pc, r);
        for (char& ch : v) {
          if (ch == '/' || ch == '\\' || ch == '=' || ch == '\0') ch = '_';
        }
        sub = partition_by + "=" + v;
      }
      auto it = parts.find(sub);
      if (it == parts.end()) {
        fs::path pdir = sub.empty() ? root : root / sub;
        fs::create_directories(pdir, ec);
        it = parts.emplace(sub, Part{}).first;
        it->second.out.open(pdir / ("part-00000." + ext), std::ios::binary);
        if (!it->second.out) return IOError(fmt::format("cannot write in '{}'", pdir.string()));
      }
      Part& p = it->second;
      buf.clear();
      if (format == "csv" && !p.header) {
        AppendCsvHeader(data, &buf);
        p.header = true;
      }
      AppendRecord(format, data, r, &buf);
      p.out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      ++rows;
    }
    return Status::Ok();
  });
  if (!st.ok()) return Fail(st);
  for (auto& [k, p] : parts) {
    p.out.close();
    if (p.out.fail()) return Fail(IOError("writing export files failed"));
  }
  std::ofstream(root / "_SUCCESS").close();
  std::fprintf(stderr, "exported %lld rows of %s version %lld to %s (%zu part files)\n",
               static_cast<long long>(rows), table_name.c_str(),
               static_cast<long long>(snap->version()), root.c_str(), parts.size());
  return kExitOk;
}

}  // namespace

void AddTableCommands(CLI::App& app, int* exit_code) {
  {
    auto* cmd =
        app.add_subcommand("tables", "list delta tables with their latest version and row count");
    auto dd = std::make_shared<DataDirOptions>();
    dd->Add(cmd);
    cmd->callback([=] { *exit_code = ListTables(*dd); });
  }
  {
    auto* cmd = app.add_subcommand("history",
                                   "the versions of a table with their commit info (newest first)");
    auto dd = std::make_shared<DataDirOptions>();
    auto table = std::make_shared<std::string>();
    auto limit = std::make_shared<std::size_t>(0);
    auto json = std::make_shared<bool>(false);
    dd->Add(cmd);
    cmd->add_option("table", *table, "table name")->required();
    cmd->add_option("--limit,-n", *limit, "show at most N versions");
    cmd->add_flag("--json", *json, "print each commit info as a JSON line (with column stats)");
    cmd->callback([=] { *exit_code = History(*dd, *table, *limit, *json); });
  }
  {
    auto* cmd =
        app.add_subcommand("scan", "print the rows of a table, at its latest or any older version");
    auto dd = std::make_shared<DataDirOptions>();
    auto table = std::make_shared<std::string>();
    auto version = std::make_shared<std::int64_t>(-1);
    auto limit = std::make_shared<std::int64_t>(-1);
    auto format = std::make_shared<std::string>("table");
    dd->Add(cmd);
    cmd->add_option("table", *table, "table name")->required();
    cmd->add_option("--version,-v", *version, "read the table as of this version (time travel)");
    cmd->add_option("--limit,-n", *limit, "rows to print (default 20 for table, all otherwise)");
    cmd->add_option("--format,-f", *format, "table, jsonl or csv")
        ->check(CLI::IsMember({"table", "jsonl", "csv"}));
    cmd->callback(
        [=] { *exit_code = Scan(*dd, *table, VersionOption(*version), *limit, *format); });
  }
  {
    auto* cmd = app.add_subcommand(
        "export", "write a table as JSON Lines or CSV part files under OUT/<table>/");
    auto dd = std::make_shared<DataDirOptions>();
    auto table = std::make_shared<std::string>();
    auto version = std::make_shared<std::int64_t>(-1);
    auto format = std::make_shared<std::string>("jsonl");
    auto out = std::make_shared<std::string>();
    auto partition = std::make_shared<std::string>();
    dd->Add(cmd);
    cmd->add_option("table", *table, "table name")->required();
    cmd->add_option("--format,-f", *format, "jsonl or csv")->check(CLI::IsMember({"jsonl", "csv"}));
    cmd->add_option("--out,-o", *out, "output directory")->required();
    cmd->add_option("--version,-v", *version, "export the table as of this version");
    cmd->add_option("--partition-by", *partition, "write Hive-style <column>=<value>/ directories");
    cmd->callback([=] {
      *exit_code = Export(*dd, *table, *format, *out, VersionOption(*version), *partition);
    });
  }
}

}  // namespace pinstream::app
