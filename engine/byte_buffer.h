// ByteBuffer: the growable byte array behind a string column (Column::bytes_).
//
// Like std::vector<char>, with two differences that matter on the data path:
//   - resize() leaves the new bytes uninitialised: the buffer always grows just before bytes are
//     written into it (a gather, a decode, a value copied by a fixed-size move), and
//     std::string / std::vector<char> zero them first, a memset over every gathered string column;
//   - everything is inline (std::string's append is an out-of-line call into libstdc++).
// Copies are one memcpy. Growth is geometric. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace pinstream {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer& o) { Assign(o.data_, o.size_); }
  ByteBuffer(ByteBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        cap_(std::exchange(o.cap_, 0)) {}
  ByteBuffer& operator=(const ByteBuffer& o) {
    if (this != &o) {
      size_ = 0;
      Assign(o.data_, o.size_);
    }
    return *this;
  }
  ByteBuffer& operator=(ByteBuffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      cap_ = std::exchange(o.cap_, 0);
    }
    return *this;
  }
  ~ByteBuffer() { std::free(data_); }

  char* data() { return data_; }
  const char* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_, size_}; }

  // New bytes (when growing) are uninitialised: the caller writes them.
  void resize(std::size_t n) {
    if (n > cap_) Grow(n);
    size_ = n;
  }
  void reserve(std::size_t n) {
    if (n > cap_) Realloc(n);
  }
  void clear() { size_ = 0; }
  void push_back(char c) {
    if (size_ == cap_) Grow(size_ + 1);
    data_[size_++] = c;
  }
  void append(const char* p, std::size_t n) {
    std::size_t at = size_;
    resize(at + n);
    if (n > 0) std::memcpy(data_ + at, p, n);
  }

  friend bool operator==(const ByteBuffer& a, const ByteBuffer& b) { return a.view() == b.view(); }

 private:
  void Assign(const char* p, std::size_t n) {
    resize(n);
    if (n > 0) std::memcpy(data_, p, n);
  }
  void Grow(std::size_t n) { Realloc(n > 2 * cap_ ? n : 2 * cap_); }
  // realloc copies the whole old allocation; an empty buffer (cleared, or being assigned) has
  // nothing worth copying, so it takes a fresh allocation instead.
  void Realloc(std::size_t cap) {
    void* p;
    if (size_ == 0) {
      std::free(data_);
      data_ = nullptr;
      cap_ = 0;
      p = std::malloc(cap);
    } else {
      p = std::realloc(data_, cap);
    }
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    cap_ = cap;
  }

  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};

}  // namespace pinstream
