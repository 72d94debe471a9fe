// `hearth info FILE`: what a GGUF file holds, for people (text) and programs (--json).
#include <cstdio>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/numeric_flags.h"
#include "hearth/gguf.h"
#include "hearth/tensor_type.h"

namespace hearth::cli {
namespace {

using gguf::Value;
using gguf::ValueType;

struct Options {
  std::string path;
  bool json = false;
  uint64_t max_items = 8;
  bool check_tensors = false;
};

// Dequantizes every tensor and reports those holding NaN or infinity (as llama.cpp's --check-tensors does at load);
// returns how many do.
int check_tensors(const gguf::File& file) {
  int bad = 0;
  for (const auto& tensor : file.tensors()) {
    const auto found = find_non_finite(tensor.type, tensor.bytes(), tensor.ne[0]);
    if (!found) continue;
    ++bad;
    fmt::print(stderr, "hearth info: tensor {} holds a non-finite value ({}) at element {}\n", tensor.name,
               found->value, found->index);
  }
  return bad;
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", value, units[unit]);
}

std::string human_count(uint64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f} B", n / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f} M", n / 1e6);
  if (n >= 1'000) return fmt::format("{:.2f} K", n / 1e3);
  return std::to_string(n);
}

nlohmann::json to_json(const Value& value, size_t max_items) {
  switch (value.type()) {
    case ValueType::STRING: return std::string(value.string());
    case ValueType::BOOL: return value.as<bool>();
    case ValueType::FLOAT32: return value.as<float>();
    case ValueType::FLOAT64: return value.as<double>();
    case ValueType::UINT64: return value.as<uint64_t>();
    case ValueType::ARRAY: {
      nlohmann::json items = nlohmann::json::array();
      for (size_t i = 0; i < value.size() && i < max_items; ++i) items.push_back(to_json(value.item(i), max_items));
      if (value.size() <= max_items) return items;
      return {{"type", fmt::format("array of {}", gguf::value_type_name(value.element_type()))},
              {"length", value.size()},
              {"first", items}};
    }
    default: return value.as_int();
  }
}

// The facts a user looks for first, drawn from the metadata and the tensor table.
struct Summary {
  std::string architecture, name, file_type, tokenizer, pre_tokenizer;
  uint64_t parameters = 0, size = 0;
  size_t vocab_size = 0;
  bool chat_template = false;
  std::vector<std::pair<std::string, const Value*>> hyperparameters;
};

Summary summarize(const gguf::File& file) {
  Summary s;
  auto text = [&](const char* key) {
    const Value* value = file.find(key);
    return value && value->type() == ValueType::STRING ? std::string(value->string()) : std::string();
  };
  s.architecture = text("general.architecture");
  s.name = text("general.name");
  if (const Value* ftype = file.find("general.file_type"); ftype && ftype->is_integer()) {
    const auto id = ftype->as_int();
    const auto name = id >= 0 ? file_type_name(static_cast<uint32_t>(id)) : std::nullopt;
    s.file_type = name ? std::string(*name) : fmt::format("unknown ({})", id);
  }
  s.tokenizer = text("tokenizer.ggml.model");
  s.pre_tokenizer = text("tokenizer.ggml.pre");
  if (const Value* tokens = file.find("tokenizer.ggml.tokens"); tokens && tokens->is_array()) s.vocab_size = tokens->size();
  s.chat_template = file.contains("tokenizer.chat_template");
  for (const auto& tensor : file.tensors()) s.parameters += static_cast<uint64_t>(tensor.n_elements());
  s.size = file.file_size();
  if (!s.architecture.empty()) {
    for (const char* suffix : {"context_length", "embedding_length", "block_count", "feed_forward_length",
                               "attention.head_count", "attention.head_count_kv", "attention.key_length",
                               "attention.value_length", "attention.layer_norm_rms_epsilon", "rope.freq_base",
                               "rope.dimension_count", "vocab_size"}) {
      const std::string key = s.architecture + "." + suffix;
      if (const Value* value = file.find(key)) s.hyperparameters.emplace_back(suffix, value);
    }
  }
  return s;
}

void print_text(const gguf::File& file, const Options& options) {
  const Summary s = summarize(file);
  auto line = [](std::string_view label, const std::string& value) {
    if (!value.empty()) fmt::print("{:<33} {}\n", label, value);
  };
  line("file", options.path);
  line("architecture", s.architecture);
  line("name", s.name);
  line("file type", s.file_type);
  line("parameters", file.tensors().empty() ? "" : fmt::format("{} ({})", human_count(s.parameters), s.parameters));
  line("size", fmt::format("{} ({} bytes)", human_bytes(s.size), s.size));
  line("gguf version", std::to_string(file.version()));
  for (const auto& [key, value] : s.hyperparameters) line(key, value->to_display());
  if (!s.tokenizer.empty()) {
    line("tokenizer", fmt::format("{}{}, {} tokens", s.tokenizer, s.pre_tokenizer.empty() ? "" : " (pre-tokenizer " + s.pre_tokenizer + ")",
                                  s.vocab_size));
  }
  line("chat template", s.chat_template ? "present" : "none");

  fmt::print("\nmetadata ({} keys)\n", file.metadata().size());
  for (const auto& kv : file.metadata()) {
    std::string type(gguf::value_type_name(kv.value.type()));
    if (kv.value.is_array()) type = fmt::format("{}[{}]", gguf::value_type_name(kv.value.element_type()), kv.value.size());
    fmt::print("  {:<44} {:<14} {}\n", kv.key, type, kv.value.to_display(options.max_items));
  }
  fmt::print("\ntensors ({})\n", file.tensors().size());
  for (const auto& tensor : file.tensors()) {
    fmt::print("  {:<40} {:<24} {:<8} {:>14}\n", tensor.name, tensor.shape_string(), type_name(tensor.type), tensor.size);
  }
}

void print_json(const gguf::File& file, const Options& options) {
  const Summary s = summarize(file);
  nlohmann::json out;
  out["file"] = options.path;
  out["architecture"] = s.architecture;
  out["name"] = s.name;
  out["file_type"] = s.file_type;
  out["parameters"] = s.parameters;
  out["size"] = s.size;
  out["gguf_version"] = file.version();
  out["alignment"] = file.alignment();
  nlohmann::json hyper = nlohmann::json::object();
  for (const auto& [key, value] : s.hyperparameters) hyper[key] = to_json(*value, options.max_items);
  out["hyperparameters"] = hyper;
  out["tokenizer"] = {{"model", s.tokenizer}, {"pre", s.pre_tokenizer}, {"vocab_size", s.vocab_size}};
  out["chat_template"] = s.chat_template;
  nlohmann::json metadata = nlohmann::json::object();
  for (const auto& kv : file.metadata()) metadata[kv.key] = to_json(kv.value, options.max_items);
  out["metadata"] = metadata;
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& tensor : file.tensors()) {
    tensors.push_back({{"name", tensor.name},
                       {"shape", std::vector<int64_t>(tensor.ne.begin(), tensor.ne.begin() + tensor.n_dims)},
                       {"type", type_name(tensor.type)},
                       {"offset", file.data_offset() + tensor.offset},
                       {"bytes", tensor.size}});
  }
  out["tensors"] = tensors;
  // Metadata strings are arbitrary bytes: replace invalid UTF-8 rather than fail.
  fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

void register_info(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("info", "Show what a GGUF file holds: summary, metadata and tensor table");
  cmd->add_option("file", options->path, "GGUF file")->required();
  cmd->add_flag("--json", options->json, "Print everything as JSON");
  add_numeric_flag(*cmd, "--max-items", options->max_items, "Array elements shown before summarizing (default 8)",
                   NumericRange<uint64_t>{});
  cmd->add_flag("--check-tensors", options->check_tensors,
                "Also read every tensor and fail when one holds NaN or infinite values");
  on_run(*cmd, "info", exit_code, [options] {
    const gguf::File file = gguf::File::open(options->path);
    options->json ? print_json(file, *options) : print_text(file, *options);
    if (options->check_tensors) {
      if (const int bad = check_tensors(file); bad > 0) {
        throw std::runtime_error(fmt::format("{} of {} tensors hold NaN or infinite values", bad, file.tensors().size()));
      }
      fmt::print(stderr, "hearth info: all {} tensors hold finite values\n", file.tensors().size());
    }
  });
}

}  // namespace hearth::cli
