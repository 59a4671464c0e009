// Nexmark (the standard streaming benchmark) as live views: a generator of persons, auctions and
// bids following the Nexmark generator's rules, writing three delta tables, and the queries of
// bench/nexmark/*.sql each run as a live view over those tables by the Daemon — as `pinstream
// run` runs a view (views/view_query.h: a delta source per input, the lowered operators, the
// view's table committed with its state and input versions). Each query runs alone, from an
// empty state, over tables already holding every event ("fed at full speed": the view reads the
// versions as fast as it can); the clock runs from the daemon's start until the view has committed
// a batch over the last version of each table it reads. Events/s per core = events ÷ the
// process's CPU seconds in that time (events ÷ wall seconds printed beside it). Each view's row
// count is checked against the batch SQL (`pinstream sql`'s SqlSession) over the same tables.
//
//   nexmark_bench OUT_DIR [events=1000000] [queries=q0,q1,q2,q3,q4,q5,q7,q9,q20]
//
// The generator (Nexmark's GeneratorConfig defaults): per 50 events 1 person, 3 auctions and 46
// bids, in event-id order; person and auction ids from 1000 on; an auction's seller is with
// probability 3/4 a "hot" seller (the first of the last 100 persons), else one of the last 1,000
// persons (plus 10 not yet created); a bid's auction is with probability 1/2 the first of the
// last 100 auctions, else one of the last 100 in flight (plus 10 ahead); its bidder with
// probability 3/4 the second of the last 100 persons; category 10 + uniform(5); prices
// round(10^(6u) × 100); expiry a uniform length averaging the time until 100 more auctions
// exist; event times at 10M events/s from a fixed base time; strings and the `extra` padding of
// the spec's lengths (average person 200 B, auction 500 B, bid 100 B). The random stream is
// std::mt19937_64's, not Java's, so the events are not the Java generator's byte for byte; the
// bid's channel and url follow the current generator's shape (four named channels, a url per
// channel).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "connectors/connector_env.h"
#include "engine/allocator.h"
#include "engine/config.h"
#include "engine/daemon.h"
#include "engine/registry.h"
#include "engine/streaming_query.h"
#include "engine/time_util.h"
#include "state/checkpoint_store.h"
#include "state/delta_table.h"
#include "state/sql/sql_session.h"
#include "state/store.h"
#include "views/registry.h"
#include "views/view_query.h"

using namespace pinstream;
namespace fs = std::filesystem;

namespace {

using bench::Die;
using bench::Must;
using bench::ReadFile;

// Rows of one table being built, column by column.
class TableRows {
 public:
  TableRows(std::vector<std::pair<std::string, TypeId>> columns) : columns_(std::move(columns)) {
    Reset();
  }
  Column& operator[](std::size_t i) { return cols_[i]; }
  void EndRow() { ++rows_; }
  RecordBatch Take() {
    RecordBatch b;
    b.row_ids().resize(rows_);
    std::iota(b.row_ids().begin(), b.row_ids().end(), RowId{0});
    for (std::size_t i = 0; i < columns_.size(); ++i)
      b.AddColumn(columns_[i].first, std::move(cols_[i]));
    Reset();
    return b;
  }
  std::size_t rows() const { return rows_; }
  const std::vector<std::pair<std::string, TypeId>>& columns() const { return columns_; }

 private:
  void Reset() {
    cols_.clear();
    for (const auto& c : columns_) cols_.emplace_back(c.second);
    rows_ = 0;
  }
  std::vector<std::pair<std::string, TypeId>> columns_;
  std::vector<Column> cols_;
  std::size_t rows_ = 0;
};

// The Nexmark generator's rules (see the header comment).
class Generator {
 public:
  static constexpr std::int64_t kPersonProportion = 1, kAuctionProportion = 3,
                                kTotalProportion = 50;
  static constexpr std::int64_t kFirstPersonId = 1000, kFirstAuctionId = 1000,
                                kFirstCategoryId = 10, kNumCategories = 5;
  static constexpr std::int64_t kHotAuctionRatio = 2, kHotSellersRatio = 4, kHotBiddersRatio = 4;
  static constexpr std::int64_t kHotRatio = 100;  // hot ids: the first of each 100
  static constexpr std::int64_t kNumInFlightAuctions = 100, kNumActivePeople = 1000;
  static constexpr std::int64_t kIdLead = 10;
  static constexpr double kInterEventDelayUs = 1e6 / 10'000'000;  // 10M events/s
  static constexpr int kAvgPersonBytes = 200, kAvgAuctionBytes = 500, kAvgBidBytes = 100;

