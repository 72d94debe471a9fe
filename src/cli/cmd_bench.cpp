// `hearth bench -m FILE`: prompt-processing and generation throughput in the style of llama-bench, so the two
// engines' numbers read alike (tools/peer/bench.mjs measures the peer the same way; bench/compare runs both).
//
//   ppN  N random token ids decoded as one prompt (the context cuts it into batches of n_batch), the cache holding
//        only the DEPTH tokens before it; its time is also the time to first token: from the start of the decode
//        until the logits of the prompt's last token are readable.
//   tgN  N single-token decodes, each asking for logits, after a one-token prompt (untimed) that follows the
//        DEPTH tokens, so every timed token is generation proper: one more token after ones already cached.
// Each test runs once as warm-up (pages the weights in, starts the threads), then -r times; the rate is the mean
// and sample standard deviation of the repetitions' tokens per second. Random ids rather than text: the speed of
// a forward pass does not depend on which tokens it reads, and any model can be measured without a prompt file.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/numeric_flags.h"
#include "cli/offload_flags.h"
#include "hearth/context.h"
#include "hearth/model.h"
#include "hearth/tensor_type.h"

namespace hearth::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A flag's value or combination is wrong: one line on stderr and exit code 2.
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The flags, each checked as it is parsed (numeric_flags.h; the lists by parse_size_list).
struct Settings {
  std::string model;
  std::vector<int32_t> prompt_sizes{128, 512};     // empty: no pp tests
  std::vector<int32_t> generation_sizes{32, 128};  // empty: no tg tests
  int32_t threads = 0;                             // 0: one per hardware thread
  int32_t repetitions = 5;
  int32_t depth = 0;
  int32_t gpu_layers = 0;
  bool json = false;
};

struct Test {
  int32_t n_prompt = 0;
  int32_t n_gen = 0;

  std::string name() const { return n_prompt > 0 ? fmt::format("pp{}", n_prompt) : fmt::format("tg{}", n_gen); }
};

struct TestResult {
  Test test;
  double tokens_per_second = 0;
  double stddev = 0;
  double ttft_ms = 0;        // pp tests
  double gb_per_second = 0;  // tg tests
  double peak_rss_mib = 0;   // of the whole process, once the test is done
};

// "128,512" -> {128, 512}; "0" alone -> {} (no tests of that kind, as llama-bench's -p 0).
std::vector<int32_t> parse_size_list(std::string_view flag, std::string_view text) {
  if (text == "0") return {};
  constexpr NumericRange<int32_t> kSize{.min = 1, .max = 1 << 20};
  std::vector<int32_t> sizes;
  size_t begin = 0;
  while (true) {
    const size_t comma = text.find(',', begin);
    const std::string_view item = text.substr(begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin);
    try {
      sizes.push_back(parse_numeric_flag(flag, item, kSize));
    } catch (const CLI::ValidationError&) {
      throw CLI::ValidationError(fmt::format(
          "{} takes a comma-separated list of token counts from 1 to {} (or 0 for none), not '{}'", flag, kSize.max,
          text));
    }
    if (comma == std::string_view::npos) return sizes;
    begin = comma + 1;
  }
}

// The cache cells the largest test needs: the depth, then the prompt, or the one-token prompt and the generation.
int32_t cells_needed(const Settings& settings) {
  int32_t largest = 0;
  for (int32_t n : settings.prompt_sizes) largest = std::max(largest, n);
  for (int32_t n : settings.generation_sizes) largest = std::max(largest, n + 1);
  return settings.depth + largest;
}

double peak_rss_mib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// Bytes of weights one generated token reads: every tensor in the file, as llama.cpp's llama_model_size counts
// them (so the two engines' GB/s agree). For a model with a separate output matrix this includes the whole token
// embedding table, of which a token reads one row: there the figure overstates the traffic by that table.
uint64_t weight_bytes(const Model& model) {
  uint64_t bytes = 0;
  for (const gguf::TensorInfo& tensor : model.file().tensors()) bytes += tensor.size;
  return bytes;
}

class Bench {
 public:
  Bench(std::shared_ptr<const Model> model, const Settings& settings)
      : settings_(settings),
        context_(model, {.n_ctx = cells_needed(settings), .n_threads = settings.threads,
                         .n_gpu_layers = settings.gpu_layers,
                         .on_weight_copy = weight_copy_progress("hearth bench")}),
        n_vocab_(context_.n_vocab()),
        weight_bytes_(weight_bytes(*model)) {
    if (settings_.depth > 0) decode_run(0, settings_.depth);
  }

