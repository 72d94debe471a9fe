// How long rendering a chat template takes: real Llama 3.1 and Qwen 2.5 templates over a 20-turn conversation
// (the per-request cost of `hearth chat` and of a server formatting prompts), plus parsing them once.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "hearth/chat.h"

namespace {

namespace fs = std::filesystem;
using hearth::chat::json;

fs::path shared_dir() {
  const char* env = std::getenv("HEARTH_SHARED");
  return env != nullptr && *env != '\0' ? fs::path(env) : fs::path(HEARTH_SHARED_DIR);
}

std::string read_template(const std::string& name) {
  std::ifstream in(shared_dir() / "templates" / name, std::ios::binary);
  if (!in) throw std::runtime_error("missing template " + name);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A system prompt and 20 user/assistant turns of a few sentences each.
hearth::chat::ChatRequest twenty_turns(bool with_tools) {
  hearth::chat::ChatRequest request;
  request.messages.push_back({{"role", "system"}, {"content", "You are a helpful assistant. Answer concisely."}});
  for (int turn = 0; turn < 20; ++turn) {
    request.messages.push_back(
        {{"role", "user"},
         {"content", "Question " + std::to_string(turn) +
                         ": how do I read a file line by line in Python, and what about very large files?"}});
    request.messages.push_back(
        {{"role", "assistant"},
         {"content", "Use `with open(path) as f: for line in f: ...`. Iterating the file object streams it, so memory "
                     "stays flat even for very large files. Turn " + std::to_string(turn) + "."}});
  }
  if (with_tools) {
    request.tools = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Current weather for a city", "parameters": {"type": "object",
      "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}])");
  }
  request.add_generation_prompt = true;
  request.bos_token = "<|begin_of_text|>";
  request.eos_token = "<|eot_id|>";
  return request;
}

void render(benchmark::State& state, const std::string& template_name, bool with_tools) {
  const hearth::chat::Template chat_template(read_template(template_name));
  const hearth::chat::ChatRequest request = twenty_turns(with_tools);
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string prompt = hearth::chat::apply_chat_template(chat_template, request);
    bytes = prompt.size();
    benchmark::DoNotOptimize(prompt.data());
  }
  state.counters["prompt_bytes"] = static_cast<double>(bytes);
}

void BM_RenderLlama31_20Turns(benchmark::State& state) { render(state, "meta-llama-Llama-3.1-8B-Instruct.jinja", false); }
void BM_RenderLlama31_20TurnsTools(benchmark::State& state) { render(state, "meta-llama-Llama-3.1-8B-Instruct.jinja", true); }
void BM_RenderQwen25_20Turns(benchmark::State& state) { render(state, "Qwen-Qwen2.5-7B-Instruct.jinja", false); }
void BM_RenderQwen25_20TurnsTools(benchmark::State& state) { render(state, "Qwen-Qwen2.5-7B-Instruct.jinja", true); }
BENCHMARK(BM_RenderLlama31_20Turns)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RenderLlama31_20TurnsTools)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RenderQwen25_20Turns)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RenderQwen25_20TurnsTools)->Unit(benchmark::kMicrosecond);

void BM_ParseLlama31(benchmark::State& state) {
  const std::string source = read_template("meta-llama-Llama-3.1-8B-Instruct.jinja");
  for (auto _ : state) benchmark::DoNotOptimize(hearth::chat::Template(source));
}
BENCHMARK(BM_ParseLlama31)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
