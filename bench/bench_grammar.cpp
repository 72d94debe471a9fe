// Per-token cost of grammar-constrained sampling on the 128k-token llama-bpe vocabulary, for several JSON grammars:
// json.gbnf, the `json_object` grammar and JSON schemas with nested objects and arrays. Each generation is a fresh
// TokenConstraint (as a request gets one) under a real Sampler (temperature 1, seeded) over random logits that
// favour closing quotes and brackets so that values end. Per token it times TokenConstraint::allowed(), cache hits
// included as a real generation sees them ("all"), and separately the masks computed afresh ("first visit"); it
// also times what constraining adds to the sampler's draw (applying the mask, advancing the matcher) against an
// unconstrained sampler on the same logits. Compile time is the schema's conversion to GBNF and its parse.
// With --peer MODEL.gguf (a model with the same vocabulary, e.g. `hearth synth --shape tiny-llama3 --vocab
// ggml-vocab-llama-bpe.gguf`), the peer's grammar sampler runs on json.gbnf and the orders schema too
// (tools/peer/grammar_bench.mjs: its generations with the grammar against generations without), and its cost per
// token is printed beside Hearth's.
//
// With --corpus DIR (the JSON-Schema-Test-Suite's draft2020-12 folder, which Debian's
// libtest-json-schema-acceptance-perl installs under /usr/share/perl5/auto/share/dist/Test-JSON-Schema-Acceptance/
// tests/draft2020-12), every schema there that compiles is one workload of one generation, and only the totals
// over the corpus are printed: the per-token mask time over a schema corpus, as MaskBench reports it.
//
//   bench_grammar [--tokens N] [--generations N] [--peer MODEL.gguf] [--corpus DIR]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hearth/gguf.h"
#include "hearth/grammar.h"
#include "hearth/json_schema.h"
#include "hearth/sampling.h"
#include "hearth/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;
using hearth::grammar::Grammar;
using hearth::grammar::TokenId;

double micros_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A nested object with arrays of objects holding arrays, integer ranges, an enum, a pattern and a length bound.
constexpr const char* kOrdersSchema = R"({
  "type": "object",
  "properties": {
    "customer": {"type": "object", "properties": {
      "name": {"type": "string", "maxLength": 40},
      "age": {"type": "integer", "minimum": 0, "maximum": 150},
      "address": {"type": "object", "properties": {
        "street": {"type": "string"}, "city": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
        "required": ["street", "city"]}},
      "required": ["name", "address"]},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 6},
    "orders": {"type": "array", "maxItems": 4, "items": {"type": "object", "properties": {
      "id": {"type": "integer"},
      "status": {"enum": ["pending", "shipped", "delivered"]},
      "lines": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
        "sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}, "price": {"type": "number"}},
        "required": ["sku", "quantity"]}}},
      "required": ["id", "lines"]}}
  },
  "required": ["customer", "orders"]
})";

// A function call as a tool-calling model emits it.
constexpr const char* kToolCallSchema = R"({
  "type": "object",
  "properties": {
    "name": {"const": "get_weather"},
    "arguments": {"type": "object", "properties": {
      "location": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]},
      "days": {"type": "integer", "minimum": 1, "maximum": 14}, "hourly": {"type": "boolean"}},
      "required": ["location"]}
  },
  "required": ["name", "arguments"]
})";

// Recursion through $ref: a tree whose nodes hold arrays of nodes.
constexpr const char* kTreeSchema = R"({
  "$defs": {"node": {"type": "object", "properties": {
    "label": {"type": "string"}, "weight": {"type": "number"},
    "children": {"type": "array", "maxItems": 3, "items": {"$ref": "#/$defs/node"}}},
    "required": ["label", "children"]}},
  "$ref": "#/$defs/node"
})";

struct Workload {
  std::string name;
  std::function<Grammar()> compile;
  std::string peer_arguments;  // how tools/peer/grammar_bench.mjs is given the same grammar; empty: not compared
};

// The peer's cost per token of generating under a grammar, in microseconds, from tools/peer/grammar_bench.mjs.
double peer_overhead_micros(const std::string& model, const std::string& grammar_arguments, std::size_t tokens) {
  const std::string command = fmt::format("node {}/tools/peer/grammar_bench.mjs -m '{}' {} -n {} -r 3 -t 2", HEARTH_SOURCE_DIR,
                                          model, grammar_arguments, tokens);
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = ::pclose(pipe);
  const std::string key = "\"overhead_ms_per_token\":";
  const std::size_t at = output.find(key);
  if (status != 0 || at == std::string::npos) throw std::runtime_error(fmt::format("{} failed: {}", command, output));
  return std::stod(output.substr(at + key.size())) * 1000;
}

