#include "connectors/kafka/kafka_producer.h"

#include <fmt/format.h>

namespace pinstream::connectors::kafka {

Result<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(const Options& o) {
  std::unique_ptr<KafkaProducer> p(new KafkaProducer());
  std::map<std::string, std::string> props = o.properties;
  props["bootstrap.servers"] = o.bootstrap_servers;
  props["enable.idempotence"] = "true";  // broker-side dedup of retries; implies acks=all
  props.emplace("linger.ms", "5");
  props.emplace("compression.type", "lz4");
  if (!o.transactional_id.empty()) props["transactional.id"] = o.transactional_id;
  PS_ASSIGN_OR_RETURN(auto conf, MakeConf(props));
  rd_kafka_conf_set_opaque(conf.get(), p.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaProducer::OnDelivery);
  PS_ASSIGN_OR_RETURN(p->rk_, NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
  return p;
}

KafkaProducer::~KafkaProducer() {
  if (rk_)
    rd_kafka_flush(rk_.get(), 10'000);  // best effort: a Stage that mattered has flushed already
}

void KafkaProducer::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<KafkaProducer*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++self->delivered_;
    return;
  }
  if (self->failed_++ == 0) {
    std::lock_guard lock(self->mu_);
    self->first_error_ = fmt::format("{} [{}]: {}", rd_kafka_topic_name(m->rkt), m->partition,
                                     rd_kafka_err2str(m->err));
  }
}

Status KafkaProducer::Produce(const std::string& topic, const std::string* key,
                              std::string_view value,
                              const std::vector<std::pair<std::string, std::string>>& headers) {
  for (;;) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (!headers.empty()) {
      hdrs = rd_kafka_headers_new(headers.size());
      for (const auto& [k, v] : headers)
        rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                            static_cast<ssize_t>(v.size()));
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_KEY(key ? key->data() : nullptr, key ? key->size() : 0),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      return Status::Ok();  // the headers now belong to the message
    if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk_.get(), 50);  // backpressure: serve delivery reports, then retry
      continue;
    }
    return KafkaStatus(err, fmt::format("producing to '{}'", topic));
  }
}

Status KafkaProducer::Flush(std::chrono::milliseconds timeout) {
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count()));
  std::int64_t failed = failed_.exchange(0);
  std::string first;
  {
    std::lock_guard lock(mu_);
    first.swap(first_error_);
  }
  if (failed > 0)
    return Unavailable(fmt::format("{} message(s) were not delivered; first: {}", failed, first));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaStatus(err, fmt::format("waiting for delivery reports ({} still queued)",
                                        rd_kafka_outq_len(rk_.get())));
  }
  return Status::Ok();
}

Result<std::int64_t> KafkaProducer::FlushCountingFailures(std::chrono::milliseconds timeout) {
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaStatus(err, fmt::format("waiting for delivery reports ({} still queued)",
                                        rd_kafka_outq_len(rk_.get())));
  }
  {
    std::lock_guard lock(mu_);
    first_error_.clear();
  }
  return failed_.exchange(0);
}

Status KafkaProducer::InitTransactions(std::chrono::milliseconds timeout) {
  return KafkaStatus(rd_kafka_init_transactions(rk_.get(), static_cast<int>(timeout.count())),
                     "initialising transactions");
}
Status KafkaProducer::BeginTransaction() {
  return KafkaStatus(rd_kafka_begin_transaction(rk_.get()), "beginning a transaction");
}
Status KafkaProducer::CommitTransaction(std::chrono::milliseconds timeout) {
  return KafkaStatus(rd_kafka_commit_transaction(rk_.get(), static_cast<int>(timeout.count())),
                     "committing the transaction");
}
Status KafkaProducer::AbortTransaction(std::chrono::milliseconds timeout) {
  return KafkaStatus(rd_kafka_abort_transaction(rk_.get(), static_cast<int>(timeout.count())),
                     "aborting the transaction");
}

}  // namespace pinstream::connectors::kafka
