// Conformance against llama.cpp: the same GGUF files, the same prompts, in Hearth and in the peer
// (node-llama-cpp 3.22.1, tools/peer/evaluate.mjs), compared on
//   - prompt tokenization (identical),
//   - the next-token distribution at the first 16 greedy positions (top-20 overlap, max |dp| over the peer's top 20),
//   - 64 tokens of greedy generation (free-running prefix match, and per-position argmax agreement when both are
//     fed the peer's tokens).
// Models: tiny random-weight models of each architecture in every weight type, made by `hearth synth` into a
// temporary folder (fixed seed), plus the real demo model. The table of observed differences is printed.
//
// Random weights give flat distributions: at temperature 1 every probability is ~1/n_vocab and any |dp| bound
// passes trivially. The probabilities of synthetic models are therefore taken at a temperature calibrated per
// architecture (a quarter of the F32 model's logit standard deviation), which makes the top token carry tens of
// percent; the demo model is compared at temperature 1. Both engines are asked for the same temperature.
//
// The peer runs without flash attention: llama.cpp's CPU flash attention accumulates in f16, and with it the F32
// models' max |dp| grows from 0.0003-0.0005 to 0.0011-0.0013 and the demo model's from 0.027 to 0.049.
//
// Environment: HEARTH_CONFORMANCE_KEEP=1 keeps the temporary folder; HEARTH_CONFORMANCE_TYPES=F32,Q4_0 and
// HEARTH_CONFORMANCE_ARCHS=llama,qwen3 restrict the matrix (for development; the suite runs everything).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "conformance/hearth_side.h"
#include "conformance/metrics.h"
#include "conformance/peer.h"
#include "hearth/tokenizer.h"
#include "support/shared_data.h"