struct Summary {
  std::vector<double> masks;        // every token's allowed(), microseconds
  std::vector<double> first_visits;  // the tokens whose mask was computed afresh
  std::vector<double> overheads;     // constrained draw + accept minus the unconstrained draw
};

void report(std::string_view what, std::vector<double> micros) {
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  double sum = 0;
  for (const double m : micros) sum += m;
  const double p99 = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
  std::printf("%s", fmt::format("  {:<14} {:>6} tokens  mean {:>9.1f} us  p50 {:>9.1f} us  p99 {:>9.1f} us  max {:>9.1f} us\n",
                                what, micros.size(), sum / micros.size(), micros[micros.size() / 2], p99,
                                micros.back()).c_str());
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (const double v : values) sum += v;
  return values.empty() ? 0 : sum / values.size();
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t tokens = 300;
  std::size_t generations = 5;
  std::string peer_model;
  std::filesystem::path corpus;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--tokens") tokens = std::stoul(argv[i + 1]);
    else if (flag == "--generations") generations = std::stoul(argv[i + 1]);
    else if (flag == "--peer") peer_model = argv[i + 1];
    else if (flag == "--corpus") corpus = argv[i + 1];
  }
  const char* env = std::getenv("HEARTH_SHARED");
  const std::filesystem::path shared = env != nullptr && *env != '\0' ? env : HEARTH_SHARED_DIR;
  const auto tokenizer = hearth::tokenizer::Tokenizer::from_gguf(
      hearth::gguf::File::open(shared / "vocab" / "ggml-vocab-llama-bpe.gguf"));
  const auto build_start = Clock::now();
  const auto vocabulary = hearth::grammar::Vocabulary::from_tokenizer(tokenizer);
  std::printf("%s", fmt::format("vocabulary: {} tokens, trie of {} nodes built in {:.1f} ms\n", vocabulary->size(),
                                vocabulary->trie().size(), micros_since(build_start) / 1000).c_str());

  const std::filesystem::path json_gbnf_path =
      std::filesystem::path(HEARTH_SOURCE_DIR) / "tools/peer/node_modules/node-llama-cpp/llama/grammars/json.gbnf";
  const std::string json_gbnf = read_file(json_gbnf_path);
  const std::filesystem::path orders_path = std::filesystem::temp_directory_path() /
                                            fmt::format("bench_grammar_orders_{}.json", ::getpid());
  std::ofstream(orders_path) << kOrdersSchema;
  std::vector<Workload> workloads = {
      {"json.gbnf", [&] { return Grammar::parse(json_gbnf); }, "--gbnf '" + json_gbnf_path.string() + "'"},
      {"json_object", [] { return hearth::grammar::json_object_grammar(); }},
      {"schema orders (nested objects, arrays)", [] { return hearth::grammar::json_schema_grammar(kOrdersSchema); },
       "--schema '" + orders_path.string() + "'"},
      {"schema orders, compact", [] {
         return hearth::grammar::json_schema_grammar(kOrdersSchema, {.whitespace = hearth::grammar::JsonWhitespace::compact});
       }},
      {"schema tool call", [] { return hearth::grammar::json_schema_grammar(kToolCallSchema); }},
      {"schema tree ($ref recursion)", [] { return hearth::grammar::json_schema_grammar(kTreeSchema); }},
  };

  std::size_t refused = 0;
  if (!corpus.empty()) {
    workloads.clear();
    generations = 1;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      const nlohmann::json groups = nlohmann::json::parse(read_file(file));
      for (std::size_t g = 0; g < groups.size(); ++g) {
        const std::string schema = groups[g]["schema"].dump();
        try {
          hearth::grammar::json_schema_grammar(schema);
        } catch (const hearth::grammar::JsonSchemaError&) {
          ++refused;
          continue;
        }
        workloads.push_back({fmt::format("{} #{}", file.stem().string(), g),
                             [schema] { return hearth::grammar::json_schema_grammar(schema); }});
      }
    }
    std::printf("%s", fmt::format("corpus {}: {} schemas compile, {} refused\n", corpus.string(), workloads.size(),
                                  refused).c_str());
  }

  // Random logits, nudged towards pieces that close strings, arrays and objects.
  std::vector<float> bonus(vocabulary->size());
  for (std::size_t id = 0; id < bonus.size(); ++id) {
    bonus[id] = vocabulary->piece(static_cast<TokenId>(id)).find_first_of("}]\"") != std::string::npos ? 3.0f : 0.0f;
  }
  hearth::sampling::SamplingParams params;
  params.temperature = 1.0f;

  Summary everything;
  std::vector<double> all_compile_ms;
  std::vector<std::pair<double, std::string>> slowest;  // corpus: mean mask time per schema
  for (const Workload& workload : workloads) {
    std::vector<double> compile_ms;
    Summary summary;
    std::size_t finished = 0;
    for (std::size_t generation = 0; generation < generations; ++generation) {
      const auto compile_start = Clock::now();
      const Grammar grammar = workload.compile();
      hearth::grammar::TokenConstraint constraint(grammar, vocabulary);
      compile_ms.push_back(micros_since(compile_start) / 1000);

      params.seed = generation + 1;
      hearth::sampling::Sampler constrained(params);
      hearth::sampling::Sampler unconstrained(params);
      constrained.set_grammar(std::move(constraint));
      std::mt19937_64 random(generation + 1);
      std::normal_distribution<float> noise(0.0f, 2.0f);
      std::vector<float> logits(vocabulary->size());
      std::size_t cached_states = 0;
      for (std::size_t step = 0; step < tokens; ++step) {
        for (std::size_t id = 0; id < logits.size(); ++id) logits[id] = noise(random) + bonus[id];
        const hearth::grammar::TokenConstraint& current = *constrained.grammar();
        auto start = Clock::now();
        current.allowed();
        const double mask_micros = micros_since(start);
        summary.masks.push_back(mask_micros);
        if (current.cached_states() > cached_states) summary.first_visits.push_back(mask_micros);
        cached_states = current.cached_states();

        start = Clock::now();
        unconstrained.sample(logits);
        const double free_micros = micros_since(start);
        start = Clock::now();
        const TokenId token = constrained.sample(logits);
        const bool ends = vocabulary->is_end_of_generation(token);
        if (!ends) constrained.accept(token);
        summary.overheads.push_back(micros_since(start) - free_micros);
        if (ends) {
          ++finished;
          break;
        }
      }
    }
    all_compile_ms.insert(all_compile_ms.end(), compile_ms.begin(), compile_ms.end());
    for (std::vector<double> Summary::*part : {&Summary::masks, &Summary::first_visits, &Summary::overheads}) {
      (everything.*part).insert((everything.*part).end(), (summary.*part).begin(), (summary.*part).end());
    }
    if (!corpus.empty()) {  // only the totals, and which schemas cost most
      slowest.emplace_back(mean(summary.masks), workload.name);
      continue;
    }
    std::sort(compile_ms.begin(), compile_ms.end());
    std::printf("%s", fmt::format("{}: compile {:.2f} ms (median of {}); {} generations, {} ended within {} tokens\n",
                                  workload.name, compile_ms[compile_ms.size() / 2], compile_ms.size(), generations,
                                  finished, tokens).c_str());
    report("mask, all", summary.masks);
    report("first visit", summary.first_visits);
    std::printf("%s", fmt::format("  constrained draw and accept add {:.1f} us per token to the sampler's draw\n",
                                  mean(summary.overheads)).c_str());
    if (!peer_model.empty() && !workload.peer_arguments.empty()) {
      std::printf("%s", fmt::format("  side by side, per token: Hearth {:.1f} us (mask + constrained draw), llama.cpp {:.1f} us "
                                    "(generating with the grammar minus without, 2 threads)\n",
                                    mean(summary.masks) + mean(summary.overheads),
                                    peer_overhead_micros(peer_model, workload.peer_arguments, tokens)).c_str());
    }
  }
  std::filesystem::remove(orders_path);
  std::sort(slowest.rbegin(), slowest.rend());
  for (std::size_t i = 0; i < slowest.size() && i < 5; ++i) {
    std::printf("%s", fmt::format("  slowest: {} mean {:.1f} us per token\n", slowest[i].second, slowest[i].first).c_str());
  }
  std::sort(all_compile_ms.begin(), all_compile_ms.end());
  std::printf("%s", fmt::format("all grammars: compile median {:.2f} ms, max {:.2f} ms\n",
                                all_compile_ms[all_compile_ms.size() / 2], all_compile_ms.back()).c_str());
  report("mask, all", everything.masks);
  report("first visit", everything.first_visits);
  // llama32-1b Q4_K_M generates about 18 tokens/s on 2 threads of the development machine: ~55 ms per token.
  const double per_token = mean(everything.masks) + mean(everything.overheads);
  std::printf("%s", fmt::format("  mask + constrained draw: {:.1f} us per token, {:.2f}% of a 55 ms llama32-1b token\n",
                                per_token, per_token / 55000 * 100).c_str());
  return 0;
}