  TableRows person{{{"id", TypeId::kInt64},
                    {"name", TypeId::kString},
                    {"email_address", TypeId::kString},
                    {"credit_card", TypeId::kString},
                    {"city", TypeId::kString},
                    {"state", TypeId::kString},
                    {"date_time", TypeId::kTimestamp},
                    {"extra", TypeId::kString}}};
  TableRows auction{{{"id", TypeId::kInt64},
                     {"item_name", TypeId::kString},
                     {"description", TypeId::kString},
                     {"initial_bid", TypeId::kInt64},
                     {"reserve", TypeId::kInt64},
                     {"date_time", TypeId::kTimestamp},
                     {"expires", TypeId::kTimestamp},
                     {"seller", TypeId::kInt64},
                     {"category", TypeId::kInt64},
                     {"extra", TypeId::kString}}};
  TableRows bid{{{"auction", TypeId::kInt64},
                 {"bidder", TypeId::kInt64},
                 {"price", TypeId::kInt64},
                 {"channel", TypeId::kString},
                 {"url", TypeId::kString},
                 {"date_time", TypeId::kTimestamp},
                 {"extra", TypeId::kString}}};

  explicit Generator(std::int64_t base_time_ms) : base_ms_(base_time_ms) {}

  // The three tables, by name: every place that handles each of them loops over this.
  std::vector<std::pair<std::string, TableRows*>> Tables() {
    return {{"person", &person}, {"auction", &auction}, {"bid", &bid}};
  }

  void Next(std::int64_t event_id) {
    const std::int64_t ts_us = TimestampMs(event_id) * 1000;
    const std::int64_t offset = event_id % kTotalProportion;
    if (offset < kPersonProportion) {
      NextPerson(event_id, ts_us);
    } else if (offset < kPersonProportion + kAuctionProportion) {
      NextAuction(event_id, ts_us);
    } else {
      NextBid(event_id, ts_us);
    }
  }

 private:
  std::int64_t NextInt(std::int64_t n) { return static_cast<std::int64_t>(rng_() % n); }
  double NextDouble() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  std::int64_t TimestampMs(std::int64_t event_number) const {
    return base_ms_ +
           static_cast<std::int64_t>(static_cast<double>(event_number) * kInterEventDelayUs) / 1000;
  }

  static std::int64_t LastBase0PersonId(std::int64_t event_id) {
    std::int64_t epoch = event_id / kTotalProportion, offset = event_id % kTotalProportion;
    if (offset >= kPersonProportion) offset = kPersonProportion - 1;
    return epoch * kPersonProportion + offset;
  }
  static std::int64_t LastBase0AuctionId(std::int64_t event_id) {
    std::int64_t epoch = event_id / kTotalProportion, offset = event_id % kTotalProportion;
    if (offset < kPersonProportion) {
      --epoch;
      offset = kAuctionProportion - 1;
    } else if (offset >= kPersonProportion + kAuctionProportion) {
      offset = kAuctionProportion - 1;
    } else {
      offset -= kPersonProportion;
    }
    return epoch * kAuctionProportion + offset;
  }
  std::int64_t NextBase0PersonId(std::int64_t event_id) {
    std::int64_t people = LastBase0PersonId(event_id) + 1;
    std::int64_t active = std::min(people, kNumActivePeople);
    return people - active + NextInt(active + kIdLead);
  }
  std::int64_t NextBase0AuctionId(std::int64_t event_id) {
    std::int64_t max = LastBase0AuctionId(event_id);
    std::int64_t min = std::max<std::int64_t>(max - kNumInFlightAuctions, 0);
    return min + NextInt(max - min + 1 + kIdLead);
  }
  std::int64_t NextPrice() { return std::llround(std::pow(10.0, NextDouble() * 6.0) * 100.0); }
  std::string NextString(int max_length) {
    int len = 3 + static_cast<int>(NextInt(max_length - 3));
    std::string s;
    s.reserve(static_cast<std::size_t>(len));
    while (len-- > 0) s += NextInt(13) == 0 ? ' ' : static_cast<char>('a' + NextInt(26));
    std::size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  }
  std::string NextExtra(int current_size, int desired_average) {
    if (current_size > desired_average) return {};
    desired_average -= current_size;
    int delta = static_cast<int>(std::lround(desired_average * 0.2));
    int size = desired_average - delta + (delta == 0 ? 0 : static_cast<int>(NextInt(2 * delta)));
    std::string s(static_cast<std::size_t>(size), 'a');
    for (auto& c : s) c = static_cast<char>('a' + NextInt(26));
    return s;
  }

