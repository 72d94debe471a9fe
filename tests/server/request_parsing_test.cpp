// Request bodies to generation parameters, without a model or sockets.
#include "server/request_parsing.h"

#include <string>

#include <gtest/gtest.h>

namespace hearth::server {
namespace {

GenerationParams chat(const std::string& body) {
  return parse_generation_params(Endpoint::chat_completions, parse_json_body(body));
}
GenerationParams completion(const std::string& body) {
  return parse_generation_params(Endpoint::completions, parse_json_body(body));
}

// The 400 a body gets, with the field it names.
ApiError refusal(Endpoint endpoint, const std::string& body) {
  try {
    parse_generation_params(endpoint, parse_json_body(body));
  } catch (const ApiError& error) {
    return error;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "", "");
}

TEST(RequestParsing, DefaultsAreOpenAIs) {
  const GenerationParams params = chat(R"({"messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_FLOAT_EQ(params.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(params.sampling.top_p, 1.0f);
  EXPECT_EQ(params.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(params.sampling.min_p, 0.0f);
  EXPECT_FALSE(params.max_tokens.has_value());
  EXPECT_FALSE(params.stream);
  EXPECT_FALSE(params.sampling.seed.has_value());
}

TEST(RequestParsing, ReadsEveryKnownField) {
  const GenerationParams params = chat(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
      {"type": "text", "text": "b"}]}], "max_completion_tokens": 7, "temperature": 0.5, "top_p": 0.9, "seed": 42,
      "stop": ["x", "y"], "presence_penalty": 1, "frequency_penalty": -1, "logit_bias": {"15": -100},
      "logprobs": true, "top_logprobs": 3, "stream": true, "stream_options": {"include_usage": true}, "n": 1,
      "user": "u", "top_k": 5, "min_p": 0.1, "typical_p": 0.8, "repeat_penalty": 1.1, "repeat_last_n": 32,
      "some_future_field": {"ignored": true}})");
  EXPECT_EQ(params.messages[0]["content"], "ab");
  EXPECT_EQ(params.max_tokens, 7);
  EXPECT_FLOAT_EQ(params.sampling.temperature, 0.5f);
  EXPECT_EQ(params.sampling.seed, 42u);
  EXPECT_EQ(params.stop, (std::vector<std::string>{"x", "y"}));
  EXPECT_FLOAT_EQ(params.sampling.logit_bias.at(15), -100.0f);
  EXPECT_TRUE(params.logprobs);
  EXPECT_EQ(params.top_logprobs, 3);
  EXPECT_TRUE(params.stream);
  EXPECT_TRUE(params.include_usage);
  EXPECT_EQ(params.sampling.top_k, 5);
  EXPECT_EQ(params.sampling.penalty_last_n, 32);
}

TEST(RequestParsing, CompletionPrompts) {
  EXPECT_EQ(completion(R"({"prompt": "hello"})").prompt_text, "hello");
  EXPECT_EQ(completion(R"({"prompt": ["hello"]})").prompt_text, "hello");
  EXPECT_EQ(completion(R"({"prompt": [1, 2, 3]})").prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  const GenerationParams params = completion(R"({"prompt": "x", "logprobs": 2})");
  EXPECT_TRUE(params.logprobs);
  EXPECT_EQ(params.top_logprobs, 2);
}

TEST(RequestParsing, WrongTypesAndRangesNameTheField) {
  const std::string messages = R"("messages": [{"role": "user", "content": "hi"}])";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"max_tokens": "5", )" + messages + "}", "max_tokens"},
      {R"({"max_tokens": -1, )" + messages + "}", "max_tokens"},
      {R"({"max_tokens": 0, )" + messages + "}", "max_tokens"},
      {R"({"max_tokens": 1e300, )" + messages + "}", "max_tokens"},
      {R"({"max_tokens": 99999999999999999999, )" + messages + "}", "max_tokens"},
      {R"({"temperature": "hot", )" + messages + "}", "temperature"},
      {R"({"temperature": 3, )" + messages + "}", "temperature"},
      {R"({"top_p": -0.5, )" + messages + "}", "top_p"},
      {R"({"n": 2, )" + messages + "}", "n"},
      {R"({"stream": "yes", )" + messages + "}", "stream"},
      {R"({"stop": 5, )" + messages + "}", "stop"},
      {R"({"stop": [""], )" + messages + "}", "stop"},
      {R"({"logit_bias": {"abc": 1}, )" + messages + "}", "logit_bias"},
      {R"({"logit_bias": {"5": 1000}, )" + messages + "}", "logit_bias"},
      {R"({"top_logprobs": 30, "logprobs": true, )" + messages + "}", "top_logprobs"},
      {R"({"seed": 1.5, )" + messages + "}", "seed"},
      {R"({"messages": "hi"})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({})", "messages"},
      {R"({"messages": [{"content": "hi"}]})", "messages.role"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", "messages.content"},
  };
  for (const auto& [body, field] : cases) {
    const ApiError error = refusal(Endpoint::chat_completions, body);
    EXPECT_EQ(error.status(), 400) << body;
    EXPECT_EQ(error.param(), field) << body;
  }
  EXPECT_EQ(refusal(Endpoint::completions, R"({"prompt": 5})").param(), "prompt");
  EXPECT_EQ(refusal(Endpoint::completions, R"({"prompt": [-1]})").param(), "prompt");
  EXPECT_EQ(refusal(Endpoint::completions, R"({"prompt": ["a", "b"]})").param(), "prompt");
}

TEST(RequestParsing, MalformedBodiesAre400) {
  for (const std::string& body : {std::string("{"), std::string("not json"), std::string("{\"a\": \"\xff\"}"),
                                 std::string("[1e400]"), std::string(100000, '['), std::string("")}) {
    try {
      parse_json_body(body);
      ADD_FAILURE() << "accepted " << body.substr(0, 20);
    } catch (const ApiError& error) {
      EXPECT_EQ(error.status(), 400);
    }
  }
  EXPECT_NO_THROW(parse_json_body(std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']')));
  EXPECT_NO_THROW(parse_json_body(R"({"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})"));
  EXPECT_EQ(refusal(Endpoint::chat_completions, "[1, 2]").status(), 400);
}

TEST(RequestParsing, TokenizeAndDetokenize) {
  const TokenizeParams params = parse_tokenize_params(parse_json_body(R"({"content": "hi", "add_special": true})"));
  EXPECT_EQ(params.content, "hi");
  EXPECT_TRUE(params.add_special);
  EXPECT_EQ(parse_detokenize_params(parse_json_body(R"({"tokens": [3, 4]})")), (std::vector<int32_t>{3, 4}));
  EXPECT_THROW(parse_detokenize_params(parse_json_body(R"({"tokens": "3"})")), ApiError);
  EXPECT_THROW(parse_tokenize_params(parse_json_body(R"({"content": 3})")), ApiError);
}

}  // namespace
}  // namespace hearth::server
