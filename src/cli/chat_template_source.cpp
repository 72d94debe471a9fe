#include "cli/chat_template_source.h"

#include <cstdio>
#include <string_view>

#include "cli/input_files.h"
#include "hearth/chat.h"
#include "hearth/gguf.h"

namespace hearth::cli {

std::string chat_template_source(const char* command, const std::string& template_name,
                                 const std::string& template_file, const Model& model) {
  if (!template_file.empty()) return read_text_file(template_file, "template file");
  if (!template_name.empty()) return std::string(chat::builtin_template(template_name));
  const gguf::File& file = model.file();
  if (file.contains("tokenizer.chat_template")) {
    return std::string(file.get<std::string_view>("tokenizer.chat_template"));  // its error names the key
  }
  const bool bpe = file.get_or<std::string>("tokenizer.ggml.model", "") == "gpt2";
  const std::string_view fallback = chat::fallback_template_name(model.info().architecture, bpe);
  std::fprintf(stderr, "hearth %s: the model has no chat template; using the built-in '%.*s' template\n", command,
               static_cast<int>(fallback.size()), fallback.data());
  return std::string(chat::builtin_template(fallback));
}

}  // namespace hearth::cli
