// Loading the shared vocabularies and their test vectors.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "hearth/gguf.h"
#include "hearth/tokenizer.h"
#include "support/shared_data.h"

namespace hearth::test {

inline std::filesystem::path vocab_path(const std::string& name) {
  return shared_dir() / "vocab" / ("ggml-vocab-" + name + ".gguf");
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// The tokenizer of a shared vocabulary, loaded once per test binary (tokenizers are immutable).
inline tokenizer::Tokenizer load_tokenizer(const std::string& name) {
  static std::map<std::string, tokenizer::Tokenizer> loaded;
  static std::mutex mutex;
  const std::lock_guard lock(mutex);
  const auto it = loaded.find(name);
  if (it != loaded.end()) return it->second;
  return loaded.emplace(name, tokenizer::Tokenizer::from_gguf(gguf::File::open(vocab_path(name)))).first->second;
}

struct TestVector {
  std::string text;
  std::vector<int32_t> ids;
};

// The .inp texts (separated by "\n__ggml_vocab_test__\n", the last one followed by it too) paired with the
// .out lines (space-separated ids, one line per text).
inline std::vector<TestVector> read_test_vectors(const std::string& name) {
  const std::string inp = read_file(vocab_path(name).string() + ".inp");
  const std::string out = read_file(vocab_path(name).string() + ".out");
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  for (size_t found = inp.find(separator); found != std::string::npos; found = inp.find(separator, pos)) {
    texts.push_back(inp.substr(pos, found - pos));
    pos = found + separator.size();
  }
  if (pos != inp.size()) texts.push_back(inp.substr(pos));
  std::vector<TestVector> vectors;
  std::istringstream lines(out);
  std::string line;
  for (const auto& text : texts) {
    if (!std::getline(lines, line)) throw std::runtime_error(name + ".out has fewer lines than texts");
    TestVector vector{text, {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) vector.ids.push_back(id);
    vectors.push_back(std::move(vector));
  }
  return vectors;
}

}  // namespace hearth::test
