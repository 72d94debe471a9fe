#include "server/generation.h"

#include <algorithm>
#include <atomic>
#include <functional>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

namespace hearth::server {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

class Generation : public ActiveGeneration, public std::enable_shared_from_this<Generation> {
 public:
  Generation(std::weak_ptr<HttpSession> session, ServerState& state, Engine& engine, const GenerationParams& params,
             std::optional<chat::ReplyParser> reply, RequestRecord record, const json* responses_request)
      : session_(std::move(session)),
        reply_(std::move(reply)),
        parallel_tool_calls_(params.parallel_tool_calls),
        engine_(engine),
        metrics_(state.metrics),
        log_format_(state.options.log_format),
        stream_(params.stream),
        include_usage_(params.include_usage),
        logprobs_(params.logprobs ? std::optional<LogprobsBuilder>(std::in_place, params.endpoint, engine.tokenizer())
                                  : std::nullopt),
        record_(std::move(record)),
        start_(Clock::now()) {
    identity_.endpoint = params.endpoint;
    const char* prefix = params.endpoint == Endpoint::completions ? "cmpl" : params.endpoint == Endpoint::responses ? "resp" : "chatcmpl";
    identity_.id = fmt::format("{}-{}", prefix, record_.id);
    identity_.created =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    identity_.model = engine.alias();
    if (responses_request != nullptr) {
      responses_.emplace(fmt::format("resp_{}", record_.id), identity_.created, identity_.model, *responses_request);
    }
  }

  void submit(GenerationRequest request, std::shared_ptr<GenerationSink> sink) {
    id_ = engine_.scheduler().submit(std::move(request), std::move(sink));
    submitted_ = true;
    if (stream_) {
      if (const auto session = session_.lock()) {
        session->begin_event_stream();
        if (responses_) send_response_events(responses_->start());
      }
    }
  }

  void cancel() override {
    if (submitted_) engine_.scheduler().cancel(id_);
    client_gone_ = true;
  }

  void on_token(GenerationEvent event) {
    const auto now = Clock::now();
    if (generated_ == 0) {
      metrics_.observe_time_to_first_token(seconds_between(start_, now));
    } else {
      metrics_.observe_inter_token_latency(seconds_between(last_token_, now));
    }
    last_token_ = now;
    ++generated_;
    if (logprobs_) logprobs_->add(event, text_.size());
    text_ += event.text;
    if (responses_) {
      chat::ReplyDelta delta = reply_->push(event.text);
      if (stream_) {
        name_calls(delta.calls, calls_sent_);
        calls_sent_ += delta.calls.size();
        send_response_events(responses_->on_delta(delta));
      }
    } else if (reply_) {
      chat::ReplyDelta delta = reply_->push(event.text);
      if (stream_) send_reply_delta(std::move(delta), "");
    } else if (stream_ && (!event.text.empty() || (logprobs_ && !logprobs_->empty()))) {
      send_chunk(event.text, "");
    }
  }

  void on_finished(GenerationResult result) {
    metrics_.count_tokens(result.prompt_tokens, result.cached_tokens, result.generated_tokens);
    record_.prompt_tokens = result.prompt_tokens;
    record_.cached_tokens = result.cached_tokens;
    record_.generated_tokens = result.generated_tokens;
    record_.time_to_first_token_ms = result.time_to_first_token_ms;
    record_.duration_ms = result.duration_ms;
    const auto session = session_.lock();
    if (session == nullptr || client_gone_) {
      // Nobody to answer; the log line still tells what the request cost.
      record_.status = 499;
      record_.note = "client disconnected";
      metrics_.count_request(record_.route, 499);
      log_request(log_format_, record_);
      return;
    }
    text_ += result.text;
    if (result.reason == FinishReason::error || result.reason == FinishReason::cancelled) {
      const ApiError error(result.reason == FinishReason::error ? 500 : 503,
                           result.reason == FinishReason::error ? "generation failed: " + result.error
                                                                : std::string("the server is shutting down"),
                           result.reason == FinishReason::error ? "server_error" : "unavailable");
      if (!stream_) return session->respond(error_response(error), record_);
      session->send_event(to_text(error.body()));
      return session->end_event_stream(record_);
    }
    std::optional<chat::ReplyDelta> last;
    if (reply_) {
      last = reply_->push(result.text);
      chat::ReplyDelta rest = reply_->finish();
      last->content += rest.content;
      last->reasoning += rest.reasoning;
      last->calls.insert(last->calls.end(), rest.calls.begin(), rest.calls.end());
    }
    if (responses_) {
      record_.status = 200;
      if (!stream_) {
        // The whole reply as one delta builds the same items a stream would.
        chat::Reply reply = reply_->reply();
        name_calls(reply.calls, 0);
        responses_->on_delta({reply.content, reply.reasoning, reply.calls});
        responses_->finish(result);  // closes the items; the events are not sent
        return session->respond(json_response(200, responses_->response(result)), record_);
      }
      name_calls(last->calls, calls_sent_);
      calls_sent_ += last->calls.size();
      send_response_events(responses_->on_delta(*last));
      send_response_events(responses_->finish(result));
      return session->end_event_stream(record_, /*done_marker=*/false);
    }
    if (!stream_) {
      const json logprobs = logprobs_ ? logprobs_->take() : json(nullptr);
      record_.status = 200;
      std::optional<chat::Reply> reply;
      if (reply_) {
        reply = reply_->reply();
        name_calls(reply->calls, 0);
      }
      return session->respond(json_response(200, full_response(identity_, text_, result, logprobs, reply ? &*reply : nullptr)),
                              record_);
    }
    if (last) {
      send_reply_delta(std::move(*last), "");
      const std::string finish = calls_sent_ > 0 ? "tool_calls" : finish_reason_text(result.reason);
      session->send_event(to_text(delta_chunk(identity_, json::object(), finish, nullptr)));
    } else {
      send_chunk(result.text, finish_reason_text(result.reason));
    }
    if (include_usage_) session->send_event(to_text(usage_chunk(identity_, result)));
    session->end_event_stream(record_);
  }