  const ContextPlan& plan() const { return context_.plan(); }

  TestResult run(const Test& test) {
    measure(test);  // warm-up
    std::vector<double> rates;
    std::vector<double> seconds;
    for (int32_t rep = 0; rep < settings_.repetitions; ++rep) {
      seconds.push_back(measure(test));
      rates.push_back((test.n_prompt + test.n_gen) / seconds.back());
    }
    TestResult result{.test = test};
    result.tokens_per_second = mean(rates);
    result.stddev = sample_stddev(rates, result.tokens_per_second);
    if (test.n_prompt > 0) result.ttft_ms = mean(seconds) * 1e3;
    else result.gb_per_second = static_cast<double>(weight_bytes_) * result.tokens_per_second / 1e9;
    result.peak_rss_mib = peak_rss_mib();
    return result;
  }

 private:
  static double mean(const std::vector<double>& values) {
    double sum = 0;
    for (double v : values) sum += v;
    return sum / static_cast<double>(values.size());
  }
  static double sample_stddev(const std::vector<double>& values, double mean) {
    if (values.size() < 2) return 0;
    double sum = 0;
    for (double v : values) sum += (v - mean) * (v - mean);
    return std::sqrt(sum / static_cast<double>(values.size() - 1));
  }

  // Decodes `count` random tokens at positions first.. as one batch; only the last asks for logits.
  void decode_run(int32_t first, int32_t count) {
    batch_.clear();
    for (int32_t i = 0; i < count; ++i) batch_.add(random_token(), first + i, 0, i + 1 == count);
    context_.decode(batch_);
  }

  int32_t random_token() { return std::uniform_int_distribution<int32_t>(0, n_vocab_ - 1)(random_); }

  // One run of the test on a cache holding exactly the depth tokens; returns the seconds it took.
  double measure(const Test& test) {
    context_.remove(0, settings_.depth, -1);
    if (test.n_prompt > 0) {
      const auto start = Clock::now();
      decode_run(settings_.depth, test.n_prompt);
      return std::chrono::duration<double>(Clock::now() - start).count();
    }
    decode_run(settings_.depth, 1);
    const auto start = Clock::now();
    for (int32_t i = 0; i < test.n_gen; ++i) decode_run(settings_.depth + 1 + i, 1);
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  const Settings& settings_;
  Context context_;
  const int32_t n_vocab_;
  const uint64_t weight_bytes_;
  Batch batch_;
  std::mt19937 random_{0};
};

double rounded(double value, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}

nlohmann::ordered_json to_json(const TestResult& result, const Settings& settings, const ContextPlan& plan) {
  // In the order the issue and tools/peer/bench.mjs list them.
  nlohmann::ordered_json line = {{"test", result.test.name()},
                         {"n_prompt", result.test.n_prompt},
                         {"n_gen", result.test.n_gen},
                         {"depth", settings.depth},
                         {"threads", settings.threads},
                         {"backend", plan_devices(plan)},
                         {"n_gpu_layers", plan.n_gpu_layers},
                         {"repetitions", settings.repetitions},
                         {"tokens_per_second", rounded(result.tokens_per_second, 2)},
                         {"stddev", rounded(result.stddev, 2)}};
  if (result.test.n_prompt > 0) line["ttft_ms"] = rounded(result.ttft_ms, 1);
  else line["gb_per_second"] = rounded(result.gb_per_second, 2);
  line["peak_rss_mib"] = rounded(result.peak_rss_mib, 1);
  return line;
}

std::string file_type_of(const Model& model) {
  const gguf::Value* file_type = model.file().find("general.file_type");
  if (file_type == nullptr || !file_type->is_integer()) return "unknown";
  const auto name = file_type_name(static_cast<uint32_t>(file_type->as_int()));
  return name ? std::string(*name) : fmt::format("file type {}", file_type->as_int());
}

void print_table_header() {
  std::printf("| model | size | type | backend | threads | test | t/s | ttft ms | GB/s |\n");
  std::printf("| --- | ---: | --- | --- | ---: | --- | ---: | ---: | ---: |\n");
  std::fflush(stdout);
}

void print_table_row(const Model& model, const TestResult& result, const Settings& settings, const ContextPlan& plan) {
  const std::string test =
      settings.depth > 0 ? fmt::format("{} @ d{}", result.test.name(), settings.depth) : result.test.name();
  std::printf("%s", fmt::format("| {} | {:.2f} GiB | {} | {} | {} | {} | {:.2f} ± {:.2f} | {} | {} |\n", model.info().name,
                                static_cast<double>(model.info().file_bytes) / (1024.0 * 1024.0 * 1024.0),
                                file_type_of(model), plan_devices(plan), settings.threads, test, result.tokens_per_second, result.stddev,
                                result.test.n_prompt > 0 ? fmt::format("{:.1f}", result.ttft_ms) : "",
                                result.test.n_gen > 0 ? fmt::format("{:.2f}", result.gb_per_second) : "")
                        .c_str());
  std::fflush(stdout);
}

void run_bench(Settings settings) {
  if (settings.prompt_sizes.empty() && settings.generation_sizes.empty()) {
    throw UsageError("-p 0 and -n 0 leave nothing to measure");
  }
  if (settings.threads == 0) settings.threads = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  const std::shared_ptr<const Model> model = Model::load(settings.model);
  if (cells_needed(settings) > model->info().n_ctx_train) {
    throw UsageError(fmt::format("the tests need {} positions (-d {}, then the longest test), more than the model's "
                                 "context of {}", cells_needed(settings), settings.depth, model->info().n_ctx_train));
  }
  std::vector<Test> tests;
  for (int32_t n : settings.prompt_sizes) tests.push_back({.n_prompt = n});
  for (int32_t n : settings.generation_sizes) tests.push_back({.n_gen = n});

  Bench bench(model, settings);
  if (!settings.json) print_table_header();
  for (const Test& test : tests) {
    const TestResult result = bench.run(test);
    if (settings.json) {
      std::printf("%s\n", to_json(result, settings, bench.plan()).dump().c_str());
      std::fflush(stdout);
    } else {
      print_table_row(*model, result, settings, bench.plan());
    }
  }
  if (!settings.json) {
    std::printf("\n%speak resident memory: %.1f MiB\n", describe_plan(bench.plan()).c_str(), peak_rss_mib());
  }
}

}  // namespace

