#include "engine/byte_buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace pinstream {
namespace {

std::string Pattern(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('a' + i % 23));
  return s;
}

TEST(ByteBufferTest, GrowingKeepsWhatWasWritten) {
  ByteBuffer b;
  EXPECT_TRUE(b.empty());
  std::string expect;
  for (std::size_t step = 1; step < 5000; step += step / 2 + 1) {
    std::string part = Pattern(step);
    b.append(part.data(), part.size());
    expect += part;
    ASSERT_EQ(b.view(), expect) << "after appending " << step << " bytes";
    EXPECT_GE(b.capacity(), b.size());
  }
  std::size_t cap = b.capacity();
  b.resize(10);  // shrinking keeps the allocation and the first bytes
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.view(), expect.substr(0, 10));
  b.resize(12);  // grown again within capacity: the caller writes the new bytes
  std::memcpy(b.data() + 10, "XY", 2);
  EXPECT_EQ(b.view(), expect.substr(0, 10) + "XY");
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), cap);
  // Grown past its capacity while empty: a fresh allocation holding exactly the new bytes.
  std::string big = Pattern(cap + 100);
  b.append(big.data(), big.size());
  EXPECT_EQ(b.view(), big);
  EXPECT_GE(b.capacity(), big.size());
}

TEST(ByteBufferTest, CopiesAreIndependentAndMovesTakeTheBytes) {
  ByteBuffer a;
  std::string text = Pattern(300);
  a.append(text.data(), text.size());
  ByteBuffer copy(a);
  EXPECT_EQ(copy, a);
  EXPECT_NE(copy.data(), a.data());
  copy.data()[0] = '!';
  EXPECT_EQ(a.view(), text);
  EXPECT_FALSE(copy == a);

  ByteBuffer assigned;
  assigned.append("old", 3);
  assigned = a;
  EXPECT_EQ(assigned.view(), text);
  const ByteBuffer& same = assigned;
  assigned = same;  // self-assignment keeps the bytes
  EXPECT_EQ(assigned.view(), text);

  const char* bytes = a.data();
  ByteBuffer moved(std::move(a));
  EXPECT_EQ(moved.data(), bytes);
  EXPECT_EQ(moved.view(), text);
  ByteBuffer target;
  target.append("x", 1);
  target = std::move(moved);
  EXPECT_EQ(target.data(), bytes);
  EXPECT_EQ(target.view(), text);
}

TEST(ByteBufferTest, ReserveAllocatesOnceForTheAppendsThatFit) {
  ByteBuffer b;
  b.reserve(1000);
  const char* at = b.data();
  std::string part = Pattern(100);
  for (int i = 0; i < 10; ++i) b.append(part.data(), part.size());
  EXPECT_EQ(b.data(), at);
  EXPECT_EQ(b.size(), 1000u);
  b.append("", 0);
  EXPECT_EQ(b.size(), 1000u);
}

}  // namespace
}  // namespace pinstream
