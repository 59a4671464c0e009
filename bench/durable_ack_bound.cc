// The machine's limit for durable acknowledgements: the least work an HTTP server must do to
// answer a request only once its body is on disk. `run_benchmarks.sh http` runs it under the
// same wrk settings as nginx's `return 200` and pinstream, so the one-record ingest can be read
// against what durability itself costs on this machine, not only against a server that stores
// nothing.
//
// One epoll thread accepts, reads requests (keep-alive, Content-Length bodies, several per read
// if pipelined) and queues each body; one group-commit thread writes everything queued as one
// write and fdatasyncs it, then hands the answered connections back to the epoll thread through
// an eventfd, which sends a REST Proxy produce response to each. That is pinstream's source-log
// protocol (group commit: requests that arrive during a sync share the next one) without the
// rest: no HTTP or JSON parser, no offsets, no RocksDB. Two logs:
//   append      a file that grows, as RocksDB's WAL does (each fdatasync also writes the inode)
//   prewritten  a preallocated file written over in a ring, as a recycled WAL would be (RocksDB
//               7.8 refuses recycling under point-in-time recovery)
//   direct      the same ring written with O_DIRECT | O_DSYNC, each group padded to 4 KiB pages:
//               one write that returns once durable, no page cache (the cheapest durable write
//               here: ~110 µs and ~40 µs of CPU against ~150 µs and ~60 µs for the others)
// The script reports the best of the three as the bound.
//
//   durable_ack_bound PORT DIR append|prewritten|direct
//
// Prints "listening" once it accepts connections; runs until killed.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.kafka.v2+json\r\nContent-Length: 115\r\n\r\n"
    "{\"offsets\":[{\"partition\":0,\"offset\":1,\"error_code\":null,\"error\":null}],"
    "\"key_schema_id\":null,\"value_schema_id\":null}";
constexpr off_t kRingBytes = 128LL << 20;

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

// The group-commit log: bodies queued by the epoll thread, written and synced by its own thread.
class GroupLog {
 public:
  enum class Mode { kAppend, kPrewritten, kDirect };
  GroupLog(const std::string& dir, Mode mode, int notify_fd) : mode_(mode), notify_fd_(notify_fd) {
    std::string path = dir + "/durable_ack_bound.log";
    fd_ = ::open(path.c_str(),
                 O_CREAT | O_TRUNC | O_WRONLY | (mode == Mode::kAppend ? O_APPEND : 0), 0644);
    if (fd_ < 0) Die("open log");
    if (mode != Mode::kAppend) {
      std::string zeros(1 << 20, '\0');
      for (off_t at = 0; at < kRingBytes; at += static_cast<off_t>(zeros.size())) {
        if (::write(fd_, zeros.data(), zeros.size()) != static_cast<ssize_t>(zeros.size()))
          Die("prewrite log");
      }
      if (::fsync(fd_) != 0) Die("fsync log");
    }
    if (mode == Mode::kDirect) {
      ::close(fd_);
      fd_ = ::open(path.c_str(), O_WRONLY | O_DIRECT | O_DSYNC);
      if (fd_ < 0) Die("open log O_DIRECT");
    }
    thread_ = std::thread([this] { Run(); });
  }

  // Epoll thread: queue a body; `fd` is answered once it is durable.
  void Add(std::string_view body, int fd) {
    std::lock_guard lock(mu_);
    queued_.append(body);
    waiting_.push_back(fd);
    cv_.notify_one();
  }
  // Epoll thread: connections whose bodies are durable.
  void TakeDone(std::vector<int>* out) {
    std::lock_guard lock(mu_);
    out->swap(done_);
  }