void register_bench(CLI::App& app, int& exit_code) {
  auto settings = std::make_shared<Settings>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prompt and generation speed (as llama-bench does)");
  cmd->add_option("-m,--model", settings->model, "GGUF model to measure")->type_name("FILE")->required();
  cmd->add_option_function<std::string>(
         "-p,--n-prompt", [settings](const std::string& text) { settings->prompt_sizes = parse_size_list("--n-prompt", text); },
         "Prompt lengths to test, comma-separated (default 128,512; 0: none)")
      ->type_name("N,...");
  cmd->add_option_function<std::string>(
         "-n,--n-gen", [settings](const std::string& text) { settings->generation_sizes = parse_size_list("--n-gen", text); },
         "Generation lengths to test, comma-separated (default 32,128; 0: none)")
      ->type_name("N,...");
  add_numeric_flag(*cmd, "-t,--threads", settings->threads, "Threads (default 0: one per hardware thread)",
                   thread_count_range());
  add_numeric_flag(*cmd, "-r,--repetitions", settings->repetitions, "Timed runs of each test after one warm-up (default 5)",
                   NumericRange<int32_t>{.min = 1, .max = 1000});
  add_gpu_layers_flag(*cmd, settings->gpu_layers);
  add_numeric_flag(*cmd, "-d,--depth", settings->depth, "Tokens already in the cache when each test starts (default 0)",
                   NumericRange<int32_t>{.min = 0, .max = 1 << 20});
  cmd->add_flag("--json", settings->json, "One JSON object per test instead of the table");
  // Not on_run: usage errors exit with 2, failures of the run itself (an unreadable model, say) with 1.
  cmd->callback([settings, &exit_code] {
    try {
      run_bench(*settings);
      exit_code = 0;
    } catch (const UsageError& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "hearth: error: %s; see 'hearth bench --help'\n", e.what());
      exit_code = kExitUsageError;
    } catch (const std::exception& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "hearth bench: %s\n", e.what());
      exit_code = 1;
    }
  });
}

}  // namespace hearth::cli
