#include "conformance/peer.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hearth::conformance {
namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string shell_quote(const std::string& argument) {
  std::string quoted = "'";
  for (const char c : argument) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

int run_command(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

PeerLocation find_peer(const std::filesystem::path& source_dir) {
  PeerLocation peer;
  const char* node = std::getenv("HEARTH_NODE");
  peer.node = node != nullptr && *node != '\0' ? node : "node";
  peer.script = source_dir / "tools" / "peer" / "evaluate.mjs";
  if (!std::filesystem::exists(peer.script)) throw PeerError(fmt::format("{} is missing", peer.script.string()));
  if (run_command(shell_quote(peer.node) + " --version >/dev/null 2>&1") != 0) {
    throw PeerError(fmt::format("cannot run node ('{}'): install nodejs (scripts/setup) or set HEARTH_NODE", peer.node));
  }
  const auto package = source_dir / "tools" / "peer" / "node_modules" / "node-llama-cpp" / "package.json";
  if (!std::filesystem::exists(package)) {
    throw PeerError(fmt::format("the peer is not installed ({} is missing): run scripts/setup", package.string()));
  }
  return peer;
}

PeerModel parse_peer_model(const std::string& json_line) {
  PeerModel model;
  try {
    const auto entry = nlohmann::json::parse(json_line);
    model.model = entry.at("model").get<std::string>();
    model.temperature = entry.at("temperature").get<double>();
    for (const auto& result : entry.at("results")) {
      PeerPrompt prompt;
      prompt.prompt = result.at("prompt").get<std::string>();
      prompt.prompt_tokens = result.at("prompt_tokens").get<std::vector<int32_t>>();
      for (const auto& position : result.at("positions")) {
        std::vector<std::pair<int32_t, double>> top;
        for (const auto& pair : position.at("top")) top.emplace_back(pair.at(0).get<int32_t>(), pair.at(1).get<double>());
        prompt.positions.push_back(std::move(top));
      }
      prompt.greedy = result.at("greedy").get<std::vector<int32_t>>();
      prompt.greedy_text = result.at("greedy_text").get<std::string>();
      model.prompts.push_back(std::move(prompt));
    }
  } catch (const nlohmann::json::exception& error) {
    throw PeerError(fmt::format("unexpected peer output: {}", error.what()));
  }
  return model;
}

PeerProcess::PeerProcess(const PeerLocation& peer, const std::vector<PeerJob>& jobs, const PeerSettings& settings,
                         const std::filesystem::path& work_dir)
    : errors_path_(work_dir / "peer-errors.txt"), remaining_(jobs.size()) {
  nlohmann::json document;
  document["generate"] = settings.generate;
  document["positions"] = settings.positions;
  document["top"] = settings.top;
  document["flash_attention"] = settings.flash_attention;
  document["models"] = nlohmann::json::array();
  for (const auto& job : jobs) {
    document["models"].push_back(
        {{"path", job.model.string()}, {"prompts", job.prompts}, {"temperature", job.temperature}});
  }
  const auto jobs_path = work_dir / "peer-jobs.json";
  std::ofstream(jobs_path) << document.dump(1);
  const std::string command = fmt::format("{} {} --jobs {} --threads {} 2>{}", shell_quote(peer.node),
                                          shell_quote(peer.script.string()), shell_quote(jobs_path.string()),
                                          settings.threads, shell_quote(errors_path_.string()));
  pipe_ = popen(command.c_str(), "r");
  if (pipe_ == nullptr) throw PeerError(fmt::format("cannot start the peer: {}", command));
}

PeerProcess::~PeerProcess() {
  if (pipe_ != nullptr) pclose(pipe_);
}

void PeerProcess::fail(const std::string& what) {
  const int status = pclose(pipe_);
  pipe_ = nullptr;
  const int exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  throw PeerError(fmt::format("{} (peer exit {}): {}", what, exit_code, read_text(errors_path_)));
}

PeerModel PeerProcess::next() {
  if (pipe_ == nullptr || remaining_ == 0) throw PeerError("no more results from the peer");
  std::string line;
  for (int c = std::fgetc(pipe_); c != EOF && c != '\n'; c = std::fgetc(pipe_)) line += static_cast<char>(c);
  if (line.empty()) fail("the peer ended before answering every job");
  PeerModel model = parse_peer_model(line);
  if (--remaining_ == 0) {
    const int status = pclose(pipe_);
    pipe_ = nullptr;
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      throw PeerError(fmt::format("the peer failed after its last answer: {}", read_text(errors_path_)));
    }
  }
  return model;
}

}  // namespace hearth::conformance
