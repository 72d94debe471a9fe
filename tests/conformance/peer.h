// The peer side of the conformance suite: llama.cpp (node-llama-cpp) run through tools/peer/evaluate.mjs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hearth::conformance {

// node, the peer package or evaluate.mjs is missing, or the peer run failed. The suite fails on it, never skips.
class PeerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PeerJob {
  std::filesystem::path model;
  std::vector<std::string> prompts;
  double temperature = 1.0;  // the probabilities are softmax(logits / temperature)
};

struct PeerSettings {
  int generate = 64;   // greedy tokens per prompt
  int positions = 16;  // positions with probabilities
  int top = 20;        // tokens per position
  int threads = 1;
  bool flash_attention = false;
};

struct PeerPrompt {
  std::string prompt;
  std::vector<int32_t> prompt_tokens;
  std::vector<std::vector<std::pair<int32_t, double>>> positions;  // per position: top tokens, most probable first
  std::vector<int32_t> greedy;
  std::string greedy_text;
};

struct PeerModel {
  std::filesystem::path model;
  double temperature = 1.0;
  std::vector<PeerPrompt> prompts;
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
  size_t remaining_;
};

// Parses one line of evaluate.mjs's --jobs output (exposed for tests of the parser).
PeerModel parse_peer_model(const std::string& json_line);

// Runs a shell command; returns its exit status (-1 when it could not run or was killed).
int run_command(const std::string& command);
// Quotes one argument for /bin/sh.
std::string shell_quote(const std::string& argument);

}  // namespace hearth::conformance
