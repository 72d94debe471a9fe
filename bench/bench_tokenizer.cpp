// Tokenizer throughput, Hearth against the peer (llama.cpp through node-llama-cpp) on the same text in the
// same run: 10 MB of mixed text (English prose, code, numbers, CJK, emoji, other scripts) tokenized with the
// llama-spm, llama-bpe and qwen2 vocabularies, no BOS, special tokens not parsed.
//
//   bench_tokenizer [--mb N] [--repeat N] [--no-peer] [--vocab NAME]...
//
// Prints MB/s for both, and whether both produced the same ids (count and checksum).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hearth/gguf.h"
#include "hearth/tokenizer.h"
#include "tokenizer/text_corpus.h"

namespace {

namespace fs = std::filesystem;

fs::path shared_dir() {
  if (const char* env = std::getenv("HEARTH_SHARED"); env != nullptr && *env != '\0') return env;
  return HEARTH_SHARED_DIR;
}

// `megabytes` MB of mixed text: whole lines of the shared held-out prose alternating with generated mixtures.
std::string mixed_text(size_t megabytes) {
  std::ifstream in(shared_dir() / "text" / "python-debian-heldout.txt", std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the shared text/python-debian-heldout.txt");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line + "\n");
  hearth::test::TextCorpus corpus(424242);
  const size_t target = megabytes << 20;
  std::string text;
  text.reserve(target + 4096);
  size_t line = 0;
  while (text.size() < target) {
    for (size_t prose = 0; prose < 12 * 1024 && text.size() < target; line = (line + 1) % lines.size()) {
      text += lines[line];
      prose += lines[line].size();
    }
    for (size_t mixed = 0; mixed < 6 * 1024 && text.size() < target;) {
      const std::string piece = corpus.mixture() + (mixed % 3 == 0 ? "\n" : " ");
      text += piece;
      mixed += piece.size();
    }
  }
  return text;
}

uint32_t checksum(const std::vector<int32_t>& ids) {
  uint32_t hash = 0x811C9DC5u;
  for (const int32_t id : ids) {
    for (int shift = 0; shift < 32; shift += 8) {
      hash ^= (static_cast<uint32_t>(id) >> shift) & 0xFF;
      hash *= 0x01000193u;
    }
  }
  return hash;
}

struct Result {
  double seconds = 0;
  size_t tokens = 0;
  uint32_t checksum = 0;
};

std::string run_command(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe.get())) > 0;) out.append(buffer, n);
  if (pclose(pipe.release()) != 0) throw std::runtime_error("the peer failed: " + out);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  size_t megabytes = 10;
  int repeat = 3;
  bool peer = true;
  std::vector<std::string> vocabs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mb" && i + 1 < argc) megabytes = std::stoul(argv[++i]);
    else if (arg == "--repeat" && i + 1 < argc) repeat = std::stoi(argv[++i]);
    else if (arg == "--no-peer") peer = false;
    else if (arg == "--vocab" && i + 1 < argc) vocabs.push_back(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_tokenizer [--mb N] [--repeat N] [--no-peer] [--vocab NAME]...\n");
      return 1;
    }
  }
  if (vocabs.empty()) vocabs = {"llama-spm", "llama-bpe", "qwen2"};
  try {
    const std::string text = mixed_text(megabytes);
    const fs::path text_path = fs::temp_directory_path() / fmt::format("hearth-bench-tokenizer-{}.txt", getpid());
    std::ofstream(text_path, std::ios::binary) << text;

    std::vector<fs::path> paths;
    std::vector<Result> ours;
    for (const auto& name : vocabs) {
      paths.push_back(shared_dir() / "vocab" / ("ggml-vocab-" + name + ".gguf"));
      const auto tokenizer = hearth::tokenizer::Tokenizer::from_gguf(hearth::gguf::File::open(paths.back()));
      Result result{1e30, 0, 0};
      for (int run = 0; run < repeat; ++run) {
        const auto start = std::chrono::steady_clock::now();
        const auto ids = tokenizer.tokenize(text, false, false);
        result.seconds = std::min(result.seconds, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        result.tokens = ids.size();
        result.checksum = checksum(ids);
      }
      ours.push_back(result);
    }

    std::vector<Result> theirs(vocabs.size());
    if (peer) {
      std::string command = fmt::format("node '{}' '{}' --repeat {}",
                                        (fs::path(HEARTH_SOURCE_DIR) / "tools" / "peer" / "bench_tokenize.mjs").string(),
                                        text_path.string(), repeat);
      for (const auto& path : paths) command += fmt::format(" '{}'", path.string());
      const std::string output = run_command(command + " 2>/dev/null");
      const auto response = nlohmann::json::parse(output.substr(output.find('{')));
      for (size_t i = 0; i < vocabs.size(); ++i) {
        const auto& r = response["results"][i];
        theirs[i] = {r["seconds"].get<double>(), r["tokens"].get<size_t>(), r["checksum"].get<uint32_t>()};
      }
    }
    fs::remove(text_path);

    const double mb = static_cast<double>(text.size()) / (1 << 20);
    std::printf("tokenizer throughput on %.1f MB of mixed text (best of %d runs)\n", mb, repeat);
    std::printf("%-12s %12s %12s %10s %12s  %s\n", "vocab", "hearth MB/s", "peer MB/s", "ratio", "tokens", "same ids");
    for (size_t i = 0; i < vocabs.size(); ++i) {
      const double our_rate = mb / ours[i].seconds;
      if (peer) {
        const double peer_rate = mb / theirs[i].seconds;
        const bool same = ours[i].tokens == theirs[i].tokens && ours[i].checksum == theirs[i].checksum;
        std::printf("%-12s %12.2f %12.2f %9.2fx %12zu  %s\n", vocabs[i].c_str(), our_rate, peer_rate,
                    our_rate / peer_rate, ours[i].tokens, same ? "yes" : "NO");
      } else {
        std::printf("%-12s %12.2f %12s %10s %12zu\n", vocabs[i].c_str(), our_rate, "-", "-", ours[i].tokens);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 1;
  }
  return 0;
}
