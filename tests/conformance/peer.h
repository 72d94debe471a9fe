// The peer side of the conformance suite: llama.cpp (node-llama-cpp) run through tools/peer/evaluate.mjs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "conformance/metrics.h"

namespace hearth::conformance {

// node, the peer package or evaluate.mjs is missing, or the peer run failed. The suite fails on it, never skips.
class PeerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PeerJob {
  std::filesystem::path model;
  std::vector<std::string> prompts;
  // When given, one token list per prompt that the peer's forced pass follows instead of its own greedy tokens.
  std::vector<std::vector<int32_t>> paths;
};

struct PeerSettings {
  int generate = 32;      // greedy tokens per prompt
  int positions = 32;     // forced positions with full logit rows
  int threads = 1;
  std::string variant;    // llama.cpp CPU library to load (haswell, zen4, ...); empty: the one ggml picks
  bool flash_attention = false;
};

// One model's answers from the peer.
struct PeerModel {
  std::filesystem::path model;
  std::string variant;                // the CPU library the peer reported loading
  std::string library;                // its path
  std::vector<std::string> features;  // the instruction sets llama.cpp's system info lists for it
  int64_t n_vocab = 0;
  std::vector<PromptRun> prompts;     // `forced` along the peer's greedy path, or along the job's paths
  std::vector<std::string> greedy_texts;
};

// Where the peer lives in this checkout (tools/peer), and the node binary ($HEARTH_NODE, else `node` on PATH).
struct PeerLocation {
  std::filesystem::path script;  // tools/peer/evaluate.mjs
  std::string node;
};

// Checks that node runs and the peer package is installed; throws PeerError saying what to do otherwise.
PeerLocation find_peer(const std::filesystem::path& source_dir);

// One node process evaluating every job in order; each model's result can be taken as soon as the peer has it,
// so the caller works on one model while the peer evaluates the next.
class PeerProcess {
 public:
  // Writes the job file into `work_dir` and starts the peer (its stderr goes to a file there).
  PeerProcess(const PeerLocation& peer, const std::vector<PeerJob>& jobs, const PeerSettings& settings,
              const std::filesystem::path& work_dir);
  ~PeerProcess();
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  // The next model's result, waiting for it; throws PeerError when the peer failed or ended early.
  PeerModel next();

 private:
  [[noreturn]] void fail(const std::string& what);

  FILE* pipe_ = nullptr;
  std::filesystem::path errors_path_;
  int positions_;
  size_t remaining_;
};

// Parses one line of evaluate.mjs's --jobs output, without the logit rows (exposed for tests of the parser).
// `logits_file` receives the file that holds them.
PeerModel parse_peer_model(const std::string& json_line, std::filesystem::path& logits_file);
// Reads the rows (prompts x positions x n_vocab float32) into `model.prompts[*].forced`; throws PeerError when the
// file does not hold exactly that.
void read_peer_logits(const std::filesystem::path& file, int positions, PeerModel& model);

// Runs a shell command; returns its exit status (-1 when it could not run or was killed).
int run_command(const std::string& command);
// Quotes one argument for /bin/sh.
std::string shell_quote(const std::string& argument);

}  // namespace hearth::conformance