 private:
  void send_chunk(const std::string& text, const std::string& finish) {
    const auto session = session_.lock();
    if (session == nullptr) return;
    const json logprobs = logprobs_ && !logprobs_->empty() ? logprobs_->take() : json(nullptr);
    session->send_event(to_text(stream_chunk(identity_, text, !sent_first_, finish, logprobs)));
    sent_first_ = true;
  }

  // Calls the reply writes without an id get one of nine letters and digits (the form Mistral's templates insist
  // on when the conversation comes back), unique to the request and the call's place in it. With
  // parallel_tool_calls false only the first call stays.
  void name_calls(std::vector<chat::ToolCall>& calls, std::size_t first_index) const {
    if (!parallel_tool_calls_) calls.resize(first_index == 0 ? std::min<std::size_t>(calls.size(), 1) : 0);
    static constexpr std::string_view kDigits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (!calls[i].id.empty()) continue;
      uint64_t x = std::hash<std::string>{}(identity_.id) ^ (0x9e3779b97f4a7c15ull * (first_index + i + 1));
      std::string id;
      for (int k = 0; k < 9; ++k) {
        x ^= x >> 31;
        x *= 0xbf58476d1ce4e5b9ull;
        id += kDigits[x % kDigits.size()];
      }
      calls[i].id = std::move(id);
    }
  }

  void send_response_events(const std::vector<json>& events) {
    const auto session = session_.lock();
    if (session == nullptr) return;
    for (const json& event : events) session->send_event(event["type"].get<std::string>(), to_text(event));
  }

  void send_reply_delta(chat::ReplyDelta delta, const std::string& finish) {
    const auto session = session_.lock();
    if (session == nullptr) return;
    name_calls(delta.calls, calls_sent_);
    const bool has_logprobs = logprobs_ && !logprobs_->empty();
    if (delta.empty() && !has_logprobs && sent_first_) return;
    json message = reply_message({std::move(delta.content), std::move(delta.reasoning), delta.calls}, true, calls_sent_);
    if (!sent_first_) message["role"] = "assistant";
    calls_sent_ += delta.calls.size();
    const json logprobs = has_logprobs ? logprobs_->take() : json(nullptr);
    session->send_event(to_text(delta_chunk(identity_, std::move(message), finish, logprobs)));
    sent_first_ = true;
  }

  std::weak_ptr<HttpSession> session_;
  std::optional<chat::ReplyParser> reply_;  // chat with tools or reasoning: the reply is read as it comes
  std::optional<ResponsesOutput> responses_;  // the Responses API: the reply as output items
  bool parallel_tool_calls_;
  std::size_t calls_sent_ = 0;
  Engine& engine_;  // outlives every generation: the server drops it only after the io threads stop
  Metrics& metrics_;
  LogFormat log_format_;
  bool stream_;
  bool include_usage_;
  std::optional<LogprobsBuilder> logprobs_;
  RequestRecord record_;
  ResponseIdentity identity_;
  Clock::time_point start_;
  Clock::time_point last_token_;
  std::string text_;
  int32_t generated_ = 0;
  Scheduler::RequestId id_ = 0;
  bool submitted_ = false;
  bool client_gone_ = false;
  bool sent_first_ = false;
};

// The scheduler's sink: hands each event to the connection's strand and returns at once. It keeps the session
// alive until the scheduler is done with the request: the session may have no read pending meanwhile (a pipelined
// request waits in its buffer), and only pending operations hold it otherwise.
class StrandSink : public GenerationSink {
 public:
  StrandSink(std::shared_ptr<HttpSession> session, std::shared_ptr<Generation> generation)
      : executor_(session->executor()), session_(std::move(session)), generation_(std::move(generation)) {}

  // Each posted event holds the session too: the sink may be dropped before the strand runs the last one.
  void on_token(GenerationEvent event) override {
    net::post(executor_, [session = session_, generation = generation_, event = std::move(event)]() mutable {
      generation->on_token(std::move(event));
    });
  }
  void on_finished(GenerationResult result) override {
    net::post(executor_, [session = session_, generation = generation_, result = std::move(result)]() mutable {
      generation->on_finished(std::move(result));
    });
  }

 private:
  net::any_io_executor executor_;
  std::shared_ptr<HttpSession> session_;
  std::shared_ptr<Generation> generation_;
};

}  // namespace

void start_generation(HttpSession& session, Engine& engine, const GenerationParams& params, Engine::Prepared prepared,
                      RequestRecord record, const json* responses_request) {
  auto generation = std::make_shared<Generation>(session.weak_from_this(), session.state(), engine, params,
                                                 std::move(prepared.reply), std::move(record), responses_request);
  auto sink = std::make_shared<StrandSink>(session.shared_from_this(), generation);
  try {
    generation->submit(std::move(prepared.request), std::move(sink));
  } catch (const QueueFullError& e) {
    throw ApiError(503, fmt::format("the server is busy: {}", e.what()), "unavailable", "", "queue_full");
  } catch (const ShuttingDownError&) {
    throw ApiError(503, "the server is shutting down", "unavailable");
  } catch (const ContextFullError& e) {
    throw bad_request(e.what(), "max_tokens", "context_length_exceeded");
  } catch (const std::invalid_argument& e) {
    throw bad_request(e.what());
  } catch (const sampling::SamplingError& e) {
    throw bad_request(e.what());
  }
  session.attach(std::move(generation));
}

}  // namespace hearth::server
