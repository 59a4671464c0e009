#include "app/emulator.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "connectors/file/record_splitter.h"
#include "engine/row_format.h"

namespace pinstream::app {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using connectors::CsvOptions;
using connectors::FileFormat;
using connectors::NextRecord;
using connectors::RecordSpan;
using connectors::SplitCsvRecord;
using nlohmann::ordered_json;

namespace {

struct Post {
  ordered_json pin, geo, user;
};

// The data set: pin rows from the JSONL (raw, typed as in the database), geo and user rows from
// their CSVs (ind/age as integers, latitude/longitude as numbers, datetimes as strings).
struct DataSet {
  std::vector<int> indices;  // indices present in all three tables
  std::map<int, ordered_json> pin, geo, user;
};

Result<std::vector<std::vector<std::string>>> ReadCsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(fmt::format("cannot read '{}'", path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string buf = ss.str();
  CsvOptions csv;
  std::vector<std::vector<std::string>> rows;
  std::size_t pos = 0;
  RecordSpan span;
  std::vector<std::string> fields;
  std::vector<bool> quoted;
  std::string err;
  while (NextRecord(FileFormat::kCsv, csv, buf, pos, true, &span)) {
    if (!span.blank) {
      if (!SplitCsvRecord(std::string_view(buf).substr(span.begin, span.end - span.begin), csv,
                          &fields, &quoted, &err)) {
        return InvalidArgument(fmt::format("{}: {}", path, err));
      }
      rows.push_back(fields);
    }
    pos = span.next;
  }
  return rows;
}

Result<DataSet> LoadData(const std::string& dir) {
  DataSet d;
  std::ifstream pins(dir + "/pinterest_data_partial.jsonl");
  if (!pins)
    return NotFound(
        fmt::format("cannot read {}/pinterest_data_partial.jsonl (use --data DIR)", dir));
  std::string line;
  while (std::getline(pins, line)) {
    if (line.empty()) continue;
    ordered_json j = ordered_json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("index"))
      return Corruption("malformed line in pinterest_data_partial.jsonl");
    int idx = j["index"].get<int>();
    d.pin[idx] = std::move(j);
  }
  PS_ASSIGN_OR_RETURN(auto geo, ReadCsv(dir + "/geolocation_data.csv"));
  for (std::size_t i = 1; i < geo.size(); ++i) {
    const auto& r = geo[i];
    if (r.size() != 6) return Corruption("geolocation_data.csv: unexpected row");
    ordered_json g;
    g["ind"] = std::stoi(r[1]);
    g["timestamp"] = r[2];
    g["latitude"] = std::stod(r[3]);
    g["longitude"] = std::stod(r[4]);
    g["country"] = r[5];
    int idx = g["ind"].get<int>();
    d.geo[idx] = std::move(g);
  }
  PS_ASSIGN_OR_RETURN(auto user, ReadCsv(dir + "/user_data.csv"));
  for (std::size_t i = 1; i < user.size(); ++i) {
    const auto& r = user[i];
    if (r.size() != 6) return Corruption("user_data.csv: unexpected row");
    ordered_json u;
    u["ind"] = std::stoi(r[1]);
    u["first_name"] = r[2];
    u["last_name"] = r[3];
    u["age"] = std::stoi(r[4]);
    u["date_joined"] = r[5];
    int idx = u["ind"].get<int>();
    d.user[idx] = std::move(u);
  }
  for (const auto& [i, p] : d.pin) {
    if (d.geo.count(i) && d.user.count(i)) d.indices.push_back(i);
  }
  if (d.indices.empty())
    return Corruption("the data set has no index present in pin, geo and user");
  return d;
}

struct Url {
  std::string host, port, prefix;
};

Result<Url> ParseUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0)
    return InvalidArgument(fmt::format("--base-url '{}' must start with http://", url));
  std::string rest = url.substr(scheme.size());
  std::size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  Url u;
  u.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
  std::size_t colon = hostport.rfind(':');
  u.host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  u.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  if (u.host.empty()) return InvalidArgument(fmt::format("--base-url '{}' has no host", url));
  return u;
}

// One keep-alive connection.
class Client {
 public:
  Client(const Url& url, const EmulatorOptions& o) : url_(url), o_(o), stream_(ioc_) {}

