// What a loaded model serves with: the scheduler running its generations, the chat template its conversations are
// rendered through, and the name clients call it by. Turns checked request parameters into scheduler requests.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "hearth/model.h"
#include "hearth/model_chat.h"
#include "hearth/scheduler.h"
#include "server/request_parsing.h"

namespace hearth::server {

class Engine {
 public:
  // Starts the scheduler (its KV cache allocated up front) and parses the template (chat::TemplateError).
  Engine(std::shared_ptr<const Model> model, const SchedulerOptions& options, const std::string& template_source,
         std::string alias);

  // The prompt tokenized (rendered through the chat template for chat), checked against the vocabulary and the slot
  // context: ApiError 400 for a bad token id, a template that rejects the conversation, or prompt + max_tokens over
  // the slot context (code context_length_exceeded, stating both counts).
  // For chat with tools or a template that marks reasoning, also how to read the reply (`reply`): the model's tool-call
  // syntax, the tools, whether the prompt opened a reasoning block. A required call adds its grammar to the request.
  struct Prepared {
    GenerationRequest request;
    std::optional<chat::ReplyParser> reply;
  };
  Prepared build_request(const GenerationParams& params) const;
  const chat::ReplySyntax& reply_syntax() const { return chat_.reply_syntax(); }

  Scheduler& scheduler() { return scheduler_; }
  const Scheduler& scheduler() const { return scheduler_; }
  const tokenizer::Tokenizer& tokenizer() const { return model_->tokenizer(); }
  const std::string& alias() const { return alias_; }
  int64_t created() const { return created_; }  // unix seconds when the model was loaded

 private:
  // Chat requests: the prompt and the rules for the reply.
  void prepare_chat(const GenerationParams& params, Prepared& prepared) const;

  std::shared_ptr<const Model> model_;
  chat::ModelChat chat_;
  std::string alias_;
  int64_t created_;
  Scheduler scheduler_;  // last: its worker stops before the rest goes
};

}  // namespace hearth::server
