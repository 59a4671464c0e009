// Encodings stateful operators (aggregate, join, the views' operators) share for the values they
// keep in keyed state: ZigZag for signed counts in varints, and order-preserving bytes of a
// column value, so that RocksDB's bytewise order of state keys is the values' order (min/max,
// DISTINCT and percentiles kept sorted).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "engine/bytes.h"
#include "engine/record_batch.h"

namespace pinstream {

// Signed to unsigned so that small magnitudes stay small varints.
inline std::uint64_t ZigZag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t UnZigZag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Appends order-preserving bytes of the non-null value in row `row` of `c` (a string, a double,
// or an integer-like value): strings as they are, numbers as 8 big-endian bytes with the sign
// flipped (doubles: all bits flipped when negative; -0 reads as 0).
inline void PutOrdered(const Column& c, std::size_t row, std::string* out) {
  constexpr std::uint64_t kSignBit = 1ULL << 63;
  switch (c.type()) {
    case TypeId::kString:
    case TypeId::kRaw:
      out->append(c.Str(row));
      return;
    case TypeId::kDouble: {
      double d = c.Double(row);
      if (d == 0) d = 0;  // -0 == 0
      std::uint64_t bits;
      std::memcpy(&bits, &d, 8);
      bits = (bits & kSignBit) ? ~bits : bits | kSignBit;
      PutBigEndian64(out, bits);
      return;
    }
    default:
      PutBigEndian64(out, static_cast<std::uint64_t>(c.Int(row)) ^ kSignBit);
  }
}

}  // namespace pinstream