  // Sends; returns the status (0 = connection failure) and fills body / retry_after.
  int Send(bhttp::verb method, const std::string& path, const std::string& content_type,
           const std::string& body, std::string* response, int* retry_after_s) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      beast::error_code ec;
      if (!connected_) {
        tcp::resolver resolver(ioc_);
        auto results = resolver.resolve(url_.host, url_.port, ec);
        if (ec) return Fail(ec, response);
        stream_.connect(results, ec);
        if (ec) return Fail(ec, response);
        stream_.socket().set_option(tcp::no_delay(true), ec);
        connected_ = true;
      }
      bhttp::request<bhttp::string_body> req{method, url_.prefix + path, 11};
      req.set(bhttp::field::host, url_.host);
      req.set(bhttp::field::user_agent, "pinstream-emulate");
      req.set(bhttp::field::content_type, content_type);
      if (!o_.bearer_token.empty())
        req.set(bhttp::field::authorization, "Bearer " + o_.bearer_token);
      if (!o_.api_key.empty()) req.set("x-api-key", o_.api_key);
      req.keep_alive(true);
      req.body() = body;
      req.prepare_payload();
      stream_.expires_after(std::chrono::seconds(30));
      bhttp::write(stream_, req, ec);
      if (!ec) {
        bhttp::response<bhttp::string_body> res;
        bhttp::read(stream_, buffer_, res, ec);
        if (!ec) {
          *response = std::move(res.body());
          *retry_after_s = 0;
          auto ra = res.find(bhttp::field::retry_after);
          if (ra != res.end())
            *retry_after_s = std::atoi(std::string(ra->value().data(), ra->value().size()).c_str());
          if (!res.keep_alive()) Reset();
          return static_cast<int>(res.result_int());
        }
      }
      Reset();  // a stale keep-alive connection: reconnect once
      if (attempt == 1) return Fail(ec, response);
    }
    return 0;
  }

 private:
  int Fail(const beast::error_code& ec, std::string* response) {
    *response = ec.message();
    Reset();
    return 0;
  }
  void Reset() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    buffer_.clear();
    connected_ = false;
  }
  Url url_;
  const EmulatorOptions& o_;
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

std::string IsoVariant(const std::string& ts, std::uint64_t pick) {
  // "2020-08-28 03:52:47" → one of the forms clients send.
  std::string t = ts;
  if (t.size() >= 11) t[10] = 'T';
  switch (pick % 4) {
    case 0:
      return ts;
    case 1:
      return t;
    case 2:
      return t + "Z";
    default:
      return t + ".000+00:00";
  }
}

}  // namespace

