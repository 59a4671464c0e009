#include "connectors/http/kinesis_gateway.h"

#include <fmt/format.h>

#include "engine/config.h"

namespace pinstream::connectors::http {

using nlohmann::json;
using nlohmann::ordered_json;
using state::LogApi;

void KinesisGatewayApi::Handle(const ApiRequest& req, const PathSegments& seg, Reply reply) {
  const char* ct = "application/json";
  state::SourceLog* log = streams_->ingest()->log();
  if (seg.size() == 1) {
    if (req.method != "GET")
      return reply(KinesisError("MethodNotAllowed", "use GET /streams", 405, ct));
    json names = json::array();
    for (const auto& s : log->List(LogApi::kKinesisStream)) names.push_back(s.name);
    return reply(JsonResponse(200, json{{"StreamNames", names}, {"HasMoreStreams", false}}.dump()));
  }
  const std::string stream(seg[1]);
  if (!IsValidName(stream)) {
    return reply(KinesisError("ValidationException",
                              fmt::format("'{}' is not a valid stream name", stream), 400, ct));
  }
  if (seg.size() == 2) {
    if (req.method == "GET") {
      auto info = log->Find(stream);
      if (!info || info->api != LogApi::kKinesisStream)
        return reply(streams_->NotFound(stream, ct));
      return reply(
          JsonResponse(200, ordered_json{{"StreamDescription", streams_->Describe(*info)}}.dump()));
    }
    if (req.method == "POST") {
      int shards = 1;
      if (!req.body.empty()) {
        json j = json::parse(req.body, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          return reply(
              KinesisError("SerializationException", "the body is not a JSON object", 400, ct));
        }
        if (j.contains("ShardCount")) {
          if (!j["ShardCount"].is_number_integer()) {
            return reply(
                KinesisError("ValidationException", "ShardCount must be an integer", 400, ct));
          }
          shards = j["ShardCount"].get<int>();
        }
      }
      return reply(streams_->Create(stream, shards, ct));
    }
    if (req.method == "DELETE") return reply(streams_->Delete(stream, ct));
    return reply(
        KinesisError("MethodNotAllowed", "use GET, POST or DELETE on /streams/{name}", 405, ct));
  }
  if (seg.size() != 3 || (seg[2] != "record" && seg[2] != "records")) {
    return reply(KinesisError("NotFound", "no such resource", 404, ct));
  }
  if (req.method != "PUT" && req.method != "POST") {
    return reply(KinesisError("MethodNotAllowed",
                              fmt::format("use PUT /streams/{}/{}", stream, seg[2]), 405, ct));
  }
  bool many = seg[2] == "records";
  const ParseLimits& limits = streams_->ingest()->limits();
  streams_->Put(
      stream,
      many ? ParseGatewayPutRecords(req.body, limits) : ParseGatewayPutRecord(req.body, limits),
      many,
      /*native=*/false, std::move(reply));
}

}  // namespace pinstream::connectors::http
