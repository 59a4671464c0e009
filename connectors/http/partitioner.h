// Partitioner: which partition of a topic or stream a produced record goes to, the way each
// API's own clients expect it, so that records keep their producers' ordering per key:
//   Kafka topics     the DefaultPartitioner: toPositive(murmur2(key bytes)) % partitions;
//   Kinesis streams  the MD5 of the partition key, as a 128-bit number, over equal hash-key
//                    ranges (shard i of n owns [i * 2^128/n, (i+1) * 2^128/n));
//   no key           round-robin per topic (Kafka's keyless records).
// A record whose request names its partition keeps it. The source log stores what it is given.
//
// Threading: the free functions are pure; RoundRobin is thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace pinstream::connectors::http {

std::int32_t KafkaMurmur2(std::string_view key);  // org.apache.kafka.common.utils.Utils.murmur2
int KafkaPartitionForKey(std::string_view key, int partitions);
int KinesisShardForKey(std::string_view partition_key, int shards);
// The Kinesis hash-key range of shard i of n, as decimal strings.
std::pair<std::string, std::string> KinesisHashKeyRange(int shard, int shards);

// Round-robin positions per stream, for records without a key.
class RoundRobin {
 public:
  // Takes `n` consecutive positions of `stream` (one request's keyless records) and returns the
  // first; position mod partitions is a partition.
  std::uint32_t Take(const std::string& stream, std::uint32_t n);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::uint32_t> next_;
};

}  // namespace pinstream::connectors::http