Result<EmulatorReport> RunEmulator(const EmulatorOptions& o) {
  if (o.mode != "kafka-rest" && o.mode != "kinesis" && o.mode != "both" && o.mode != "kafka") {
    return InvalidArgument(
        fmt::format("--mode '{}' must be kafka-rest, kinesis, both or kafka", o.mode));
  }
  bool to_kafka = o.mode == "kafka";
  if (to_kafka && (!o.produce || !o.flush))
    return InvalidArgument("--mode kafka needs --bootstrap-servers");
  if (o.batch < 1 || o.batch > 500) return InvalidArgument("--batch must be 1..500");
  if (o.concurrency < 1 || o.concurrency > 256)
    return InvalidArgument("--concurrency must be 1..256");
  Url url;
  if (!to_kafka) {
    PS_ASSIGN_OR_RETURN(url, ParseUrl(o.base_url));
  }
  PS_ASSIGN_OR_RETURN(DataSet data, LoadData(o.data_dir));

  // The posts, decided up front from the seed (the same run sends the same posts).
  std::mt19937_64 rng(o.seed);
  std::vector<Post> posts(static_cast<std::size_t>(o.posts));
  std::vector<bool> kinesis(posts.size());
  for (std::size_t i = 0; i < posts.size(); ++i) {
    int idx = data.indices[rng() % data.indices.size()];
    Post& p = posts[i];
    p.pin = data.pin[idx];
    p.geo = data.geo[idx];
    p.user = data.user[idx];
    kinesis[i] = o.mode == "kinesis" || (o.mode == "both" && i % 2 == 1);
    if (o.mixed_formats) {
      std::uint64_t pick = rng();
      p.geo["timestamp"] = IsoVariant(p.geo["timestamp"].get<std::string>(), pick);
      p.user["date_joined"] = IsoVariant(p.user["date_joined"].get<std::string>(), pick >> 8);
    }
    if (o.bad_fraction > 0 && static_cast<double>(rng() % 1000000) / 1e6 < o.bad_fraction) {
      std::string ts = p.geo["timestamp"].get<std::string>();
      if (ts.size() >= 10) {
        ts[4] = ':';
        ts[7] = ':';
      }
      p.geo["timestamp"] = ts;  // "2020:08:28 03:52:47": a row-level error downstream
    }
  }

  if (!o.record_posts.empty()) {
    std::ofstream out(o.record_posts);
    for (const auto& p : posts) out << p.pin["index"].get<int>() << "\n";
    if (!out) return IOError(fmt::format("cannot write '{}'", o.record_posts));
  }
  EmulatorReport report;
  std::atomic<std::int64_t> posts_done{0}, records_sent{0}, requests{0}, retries{0}, errors{0};
  std::mutex err_mu;
  std::string first_error;
  auto start = std::chrono::steady_clock::now();
  bool tty = o.progress && ::isatty(2);

  auto worker = [&](int w) {
    Client client(url, o);
    std::mt19937_64 wrng(o.seed ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(w + 1)));
    // Per destination: pending records (JSON texts) until `batch` are ready.
    struct Dest {
      bool kinesis;
      std::string name;
      std::vector<std::string> records;  // REST: value JSON; Kinesis: Data field JSON
    };
    std::map<std::string, Dest> dests;
    auto flush = [&](Dest& d) {
      if (d.records.empty()) return;
      std::string path, body, ct;
      bhttp::verb verb;
      if (!d.kinesis) {
        path = "/topics/" + d.name;
        ct = "application/vnd.kafka.json.v2+json";
        verb = bhttp::verb::post;
        body = "{\"records\":[";
        for (std::size_t i = 0; i < d.records.size(); ++i)
          body += (i ? ",{\"value\":" : "{\"value\":") + d.records[i] + "}";
        body += "]}";
      } else if (d.records.size() == 1) {
        path = "/streams/" + d.name + "/record";
        ct = "application/json";
        verb = bhttp::verb::put;
        body =
            fmt::format("{{\"StreamName\":\"{}\",\"Data\":{},\"PartitionKey\":\"partition-{}\"}}",
                        d.name, d.records[0], wrng() % 4 + 1);
      } else {
        path = "/streams/" + d.name + "/records";
        ct = "application/json";
        verb = bhttp::verb::put;
        body = "{\"records\":[";
        for (std::size_t i = 0; i < d.records.size(); ++i) {
          body += fmt::format("{}{{\"data\":{},\"partition-key\":\"partition-{}\"}}", i ? "," : "",
                              d.records[i], wrng() % 4 + 1);
        }
        body += "]}";
      }
      std::string resp;
      int retry_after = 0;
      int status = 0;
      for (int attempt = 0;; ++attempt) {
        status = client.Send(verb, path, ct, body, &resp, &retry_after);
        requests.fetch_add(1);
        bool retryable =
            status == 0 || status == 429 || status == 503 ||
            (status == 400 && resp.find("ProvisionedThroughputExceeded") != std::string::npos);
        if (status == 200 || !retryable || attempt >= o.max_retries) break;
        retries.fetch_add(1);
        int wait_ms = retry_after > 0 ? retry_after * 1000 : std::min(2000, 50 << attempt);
        std::this_thread::sleep_for(
            std::chrono::milliseconds(wait_ms));  // back-off between retries
      }
      if (status == 200) {
        records_sent.fetch_add(static_cast<std::int64_t>(d.records.size()));
      } else {
        errors.fetch_add(static_cast<std::int64_t>(d.records.size()));
        std::lock_guard lock(err_mu);
        if (first_error.empty())
          first_error = fmt::format("{} {} → {} {}", d.kinesis ? "PUT" : "POST", path, status,
                                    resp.substr(0, 300));
      }
      d.records.clear();
    };
    for (std::size_t i = static_cast<std::size_t>(w); i < posts.size();
         i += static_cast<std::size_t>(o.concurrency)) {
      if (o.rate > 0) {
        auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(static_cast<double>(i) / o.rate));
        std::this_thread::sleep_until(due);  // pacing to the target rate
      }
      const Post& p = posts[i];
      if (to_kafka) {
        std::string key = std::to_string(p.pin["index"].get<int>());
        for (const char* kind : {"pin", "geo", "user"}) {
          const ordered_json& row =
              std::string(kind) == "pin" ? p.pin : (std::string(kind) == "geo" ? p.geo : p.user);
          Status st = o.produce(fmt::format("{}.{}", o.user_id, kind), key, row.dump());
          if (st.ok()) {
            records_sent.fetch_add(1);
          } else {
            errors.fetch_add(1);
            std::lock_guard lock(err_mu);
            if (first_error.empty()) first_error = st.ToString();
          }
        }
        requests.fetch_add(3);
        posts_done.fetch_add(1);
        continue;
      }
      for (const char* kind : {"pin", "geo", "user"}) {
        const ordered_json& row =
            std::string(kind) == "pin" ? p.pin : (std::string(kind) == "geo" ? p.geo : p.user);
        std::string name = kinesis[i] ? fmt::format("streaming-{}-{}", o.user_id, kind)
                                      : fmt::format("{}.{}", o.user_id, kind);
        Dest& d = dests[name];
        d.kinesis = kinesis[i];
        d.name = name;
        std::string rec = row.dump();
        if (kinesis[i] && o.mixed_formats) {
          std::uint64_t pick = wrng() % 3;
          if (pick == 1)
            rec = ordered_json(rec).dump();  // Data as a JSON-encoded string
          else if (pick == 2)
            rec = "\"" + Base64Encode(rec) + "\"";  // Data as base64 text
        }
        d.records.push_back(std::move(rec));
        if (static_cast<int>(d.records.size()) >= o.batch) flush(d);
      }
      posts_done.fetch_add(1);
    }
    for (auto& [n, d] : dests) flush(d);
  };

  std::vector<std::thread> threads;
  for (int w = 0; w < o.concurrency; ++w) threads.emplace_back(worker, w);
  std::atomic<bool> done{false};
  std::thread reporter([&] {
    auto last_plain = std::chrono::steady_clock::now();
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // refresh period of the display
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::int64_t pd = posts_done.load();
      double rate = secs > 0 ? static_cast<double>(records_sent.load()) / secs : 0;
      if (tty) {
        int width = 30;
        int fill = o.posts > 0 ? static_cast<int>(width * pd / o.posts) : width;
        std::fprintf(
            stderr,
            "\r[%s%s] %lld/%lld posts  %lld records  %.0f rec/s  %lld retries  %lld errors ",
            std::string(static_cast<std::size_t>(fill), '#').c_str(),
            std::string(static_cast<std::size_t>(width - fill), '.').c_str(),
            static_cast<long long>(pd), static_cast<long long>(o.posts),
            static_cast<long long>(records_sent.load()), rate,
            static_cast<long long>(retries.load()), static_cast<long long>(errors.load()));
      } else if (o.progress &&
                 std::chrono::steady_clock::now() - last_plain > std::chrono::seconds(5)) {
        last_plain = std::chrono::steady_clock::now();
        std::fprintf(stderr, "emulate: %lld/%lld posts, %lld records, %.0f rec/s, %lld errors\n",
                     static_cast<long long>(pd), static_cast<long long>(o.posts),
                     static_cast<long long>(records_sent.load()), rate,
                     static_cast<long long>(errors.load()));
      }
    }
  });
  for (auto& t : threads) t.join();
  if (to_kafka) {
    auto undelivered = o.flush();
    if (!undelivered.ok()) {
      errors.fetch_add(records_sent.load());
      records_sent.store(0);
      if (first_error.empty()) first_error = undelivered.status().ToString();
    } else if (*undelivered > 0) {
      errors.fetch_add(*undelivered);
      records_sent.fetch_sub(*undelivered);
      if (first_error.empty())
        first_error = fmt::format("{} records were not delivered to Kafka", *undelivered);
    }
  }
  done.store(true);
  reporter.join();
  if (tty) std::fprintf(stderr, "\n");
  report.posts = posts_done.load();
  report.records_sent = records_sent.load();
  report.requests = requests.load();
  report.retries = retries.load();
  report.errors = errors.load();
  report.first_error = first_error;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace pinstream::app
