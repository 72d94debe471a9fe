#include "cli/chat_session.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <fmt/format.h>

#include "hearth/tokenizer.h"

namespace hearth::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string trim(std::string_view text) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return std::string(text);
}

std::string token_text_or_empty(const tokenizer::Tokenizer& tok, int32_t id) {
  return id == tokenizer::kNoToken ? std::string() : std::string(tok.token_text(id));
}

// Renders a short exchange with a marker as the assistant's reply and takes the first word after it: what the
// template closes an assistant turn with. Generation stops on that text even when the model spells it out in
// ordinary tokens instead of the special end-of-turn token.
std::string find_end_of_turn(const chat::Template& chat_template, chat::ChatRequest request) {
  constexpr std::string_view kMarker = "HEARTH_REPLY_MARKER";
  request.messages = chat::json::array({{{"role", "user"}, {"content", "hi"}},
                                        {{"role", "assistant"}, {"content", std::string(kMarker)}}});
  request.add_generation_prompt = false;
  std::string rendered;
  try {
    rendered = chat::apply_chat_template(chat_template, request);
  } catch (const std::exception&) {
    return "";  // a template that refuses this exchange still chats; only the text stop is lost
  }
  const size_t at = rendered.find(kMarker);
  if (at == std::string::npos) return "";
  const std::string after = trim(std::string_view(rendered).substr(at + kMarker.size()));
  return after.substr(0, after.find_first_of(" \t\r\n"));
}

}  // namespace

std::string_view turn_end_name(TurnEnd end) {
  switch (end) {
    case TurnEnd::end_of_turn: return "end-of-turn";
    case TurnEnd::max_tokens: return "max-tokens";
    case TurnEnd::context_full: return "context-full";
    case TurnEnd::interrupted: return "interrupted";
  }
  return "?";
}

ChatSession::ChatSession(std::shared_ptr<const Model> model, Context context, chat::Template chat_template,
                         sampling::SamplingParams sampling, int32_t max_reply_tokens)
    : model_(std::move(model)),
      context_(std::move(context)),
      template_(std::move(chat_template)),
      sampler_(std::move(sampling)),
      max_reply_tokens_(max_reply_tokens) {
  end_of_turn_ = find_end_of_turn(template_, request(false));
}

chat::ChatRequest ChatSession::request(bool add_generation_prompt) const {
  const tokenizer::Tokenizer& tok = model_->tokenizer();
  chat::ChatRequest request;
  if (!system_.empty()) request.messages.push_back({{"role", "system"}, {"content", system_}});
  for (const auto& message : history_) request.messages.push_back(message);
  request.add_generation_prompt = add_generation_prompt;
  request.bos_token = token_text_or_empty(tok, tok.bos());
  request.eos_token = token_text_or_empty(tok, tok.eos());
  return request;
}

std::vector<int32_t> ChatSession::tokenize_conversation() const {
  const tokenizer::Tokenizer& tok = model_->tokenizer();
  const std::string prompt = chat::apply_chat_template(template_, request(true));
  // The template writes the special tokens it wants as text (bos_token included), so they are parsed, not added;
  // a BOS the model needs but the template leaves out is added in front.
  std::vector<int32_t> tokens = tok.tokenize(prompt, /*add_special=*/false, /*parse_special=*/true);
  if (tok.add_bos() && tok.bos() != tokenizer::kNoToken && (tokens.empty() || tokens.front() != tok.bos())) {
    tokens.insert(tokens.begin(), tok.bos());
  }
  return tokens;
}

