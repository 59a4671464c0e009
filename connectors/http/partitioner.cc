#include "connectors/http/partitioner.h"

#include <openssl/evp.h>

#include <algorithm>

namespace pinstream::connectors::http {

namespace {

using u128 = unsigned __int128;

u128 Md5As128(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_md5(), nullptr);
  u128 v = 0;
  for (unsigned i = 0; i < 16; ++i) v = (v << 8) | md[i];
  return v;
}

// floor(2^128 / shards) for shards >= 2 (one shard covers everything and needs no step).
u128 ShardStep(int shards) {
  const u128 max = ~static_cast<u128>(0);
  u128 n = static_cast<u128>(shards);
  u128 step = max / n;
  if (max % n + 1 == n) step += 1;  // exact division of 2^128
  return step;
}

std::string U128ToString(u128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v > 0) {
    s.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  std::reverse(s.begin(), s.end());
  return s;
}

}  // namespace

std::int32_t KafkaMurmur2(std::string_view key) {
  const std::uint32_t m = 0x5bd1e995;
  const int r = 24;
  auto length = static_cast<std::uint32_t>(key.size());
  std::uint32_t h = 0x9747b28cu ^ length;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  std::uint32_t length4 = length / 4;
  for (std::uint32_t i = 0; i < length4; ++i) {
    std::uint32_t i4 = i * 4;
    std::uint32_t k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) |
                      (static_cast<std::uint32_t>(data[i4 + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  std::uint32_t tail = length & ~3u;
  switch (length % 4) {
    case 3:
      h ^= static_cast<std::uint32_t>(data[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<std::uint32_t>(data[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= data[tail];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<std::int32_t>(h);
}

int KafkaPartitionForKey(std::string_view key, int partitions) {
  // Kafka's DefaultPartitioner: toPositive(murmur2(key)) % partitions, so that a key lands on
  // the partition a Kafka producer would choose.
  auto h = static_cast<std::uint32_t>(KafkaMurmur2(key));
  return static_cast<int>((h & 0x7fffffffu) % static_cast<std::uint32_t>(partitions));
}

int KinesisShardForKey(std::string_view partition_key, int shards) {
  if (shards <= 1) return 0;
  u128 v = Md5As128(partition_key);
  u128 idx = v / ShardStep(shards);
  return static_cast<int>(std::min<u128>(idx, static_cast<u128>(shards - 1)));
}

std::pair<std::string, std::string> KinesisHashKeyRange(int shard, int shards) {
  if (shards <= 1) return {"0", U128ToString(~static_cast<u128>(0))};
  u128 step = ShardStep(shards);
  u128 start = step * static_cast<u128>(shard);
  u128 end = shard == shards - 1 ? ~static_cast<u128>(0) : start + step - 1;
  return {U128ToString(start), U128ToString(end)};
}

std::uint32_t RoundRobin::Take(const std::string& stream, std::uint32_t n) {
  std::lock_guard lock(mu_);
  std::uint32_t& next = next_[stream];
  std::uint32_t first = next;
  next += n;
  return first;
}

}  // namespace pinstream::connectors::http
