// Chat templates: render a model's own Jinja chat template (GGUF `tokenizer.chat_template`) exactly as Python's
// jinja2 does under HF transformers, inside a sandbox, or fall back to a built-in template for the model family.
//
// JSON goes in as nlohmann::ordered_json because key order is visible in the output: templates print tool schemas
// and arguments with `tojson`, which keeps the order the caller gave.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::chat {

using json = nlohmann::ordered_json;

// A template failed to parse or render. message() is what jinja2 itself would report (a template's own
// raise_exception text, "'x' is undefined", ...); line() is the template line, 1-based (0 when unknown).
class TemplateError : public std::runtime_error {
 public:
  TemplateError(std::string message, int line);
  const std::string& message() const noexcept { return message_; }
  int line() const noexcept { return line_; }

 private:
  std::string message_;
  int line_;
};

// Bounds on one render, so that a hostile template fails with a TemplateError instead of exhausting the machine.
struct TemplateLimits {
  uint64_t max_loop_iterations = 1'000'000;  // loop iterations and elements visited by filters, summed over a render
  // Bytes of string data that filters, tests, methods and operators take in, summed over a render: what bounds a
  // loop that keeps scanning a large string (4 GiB is a few seconds of work).
  uint64_t max_work_bytes = uint64_t{4} << 30;
  size_t max_output_bytes = 16u << 20;       // the rendered text, and any single string built along the way
  uint32_t max_call_depth = 200;             // nested macro calls and recursive loops
  uint32_t max_nesting_depth = 200;          // nested expressions and blocks in the source
};

struct TemplateOptions {
  TemplateLimits limits;
  // The time strftime_now() formats; unset means the current local time.
  std::optional<std::tm> fixed_now;
};

namespace detail {
struct ParsedTemplate;
}

// A parsed template, configured like HF transformers' jinja2 environment: trim_blocks and lstrip_blocks on,
// loop controls (break/continue), raise_exception(msg), strftime_now(fmt), tojson with ensure_ascii=False, and
// the {% generation %} block. Templates cannot reach files, the network, or anything beyond the values given.
// Rendering is const and may run concurrently.
class Template {
 public:
  explicit Template(std::string_view source, TemplateOptions options = {});  // throws TemplateError
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // `context` is a JSON object whose members become the template's variables.
  std::string render(const json& context) const;

 private:
  friend std::string apply_chat_template(const Template& chat_template, const struct ChatRequest& request);
  // Renders with the named variables, read in place (no copies of the caller's JSON).
  std::string render_variables(const std::vector<std::pair<std::string_view, const json*>>& variables) const;

  std::unique_ptr<const detail::ParsedTemplate> parsed_;
};

struct ChatRequest {
  // [{"role": "system"|"user"|"assistant"|"tool", "content": string or list of parts, plus any of
  //   "tool_calls", "tool_call_id", "name", "reasoning_content"}]; passed to the template as given.
  json messages = json::array();
  json tools;  // null when the request has no tools; the template then sees `tools` undefined
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  json extra_context = json::object();  // further template variables, e.g. {"enable_thinking": false}
};

// Renders a chat through a template. Throws std::invalid_argument for a malformed request and TemplateError
// when the template fails (many templates reject conversations they do not support with raise_exception).
std::string apply_chat_template(const Template& chat_template, const ChatRequest& request);

// Built-in fallback templates, each a Jinja template rendered by the same engine.
const std::vector<std::string_view>& builtin_template_names();  // chatml, llama-3, llama-2, mistral, gemma, phi-3
std::string_view builtin_template(std::string_view name);         // throws std::invalid_argument if unknown
// The fallback for a model that ships no template, from its GGUF `general.architecture` and whether its vocab is
// BPE (`tokenizer.ggml.model` == "gpt2"): llama -> llama-3 (BPE) or llama-2, qwen2/qwen3 -> chatml,
// gemma* -> gemma, phi3 -> phi-3, anything else -> chatml.
std::string_view fallback_template_name(std::string_view architecture, bool vocab_is_bpe);

}  // namespace hearth::chat