  void NextPerson(std::int64_t event_id, std::int64_t ts_us) {
    static const char* kStates[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
    static const char* kCities[] = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
                                    "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
    static const char* kFirst[] = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                   "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
    static const char* kLast[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                  "Walton", "Smith",  "Jones",   "Noris"};
    std::string name = std::string(kFirst[NextInt(11)]) + " " + kLast[NextInt(9)];
    std::string email = NextString(7) + "@" + NextString(5) + ".com";
    std::string card = fmt::format("{:04d} {:04d} {:04d} {:04d}", NextInt(10000), NextInt(10000),
                                   NextInt(10000), NextInt(10000));
    std::string city = kCities[NextInt(10)], state = kStates[NextInt(6)];
    int size =
        static_cast<int>(8 + name.size() + email.size() + card.size() + city.size() + state.size());
    person[0].AppendInt(LastBase0PersonId(event_id) + kFirstPersonId);
    person[1].AppendString(name);
    person[2].AppendString(email);
    person[3].AppendString(card);
    person[4].AppendString(city);
    person[5].AppendString(state);
    person[6].AppendInt(ts_us);
    person[7].AppendString(NextExtra(size, kAvgPersonBytes));
    person.EndRow();
  }

  void NextAuction(std::int64_t event_id, std::int64_t ts_us) {
    std::int64_t id = LastBase0AuctionId(event_id) + kFirstAuctionId;
    std::int64_t seller = NextInt(kHotSellersRatio) > 0
                              ? LastBase0PersonId(event_id) / kHotRatio * kHotRatio
                              : NextBase0PersonId(event_id);
    std::int64_t category = kFirstCategoryId + NextInt(kNumCategories);
    std::int64_t initial = NextPrice();
    // The auction's length: on average the time until numInFlightAuctions more auctions exist.
    std::int64_t ahead = kNumInFlightAuctions * kTotalProportion / kAuctionProportion;
    std::int64_t horizon_ms = TimestampMs(event_id + ahead) - ts_us / 1000;
    std::int64_t length_ms = 1 + NextInt(std::max<std::int64_t>(horizon_ms * 2, 1));
    std::string item = NextString(20), desc = NextString(100);
    std::int64_t reserve = initial + NextPrice();
    int size = static_cast<int>(8 + item.size() + desc.size() + 8 + 8 + 8 + 8 + 8);
    auction[0].AppendInt(id);
    auction[1].AppendString(item);
    auction[2].AppendString(desc);
    auction[3].AppendInt(initial);
    auction[4].AppendInt(reserve);
    auction[5].AppendInt(ts_us);
    auction[6].AppendInt(ts_us + length_ms * 1000);
    auction[7].AppendInt(seller + kFirstPersonId);
    auction[8].AppendInt(category);
    auction[9].AppendString(NextExtra(size, kAvgAuctionBytes));
    auction.EndRow();
  }

  void NextBid(std::int64_t event_id, std::int64_t ts_us) {
    static const char* kChannels[] = {"Google", "Facebook", "Baidu", "Apple"};
    std::int64_t auction_id = NextInt(kHotAuctionRatio) > 0
                                  ? LastBase0AuctionId(event_id) / kHotRatio * kHotRatio
                                  : NextBase0AuctionId(event_id);
    std::int64_t bidder = NextInt(kHotBiddersRatio) > 0
                              ? LastBase0PersonId(event_id) / kHotRatio * kHotRatio + 1
                              : NextBase0PersonId(event_id);
    std::int64_t price = NextPrice();
    // Most bids come through one of four named channels; the rest through one of 10,000 others.
    std::int64_t c = NextInt(10);
    std::string channel = c < 4 ? kChannels[c] : fmt::format("channel-{}", NextInt(10000));
    std::string url = fmt::format("https://www.nexmark.com/{}/{}/{}/item.htm?query=1&channel_id={}",
                                  NextString(5), NextString(5), NextString(5),
                                  std::hash<std::string>()(channel) % 100000);
    bid[0].AppendInt(auction_id + kFirstAuctionId);
    bid[1].AppendInt(bidder + kFirstPersonId);
    bid[2].AppendInt(price);
    bid[3].AppendString(channel);
    bid[4].AppendString(url);
    bid[5].AppendInt(ts_us);
    bid[6].AppendString(NextExtra(32, kAvgBidBytes));
    bid.EndRow();
  }

  std::int64_t base_ms_;
  std::mt19937_64 rng_{20260101};
};

// The config whose queries write the generator's tables (their schemas are what the views are
// planned against: one query per table, parsing JSON of its columns, timestamps cast), and one
// view. Its queries are removed before the daemon starts: the bench writes the tables itself.
std::string ConfigYaml(Generator& gen, const std::string& view, const std::string& sql) {
  std::string yaml = R"(data_dir: /nonexistent
sources:
  events: {kind: file, path: ".", pattern: "no-such-file.jsonl"}
queries:
)";
  for (const auto& [name, rows] : gen.Tables()) {
    std::vector<std::string> schema, timestamps;
    for (const auto& [column, type] : rows->columns()) {
      bool ts = type == TypeId::kTimestamp;
      schema.push_back(fmt::format("{}: {}", column, ts ? "string" : TypeName(type)));
      if (ts) timestamps.push_back(column + ": timestamp");
    }
    yaml += fmt::format(
        "  - name: {0}\n    source: events\n    operators:\n"
        "      - {{kind: parse_json, schema: {{{1}}}}}\n"
        "      - {{kind: cast, columns: {{{2}}}}}\n"
        "    sink: {{kind: delta, table: {0}}}\n",
        name, fmt::join(schema, ", "), fmt::join(timestamps, ", "));
  }
  return yaml + fmt::format("views:\n  - {{name: {}, sql: {}}}\n", view, sql);
}

}  // namespace

