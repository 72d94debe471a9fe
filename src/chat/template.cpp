// hearth::chat::Template: parses once, renders many times, each render in a fresh sandboxed interpreter.
#include <stdexcept>

#include "chat/jinja_builtins.h"
#include "chat/jinja_compiler.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_json.h"
#include "chat/jinja_parser.h"
#include "hearth/chat.h"

namespace hearth::chat {

namespace detail {
struct ParsedTemplate {
  TemplateOptions options;
  jinja::Body body;
};
}  // namespace detail

Template::Template(std::string_view source, TemplateOptions options) {
  auto parsed = std::make_unique<detail::ParsedTemplate>();
  parsed->options = std::move(options);
  // HF transformers renders chat templates with trim_blocks and lstrip_blocks on.
  parsed->body = jinja::parse_template(source, jinja::LexerOptions{true, true}, parsed->options.limits.max_nesting_depth);
  jinja::compile(parsed->body, parsed->options);
  parsed_ = std::move(parsed);
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const json& context) const {
  if (!context.is_object()) throw std::invalid_argument("a template's context must be a JSON object");
  std::vector<std::pair<std::string_view, const json*>> variables;
  for (const auto& [name, value] : context.items()) variables.emplace_back(name, &value);
  return render_variables(variables);
}

std::string Template::render_variables(const std::vector<std::pair<std::string_view, const json*>>& variables) const {
  auto globals = std::make_shared<jinja::Frame>(nullptr);
  jinja::add_global_functions(*globals);
  for (const auto& [name, value] : variables) globals->set(name, jinja::from_json(*value));
  jinja::Interpreter interpreter(parsed_->options, std::move(globals));
  return interpreter.render(parsed_->body);
}

}  // namespace hearth::chat
