#include "cli/chat_template_source.h"

#include <cstdio>
#include <string_view>

#include "cli/input_files.h"
#include "hearth/chat.h"
#include "hearth/gguf.h"
#include "hearth/model_chat.h"

namespace hearth::cli {

std::string chat_template_source(const char* command, const std::string& template_name,
                                 const std::string& template_file, const Model& model) {
  if (!template_file.empty()) return read_text_file(template_file, "template file");
  if (!template_name.empty()) return std::string(chat::builtin_template(template_name));
  std::string_view fallback;
  std::string source = chat::model_template_source(model.file(), model.info().architecture, &fallback);
  if (!fallback.empty()) {
    std::fprintf(stderr, "hearth %s: the model has no chat template; using the built-in '%.*s' template\n", command,
                 static_cast<int>(fallback.size()), fallback.data());
  }
  return source;
}

}  // namespace hearth::cli