int main(int argc, char** argv) {
  TuneAllocatorForBatches();
  spdlog::set_level(spdlog::level::warn);
  if (argc < 2) {
    std::fprintf(stderr, "usage: nexmark_bench OUT_DIR [events=1000000] [queries=q0,...]\n");
    return 2;
  }
  const fs::path out = argv[1];
  const std::int64_t events = argc > 2 ? std::strtoll(argv[2], nullptr, 10) : 1000000;
  std::vector<std::string> queries;
  {
    std::stringstream ss(argc > 3 ? argv[3] : "q0,q1,q2,q3,q4,q5,q7,q9,q20");
    std::string item;
    while (std::getline(ss, item, ',')) queries.push_back(item);
  }
  fs::remove_all(out);
  fs::create_directories(out);
  state::StoreOptions so;
  so.data_dir = (out / "data").string();
  auto store = Must(state::Store::Open(so), "opening the store");

  // The events, 100k per version (the three tables' rows of a version in one transaction).
  auto t0 = std::chrono::steady_clock::now();
  Generator gen(ParseTimestamp("2026-01-01T00:00:00Z").value() / 1000);
  std::map<std::string, std::int64_t> rows;
  for (std::int64_t from = 0; from < events; from += 100000) {
    for (std::int64_t e = from; e < std::min(events, from + 100000); ++e) gen.Next(e);
    auto txn = store->BeginTxn();
    for (const auto& [name, t] : gen.Tables()) {
      RecordBatch b = t->Take();
      rows[name] += static_cast<std::int64_t>(b.num_rows());
      auto* table = Must(store->Table(name, true), name);
      if (Status st = table->StageWrite(*txn, b, state::WriteOptions{}); !st.ok())
        Die(st.ToString());
    }
    if (Status st = store->Commit(std::move(txn)); !st.ok()) Die(st.ToString());
  }
  if (!store->Flush().ok() || !store->WaitForBackgroundWork(std::chrono::minutes(2))) Die("flush");
  std::printf("generated %lld events (%lld persons, %lld auctions, %lld bids) in %.1f s\n",
              static_cast<long long>(events), static_cast<long long>(rows["person"]),
              static_cast<long long>(rows["auction"]), static_cast<long long>(rows["bid"]),
              bench::Seconds(t0));
  std::map<std::string, std::int64_t> versions;
  for (const auto& [name, t] : gen.Tables())
    versions[name] = (*store->Table(name, false))->latest_version();

  auto session = Must(state::sql::SqlSession::Open(store.get()), "sql session");
  const fs::path sql_dir = fs::path(PINSTREAM_SOURCE_DIR) / "bench" / "nexmark";
  for (const auto& q : queries) {
    const std::string view = "nexmark_" + q;
    connectors::ConnectorEnv env;
    env.store = store.get();
    auto reg = bench::PluginRegistries(&env);
    views::RegisterViewSections(reg->sections);
    DaemonConfig cfg;
    try {
      cfg = LoadConfigFromString(ConfigYaml(gen, view, q + ".sql"), (sql_dir / "nexmark.yaml").string(),
                                 sql_dir.string(), *reg);
    } catch (const ConfigError& e) {
      Die(e.what());
    }
    if (Status st = views::AddViewQueries(cfg, *reg); !st.ok()) {
      std::printf("%s: not run: %s\n", q.c_str(), st.message().c_str());
      bench::Report(fmt::format("nexmark_{}_refused", q), 1, "");
      continue;
    }
    std::erase_if(cfg.queries, [](const QueryConfig& qc) { return qc.view.empty(); });
    std::map<std::string, std::vector<std::string>> inputs;
    for (auto& qc : cfg.queries) {
      qc.trigger.kind = TriggerConfig::Kind::kContinuous;
      for (const auto& s : qc.sources)
        inputs[qc.name].push_back(cfg.sources.at(s).spec->TableName());
    }
    bench::ViewProgress progress;
    state::RocksCheckpointStore cps(store.get());
    DaemonParts parts;
    parts.config = &cfg;
    parts.checkpoints = &cps;
    parts.on_progress = [&progress](const QueryProgress& p) { progress.OnProgress(p); };
    auto daemon = std::make_unique<Daemon>(std::move(parts));
    auto a = std::chrono::steady_clock::now();
    double c0 = bench::ProcessCpuSeconds();
    if (Status st = daemon->Start(); !st.ok()) Die(st.ToString());
    int rc = 0;
    std::thread runner([&] { rc = daemon->Run(); });
    bool caught_up = progress.WaitFor(inputs, versions, std::chrono::minutes(10));
    double secs = bench::Seconds(a), cpu = bench::ProcessCpuSeconds() - c0;
    daemon->RequestDrain();
    runner.join();
    daemon.reset();
    if (!caught_up) Die(q + ": the view did not catch up in 10 minutes");
    if (rc != 0) Die(fmt::format("{}: the daemon exited with {}", q, rc));
    // The view's rows against the batch SQL's over the same tables.
    std::int64_t view_rows = (*store->Table(view, false))->num_rows();
    // A view with window functions (q5, q7): the batch SQL has none; qN.batch.sql is the same
    // query written without them.
    fs::path batch_sql = sql_dir / (q + ".batch.sql");
    if (!fs::exists(batch_sql)) batch_sql = sql_dir / (q + ".sql");
    auto batch = Must(session->QueryAll(ReadFile(batch_sql)), q);
    auto batch_rows = static_cast<std::int64_t>(batch.at(0).rows.num_rows());
    std::printf(
        "%-4s %lld events in %.2f s (CPU %.2f s, %.2f cores): %.0f events/s, %.0f "
        "events/s per core; view %lld rows (batch SQL %lld)\n",
        q.c_str(), static_cast<long long>(events), secs, cpu, cpu / secs,
        static_cast<double>(events) / secs, static_cast<double>(events) / cpu,
        static_cast<long long>(view_rows), static_cast<long long>(batch_rows));
    if (view_rows != batch_rows)
      Die(fmt::format("{}: the view holds {} rows, the batch SQL answers {}", q, view_rows,
                      batch_rows));
    bench::Report(fmt::format("nexmark_{}_events_per_s", q), static_cast<double>(events) / secs,
                  "events/s");
    bench::Report(fmt::format("nexmark_{}_events_per_core_s", q), static_cast<double>(events) / cpu,
                  "events/s");
  }
  session.reset();
  store.reset();
  fs::remove_all(out);
  return 0;
}