namespace hearth::conformance {
namespace {

namespace fs = std::filesystem;

constexpr int kGenerate = 64;
constexpr int kPositions = 16;
constexpr int kTop = 20;
constexpr int kSynthSeed = 7;
// Two peer processes with one thread each work through the models while Hearth runs them with two threads: the
// peer finishes first (its kernels are vectorized, Hearth's integer kernels mostly scalar), so Hearth's second
// thread keeps both cores busy after it. Thread counts split rows between threads and change no result.
constexpr int kThreads = 1;
constexpr int kHearthThreads = 2;
constexpr size_t kPeerProcesses = 2;

struct Family {
  std::string arch;   // as the table names it
  std::string shape;  // hearth synth --shape
  std::string vocab;  // ../shared/vocab/...
};

const std::vector<Family> kFamilies{
    {"llama", "tiny-llama", "ggml-vocab-llama-spm.gguf"},
    {"llama3-bpe", "tiny-llama3", "ggml-vocab-llama-bpe.gguf"},
    {"qwen2", "tiny-qwen2", "ggml-vocab-qwen2.gguf"},
    {"qwen3", "tiny-qwen3", "ggml-vocab-qwen2.gguf"},
};

const std::vector<std::string> kTypes{"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q2_K", "IQ4_XS"};

// Plain prose, code with indentation, numbers and punctuation, and non-ASCII text (accents, CJK, an emoji).
const std::vector<std::string> kPrompts{
    "The Python interpreter",
    "Once upon a time, in a small village by the sea, there lived",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Größe: 3.14 × 2 = 6.28 — 東京 🚀 über",
};

const std::string kDemoModel = "models/hearth-demo-13m-q8_0.gguf";
const std::string kDemoExpected = " now supports the :keyword:`import` statement.";

// What each weight type must reach, and why. The weights are identical in both engines (one file); what differs
// could only be arithmetic, and Hearth's CPU kernels reproduce llama.cpp's: activations rounded as its CPU backend
// rounds them before each product (kernels/cpu/activations.h), and every sum in the order of the kernel llama.cpp
// picks for that product on an AVX-512 machine (its "zen4" CPU variant): tinyBLAS or vec_dot for float weights
// (float_dot.h), the repacked GEMV/GEMM or vec_dot for each quantized type (quant_dot.h), the two attention orders
// and its vectorized exp (attention.cpp, poly_exp.h). Each prompt runs alone in a fresh context in both engines,
// so both cut the batch the same way. On such a machine the logits are the same bits, and the suite demands it of
// every type: all 64 greedy tokens identical, and Hearth's argmax equal to the peer's token at every position.
//
// On a CPU where the peer loads another variant (AVX2 only, say) its kernels sum in other orders: the logits then
// differ in the last bits, and 8-bit activation rounding can carry such a difference on (a value within an ulp of
// a rounding boundary moves by a whole step), which random-weight models amplify into a different choice between
// nearly tied tokens. There the suite demands what such arithmetic allows:
//   - F32 and F16: all 64 greedy tokens identical on every model and prompt; the demo model too;
//   - every type: each place where Hearth's choice differs from the peer's (free-running, or both fed the peer's
//     tokens) is a near tie: Hearth's margin for its own choice is at most `tie` logit standard deviations;
//   - at least `min_forced_agreement` of 64 argmax agreements along the peer's path, for every prompt;
//   - over all synthetic Q8_0 and lower-bit cases, at least kMinIdenticalShare of (model, prompt) pairs with all 64
//     greedy tokens identical.
// The |dp| bounds (probabilities at the calibrated temperature, where the two engines' softmax arithmetic also
// differs) and the overlap bounds are about twice the largest observed values. One difference is still open: in the
// probability pass (prompt and 15 forced tokens in one decode) qwen3's Q4_K_M, Q6_K and IQ4_XS models show |dp| up
// to 0.016 where every other case stays below 0.0013, though their greedy tokens and argmaxes all agree.
struct Tolerance {
  double max_dp;             // bound on |dp| over the peer's top 20, any position, any prompt
  int min_overlap;           // of 20, at every position
  double tie;                // largest margin, in logit standard deviations, at a disagreement
  int min_forced_agreement;  // of 64, argmax agreement along the peer's greedy path
  bool identical_greedy;     // free-running greedy must match all 64 tokens
};

// Whether this CPU has what the peer's AVX-512 variant needs (the kernel orders Hearth reproduces).
bool runs_peers_avx512_variant() {
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool bf16 = __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)) != 0;
  return bf16 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

Tolerance tolerance_for(const std::string& type, bool same_kernels) {
  Tolerance tolerance{0.05, 16, 0.08, 56, false};  // Q4_0, Q4_K_M, Q5_K_M, Q6_K, Q2_K, IQ4_XS
  if (type == "F32") tolerance = {0.001, 19, 0.0, kGenerate, true};
  if (type == "F16") tolerance = {0.0025, 19, 0.0, kGenerate, true};
  if (type == "BF16") tolerance = {0.008, 18, 0.02, 56, false};
  if (type == "Q8_0") tolerance = {0.04, 17, 0.05, 56, false};
  if (same_kernels) {
    tolerance.tie = 0.0;
    tolerance.min_forced_agreement = kGenerate;
    tolerance.identical_greedy = true;
  }
  return tolerance;
}

constexpr double kMinIdenticalShare = 0.55;

struct Case {
  std::string arch;
  std::string type;
  fs::path file;
  double temperature = 1.0;
};

struct PromptOutcome {
  bool tokens_equal = false;
  int min_overlap = kTop;
  double overlap_sum = 0.0;
  int overlap_count = 0;
  double max_dp = 0.0;
  int greedy_prefix = 0;
  int forced_agreement = 0;
  double worst_gap = 0.0;  // largest margin (logit standard deviations) where the choices differ
};

struct Row {
  std::string type;
  std::string arch;
  double temperature = 1.0;
  bool tokens_equal = true;
  double max_dp = 0.0;
  int min_overlap = kTop;
  double overlap_sum = 0.0;
  int overlap_count = 0;
  int min_greedy_prefix = kGenerate;
  int min_forced = kGenerate;
  double worst_gap = 0.0;
  int identical_prompts = 0;  // prompts whose 64 greedy tokens all match
  int prompts = 0;
};

std::vector<std::string> restriction(const char* variable, const std::vector<std::string>& all) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0') return all;
  std::vector<std::string> chosen;
  std::stringstream list(value);
  for (std::string item; std::getline(list, item, ',');) {
    if (std::find(all.begin(), all.end(), item) == all.end()) {
      throw std::invalid_argument(fmt::format("{} names {}, which is not one of the suite's", variable, item));
    }
    chosen.push_back(item);
  }
  return chosen;
}