TurnReport ChatSession::respond(std::string_view user_text, const std::function<void(std::string_view)>& emit,
                                const std::atomic<bool>& interrupt) {
  const tokenizer::Tokenizer& tok = model_->tokenizer();
  const int32_t n_ctx = context_.n_ctx();
  history_.push_back({{"role", "user"}, {"content", std::string(user_text)}});
  std::vector<int32_t> tokens;
  try {
    tokens = tokenize_conversation();
    if (tokens.empty()) throw std::runtime_error("the chat template rendered an empty prompt");
    if (static_cast<int64_t>(tokens.size()) >= n_ctx) {
      throw ConversationTooLong(fmt::format(
          "the conversation with this message is {} tokens, too long for the context of {} tokens; /reset starts "
          "over (or restart with a larger -c)",
          tokens.size(), n_ctx));
    }
  } catch (...) {
    history_.erase(history_.end() - 1);
    throw;
  }

  TurnReport report;
  report.prompt_tokens = static_cast<int32_t>(tokens.size());
  // Reuse the longest common prefix, but evaluate at least the last token: its logits start the reply.
  size_t common = std::mismatch(cached_.begin(), cached_.end(), tokens.begin(), tokens.end()).first - cached_.begin();
  common = std::min(common, tokens.size() - 1);
  context_.remove(0, static_cast<int32_t>(common), -1);
  cached_.resize(common);
  report.reused = static_cast<int32_t>(common);

  // The new tokens go in n_batch-sized pieces so that Ctrl-C is noticed between them on a long prompt.
  const auto prompt_start = Clock::now();
  const size_t n_batch = static_cast<size_t>(context_.options().n_batch);
  Batch batch;
  while (cached_.size() < tokens.size() && !interrupt) {
    const size_t end = std::min(tokens.size(), cached_.size() + n_batch);
    batch.clear();
    for (size_t i = cached_.size(); i < end; ++i) batch.add(tokens[i], static_cast<int32_t>(i), 0, i + 1 == end);
    context_.decode(batch);
    cached_.insert(cached_.end(), tokens.begin() + static_cast<std::ptrdiff_t>(cached_.size()),
                   tokens.begin() + static_cast<std::ptrdiff_t>(end));
  }
  report.evaluated = static_cast<int32_t>(cached_.size() - common);
  report.prompt_seconds = seconds_since(prompt_start);

  const auto reply_start = Clock::now();
  std::string reply;
  sampler_.reset();
  for (int32_t token : tokens) sampler_.accept(token);
  sampling::StopMatcher matcher(end_of_turn_.empty() ? std::vector<std::string>{}
                                                     : std::vector<std::string>{end_of_turn_});
  tokenizer::StreamingDetokenizer detokenizer(tok, /*show_special=*/false, /*sequence_start=*/false);
  const auto show = [&](std::string_view text) {
    // The reply's leading whitespace is the template's separator, not content.
    if (reply.empty()) text = text.substr(std::min(text.size(), text.find_first_not_of(" \n")));
    if (text.empty()) return;
    reply.append(text);
    emit(text);
  };
  size_t logits_index = batch.size() - 1;
  report.end = TurnEnd::interrupted;
  while (!interrupt) {
    if (max_reply_tokens_ >= 0 && report.generated >= max_reply_tokens_) {
      report.end = TurnEnd::max_tokens;
      break;
    }
    const int32_t token = sampler_.sample(context_.logits(logits_index));
    sampler_.accept(token);
    if (tok.is_eog(token)) {
      report.end = TurnEnd::end_of_turn;
      break;
    }
    ++report.generated;
    const auto fed = matcher.feed(detokenizer.push(token));
    show(fed.text);
    if (fed.stop) {
      report.end = TurnEnd::end_of_turn;
      break;
    }
    if (static_cast<int64_t>(cached_.size()) >= n_ctx) {
      report.end = TurnEnd::context_full;
      break;
    }
    batch.clear();
    batch.add(token, static_cast<int32_t>(cached_.size()), 0, true);
    context_.decode(batch);
    cached_.push_back(token);
    logits_index = 0;
  }
  if (!matcher.stopped()) {
    show(matcher.feed(detokenizer.finish()).text);
    show(matcher.flush());
  }
  report.reply_seconds = seconds_since(reply_start);

  // A turn interrupted before any reply leaves no trace; otherwise the (possibly partial) reply is history.
  if (report.end == TurnEnd::interrupted && trim(reply).empty()) {
    history_.erase(history_.end() - 1);
  } else {
    history_.push_back({{"role", "assistant"}, {"content", trim(reply)}});
  }
  return report;
}

void ChatSession::reset() {
  history_ = chat::json::array();
  cached_.clear();
  context_.clear();
}

void ChatSession::set_system(std::string system) {
  system_ = trim(system);
  reset();
}

}  // namespace hearth::cli
