// Byte-level helpers for keys and encodings: big-endian integers (so that RocksDB's bytewise
// key order equals numeric order), varints, and a bounds-checked reader for decoders of stored
// data (every decoder of bytes from disk must use ByteReader and report Corruption, never crash).
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pinstream {

inline void PutBigEndian64(std::string* out, std::uint64_t v) {
  char b[8];
  for (int i = 7; i >= 0; --i) {
    b[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(b, 8);
}
inline void PutBigEndian32(std::string* out, std::uint32_t v) {
  char b[4];
  for (int i = 3; i >= 0; --i) {
    b[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(b, 4);
}
inline std::uint64_t GetBigEndian64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline std::uint32_t GetBigEndian32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// The Put* helpers append to a std::string or any buffer with push_back(char) and
// append(const char*, size_t) (a ByteBuffer).
template <typename Buffer>
inline void PutVarint64(Buffer* out, std::uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
inline void PutFixed64(std::string* out, std::uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out->append(b, 8);
}
// Appends `v` in decimal (text, unlike the binary encodings above): for hand-built JSON and HTTP.
template <typename Int>
inline void AppendDecimal(std::string* out, Int v) {
  char buf[24];
  out->append(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf));
}

template <typename Buffer>
inline void PutLengthPrefixed(Buffer* out, std::string_view s) {
  PutVarint64(out, s.size());
  out->append(s.data(), s.size());
}

// Reads from a byte string; every Get* returns false (and leaves the reader failed) on underflow.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}
  bool ok() const { return ok_; }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  const char* position() const { return p_; }

  bool GetVarint64(std::uint64_t* v) {
    std::uint64_t r = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      if (p_ >= end_) return Fail();
      auto byte = static_cast<unsigned char>(*p_++);
      r |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) {
        *v = r;
        return true;
      }
    }
    return Fail();
  }
  bool GetFixed64(std::uint64_t* v) {
    if (remaining() < 8) return Fail();
    std::memcpy(v, p_, 8);
    p_ += 8;
    return true;
  }
  bool GetByte(std::uint8_t* v) {
    if (p_ >= end_) return Fail();
    *v = static_cast<std::uint8_t>(*p_++);
    return true;
  }
  bool GetBytes(std::size_t n, std::string_view* out) {
    if (remaining() < n) return Fail();
    *out = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  bool GetLengthPrefixed(std::string_view* out) {
    std::uint64_t n;
    if (!GetVarint64(&n)) return false;
    if (n > remaining()) return Fail();
    return GetBytes(static_cast<std::size_t>(n), out);
  }

 private:
  bool Fail() {
    ok_ = false;
    p_ = end_;
    return false;
  }
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

}  // namespace pinstream
