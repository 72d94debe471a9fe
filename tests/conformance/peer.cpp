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

PeerModel parse_peer_model(const std::string& json_line, std::filesystem::path& logits_file) {
  PeerModel model;
  try {
    const auto entry = nlohmann::json::parse(json_line);
    model.model = entry.at("model").get<std::string>();
    model.variant = entry.at("variant").get<std::string>();
    model.library = entry.at("library").get<std::string>();
    model.features = entry.at("features").get<std::vector<std::string>>();
    model.n_vocab = entry.at("n_vocab").is_null() ? 0 : entry.at("n_vocab").get<int64_t>();
    logits_file = entry.at("logits").is_null() ? std::filesystem::path() : std::filesystem::path(entry.at("logits").get<std::string>());
    for (const auto& result : entry.at("results")) {
      PromptRun prompt;
      prompt.prompt_tokens = result.at("prompt_tokens").get<Tokens>();
      prompt.greedy = result.at("greedy").get<Tokens>();
      model.prompts.push_back(std::move(prompt));
      model.greedy_texts.push_back(result.at("greedy_text").get<std::string>());
    }
  } catch (const nlohmann::json::exception& error) {
    throw PeerError(fmt::format("unexpected peer output: {}", error.what()));
  }
  return model;
}

void read_peer_logits(const std::filesystem::path& file, int positions, PeerModel& model) {
  const auto row_length = static_cast<size_t>(model.n_vocab);
  const size_t expected = model.prompts.size() * static_cast<size_t>(positions) * row_length * sizeof(float);
  std::error_code error;
  const auto size = std::filesystem::file_size(file, error);
  if (error || row_length == 0 || size != expected) {
    throw PeerError(fmt::format("the peer's logits file {} holds {} bytes, not the {} of {} prompts x {} positions x {}",
                                file.string(), error ? 0 : size, expected, model.prompts.size(), positions, row_length));
  }
  std::ifstream in(file, std::ios::binary);
  for (auto& prompt : model.prompts) {
    prompt.forced.assign(static_cast<size_t>(positions), std::vector<float>(row_length));
    for (auto& row : prompt.forced) {
      in.read(reinterpret_cast<char*>(row.data()), static_cast<std::streamsize>(row_length * sizeof(float)));
    }
  }
  if (!in) throw PeerError(fmt::format("cannot read the peer's logits file {}", file.string()));
}

PeerProcess::PeerProcess(const PeerLocation& peer, const std::vector<PeerJob>& jobs, const PeerSettings& settings,
                         const std::filesystem::path& work_dir)
    : errors_path_(work_dir / "peer-errors.txt"), positions_(settings.positions), remaining_(jobs.size()) {
  nlohmann::json document;
  document["generate"] = settings.generate;
  document["positions"] = settings.positions;
  document["flash_attention"] = settings.flash_attention;
  document["logits_dir"] = work_dir.string();
  if (!settings.variant.empty()) document["variant"] = settings.variant;
  document["models"] = nlohmann::json::array();
  for (const auto& job : jobs) {
    nlohmann::json entry{{"path", job.model.string()}, {"prompts", job.prompts}};
    if (!job.paths.empty()) entry["paths"] = job.paths;
    document["models"].push_back(std::move(entry));
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
  std::filesystem::path logits_file;
  PeerModel model = parse_peer_model(line, logits_file);
  read_peer_logits(logits_file, positions_, model);
  std::filesystem::remove(logits_file);  // up to ~80 MB a model with a 152k vocabulary
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