// Wall seconds, and CPU seconds of the processes it watches, since the previous lap: the phase timings the suite
// prints. CPU time says more than wall time on a shared machine.
class Stopwatch {
 public:
  // Watching RUSAGE_SELF and RUSAGE_CHILDREN (children count once they have exited), or no CPU time at all.
  explicit Stopwatch(std::vector<int> watched) : watched_(std::move(watched)), last_cpu_(cpu_seconds()) {}

  std::string lap() {
    const auto now = std::chrono::steady_clock::now();
    const double cpu = cpu_seconds();
    const double wall = std::chrono::duration<double>(now - last_).count();
    const std::string text = watched_.empty() ? fmt::format("{:.1f} s", wall)
                                              : fmt::format("{:.1f} s ({:.1f} s CPU)", wall, cpu - last_cpu_);
    last_ = now;
    last_cpu_ = cpu;
    return text;
  }

 private:
  double cpu_seconds() const {
    double total = 0.0;
    for (const int who : watched_) {
      rusage usage{};
      getrusage(who, &usage);
      total += static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
               static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
    }
    return total;
  }

  std::vector<int> watched_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  double last_cpu_;
};

class TemporaryFolder {
 public:
  TemporaryFolder() {
    const auto base = fs::temp_directory_path();
    for (int attempt = 0;; ++attempt) {
      path_ = base / fmt::format("hearth-conformance-{}-{}", ::getpid(), attempt);
      if (fs::create_directory(path_)) break;
    }
  }
  ~TemporaryFolder() {
    const char* keep = std::getenv("HEARTH_CONFORMANCE_KEEP");
    if (keep != nullptr && std::string(keep) == "1") {
      std::cout << "kept " << path_.string() << "\n";
      return;
    }
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Runs the synth commands two at a time (the machine has two cores); returns the failures.
std::vector<std::string> run_all(const std::vector<std::string>& commands) {
  std::atomic<size_t> next{0};
  std::vector<std::string> failures;
  std::mutex failures_mutex;
  auto worker = [&] {
    for (size_t i = next++; i < commands.size(); i = next++) {
      if (run_command(commands[i]) != 0) {
        const std::lock_guard lock(failures_mutex);
        failures.push_back(commands[i]);
      }
    }
  };
  std::thread second(worker);
  worker();
  second.join();
  return failures;
}

// Compares one prompt: `forced` holds Hearth's logits at the first kPositions positions along the peer's greedy
// tokens, from one decode shaped like the peer's probability pass.
PromptOutcome compare_prompt(const PeerPrompt& peer, const Tokens& hearth_tokens, const Tokens& hearth_greedy,
                             const std::vector<std::vector<float>>& forced, double temperature) {
  PromptOutcome outcome;
  outcome.tokens_equal = hearth_tokens == peer.prompt_tokens;
  outcome.greedy_prefix = common_prefix(hearth_greedy, peer.greedy);
  for (int i = 0; i < kPositions; ++i) {
    const auto difference = compare_position(softmax(forced[static_cast<size_t>(i)], temperature),
                                             peer.positions[static_cast<size_t>(i)]);
    outcome.min_overlap = std::min(outcome.min_overlap, difference.overlap);
    outcome.overlap_sum += difference.overlap;
    ++outcome.overlap_count;
    outcome.max_dp = std::max(outcome.max_dp, difference.max_abs_dp);
  }
  return outcome;
}

// Hearth fed the peer's greedy tokens one at a time, as the peer generated them: at each of the 64 positions, does
// Hearth's argmax agree, and where it does not, by how much (Hearth's margin for its own choice, in logit standard
// deviations: a near tie that arithmetic can tip, or not). When the free-running outputs are identical this is the
// same computation as Hearth's own greedy run, so it needs no second run.
void follow_peer(HearthRunner& runner, const PeerPrompt& peer, const Tokens& hearth_greedy, PromptOutcome& outcome) {
  if (hearth_greedy == peer.greedy) {
    outcome.forced_agreement = kGenerate;
    return;
  }
  runner.generate(peer.prompt_tokens, kGenerate, [&](int i, std::span<const float> logits) {
    const int32_t peer_token = peer.greedy[static_cast<size_t>(i)];
    const std::vector<float> row(logits.begin(), logits.end());
    const int32_t hearth_token = argmax(row);
    if (hearth_token == peer_token) {
      ++outcome.forced_agreement;
    } else {
      const double margin = (row[static_cast<size_t>(hearth_token)] - row[static_cast<size_t>(peer_token)]) / logit_std(row);
      outcome.worst_gap = std::max(outcome.worst_gap, margin);
    }
    return peer_token;
  });
}

void print_table(const std::vector<Row>& rows) {
  std::cout << fmt::format("\n{:<8} {:<11} {:>7} {:>9} {:>14} {:>13} {:>10} {:>13} {:>9}\n", "type", "arch", "temp",
                           "max|dp|", "top20 min/avg", "greedy match", "identical", "forced agree", "worst gap");
  for (const auto& row : rows) {
    const double mean = row.overlap_count > 0 ? row.overlap_sum / row.overlap_count : 0.0;
    std::cout << fmt::format("{:<8} {:<11} {:>7.4f} {:>9.5f} {:>8}/{:<5.2f} {:>9}/{:<3} {:>8}/{:<1} {:>9}/{:<3} {:>9.4f}{}\n",
                             row.type, row.arch, row.temperature, row.max_dp, row.min_overlap, mean,
                             row.min_greedy_prefix, kGenerate, row.identical_prompts, row.prompts, row.min_forced,
                             kGenerate, row.worst_gap,
                             row.tokens_equal ? "" : "  TOKENS DIFFER");
  }
  std::cout << fmt::format(
      "(max|dp|: over the peer's top {} at the first {} positions, all prompts; top20: overlap of the two top-{} "
      "sets, worst and mean; greedy match: tokens equal from the start, worst prompt; identical: prompts with all {} "
      "greedy tokens equal; forced agree: positions where "
      "Hearth's argmax is the peer's token when both follow the peer's tokens, worst prompt; worst gap: where they "
      "differ, Hearth's logit margin of its choice over the peer's, in standard deviations of the logits)\n",
      kTop, kPositions, kTop, kGenerate);
}

TEST(Conformance, HearthMatchesLlamaCpp) {
  const fs::path source_dir = HEARTH_SOURCE_DIR;
  const fs::path hearth_binary = test::bin_dir() / "hearth";
  PeerLocation peer;
  try {
    peer = find_peer(source_dir);
  } catch (const PeerError& error) {
    FAIL() << "the peer is required for conformance: " << error.what();
  }
  ASSERT_TRUE(fs::exists(hearth_binary)) << hearth_binary << " is missing (build the hearth_cli target)";
  const auto types = restriction("HEARTH_CONFORMANCE_TYPES", kTypes);
  std::vector<std::string> arch_names;
  for (const auto& family : kFamilies) arch_names.push_back(family.arch);
  const auto archs = restriction("HEARTH_CONFORMANCE_ARCHS", arch_names);

  // The peer picks its kernels by CPU: Hearth reproduces those of its AVX-512 variant.
  const bool same_kernels = runs_peers_avx512_variant();
  std::cout << (same_kernels ? "this CPU runs the peer's AVX-512 kernels, whose arithmetic Hearth reproduces: the "
                               "suite demands identical greedy output for every type\n"
                             : "this CPU runs another of the peer's kernel variants: the suite allows near-tie "
                               "differences (see tolerance_for)\n");
  TemporaryFolder work;
  Stopwatch clock({RUSAGE_SELF, RUSAGE_CHILDREN});
  std::string timings;
  std::vector<Case> cases;
  std::vector<std::string> commands;
  for (const auto& family : kFamilies) {
    if (std::find(archs.begin(), archs.end(), family.arch) == archs.end()) continue;
    // F32 is always made: it calibrates the family's temperature.
    std::vector<std::string> family_types{"F32"};
    for (const auto& type : types) {
      if (type != "F32") family_types.push_back(type);
    }
    for (const auto& type : family_types) {
      const fs::path file = work.path() / fmt::format("{}-{}.gguf", family.arch, type);
      commands.push_back(fmt::format("{} synth --shape {} --vocab {} --type {} --seed {} --out {} --threads 1 --quiet 2>&1",
                                     shell_quote(hearth_binary.string()), family.shape,
                                     shell_quote((test::shared_dir() / "vocab" / family.vocab).string()), type,
                                     kSynthSeed, shell_quote(file.string())));
      if (std::find(types.begin(), types.end(), type) != types.end()) cases.push_back({family.arch, type, file, 1.0});
    }
  }
  const auto failures = run_all(commands);
  ASSERT_TRUE(failures.empty()) << "hearth synth failed: " << failures.front();
  cases.push_back({"demo", "Q8_0", test::shared_dir() / kDemoModel, 1.0});
  timings += fmt::format("synth {} models {}", commands.size(), clock.lap());

  // A quarter of the logit standard deviation, from Hearth's F32 model after the first prompt.
  std::map<std::string, double> temperatures;
  for (const auto& family : kFamilies) {
    const fs::path f32 = work.path() / fmt::format("{}-F32.gguf", family.arch);
    if (!fs::exists(f32)) continue;
    HearthRunner runner(f32, kHearthThreads);
    const auto rows = runner.forced_logits(runner.tokenize(kPrompts.front()), Tokens{}, 1);
    temperatures[family.arch] = logit_std(rows.front()) / 4.0;
    ASSERT_GT(temperatures[family.arch], 0.0) << family.arch << ": the F32 model's logits are constant";
  }
  // Case c goes to peer process c % kPeerProcesses.
  std::vector<std::vector<PeerJob>> jobs(std::min(kPeerProcesses, cases.size()));
  for (size_t c = 0; c < cases.size(); ++c) {
    auto& test_case = cases[c];
    if (temperatures.count(test_case.arch) != 0) test_case.temperature = temperatures[test_case.arch];
    jobs[c % jobs.size()].push_back({test_case.file, kPrompts, test_case.temperature});
  }
  timings += fmt::format(", calibration {}", clock.lap());

  // The peer works through the models in its own processes while Hearth runs each one; Hearth's teacher-forced pass
  // needs the peer's tokens, so it waits for each model's answer.
  PeerSettings settings;
  settings.generate = kGenerate;
  settings.positions = kPositions;
  settings.top = kTop;
  settings.threads = kThreads;
  std::vector<Row> rows;
  Stopwatch hearth_cpu({RUSAGE_SELF});
  Stopwatch peer_cpu({RUSAGE_CHILDREN});
  try {
    std::vector<std::unique_ptr<PeerProcess>> peer_processes;
    for (size_t i = 0; i < jobs.size(); ++i) {
      const fs::path folder = work.path() / fmt::format("peer-{}", i);
      fs::create_directory(folder);
      peer_processes.push_back(std::make_unique<PeerProcess>(peer, jobs[i], settings, folder));
    }
    for (size_t c = 0; c < cases.size(); ++c) {
      const auto& test_case = cases[c];
      HearthRunner runner(test_case.file, kHearthThreads);
      const PeerModel peer_model = peer_processes[c % peer_processes.size()]->next();
      ASSERT_EQ(peer_model.prompts.size(), kPrompts.size());

      Row row{test_case.type, test_case.arch, test_case.temperature};
      std::vector<Tokens> hearth_greedy;
      for (size_t p = 0; p < kPrompts.size(); ++p) {
        const PeerPrompt& peer_prompt = peer_model.prompts[p];
        const Tokens hearth_tokens = runner.tokenize(kPrompts[p]);
        hearth_greedy.push_back(runner.greedy(hearth_tokens, kGenerate));
        const auto forced = runner.forced_logits(peer_prompt.prompt_tokens, peer_prompt.greedy, kPositions);
        auto outcome = compare_prompt(peer_prompt, hearth_tokens, hearth_greedy.back(), forced, test_case.temperature);
        follow_peer(runner, peer_prompt, hearth_greedy.back(), outcome);
        EXPECT_TRUE(outcome.tokens_equal) << test_case.type << " " << test_case.arch << " prompt " << p
                                          << ": prompt tokens differ";
        row.tokens_equal = row.tokens_equal && outcome.tokens_equal;
        row.max_dp = std::max(row.max_dp, outcome.max_dp);
        row.min_overlap = std::min(row.min_overlap, outcome.min_overlap);
        row.overlap_sum += outcome.overlap_sum;
        row.overlap_count += outcome.overlap_count;
        row.min_greedy_prefix = std::min(row.min_greedy_prefix, outcome.greedy_prefix);
        row.min_forced = std::min(row.min_forced, outcome.forced_agreement);
        row.worst_gap = std::max(row.worst_gap, outcome.worst_gap);
        row.identical_prompts += outcome.greedy_prefix == kGenerate ? 1 : 0;
        ++row.prompts;
      }
      rows.push_back(row);

      const Tolerance tolerance = tolerance_for(test_case.type, same_kernels);
      const std::string where = fmt::format("{} {}", test_case.type, test_case.arch);
      EXPECT_LE(row.max_dp, tolerance.max_dp) << where;
      EXPECT_GE(row.min_overlap, tolerance.min_overlap) << where;
      EXPECT_LE(row.worst_gap, tolerance.tie) << where << ": a disagreement is not a near tie";
      EXPECT_GE(row.min_forced, tolerance.min_forced_agreement) << where;
      if (tolerance.identical_greedy || test_case.arch == "demo") {
        EXPECT_EQ(row.min_greedy_prefix, kGenerate) << where << ": greedy diverged";
      }

      if (test_case.arch == "demo") {
        const auto& demo = peer_model.prompts.front();
        EXPECT_EQ(demo.greedy_text.rfind(kDemoExpected, 0), 0u) << "the peer's continuation: " << demo.greedy_text;
        tokenizer::StreamingDetokenizer text(runner.model().tokenizer(), false, /*sequence_start=*/false);
        std::string hearth_text;
        for (const int32_t token : hearth_greedy.front()) hearth_text += text.push(token);
        hearth_text += text.finish();
        EXPECT_EQ(hearth_text.rfind(kDemoExpected, 0), 0u) << "Hearth's continuation: " << hearth_text;
      }
    }
  } catch (const PeerError& error) {
    FAIL() << error.what();
  }
  timings += fmt::format(", Hearth beside the peer {}: Hearth {}, the peer {}", clock.lap(), hearth_cpu.lap(),
                         peer_cpu.lap());
  print_table(rows);
  // The share of fully identical continuations among the synthetic models whose activations are rounded to 8 bits.
  int identical = 0, pairs = 0;
  for (const auto& row : rows) {
    if (row.arch == "demo" || row.type == "F32" || row.type == "F16" || row.type == "BF16") continue;
    identical += row.identical_prompts;
    pairs += row.prompts;
  }
  if (pairs > 0) {
    const double share = static_cast<double>(identical) / pairs;
    std::cout << fmt::format("synthetic Q8_0 and lower: {} of {} (model, prompt) pairs with identical greedy output "
                             "({:.0f}%)\n", identical, pairs, 100.0 * share);
    EXPECT_GE(share, same_kernels ? 1.0 : kMinIdenticalShare);
  }
  std::cout << timings << "\n";
}

}  // namespace
}  // namespace hearth::conformance