 private:
  void Run() {
    std::string data;
    std::vector<int> fds;
    constexpr std::size_t kPage = 4096;
    char* aligned = static_cast<char*>(std::aligned_alloc(kPage, 64 << 20));
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !waiting_.empty(); });
        data.swap(queued_);
        fds.swap(waiting_);
      }
      if (mode_ == Mode::kDirect) {
        std::size_t len =
            std::min<std::size_t>((data.size() + kPage - 1) / kPage * kPage, 64 << 20);
        std::memcpy(aligned, data.data(), std::min(data.size(), len));
        if (at_ + static_cast<off_t>(len) > kRingBytes) at_ = 0;
        if (::pwrite(fd_, aligned, len, at_) != static_cast<ssize_t>(len)) Die("pwrite log");
        at_ += static_cast<off_t>(len);
      } else if (mode_ == Mode::kPrewritten) {
        if (at_ + static_cast<off_t>(data.size()) > kRingBytes) at_ = 0;
        if (::pwrite(fd_, data.data(), data.size(), at_) != static_cast<ssize_t>(data.size()))
          Die("pwrite log");
        at_ += static_cast<off_t>(data.size());
        if (::fdatasync(fd_) != 0) Die("fdatasync log");
      } else {
        if (::write(fd_, data.data(), data.size()) != static_cast<ssize_t>(data.size()))
          Die("write log");
        if (::fdatasync(fd_) != 0) Die("fdatasync log");
      }
      data.clear();
      {
        std::lock_guard lock(mu_);
        done_.insert(done_.end(), fds.begin(), fds.end());
      }
      fds.clear();
      std::uint64_t one = 1;
      if (::write(notify_fd_, &one, sizeof one) != sizeof one) Die("eventfd");
    }
  }

  Mode mode_;
  int notify_fd_;
  int fd_ = -1;
  off_t at_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string queued_;
  std::vector<int> waiting_, done_;
  std::thread thread_;
};

// Length of the first complete request in `in` (header + Content-Length body) and its body, or 0.
std::size_t CompleteRequest(std::string_view in, std::string_view* body) {
  std::size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  std::size_t length = 0;
  std::string_view head = in.substr(0, end);
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;
       at = head.find("\r\n", at + 2)) {
    std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - (at + 2));
    constexpr std::string_view kName = "content-length:";
    if (line.size() > kName.size() && ::strncasecmp(line.data(), kName.data(), kName.size()) == 0) {
      length = std::strtoull(std::string(line.substr(kName.size())).c_str(), nullptr, 10);
    }
  }
  if (in.size() < end + 4 + length) return 0;
  *body = in.substr(end + 4, length);
  return end + 4 + length;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc == 4 ? argv[3] : "";
  if (mode != "append" && mode != "prewritten" && mode != "direct") {
    std::fprintf(stderr, "usage: durable_ack_bound PORT DIR append|prewritten|direct\n");
    return 2;
  }
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1024) != 0)
    Die("listen");
  int ep = ::epoll_create1(0);
  int notify = ::eventfd(0, EFD_NONBLOCK);
  GroupLog log(argv[2],
               mode == "append"
                   ? GroupLog::Mode::kAppend
                   : (mode == "prewritten" ? GroupLog::Mode::kPrewritten : GroupLog::Mode::kDirect),
               notify);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  ev.data.fd = notify;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, notify, &ev);
  std::printf("listening\n");
  std::fflush(stdout);

  std::unordered_map<int, std::string> input;  // per connection: bytes not yet a whole request
  std::vector<epoll_event> events(512);
  std::vector<int> done;
  std::vector<char> buf(256 << 10);
  for (;;) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (fd == listener) {
        for (int c; (c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLET;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          input[c];
        }
        continue;
      }
      if (fd == notify) {
        std::uint64_t count;
        if (::read(notify, &count, sizeof count) < 0 && errno != EAGAIN) Die("eventfd");
        log.TakeDone(&done);
        for (int c : done) ::send(c, kResponse.data(), kResponse.size(), MSG_NOSIGNAL);
        done.clear();
        continue;
      }
      // Edge-triggered: read until a short read (the socket was drained; new bytes raise a new
      // edge).
      std::string& in = input[fd];
      ssize_t r;
      while ((r = ::recv(fd, buf.data(), buf.size(), 0)) > 0) {
        in.append(buf.data(), static_cast<std::size_t>(r));
        if (static_cast<std::size_t>(r) < buf.size()) break;
      }
      if (r == 0 || (r < 0 && errno != EAGAIN)) {
        ::close(fd);
        input.erase(fd);
        continue;
      }
      std::string_view body;
      std::size_t used = 0;
      while (std::size_t len = CompleteRequest(std::string_view(in).substr(used), &body)) {
        log.Add(body, fd);
        used += len;
      }
      in.erase(0, used);
    }
  }
}
